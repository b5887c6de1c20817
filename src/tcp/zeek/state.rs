//! Zeek's per-endpoint state machine (`UpdateStateMachine` and the `Update*State` functions)
//! and the `conn_state()` it leads to.

use super::endpoint::{EndpointState, Seg};
use super::{Role, ZeekConn};

impl ZeekConn {
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

    /// `UpdateStateMachine`: dispatch on the sender's state.
    pub(super) fn update_state_machine(&mut self, role: Role, seg: &Seg) {
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
    pub(super) fn update_inactive(&mut self, role: Role, seg: &Seg) {
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
    pub(super) fn responder_syn(&mut self, seg: &Seg) -> bool {
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
    pub(super) fn update_syn_sent(&mut self, role: Role, seg: &Seg) {
        let i = Self::idx(role);
        if seg.fin() {
            self.ep[i].set_state(EndpointState::Closed);
        }
        if seg.rst() {
            self.ep[i].set_state(EndpointState::Reset);
        }
    }

    /// `UpdateEstablishedState` (also for PARTIAL endpoints).
    pub(super) fn update_established(&mut self, role: Role, seg: &Seg) {
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
    pub(super) fn update_closed(&mut self, role: Role, seg: &Seg) {
        let i = Self::idx(role);
        let j = Self::idx(Self::peer_role(role));
        if seg.rst() && self.ep[j].state != EndpointState::Closed {
            self.ep[i].set_state(EndpointState::Reset);
        }
    }
}

/// `/\^?S[^HAFGIQ]*R.*/ == c$history`: the originator's SYN then its RST, with no sign of
/// life from the responder in between (Zeek's pattern equality matches the whole string).
pub(super) fn rstos0_history(h: &str) -> bool {
    let rest = h.strip_prefix('^').unwrap_or(h);
    let Some(rest) = rest.strip_prefix('S') else {
        return false;
    };
    match rest.find(|c: char| "HAFGIQR".contains(c)) {
        Some(pos) => rest[pos..].starts_with('R'),
        None => false,
    }
}
