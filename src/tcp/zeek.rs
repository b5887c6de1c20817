//! Zeek-compatible `conn_state` and `history` for one TCP connection.
//!
//! A port of the parts of Zeek's TCP analysis that decide those two conn.log columns, so that
//! smtpdiag's output can be compared line by line with a Zeek conn.log:
//!
//! * `packet_analysis/protocol/tcp/TCPSessionAdapter.cc`: `Process` (order of the steps),
//!   `update_history`, `update_window`, `update_last_seq`, `init_endpoint`, `init_peer` and the
//!   per-state `Update*State` functions;
//! * `analyzer/protocol/tcp/TCP_Endpoint.cc`: `CheckHistory`, the scaled letters `C G T W`;
//! * `Conn.cc`: `Connection::CheckHistory` / `ScaledHistoryEntry` / `FlipRoles` (the `^`);
//! * `packet_analysis/protocol/tcp/TCP.cc` / `IPBasedAnalyzer.cc`: checksum handling and the
//!   port-based role flip (`WantConnection`);
//! * `scripts/base/protocols/conn/main.zeek`: `conn_state()`.
//!
//! Not modelled: Zeek's inactivity timeouts (a connection idle for 5 minutes becomes two conn.log
//! rows), connection reuse (a new SYN after close opens a new row) and 32-bit sequence wraps
//! across more than 2 GiB (sequence numbers are compared modulo 2^32, like `seq_delta`).

use std::fmt;

/// Zeek's `TOO_LARGE_SEQ_DELTA`: SYN/RST sequence jumps beyond this are not trusted.
const TOO_LARGE_SEQ_DELTA: i32 = 1_048_576;

/// TCP flag bits as on the wire (the decoder's constants).
use crate::decode::TcpFlags as Flag;

/// Ports Zeek treats as "likely server ports" when guessing roles of a connection seen without
/// its SYN (`likely_server_ports`, filled by the analyzers a default Zeek loads). Only used when
/// the caller gives ports with [`ZeekConn::with_ports`].
pub const LIKELY_SERVER_PORTS: &[u16] = &[
    21, 22, 23, 25, 53, 80, 81, 88, 110, 111, 135, 139, 143, 389, 443, 445, 465, 502, 563, 585, 587, 614, 631, 636,
    989, 990, 992, 993, 994, 995, 1080, 1433, 1812, 2404, 3128, 3306, 3389, 5060, 5222, 5223, 5269, 5432, 6379, 6666,
    6667, 6668, 6669, 8000, 8080, 8443, 8888,
];

/// Zeek's `EndpointState` (`TCP_INACTIVE` … `TCP_RESET`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EndpointState {
    #[default]
    Inactive,
    SynSent,
    SynAckSent,
    Partial,
    Established,
    Closed,
    Reset,
}

impl EndpointState {
    /// `o_inactive` / `r_inactive` in `conn_state()`: no SYN seen from that side.
    fn inactive(self) -> bool {
        matches!(self, EndpointState::Inactive | EndpointState::Partial)
    }
}

/// Zeek's `seq_delta`: signed distance between two sequence numbers, modulo 2^32.
fn seq_delta(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

/// One packet's TCP header fields, as Zeek's `TCP_Flags` sees them.
#[derive(Clone, Copy, Debug)]
struct Seg {
    flags: u8,
    seq: u32,
    ack: u32,
    len: u32,
    window: u16,
}

impl Seg {
    fn has(&self, bit: u8) -> bool {
        self.flags & bit != 0
    }
    fn syn(&self) -> bool {
        self.has(Flag::SYN)
    }
    fn fin(&self) -> bool {
        self.has(Flag::FIN)
    }
    fn rst(&self) -> bool {
        self.has(Flag::RST)
    }
    fn ack_flag(&self) -> bool {
        self.has(Flag::ACK)
    }

    /// `get_segment_len`: SYN and FIN take one sequence number each; a RST's payload is not
    /// part of the stream.
    fn seg_len(&self) -> u32 {
        let mut n = self.len;
        if self.syn() {
            n = n.wrapping_add(1);
        }
        if self.fin() {
            n = n.wrapping_add(1);
        }
        if self.rst() {
            n = n.wrapping_sub(self.len);
        }
        n
    }
}

/// A history letter recorded on a logarithmic scale (1st, 10th, 100th … occurrence):
/// `Connection::ScaledHistoryEntry` with base 10.
#[derive(Clone, Copy, Debug)]
struct Scaled {
    count: u32,
    threshold: u32,
}

impl Default for Scaled {
    fn default() -> Self {
        Scaled { count: 0, threshold: 1 }
    }
}

impl Scaled {
    /// Counts one occurrence; true when it reaches the next power of ten.
    fn bump(&mut self) -> bool {
        self.count += 1;
        if self.count != self.threshold {
            return false;
        }
        match self.threshold.checked_mul(10) {
            Some(t) => self.threshold = t,
            // Zeek: on wrap-around keep the threshold and restart the count.
            None => self.count = 0,
        }
        true
    }
}

/// Zeek's `TCP_Endpoint`, reduced to what history and state need.
#[derive(Clone, Debug, Default)]
struct Endpoint {
    state: EndpointState,
    prev_state: EndpointState,
    start_seq: u32,
    last_seq: u32,
    ack_seq: u32,
    fin_cnt: u32,
    hist_last_syn: i64,
    hist_last_fin: i64,
    hist_last_rst: i64,
    checksum_errors: Scaled,
    retransmits: Scaled,
    zero_windows: Scaled,
    gaps: Scaled,
}

impl Endpoint {
    fn set_state(&mut self, s: EndpointState) {
        if s != self.state {
            self.prev_state = self.state;
            self.state = s;
        }
    }

    fn init_seqs(&mut self, start: u32, last: u32) {
        self.start_seq = start;
        self.ack_seq = start;
        self.last_seq = last;
    }

    /// `init_endpoint`: (re)initialise sequence tracking from this endpoint's packet.
    fn init(&mut self, seg: &Seg) {
        let first = seg.seq;
        let last = seg.seq.wrapping_add(seg.seg_len());
        match self.state {
            EndpointState::Inactive if seg.syn() => self.init_seqs(first, last),
            // A partial connection: number as though a SYN had been seen, and make sure the
            // first packet is not taken for a retransmission.
            EndpointState::Inactive => self.init_seqs(first.wrapping_sub(1), first),
            EndpointState::SynSent | EndpointState::SynAckSent if seg.syn() && first != self.start_seq => {
                self.init_seqs(first, last)
            }
            // Zeek guesses the connection was not set up and this SYN really starts it.
            EndpointState::Established | EndpointState::Partial if seg.syn() => self.init_seqs(first, last),
            // A RST seen before this side's SYN may have been injected: trust the SYN.
            EndpointState::Reset if seg.syn() && self.prev_state == EndpointState::Inactive => {
                self.init_seqs(first, last)
            }
            _ => {}
        }
    }

    /// Relative sequence number (`get_relative_seq` without 64-bit wrap tracking).
    fn rel(&self, seq: u32) -> i64 {
        i64::from(seq_delta(seq, self.start_seq))
    }

    /// `update_ack_seq`: the peer acknowledged up to `ack`.
    fn update_ack_seq(&mut self, ack: u32) {
        let delta = seq_delta(ack, self.ack_seq);
        // Zeek: an ack of 0 far ahead is more likely broken than a wrapped connection.
        if ack == 0 && delta > TOO_LARGE_SEQ_DELTA {
            return;
        }
        if delta > 0 {
            self.ack_seq = ack;
        }
    }

    /// `update_last_seq`; returns true when Zeek counts the packet as a retransmission ('t'):
    /// it carries payload but does not advance the highest sequence number seen.
    fn update_last_seq(&mut self, seg: &Seg) -> bool {
        let last = seg.seq.wrapping_add(seg.seg_len());
        let delta = seq_delta(last, self.last_seq);
        if (seg.syn() || seg.rst()) && !(-TOO_LARGE_SEQ_DELTA..=TOO_LARGE_SEQ_DELTA).contains(&delta) {
            false
        } else if seg.fin() && self.last_seq == self.start_seq.wrapping_add(1) {
            // Only SYN and FIN seen: trust the FIN even backwards (> 2 GB connections).
            self.last_seq = last;
            false
        } else if self.state == EndpointState::Reset {
            // Zeek does not trust sequence numbers after a RST.
            false
        } else if delta > 0 {
            self.last_seq = last;
            false
        } else {
            seg.len > 0
        }
    }

    /// `TCP_Endpoint::Size()`, used by `conn_state()` to tell REJ from RSTR.
    fn size(&self, peer_state: EndpointState) -> u64 {
        let no_data_acked = self.ack_seq == self.start_seq || self.ack_seq == self.start_seq.wrapping_add(1);
        if self.prev_state == EndpointState::SynSent
            && self.state == EndpointState::Reset
            && peer_state == EndpointState::Inactive
            && !no_data_acked
        {
            return 0;
        }
        let top = if seq_delta(self.last_seq, self.ack_seq) > 0 { self.last_seq } else { self.ack_seq };
        let size = i64::from(seq_delta(top, self.start_seq)).max(0) as u64;
        // Neither the SYN nor the FIN octet is data.
        let fin = u64::from(self.fin_cnt > 0);
        size.saturating_sub(1).saturating_sub(fin)
    }
}

/// The `HIST_*` bits of `TCP_Endpoint::CheckHistory`: letters recorded once per direction.
#[derive(Clone, Copy)]
enum Once {
    Syn = 1 << 0,
    Fin = 1 << 1,
    Rst = 1 << 2,
    FinRst = 1 << 3,
    Data = 1 << 4,
    Ack = 1 << 5,
    MultiFlag = 1 << 6,
}

/// Role of an endpoint in Zeek's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Orig,
    Resp,
}

/// Zeek's view of one TCP connection, fed packet by packet in capture order.
#[derive(Clone, Debug, Default)]
pub struct ZeekConn {
    /// `[orig, resp]` in Zeek's current roles.
    ep: [Endpoint; 2],
    history: String,
    /// `hist_seen` of `Connection`: `Once` bits, shifted by 16 for the responder.
    hist_seen: u32,
    /// Zeek's originator is the endpoint that did not send the first packet.
    flipped: bool,
    started: bool,
    /// Ports of (first sender, other side), for Zeek's port-based role guess.
    ports: Option<(u16, u16)>,
}

impl ZeekConn {
    pub fn new() -> Self {
        Self::default()
    }

    /// Like [`ZeekConn::new`], but also applies Zeek's port heuristic (`WantConnection`): a
    /// connection whose first packet is not a bare SYN, sent from a likely server port, starts
    /// with roles flipped (`^`).
    pub fn with_ports(first_sender_port: u16, other_port: u16) -> Self {
        ZeekConn { ports: Some((first_sender_port, other_port)), ..Self::default() }
    }

    /// `from_first_sender`: true when this packet was sent by the endpoint that sent the
    /// connection's first captured packet. flags: TCP flag byte (FIN=0x01 SYN=0x02 RST=0x04
    /// PSH=0x08 ACK=0x10 URG=0x20). payload_len: TCP payload length on the wire (IP length
    /// based, even if the capture truncated it). `checksum_ok`: pass true when the checksum
    /// could not be verified (Zeek itself skips the check for truncated packets).
    #[allow(clippy::too_many_arguments)]
    pub fn on_packet(
        &mut self,
        from_first_sender: bool,
        flags: u8,
        seq: u32,
        ack: u32,
        payload_len: u32,
        window: u16,
        checksum_ok: bool,
    ) {
        let seg = Seg { flags, seq, ack, len: payload_len, window };
        if !self.started {
            self.started = true;
            self.flip_by_ports(&seg);
        }
        let role = self.role_of(from_first_sender);
        // Zeek drops packets with a bad checksum before any TCP state is touched.
        if !checksum_ok {
            if self.endpoint(role).checksum_errors.bump() {
                self.push(role, 'C');
            }
            return;
        }
        if self.synack_then_ack_or_data(&seg) {
            self.flip_after_synack();
        }
        let role = self.role_of(from_first_sender);
        self.process(role, &seg);
    }

    /// Bytes missing from the capture (content gap) in one direction, reported by the
    /// reassembler of the caller; `from_first_sender` as above. Zeek records 'g'/'G' when its
    /// reassembler sees an acknowledgement for data it never saw.
    pub fn on_content_gap(&mut self, from_first_sender: bool) {
        let role = self.role_of(from_first_sender);
        if self.endpoint(role).gaps.bump() {
            self.push(role, 'G');
        }
    }

    /// The history string, e.g. `ShADadFf`, with `^` when Zeek flipped roles.
    /// Heap bytes of the history letters.
    pub fn held_bytes(&self) -> usize {
        self.history.capacity()
    }

    pub fn history(&self) -> String {
        self.history.clone()
    }

    /// Zeek's `conn_state()` from `base/protocols/conn/main.zeek`.
    pub fn conn_state(&self) -> &'static str {
        use EndpointState::*;
        let (os, rs) = (self.ep[0].state, self.ep[1].state);
        if rs == Reset {
            let both_empty = self.ep[0].size(rs) == 0 && self.ep[1].size(os) == 0;
            if os == SynSent || os == SynAckSent || (os == Reset && both_empty) {
                "REJ"
            } else if os.inactive() {
                "RSTRH"
            } else {
                "RSTR"
            }
        } else if os == Reset {
            if !rs.inactive() {
                "RSTO"
            } else if rstos0_history(&self.history) {
                "RSTOS0"
            } else {
                "OTH"
            }
        } else if rs == Closed && os == Closed {
            "SF"
        } else if os == Closed {
            if rs.inactive() { "SH" } else { "S2" }
        } else if rs == Closed {
            if os.inactive() { "SHR" } else { "S3" }
        } else if os == SynSent && rs == Inactive {
            "S0"
        } else if os == Established && rs == Established {
            "S1"
        } else {
            "OTH"
        }
    }

    /// Whether Zeek's originator is the first sender (false when Zeek flipped roles, e.g.
    /// first packet SYN-ACK).
    pub fn orig_is_first_sender(&self) -> bool {
        !self.flipped
    }

    /// Zeek's endpoint states `(orig, resp)`, for diagnostics and tests.
    pub fn endpoint_states(&self) -> (EndpointState, EndpointState) {
        (self.ep[0].state, self.ep[1].state)
    }

    fn role_of(&self, from_first_sender: bool) -> Role {
        if from_first_sender != self.flipped { Role::Orig } else { Role::Resp }
    }

    fn idx(role: Role) -> usize {
        match role {
            Role::Orig => 0,
            Role::Resp => 1,
        }
    }

    fn endpoint(&mut self, role: Role) -> &mut Endpoint {
        &mut self.ep[Self::idx(role)]
    }

    fn peer_role(role: Role) -> Role {
        match role {
            Role::Orig => Role::Resp,
            Role::Resp => Role::Orig,
        }
    }

    /// `Connection::AddHistory`: upper case for the originator, lower case for the responder.
    fn push(&mut self, role: Role, upper: char) {
        self.history.push(match role {
            Role::Orig => upper,
            Role::Resp => upper.to_ascii_lowercase(),
        });
    }

    /// `Connection::CheckHistory`: records the letter the first time only; returns true when it
    /// had been seen before (the caller may then record it again for a new sequence number).
    fn check_history(&mut self, role: Role, bit: Once, upper: char) -> bool {
        let mask = (bit as u32) << if role == Role::Orig { 0 } else { 16 };
        if self.hist_seen & mask == 0 {
            self.hist_seen |= mask;
            self.push(role, upper);
            false
        } else {
            true
        }
    }

    /// `IPBasedAnalyzer::NewConn` + `TCPAnalyzer::WantConnection`: a connection first seen
    /// without a bare SYN is flipped when its sender uses a likely server port (with both ports
    /// plausible: only for a non-SYN packet towards a higher port, to keep stealth scans).
    fn flip_by_ports(&mut self, seg: &Seg) {
        let Some((src, dst)) = self.ports else { return };
        if seg.syn() && !seg.ack_flag() {
            return;
        }
        let likely = |p: u16| LIKELY_SERVER_PORTS.contains(&p);
        if !likely(src) {
            return;
        }
        let flip = if likely(dst) { !seg.syn() && src < dst } else { true };
        if flip {
            self.flipped = true;
            self.history.push('^');
        }
    }

    /// Zeek (PR #2191, 5.1+) flips a connection that began with a SYN-ACK as soon as an ack or
    /// a data segment follows in either direction: stealth scans answer SYN-ACKs with RSTs or
    /// nothing, never with acks or data.
    fn synack_then_ack_or_data(&self, seg: &Seg) -> bool {
        let (o, r) = (&self.ep[0], &self.ep[1]);
        o.state == EndpointState::SynAckSent
            && r.state == EndpointState::Inactive
            && !seg.syn()
            && !seg.fin()
            && !seg.rst()
            && (seg.ack_flag() || seg.len > 0)
    }

    /// The flip of [`Self::synack_then_ack_or_data`]. Zeek's conn.log then shows the SYN-ACK as
    /// the responder's, after the `^` (core.conn-size-flip baseline: `^haf` for SYN-ACK, ACK,
    /// FIN from one side), so earlier letters change case; the SYN-ACK sender counts as
    /// established, as if the SYN-ACK had come from the responder in the first place.
    fn flip_after_synack(&mut self) {
        self.flipped = !self.flipped;
        self.ep.swap(0, 1);
        self.hist_seen = self.hist_seen.rotate_left(16);
        let swapped: String = self.history.chars().map(swap_case).collect();
        self.history = format!("^{swapped}");
        self.ep[1].set_state(EndpointState::Established);
    }

    /// `TCPSessionAdapter::Process`, in Zeek's order.
    fn process(&mut self, role: Role, seg: &Seg) {
        let i = Self::idx(role);
        self.ep[i].init(seg);
        let rel_seq = self.ep[i].rel(seg.seq);
        self.update_history(role, seg, rel_seq);
        self.check_zero_window(role, seg);
        if seg.fin() {
            self.ep[i].fin_cnt += 1;
        }
        if seg.ack_flag() {
            self.take_ack(role, seg);
        }
        if self.ep[i].update_last_seq(seg) && self.ep[i].retransmits.bump() {
            self.push(role, 'T');
        }
        self.update_state_machine(role, seg);
    }

    /// `update_history`: S H A D F R I Q letters.
    fn update_history(&mut self, role: Role, seg: &Seg, rel_seq: i64) {
        let i = Self::idx(role);
        let bits = [seg.syn(), seg.fin(), seg.rst()].iter().filter(|b| **b).count();
        if bits > 1 {
            if seg.fin() && seg.rst() {
                self.check_history(role, Once::FinRst, 'I');
            } else {
                self.check_history(role, Once::MultiFlag, 'Q');
            }
        } else if seg.syn() {
            let code = if seg.ack_flag() { 'H' } else { 'S' };
            if self.check_history(role, Once::Syn, code) && rel_seq != self.ep[i].hist_last_syn {
                self.push(role, code);
            }
            self.ep[i].hist_last_syn = rel_seq;
        } else if seg.fin() {
            // A FIN's sequence number is the one after the data it carries.
            let fin_seq = rel_seq + i64::from(seg.len);
            if self.check_history(role, Once::Fin, 'F') && fin_seq != self.ep[i].hist_last_fin {
                self.push(role, 'F');
            }
            self.ep[i].hist_last_fin = fin_seq;
        } else if seg.rst() {
            if self.check_history(role, Once::Rst, 'R') && rel_seq != self.ep[i].hist_last_rst {
                self.push(role, 'R');
            }
            self.ep[i].hist_last_rst = rel_seq;
        } else if seg.len > 0 {
            self.check_history(role, Once::Data, 'D');
        } else if seg.ack_flag() {
            self.check_history(role, Once::Ack, 'A');
        }
    }

    /// `update_window`: a zero window is news unless it comes with or after a RST, or after
    /// the peer's FIN (nothing more to receive then). The sender's own FIN does not matter:
    /// it still receives.
    fn check_zero_window(&mut self, role: Role, seg: &Seg) {
        let i = Self::idx(role);
        let j = Self::idx(Self::peer_role(role));
        if seg.window == 0
            && !seg.rst()
            && self.ep[j].state != EndpointState::Closed
            && self.ep[i].state != EndpointState::Reset
            && self.ep[i].zero_windows.bump()
        {
            self.push(role, 'W');
        }
    }

    /// The ACK part of `Process`: `init_peer` for a peer never seen, else `update_ack_seq`
    /// (acks in RSTs are not trusted).
    fn take_ack(&mut self, role: Role, seg: &Seg) {
        let j = Self::idx(Self::peer_role(role));
        let peer = &mut self.ep[j];
        if peer.state == EndpointState::Inactive {
            let base = seg.ack.wrapping_sub(1);
            peer.init_seqs(base, base);
        } else if !seg.rst() && peer.rel(seg.ack) >= 0 {
            peer.update_ack_seq(seg.ack);
        }
    }

    /// `UpdateStateMachine`: dispatch on the sender's state.
    fn update_state_machine(&mut self, role: Role, seg: &Seg) {
        match self.ep[Self::idx(role)].state {
            EndpointState::Inactive => self.update_inactive(role, seg),
            EndpointState::SynSent | EndpointState::SynAckSent => self.update_syn_sent(role, seg),
            EndpointState::Established | EndpointState::Partial => self.update_established(role, seg),
            EndpointState::Closed => self.update_closed(role, seg),
            // Zeek only raises weirds for packets after a RST.
            EndpointState::Reset => {}
        }
    }

    /// `UpdateInactiveState`: the first packet from this endpoint.
    fn update_inactive(&mut self, role: Role, seg: &Seg) {
        use EndpointState::*;
        let mut role = role;
        if seg.syn() {
            if role == Role::Orig {
                let s = if seg.ack_flag() { SynAckSent } else { SynSent };
                self.ep[0].set_state(s);
            } else if self.responder_syn(seg) {
                // The sender of this SYN is now the originator.
                role = Role::Orig;
            }
        }
        let i = Self::idx(role);
        let j = Self::idx(Self::peer_role(role));
        if seg.fin() {
            self.ep[i].set_state(Closed);
        }
        if seg.rst() {
            self.ep[i].set_state(Reset);
        }
        if self.ep[i].state != Inactive {
            return;
        }
        // No control flags changed the state.
        if role == Role::Resp && seg.len == 0 && self.ep[0].state == SynSent {
            // Some stacks ack an initial SYN before sending their SYN-ACK: not yet partial.
        } else if seg.ack_flag() && self.ep[j].state == Established {
            // SYN-ACK seen, SYN missed, now a pure ACK: establish rather than call it partial.
            self.ep[i].set_state(Established);
        } else {
            self.ep[i].set_state(Partial);
        }
    }

    /// The responder's SYN (usually a SYN-ACK) in `UpdateInactiveState`; true when it flipped
    /// the roles.
    fn responder_syn(&mut self, seg: &Seg) -> bool {
        use EndpointState::*;
        if !seg.ack_flag() && self.ep[0].state == SynAckSent && seg.seq == self.ep[1].start_seq {
            // SYN/SYN-ACK reversal (e.g. two capture interfaces): Zeek flips the endpoints and
            // appends '^' where it is, after the letters already recorded.
            self.flipped = !self.flipped;
            self.ep.swap(0, 1);
            self.history.push('^');
            self.ep[1].set_state(Established);
            self.ep[0].set_state(Established);
            return true;
        }
        if self.ep[0].state == SynSent {
            self.ep[0].set_state(Established);
        }
        self.ep[1].set_state(Established);
        false
    }

    /// `UpdateSYN_SentState`: FIN closes, RST resets.
    fn update_syn_sent(&mut self, role: Role, seg: &Seg) {
        let i = Self::idx(role);
        if seg.fin() {
            self.ep[i].set_state(EndpointState::Closed);
        }
        if seg.rst() {
            self.ep[i].set_state(EndpointState::Reset);
        }
    }

    /// `UpdateEstablishedState` (also for PARTIAL endpoints).
    fn update_established(&mut self, role: Role, seg: &Seg) {
        use EndpointState::*;
        let i = Self::idx(role);
        let j = Self::idx(Self::peer_role(role));
        if seg.syn() && !seg.ack_flag() && self.ep[i].state == Partial && self.ep[j].state == Inactive {
            // SYN after a partial start: it really begins the connection.
            self.ep[i].set_state(SynSent);
        }
        if seg.fin() && !seg.rst() {
            self.ep[i].set_state(Closed);
            // A FIN from the peer followed by its RST was a normal close after all.
            if self.ep[j].state == Reset && self.ep[j].prev_state == Closed {
                self.ep[j].set_state(Closed);
            }
        }
        if seg.rst() {
            self.ep[i].set_state(Reset);
        }
    }

    /// `UpdateClosedState`: after both FINs a RST no longer changes the outcome.
    fn update_closed(&mut self, role: Role, seg: &Seg) {
        let i = Self::idx(role);
        let j = Self::idx(Self::peer_role(role));
        if seg.rst() && self.ep[j].state != EndpointState::Closed {
            self.ep[i].set_state(EndpointState::Reset);
        }
    }
}

impl fmt::Display for ZeekConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.conn_state(), self.history)
    }
}

fn swap_case(c: char) -> char {
    if c.is_ascii_uppercase() { c.to_ascii_lowercase() } else { c.to_ascii_uppercase() }
}

/// `/\^?S[^HAFGIQ]*R.*/ == c$history`: the originator's SYN then its RST, with no sign of
/// life from the responder in between (Zeek's pattern equality matches the whole string).
fn rstos0_history(h: &str) -> bool {
    let rest = h.strip_prefix('^').unwrap_or(h);
    let Some(rest) = rest.strip_prefix('S') else {
        return false;
    };
    match rest.find(|c: char| "HAFGIQR".contains(c)) {
        Some(pos) => rest[pos..].starts_with('R'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::Flag;
    const FIN: u8 = Flag::FIN;
    const SYN: u8 = Flag::SYN;
    const RST: u8 = Flag::RST;
    const PSH: u8 = Flag::PSH;
    const ACK: u8 = Flag::ACK;
    use super::*;

    const O: bool = true; // sent by the first sender
    const R: bool = false; // sent by the other side

    /// Feeds (sender, flags, seq, ack, len) with a non-zero window and good checksums.
    fn run(pkts: &[(bool, u8, u32, u32, u32)]) -> ZeekConn {
        let mut c = ZeekConn::new();
        for &(from, fl, seq, ack, len) in pkts {
            c.on_packet(from, fl, seq, ack, len, 1000, true);
        }
        c
    }

    fn handshake() -> Vec<(bool, u8, u32, u32, u32)> {
        vec![(O, SYN, 100, 0, 0), (R, SYN | ACK, 500, 101, 0), (O, ACK, 101, 501, 0)]
    }

    fn check(c: &ZeekConn, state: &str, history: &str) {
        assert_eq!((c.conn_state(), c.history().as_str()), (state, history));
    }

    #[test]
    fn lone_syn_is_s0() {
        check(&run(&[(O, SYN, 1, 0, 0)]), "S0", "S");
    }

    #[test]
    fn retransmitted_syn_same_seq_is_recorded_once() {
        check(&run(&[(O, SYN, 1, 0, 0), (O, SYN, 1, 0, 0)]), "S0", "S");
    }

    #[test]
    fn syn_with_new_seq_restarts_numbering_so_one_s() {
        // init_endpoint re-bases a SYN_SENT endpoint on the new SYN, whose relative sequence
        // number is then 0 again, like the first one.
        check(&run(&[(O, SYN, 1, 0, 0), (O, SYN, 9000, 0, 0)]), "S0", "S");
    }

    #[test]
    fn syn_after_close_with_other_seq_is_recorded_again() {
        let c = run(&[(O, SYN, 1, 0, 0), (O, FIN, 2, 0, 0), (O, SYN, 50, 0, 0)]);
        check(&c, "SH", "SFS");
    }

    #[test]
    fn syn_synack_is_s1_only_after_ack() {
        let c = run(&handshake()[..2]);
        // Orig still SYN_SENT -> Established by the SYN-ACK; both established.
        check(&c, "S1", "Sh");
        check(&run(&handshake()), "S1", "ShA");
    }

    #[test]
    fn syn_then_rst_is_rstos0() {
        check(&run(&[(O, SYN, 1, 0, 0), (O, RST, 2, 0, 0)]), "RSTOS0", "SR");
    }

    #[test]
    fn syn_then_ack_then_rst_is_rstos0() {
        // The responder's bare ACK leaves it inactive (some stacks ack before SYN-ACK).
        let c = run(&[(O, SYN, 1, 0, 0), (R, ACK, 77, 2, 0), (O, RST, 2, 0, 0)]);
        check(&c, "RSTOS0", "SaR");
    }

    #[test]
    fn syn_answered_by_rst_is_rej() {
        check(&run(&[(O, SYN, 1, 0, 0), (R, RST | ACK, 0, 2, 0)]), "REJ", "Sr");
    }

    #[test]
    fn three_way_then_fin_fin_is_sf() {
        let mut p = handshake();
        p.extend([
            (O, PSH | ACK, 101, 501, 10),
            (R, ACK, 501, 111, 0),
            (O, FIN | ACK, 111, 501, 0),
            (R, FIN | ACK, 501, 112, 0),
            (O, ACK, 112, 502, 0),
        ]);
        check(&run(&p), "SF", "ShADaFf");
    }

    #[test]
    fn orig_fin_only_is_s2() {
        let mut p = handshake();
        p.push((O, FIN | ACK, 101, 501, 0));
        check(&run(&p), "S2", "ShAF");
    }

    #[test]
    fn resp_fin_only_is_s3() {
        let mut p = handshake();
        p.push((R, FIN | ACK, 501, 101, 0));
        check(&run(&p), "S3", "ShAf");
    }

    #[test]
    fn established_then_orig_rst_is_rsto() {
        let mut p = handshake();
        p.push((O, RST | ACK, 101, 501, 0));
        check(&run(&p), "RSTO", "ShAR");
    }

    #[test]
    fn established_then_resp_rst_is_rstr() {
        let mut p = handshake();
        p.push((R, RST, 501, 0, 0));
        check(&run(&p), "RSTR", "ShAr");
    }

    #[test]
    fn synack_then_rst_without_syn_is_rstrh() {
        // The responder (roles known from its server port) sent a SYN-ACK, then reset; the
        // originator never showed up.
        let mut c = ZeekConn::with_ports(25, 40000);
        c.on_packet(O, SYN | ACK, 500, 101, 0, 1000, true);
        c.on_packet(O, RST, 501, 0, 0, 1000, true);
        check(&c, "RSTRH", "^hr");
    }

    #[test]
    fn stealth_scan_synack_answered_by_rst_is_rej_without_flip() {
        // A SYN-ACK followed by a RST is what a stealth scan looks like: Zeek keeps the roles
        // (orig SYN_ACK_SENT, resp RESET), which conn_state() calls REJ.
        let c = run(&[(O, SYN | ACK, 500, 101, 0), (R, RST, 101, 0, 0)]);
        assert!(c.orig_is_first_sender());
        check(&c, "REJ", "Hr");
    }

    #[test]
    fn orig_data_only_is_oth() {
        check(&run(&[(O, PSH | ACK, 1000, 7, 20)]), "OTH", "D");
    }

    #[test]
    fn orig_fin_without_reply_is_sh() {
        check(&run(&[(O, SYN, 1, 0, 0), (O, FIN, 2, 0, 0)]), "SH", "SF");
    }

    #[test]
    fn resp_fin_without_handshake_is_shr() {
        let mut c = ZeekConn::with_ports(25, 40000);
        c.on_packet(O, FIN | ACK, 10, 20, 0, 1000, true);
        check(&c, "SHR", "^f");
    }

    #[test]
    fn lone_rst_is_oth() {
        check(&run(&[(O, RST, 1, 0, 0)]), "OTH", "R");
    }

    #[test]
    fn synack_first_flips_with_caret() {
        let c = run(&[
            (O, SYN | ACK, 500, 101, 0),
            (R, ACK, 101, 501, 0),
            (O, PSH | ACK, 501, 101, 5),
            (R, FIN | ACK, 101, 506, 0),
            (O, FIN | ACK, 506, 102, 0),
        ]);
        assert!(!c.orig_is_first_sender());
        check(&c, "SF", "^hAdFf");
    }

    #[test]
    fn one_sided_synack_ack_fin_is_caret_haf() {
        let c = run(&[(O, SYN | ACK, 500, 101, 0), (O, ACK, 501, 101, 0), (O, FIN | ACK, 501, 101, 0)]);
        assert_eq!(c.history(), "^haf");
        assert!(!c.orig_is_first_sender());
    }

    #[test]
    fn synack_first_from_server_port_flips_at_once() {
        let mut c = ZeekConn::with_ports(80, 56730);
        c.on_packet(O, SYN | ACK, 500, 101, 0, 1000, true);
        assert!(!c.orig_is_first_sender());
        assert_eq!(c.history(), "^h");
    }

    #[test]
    fn syn_from_server_port_is_not_flipped() {
        let mut c = ZeekConn::with_ports(25, 40000);
        c.on_packet(O, SYN, 1, 0, 0, 1000, true);
        assert!(c.orig_is_first_sender());
    }

    #[test]
    fn retransmitted_data_is_t() {
        let mut p = handshake();
        p.extend([(O, ACK, 101, 501, 10), (O, ACK, 101, 501, 10)]);
        check(&run(&p), "S1", "ShADT");
    }

    #[test]
    fn retransmission_letter_scales_by_ten() {
        let mut p = handshake();
        p.push((O, ACK, 101, 501, 10));
        p.extend(std::iter::repeat_n((O, ACK, 101, 501, 10), 100));
        check(&run(&p), "S1", "ShADTTT");
    }

    #[test]
    fn data_letter_only_for_payload() {
        let mut p = handshake();
        p.extend([(O, ACK, 101, 501, 0), (R, ACK, 501, 101, 0)]);
        check(&run(&p), "S1", "ShAa");
    }

    #[test]
    fn zero_window_is_w() {
        let mut c = run(&handshake());
        c.on_packet(R, ACK, 501, 101, 0, 0, true);
        check(&c, "S1", "ShAaw");
    }

    #[test]
    fn zero_window_on_rst_is_not_w() {
        let mut c = run(&handshake());
        c.on_packet(R, RST, 501, 0, 0, 0, true);
        check(&c, "RSTR", "ShAr");
    }

    #[test]
    fn zero_window_after_peer_fin_is_not_w() {
        let mut c = run(&handshake());
        c.on_packet(O, FIN | ACK, 101, 501, 0, 1000, true);
        c.on_packet(R, ACK, 501, 102, 0, 0, true);
        check(&c, "S2", "ShAFa");
    }

    #[test]
    fn bad_checksum_is_c_and_ignored() {
        let mut c = ZeekConn::new();
        c.on_packet(O, SYN, 1, 0, 0, 1000, false);
        check(&c, "OTH", "C");
        c.on_packet(O, SYN, 1, 0, 0, 1000, true);
        check(&c, "S0", "CS");
    }

    #[test]
    fn syn_fin_is_q_and_fin_rst_is_i() {
        check(&run(&[(O, SYN | FIN, 1, 0, 0)]), "SH", "Q");
        let mut p = handshake();
        p.push((O, FIN | RST, 101, 501, 0));
        check(&run(&p), "RSTO", "ShAI");
    }

    #[test]
    fn content_gap_is_g_per_direction() {
        let mut c = run(&handshake());
        c.on_content_gap(false);
        c.on_content_gap(true);
        check(&c, "S1", "ShAgG");
    }

    #[test]
    fn rst_after_fin_exchange_keeps_sf() {
        let mut p = handshake();
        p.extend([(O, FIN | ACK, 101, 501, 0), (R, FIN | ACK, 501, 102, 0), (O, RST, 102, 0, 0)]);
        check(&run(&p), "SF", "ShAFfR");
    }

    #[test]
    fn fin_then_rst_from_same_side_then_peer_fin_is_sf() {
        let mut p = handshake();
        p.extend([(R, FIN | ACK, 501, 101, 0), (R, RST, 502, 0, 0), (O, FIN | ACK, 101, 502, 0)]);
        check(&run(&p), "SF", "ShAfrF");
    }

    #[test]
    fn rstos0_pattern() {
        assert!(rstos0_history("SR"));
        assert!(rstos0_history("^SdR"));
        assert!(rstos0_history("SaR"));
        // Zeek's class [^HAFGIQ] is case-sensitive: responder letters do not stop the match
        // (conn_state() only asks when the responder is inactive anyway).
        assert!(rstos0_history("ShR"));
        assert!(!rstos0_history("R"));
        assert!(!rstos0_history("SAR"));
    }
}
