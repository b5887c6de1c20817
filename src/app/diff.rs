//! `smtpdiag diff OUTSIDE INSIDE`: reads both captures twice — once through the usual pipeline
//! for each side's own verdicts, once keeping the payloads the comparison needs — and prints
//! the pairs (text, NDJSON, or three-column ladders).

use super::output::{Out, stdout_color, terminal_width};
use anyhow::{Context, Result};
use smtpdiag::capture;
use smtpdiag::cli::{DiffArgs, DiffFormat};
use smtpdiag::diagnose;
use smtpdiag::diff::{self, Diff, PairReport, SessionVerdicts, Side, ladder};
use smtpdiag::render::ladder::three::{self, Style};
use smtpdiag::render::sanitize::sanitize;
use smtpdiag::render::text::{packet_list, paint};
use smtpdiag::session::Analyzer;
use std::fmt::Write as _;
use std::io::Write as _;
use std::ops::ControlFlow;
use std::path::Path;

pub fn run(args: DiffArgs) -> Result<i32> {
    if [&args.outside, &args.inside].iter().any(|p| p.as_os_str() == "-") {
        anyhow::bail!("diff reads each capture twice: give two files, not standard input (\"-\")");
    }
    let config = super::config::analyzer(&args.analysis);
    let ports = config.tcp.ports.clone();
    let dconfig = super::config::diagnose(&args.analysis);
    let mut views = Vec::new();
    let mut verdicts = Vec::new();
    for path in [&args.outside, &args.inside] {
        views.push(diff::packets::load(path, &ports)?);
        verdicts.push(session_verdicts(path, &config, &dconfig));
    }
    for v in &views {
        for w in &v.warnings {
            eprintln!("smtpdiag: warning: {}: {}", sanitize(&v.name), sanitize(&w.to_string()));
        }
    }
    let inside = views.pop().expect("two captures");
    let outside = views.pop().expect("two captures");
    let d = diff::diff(outside, inside, &verdicts[0], &verdicts[1])?;
    for n in &d.notes {
        eprintln!("smtpdiag: warning: {}", sanitize(n));
    }
    let selected: Vec<usize> = (0..d.pairs.len())
        .filter(|&k| args.sessions.is_empty() || d.pairs[k].outside.session.is_some_and(|s| args.sessions.contains(&s)))
        .collect();
    if !args.sessions.is_empty() && selected.is_empty() {
        eprintln!("smtpdiag: no pair has an outside session among {:?}", args.sessions);
    }
    let width = args.width.unwrap_or_else(terminal_width);
    let color = args.output.is_none() && stdout_color();
    let style = Style { width, ascii: args.ascii, color };
    let text = match (args.json, args.format) {
        (true, _) => json(&d, &selected, args.sessions.is_empty(), args.explain)?,
        (false, DiffFormat::Text) => text(&d, &selected, &args, style),
        (false, DiffFormat::Mermaid) => selected
            .iter()
            .map(|&k| three::mermaid(&ladder::build(&d, k, args.all_packets)))
            .collect::<Vec<_>>()
            .join("\n"),
        (false, DiffFormat::Svg) => {
            let ladders: Vec<String> =
                selected.iter().map(|&k| three::svg(&ladder::build(&d, k, args.all_packets))).collect();
            if ladders.len() > 1 && args.output.is_some() {
                eprintln!("smtpdiag: {} pairs: writing the first one's SVG (select one with --session)", ladders.len());
            }
            ladders.into_iter().next().unwrap_or_default()
        }
    };
    match &args.output {
        Some(path) => std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?,
        None => {
            let mut out = Out::new(false);
            out.lines(&text);
            out.flush();
        }
    }
    let _ = std::io::stdout().flush();
    Ok(0)
}

/// Each session's id, first packet and verdicts, as `read` gives them.
fn session_verdicts(
    path: &Path,
    config: &smtpdiag::session::AnalyzerConfig,
    dconfig: &diagnose::DiagnoseConfig,
) -> Vec<SessionVerdicts> {
    let mut found = Vec::new();
    let name = path.display().to_string();
    let mut analyzer = Analyzer::new(&name, config.clone(), |s| {
        let verdicts = diagnose::diagnose(&s, dconfig);
        found.push(SessionVerdicts { id: s.index, first_packet: s.conn.first.number, verdicts });
        ControlFlow::Continue(())
    });
    // Errors were reported when the packets were loaded; a second read fails the same way.
    let _ = capture::read_path(path, &mut analyzer);
    analyzer.finish();
    drop(analyzer);
    found
}

/// `explain`: keep each verdict's fixed explanation text (`--explain`).
fn json(d: &Diff, selected: &[usize], with_unpaired: bool, explain: bool) -> Result<String> {
    let mut out = String::new();
    for &k in selected {
        let line = if explain {
            serde_json::to_string(&d.pairs[k])?
        } else {
            let mut pair = d.pairs[k].clone();
            pair.verdicts.iter_mut().for_each(|v| v.explanation.clear());
            serde_json::to_string(&pair)?
        };
        out.push_str(&line);
        out.push('\n');
    }
    if with_unpaired {
        for u in &d.unpaired {
            out.push_str(&serde_json::to_string(u)?);
            out.push('\n');
        }
    }
    Ok(out)
}

fn text(d: &Diff, selected: &[usize], args: &DiffArgs, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "outside {}  ·  inside {}", sanitize(&d.outside.name), sanitize(&d.inside.name));
    if let Some(note) = &d.clocks.note {
        let _ = writeln!(out, "clocks: {note}");
    }
    for &k in selected {
        let p = &d.pairs[k];
        out.push('\n');
        out.push_str(&pair_text(p, style));
        if args.ladder {
            // The verdicts were just printed above the drawing: not twice.
            let mut l = ladder::build(d, k, args.all_packets);
            l.verdicts.clear();
            out.push('\n');
            out.push_str(&three::text(&l, style));
        }
    }
    if args.sessions.is_empty() && !d.unpaired.is_empty() {
        out.push('\n');
        for u in &d.unpaired {
            let session = u.session.map_or("-".to_string(), |s| s.to_string());
            let _ = writeln!(
                out,
                "unpaired {} session {session} ({} → {}, packets {}-{}): {}",
                u.side.name(),
                u.client,
                u.server,
                u.first_packet,
                u.last_packet,
                u.reason
            );
        }
    }
    let changed = selected.iter().filter(|&&k| !d.pairs[k].verdicts.is_empty()).count();
    let _ = writeln!(
        out,
        "\n{} pair(s), {changed} changed in path; {} session(s) without a partner",
        selected.len(),
        d.unpaired.len()
    );
    out
}

fn pair_text(p: &PairReport, style: Style) -> String {
    let mut out = String::new();
    let session = |s: Option<u64>| s.map_or("-".to_string(), |s| s.to_string());
    let certainty =
        serde_json::to_value(p.certainty).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    let _ = writeln!(
        out,
        "pair {}  outside session {} ↔ inside session {}  paired by {} ({certainty})",
        p.pair,
        session(p.outside.session),
        session(p.inside.session),
        if p.paired_by.is_empty() { "elimination".to_string() } else { p.paired_by.join(", ") },
    );
    if !p.alternatives.is_empty() {
        let alts: Vec<String> = p.alternatives.iter().map(u64::to_string).collect();
        let _ = writeln!(out, "  ambiguous: inside session(s) {} fit as well", alts.join(", "));
    }
    let t = &p.translation;
    for (role, x) in [("client", &t.client), ("server", &t.server)] {
        let what = match (x.address_translated, x.port_translated) {
            (true, true) => "address and port translated",
            (true, false) => "address translated",
            (false, true) => "port translated",
            (false, false) => "not translated",
        };
        let _ = writeln!(out, "  {role} {} outside = {} inside: {what}", x.outside, x.inside);
    }
    let off = |o: Option<i64>| match o {
        Some(0) => "0 (not shifted)".to_string(),
        Some(v) => format!("{v:+} (0x{:08x})", v as i32 as u32),
        None => "-".to_string(),
    };
    let _ = writeln!(
        out,
        "  sequence offset inside − outside: client→server {}, server→client {}; the client is on the {}",
        off(t.seq_offset.client_to_server),
        off(t.seq_offset.server_to_client),
        t.client_side.name()
    );
    let delay = |d: &Option<diff::findings::Delay>| match d {
        Some(d) => format!("median {:.3} ms, max {:.3} ms ({} packets)", d.median, d.max, d.packets),
        None => "-".to_string(),
    };
    let _ = writeln!(
        out,
        "  transit through the device: client→server {}; server→client {}",
        delay(&p.findings.delay_ms.client_to_server),
        delay(&p.findings.delay_ms.server_to_client)
    );
    let _ = writeln!(
        out,
        "  outside packets {}-{}, verdicts: {}",
        p.outside.first_packet,
        p.outside.last_packet,
        codes(&p.outside.verdicts)
    );
    let _ = writeln!(
        out,
        "  inside packets {}-{}, verdicts: {}",
        p.inside.first_packet,
        p.inside.last_packet,
        codes(&p.inside.verdicts)
    );
    for r in &p.findings.resegmented {
        let _ = writeln!(
            out,
            "  re-segmented (not a rewrite): {} bytes at offset {} ({})",
            r.len,
            r.offset,
            side_packets(&r.packets)
        );
    }
    if p.verdicts.is_empty() {
        let _ = writeln!(out, "  nothing rewritten, injected or lost: the device passed the bytes unchanged");
    }
    for v in &p.verdicts {
        let code = paint(&format!("{:<18}", v.code), v.severity, style.color);
        let width = style.width.max(60).saturating_sub(22);
        // Summaries quote the wire (rewritten lines): shown through the sanitizer.
        for (k, line) in smtpdiag::render::wrap(&sanitize(&v.summary), width).iter().enumerate() {
            let lead = if k == 0 { code.clone() } else { " ".repeat(18) };
            let _ = writeln!(out, "  {lead} {line}");
        }
    }
    out
}

fn codes(c: &[&str]) -> String {
    if c.is_empty() { "none".to_string() } else { c.join(", ") }
}

fn side_packets(p: &diff::findings::SidePackets) -> String {
    let mut parts = Vec::new();
    for (side, v) in [(Side::Outside, &p.outside), (Side::Inside, &p.inside)] {
        if !v.is_empty() {
            parts.push(format!("{} packets {}", side.name(), packet_list(v)));
        }
    }
    parts.join(", ")
}
