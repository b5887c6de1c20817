//! The names the record gives the stages' enums (snake_case, stable across versions), and how
//! it shows a packet.

use crate::smtp::AnomalyKind;
use crate::tcp::conn::{CloseKind, Handshake, IpIdPattern, RoleBasis};
use crate::tcp::flow::EndReason;
use crate::tcp::{Direction, PacketRef};

/// A packet reference as the record shows it: the bare packet number (Wireshark's "Go to packet").
pub(super) fn number(p: &PacketRef) -> u64 {
    p.number
}

pub(super) fn direction(d: Direction) -> &'static str {
    d.name()
}

pub(super) fn anomaly(k: AnomalyKind) -> &'static str {
    match k {
        AnomalyKind::PartialLineAtEnd => "partial_line_at_end",
        AnomalyKind::LineTooLong => "line_too_long",
        AnomalyKind::BinaryJunk => "binary_junk",
        AnomalyKind::NulByte => "nul_byte",
        AnomalyKind::BareLf => "bare_lf",
        AnomalyKind::NonReplyLine => "non_reply_line",
        AnomalyKind::UnmatchedReply => "unmatched_reply",
        AnomalyKind::UnansweredCommand => "unanswered_command",
        AnomalyKind::NoFinalReply => "no_final_reply",
        AnomalyKind::Gap => "gap",
        AnomalyKind::ClientSpokeBeforeGreeting => "client_spoke_before_greeting",
        AnomalyKind::UnterminatedMultilineReply => "unterminated_multiline_reply",
        AnomalyKind::ReplyWithoutSeparator => "reply_without_separator",
        AnomalyKind::MultilineCodeChange => "multiline_code_change",
        AnomalyKind::BdatInvalidSize => "bdat_invalid_size",
        AnomalyKind::BdatTruncated => "bdat_truncated",
        AnomalyKind::DataBodyUnterminated => "data_body_unterminated",
        AnomalyKind::ClientBytesAfterStartTls => "client_bytes_after_start_tls",
        AnomalyKind::TlsBytes => "tls_bytes",
        AnomalyKind::PlaintextReplyToTls => "plaintext_reply_to_tls",
        AnomalyKind::NotTls => "not_tls",
        AnomalyKind::PlaintextAfterStartTls => "plaintext_after_start_tls",
        AnomalyKind::NotSmtp => "not_smtp",
        AnomalyKind::HttpConnectTunnel => "http_connect_tunnel",
        AnomalyKind::UndecidedOverflow => "undecided_overflow",
        AnomalyKind::PendingOverflow => "pending_overflow",
    }
}

pub(super) fn handshake(h: Handshake) -> &'static str {
    match h {
        Handshake::Complete => "complete",
        Handshake::SynSynack => "syn_synack",
        Handshake::SynOnly => "syn_only",
        Handshake::SynRst => "syn_rst",
        Handshake::Midstream => "midstream",
    }
}

pub(super) fn role_basis(b: RoleBasis) -> &'static str {
    match b {
        RoleBasis::Syn => "syn",
        RoleBasis::Synack => "synack",
        RoleBasis::Port => "port",
        RoleBasis::Reply => "reply",
    }
}

pub(super) fn ip_id(p: IpIdPattern) -> &'static str {
    match p {
        IpIdPattern::None => "none",
        IpIdPattern::Zero => "zero",
        IpIdPattern::Constant => "constant",
        IpIdPattern::Incrementing => "incrementing",
        IpIdPattern::Random => "random",
    }
}

pub(super) fn close_kind(k: CloseKind) -> &'static str {
    match k {
        CloseKind::Fin => "fin",
        CloseKind::Rst => "rst",
    }
}

pub(super) fn end(e: EndReason) -> &'static str {
    match e {
        EndReason::Closed => "closed",
        EndReason::Idle => "idle",
        EndReason::Evicted => "evicted",
        EndReason::CaptureEnd => "capture_end",
    }
}
