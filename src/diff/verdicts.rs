//! Verdicts for a pair, in the style of `read`'s: what the device between the two captures did,
//! each with the packets on both sides that prove it.

use super::Side;
use super::findings::{Findings, Injected, Lost, LostKind, Rewrite, RewriteRule, SidePackets};
use crate::diagnose::Severity;
use crate::tcp::Direction;
use crate::tcp::conn::Role;
use crate::textfmt::shorten;
use serde::Serialize;

/// Characters of a line quoted in a summary.
const QUOTE: usize = 60;

#[derive(Clone, Debug, Serialize)]
pub struct PairVerdict {
    pub code: &'static str,
    pub severity: Severity,
    pub summary: String,
    /// The code's fixed text: in JSON with `--explain` only (cleared otherwise).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub explanation: String,
    pub packets: SidePackets,
}

pub fn verdicts(f: &Findings, client_side: Side) -> Vec<PairVerdict> {
    let mut v: Vec<PairVerdict> = Vec::new();
    v.extend(f.rewrites.iter().map(|r| rewritten(r, client_side)));
    v.extend(f.injected.iter().map(injected));
    v.extend(f.lost.iter().map(|l| dropped(l, client_side)));
    v.sort_by_key(|x| std::cmp::Reverse(x.severity));
    v
}

fn dir_name(d: Direction) -> &'static str {
    match d {
        Direction::ClientToServer => "client→server",
        Direction::ServerToClient => "server→client",
    }
}

fn role(r: Role) -> &'static str {
    match r {
        Role::Client => "client",
        Role::Server => "server",
    }
}

/// "outside packet 4, inside packet 4" (sender's side first).
fn packet_text(p: &SidePackets, first: Side) -> String {
    let list = |v: &[u64]| crate::textfmt::packet_list(v);
    let part = |side: Side| {
        let v = match side {
            Side::Outside => &p.outside,
            Side::Inside => &p.inside,
        };
        match v.len() {
            0 => None,
            1 => Some(format!("{} packet {}", side.name(), list(v))),
            _ => Some(format!("{} packets {}", side.name(), list(v))),
        }
    };
    [part(first), part(first.other())].into_iter().flatten().collect::<Vec<_>>().join(", ")
}

fn near(d: Direction, client_side: Side) -> Side {
    if d == Direction::ClientToServer { client_side } else { client_side.other() }
}

fn rewritten(r: &Rewrite, client_side: Side) -> PairVerdict {
    let what = match (&r.rule, &r.word) {
        (RewriteRule::MaskedEhloKeyword, Some(w)) => format!("masked EHLO keyword {w}"),
        (RewriteRule::MaskedCommand, Some(w)) => format!("masked command {w}"),
        (rule, _) => rule.describe().to_string(),
    };
    let sender = near(r.direction, client_side);
    let summary = format!(
        "{what}: \"{}\" was sent ({}) and arrived as \"{}\" ({}, stream offset {})",
        shorten(&r.sent, QUOTE, "…"),
        sender.name(),
        shorten(&r.received, QUOTE, "…"),
        dir_name(r.direction),
        r.offset,
    );
    let explanation = match r.rule {
        RewriteRule::MaskedBanner => {
            "The device between the captures replaced the server's banner with asterisks \
            (Cisco ASA/PIX `inspect esmtp`, mask-banner). Harmless to delivery unless the banner is multi-line; \
            `no mask-banner` in the ESMTP policy map turns it off."
        }
        RewriteRule::MaskedEhloKeyword => {
            "The device masked an EHLO keyword it does not support (ASA ESMTP \
            inspection): the client never learns the server offers it. For STARTTLS mail then flows in clear; \
            allow the extension in the ESMTP policy map or stop inspecting ESMTP."
        }
        RewriteRule::MaskedCommand => {
            "The device replaced a command it does not allow with X's (ASA ESMTP \
            inspection): the server receives garbage and answers 500."
        }
        RewriteRule::Other => {
            "The bytes the receiver got differ from those the sender sent: a device in the \
            path rewrote them."
        }
    };
    PairVerdict {
        code: "REWRITTEN_IN_PATH",
        severity: Severity::Warning,
        summary: format!("{summary}; {}", packet_text(&r.packets, sender)),
        explanation: explanation.to_string(),
        packets: r.packets.clone(),
    }
}

fn injected(x: &Injected) -> PairVerdict {
    let mut evidence = Vec::new();
    if let Some(u) = x.usual_ttl.filter(|&u| u != x.ttl) {
        evidence.push(format!("TTL {} where the {}'s own packets on that side have {u}", x.ttl, role(x.claims)));
    }
    if let (Some(id), Some(prev)) = (x.ip_id, x.previous_ip_id) {
        let step = id.wrapping_sub(prev);
        if step == 0 || step > 256 {
            evidence.push(format!("IP-ID {id} does not follow the {}'s {prev}", role(x.claims)));
        }
    }
    let evidence = if evidence.is_empty() { String::new() } else { format!("; {}", evidence.join(", ")) };
    let reset = x.flags.contains("RST");
    let summary = format!(
        "{} \"from\" the {} {} seen {} (packet {}) was never sent by it: the {} capture does not have it{evidence}",
        x.flags,
        role(x.claims),
        x.claims_endpoint,
        x.side.name(),
        x.packet,
        x.side.other().name(),
    );
    let mut packets = SidePackets::default();
    packets.side_mut(x.side).push(x.packet);
    PairVerdict {
        code: if reset { "INJECTED_RESET" } else { "INJECTED_IN_PATH" },
        severity: if reset { Severity::Error } else { Severity::Warning },
        summary,
        explanation: "A device between the two capture points forged this packet in the name of the other end \
            (an ESMTP inspection drop resets both sides this way). Its TTL and IP-ID belong to the device, not \
            the end it claims to be."
            .to_string(),
        packets,
    }
}

fn dropped(l: &Lost, client_side: Side) -> PairVerdict {
    let sender = near(l.direction, client_side);
    let what = match l.kind {
        LostKind::Bytes => format!(
            "{} bytes {}{}",
            l.len,
            dir_name(l.direction),
            l.text.as_deref().map(|t| format!(" (\"{}\")", shorten(t, QUOTE, "…"))).unwrap_or_default()
        ),
        LostKind::Syn => format!("the SYN {}", dir_name(l.direction)),
        LostKind::Fin => format!("the FIN {}", dir_name(l.direction)),
        LostKind::Rst => format!("the RST {}", dir_name(l.direction)),
    };
    PairVerdict {
        code: "DROPPED_IN_PATH",
        severity: Severity::Error,
        summary: format!(
            "{what} sent ({}) never reached the {} side",
            packet_text(&l.packets, sender),
            sender.other().name()
        ),
        explanation: "The sender's side saw it leave; the receiver's side never saw it arrive, though that capture \
            was still recording: the device between them dropped it (a policy, an inspection limit, an MTU \
            black hole)."
            .to_string(),
        packets: l.packets.clone(),
    }
}
