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

use crate::decode::TcpFlags as Flag;

mod endpoint;
mod state;

pub use endpoint::EndpointState;

use endpoint::{Endpoint, Seg};

/// Ports Zeek treats as "likely server ports" when guessing roles of a connection seen without
/// its SYN (`likely_server_ports`, filled by the analyzers a default Zeek loads). Only used when
/// the caller gives ports with [`ZeekConn::with_ports`].
pub const LIKELY_SERVER_PORTS: &[u16] = &[
    21, 22, 23, 25, 53, 80, 81, 88, 110, 111, 135, 139, 143, 389, 443, 445, 465, 502, 563, 585, 587, 614, 631, 636,
    989, 990, 992, 993, 994, 995, 1080, 1433, 1812, 2404, 3128, 3306, 3389, 5060, 5222, 5223, 5269, 5432, 6379, 6666,
    6667, 6668, 6669, 8000, 8080, 8443, 8888,
];

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
    #[inline]
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
        let role = self.role_of(from_first_sender);
        // Most packets (see `process_plain`); such a sender rules out the SYN-ACK flip below.
        if self.started && checksum_ok && self.plain(role, &seg) {
            self.process_plain(role, &seg);
            return;
        }
        self.on_other_packet(from_first_sender, &seg, checksum_ok);
    }

    /// `on_packet` for the first packet, a bad checksum and packets `process_plain` does not take.
    fn on_other_packet(&mut self, from_first_sender: bool, seg: &Seg, checksum_ok: bool) {
        let seg = *seg;
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

    /// Heap bytes of the history letters.
    #[inline]
    pub fn held_bytes(&self) -> usize {
        self.history.capacity()
    }

    /// The history string, e.g. `ShADadFf`, with `^` when Zeek flipped roles.
    pub fn history(&self) -> String {
        self.history.clone()
    }

    /// The history string, taken out when the connection is done with (no copy).
    pub fn take_history(&mut self) -> String {
        std::mem::take(&mut self.history)
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
    #[inline]
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
        if self.plain(role, seg) {
            self.process_plain(role, seg);
            return;
        }
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

    /// No SYN, FIN or RST, from an endpoint past its handshake: `process_plain` does for it all
    /// that `process` would. (Neither endpoint is then the SYN-ACK sender facing an inactive
    /// peer, so the flip of `synack_then_ack_or_data` cannot come first.)
    #[inline]
    fn plain(&self, role: Role, seg: &Seg) -> bool {
        seg.flags & (Flag::SYN | Flag::FIN | Flag::RST) == 0
            && matches!(self.ep[Self::idx(role)].state, EndpointState::Established | EndpointState::Partial)
    }

    /// `Process` for most packets of a connection: no SYN, FIN or RST, from an endpoint past its
    /// handshake. The steps that change nothing for such a segment are left out: `init_endpoint`
    /// (it acts on a SYN or an inactive endpoint), the letters of those flags, and the state
    /// machine (an established or partial endpoint changes state on them alone).
    ///
    /// The general steps are specialised for such a segment: it takes as many sequence numbers
    /// as it carries bytes, its acknowledgment is trusted (no RST), and its sender is neither
    /// reset nor, being established or partial, changed by anything before the last step.
    /// Always inlined: the release build left it a call per packet (its other caller, the
    /// general `process`, is cold).
    #[inline(always)]
    fn process_plain(&mut self, role: Role, seg: &Seg) {
        if seg.len > 0 {
            self.check_history(role, Once::Data, 'D');
        } else if seg.ack_flag() {
            self.check_history(role, Once::Ack, 'A');
        }
        let (i, j) = (Self::idx(role), Self::idx(Self::peer_role(role)));
        // `check_zero_window` without its RST and reset-sender tests.
        if seg.window == 0 && self.ep[j].state != EndpointState::Closed && self.ep[i].zero_windows.bump() {
            self.push(role, 'W');
        }
        if seg.ack_flag() {
            self.take_ack(role, seg);
        }
        // `update_last_seq` for a segment without SYN, FIN or RST from a sender not reset:
        // it advances the highest sequence number, or is a retransmission if it carries bytes.
        let sender = &mut self.ep[i];
        let last = seg.seq.wrapping_add(seg.len);
        if endpoint::seq_delta(last, sender.last_seq) > 0 {
            sender.last_seq = last;
        } else if seg.len > 0 && sender.retransmits.bump() {
            self.push(role, 'T');
        }
    }

    /// `update_history`: S H A D F R I Q letters.
    fn update_history(&mut self, role: Role, seg: &Seg, rel_seq: i64) {
        let i = Self::idx(role);
        let bits = (seg.flags & (Flag::SYN | Flag::FIN | Flag::RST)).count_ones();
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
}

impl fmt::Display for ZeekConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.conn_state(), self.history)
    }
}

fn swap_case(c: char) -> char {
    if c.is_ascii_uppercase() { c.to_ascii_lowercase() } else { c.to_ascii_uppercase() }
}

#[cfg(test)]
mod tests;
