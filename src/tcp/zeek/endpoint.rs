//! Zeek's `TCP_Endpoint` and the header fields it reads: sequence tracking, the scaled history
//! counters and the size `conn_state()` asks for.

/// TCP flag bits as on the wire (the decoder's constants).
use crate::decode::TcpFlags as Flag;

/// Zeek's `TOO_LARGE_SEQ_DELTA`: SYN/RST sequence jumps beyond this are not trusted.
const TOO_LARGE_SEQ_DELTA: i32 = 1_048_576;

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
    pub(super) fn inactive(self) -> bool {
        matches!(self, EndpointState::Inactive | EndpointState::Partial)
    }
}

/// Zeek's `seq_delta`: signed distance between two sequence numbers, modulo 2^32.
pub(super) fn seq_delta(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

/// One packet's TCP header fields, as Zeek's `TCP_Flags` sees them.
#[derive(Clone, Copy, Debug)]
pub(super) struct Seg {
    pub(super) flags: u8,
    pub(super) seq: u32,
    pub(super) ack: u32,
    pub(super) len: u32,
    pub(super) window: u16,
}

impl Seg {
    pub(super) fn has(&self, bit: u8) -> bool {
        self.flags & bit != 0
    }
    pub(super) fn syn(&self) -> bool {
        self.has(Flag::SYN)
    }
    pub(super) fn fin(&self) -> bool {
        self.has(Flag::FIN)
    }
    pub(super) fn rst(&self) -> bool {
        self.has(Flag::RST)
    }
    pub(super) fn ack_flag(&self) -> bool {
        self.has(Flag::ACK)
    }

    /// `get_segment_len`: SYN and FIN take one sequence number each; a RST's payload is not
    /// part of the stream.
    pub(super) fn seg_len(&self) -> u32 {
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
pub(super) struct Scaled {
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
    pub(super) fn bump(&mut self) -> bool {
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
pub(super) struct Endpoint {
    pub(super) state: EndpointState,
    pub(super) prev_state: EndpointState,
    pub(super) start_seq: u32,
    pub(super) last_seq: u32,
    pub(super) ack_seq: u32,
    pub(super) fin_cnt: u32,
    pub(super) hist_last_syn: i64,
    pub(super) hist_last_fin: i64,
    pub(super) hist_last_rst: i64,
    pub(super) checksum_errors: Scaled,
    pub(super) retransmits: Scaled,
    pub(super) zero_windows: Scaled,
    pub(super) gaps: Scaled,
}

impl Endpoint {
    pub(super) fn set_state(&mut self, s: EndpointState) {
        if s != self.state {
            self.prev_state = self.state;
            self.state = s;
        }
    }

    pub(super) fn init_seqs(&mut self, start: u32, last: u32) {
        self.start_seq = start;
        self.ack_seq = start;
        self.last_seq = last;
    }

    /// `init_endpoint`: (re)initialise sequence tracking from this endpoint's packet.
    pub(super) fn init(&mut self, seg: &Seg) {
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
    pub(super) fn rel(&self, seq: u32) -> i64 {
        i64::from(seq_delta(seq, self.start_seq))
    }

    /// `update_ack_seq`: the peer acknowledged up to `ack`.
    pub(super) fn update_ack_seq(&mut self, ack: u32) {
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
    pub(super) fn update_last_seq(&mut self, seg: &Seg) -> bool {
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
    pub(super) fn size(&self, peer_state: EndpointState) -> u64 {
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
