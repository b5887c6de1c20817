//! The report as one HTML document: inline CSS, inline SVG, no script, nothing fetched.
//!
//! Written with maud, which escapes every interpolated value: text from the capture (banners,
//! commands, addresses) can only ever become text. The two kinds of markup inserted as is are
//! SVG made by smtpdiag's ladder renderer and by plotters, both of which escape their text.

use super::charts::{self, color, css};
use super::tables::{self, Tally};
use super::transcript::{Line, Speaker};
use super::{Detail, NO_VERDICT, Report, Undrawn};
use crate::diagnose::Severity;
use crate::render::text::{packet_list, utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};

/// The page needs its inline styles and nothing else.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'";

/// Rows of the server and client tables; the rest are added up in one line.
const MAX_TABLE_ROWS: usize = 50;

/// The whole page.
pub fn render(r: &Report) -> Result<String, charts::ChartError> {
    let timeline = charts::timeline(r)?;
    let servers = charts::servers(r)?;
    let title = match r.captures.as_slice() {
        [one] => format!("smtpdiag report: {}", one.name),
        many => format!("smtpdiag report: {} captures", many.len()),
    };
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                // Nothing to fetch and nothing to run: even markup that slipped through could
                // neither load a resource nor execute.
                meta http-equiv="Content-Security-Policy" content=(CSP);
                meta name="generator" content=(format!("smtpdiag {}", env!("CARGO_PKG_VERSION")));
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    h1 { (title) }
                    p.muted { "Made by smtpdiag " (env!("CARGO_PKG_VERSION")) " from packets alone. Times are UTC." }
                }
                (overview(r))
                (headlines(r))
                @if !timeline.is_empty() {
                    section #timeline {
                        h2 { "Sessions over time" }
                        p.muted { "Sessions by the time they started, colored by headline verdict." }
                        figure.chart { (PreEscaped(timeline)) }
                        (legend(r))
                    }
                }
                section #servers {
                    h2 { "Servers" }
                    @if !servers.is_empty() {
                        figure.chart { (PreEscaped(servers)) }
                        @if r.server_headlines.len() > charts::MAX_SERVERS {
                            p.muted { "The " (charts::MAX_SERVERS) " busiest of " (r.server_headlines.len()) " servers." }
                        }
                    }
                    (tally_table("server", &r.servers))
                }
                section #clients {
                    h2 { "Clients" }
                    (tally_table("client", &r.clients))
                }
                @if let Some(summary) = &r.log_summary {
                    section #maillog {
                        h2 { "Mail server log" }
                        pre.log { (summary) }
                    }
                }
                (flagged(r))
            }
        }
    };
    Ok(page.into_string())
}

fn overview(r: &Report) -> Markup {
    let frames: u64 = r.captures.iter().map(|c| c.frames).sum();
    let tcp: u64 = r.captures.iter().map(|c| c.tcp_packets).sum();
    html! {
        section.overview {
            div.card {
                h3 { "Captures" }
                p.big { (r.captures.len()) }
                ul.names { @for c in &r.captures { li { (c.name) } } }
            }
            div.card {
                h3 { "Time range" }
                @match (r.first, r.last) {
                    (Some(first), Some(last)) => {
                        p { (utc(first)) }
                        p { "to " (utc(last)) }
                    }
                    _ => p.muted { "no session" },
                }
            }
            div.card {
                h3 { "Packets" }
                p.big { (thousands(frames)) }
                p.muted { (thousands(tcp)) " TCP" }
            }
            div.card {
                h3 { "Sessions" }
                p.big { (thousands(r.sessions)) }
                p.muted { (thousands(r.flagged)) " flagged, " (r.drawn.len()) " drawn below" }
            }
        }
    }
}

fn headlines(r: &Report) -> Markup {
    let mut rows: Vec<(&'static str, Option<Severity>, u64)> =
        r.headlines.iter().map(|(c, (s, n))| (*c, *s, *n)).collect();
    rows.sort_by(|a, b| b.2.cmp(&a.2).then(b.1.cmp(&a.1)).then(a.0.cmp(b.0)));
    html! {
        section #verdicts {
            h2 { "Sessions by headline verdict" }
            p.muted { "Each session counted once, by its headline: the verdict on its line, the cause before the symptom." }
            ul.headlines {
                @for (code, severity, n) in &rows {
                    li {
                        (badge(code, *severity))
                        span.n { (thousands(*n)) }
                        span.share { (percent(*n, r.sessions)) }
                    }
                }
            }
        }
    }
}

fn legend(r: &Report) -> Markup {
    html! {
        ul.legend {
            @for (code, severity) in charts::series(r) {
                li { span.swatch style=(format!("background:{}", css(color(code, severity)))) {} (code) }
            }
        }
    }
}

fn badge(code: &str, severity: Option<Severity>) -> Markup {
    let class = match severity {
        Some(Severity::Error) => "badge error",
        Some(Severity::Warning) => "badge warning",
        Some(Severity::Info) => "badge info",
        None => "badge",
    };
    let label = if code == NO_VERDICT { "no verdict" } else { code };
    html! { span class=(class) style=(format!("--c:{}", css(color(code, severity)))) { (label) } }
}

fn tally_table(role: &str, rows: &std::collections::BTreeMap<std::net::IpAddr, Tally>) -> Markup {
    let (shown, others) = tables::top(rows, MAX_TABLE_ROWS);
    html! {
        table.tally {
            thead {
                tr {
                    th { (role) }
                    th.n { "sessions" } th.n { "delivered" } th.n { "refused" } th.n { "tempfailed" }
                    th.n { "aborted" } th.n { "firewall artifacts" }
                }
            }
            tbody {
                @for (ip, t) in &shown { (tally_row(html! { code { (ip) } }, t)) }
                @if let Some((n, t)) = others {
                    (tally_row(html! { em { (thousands(n as u64)) " others" } }, &t))
                }
            }
        }
    }
}

fn tally_row(name: Markup, t: &Tally) -> Markup {
    html! {
        tr {
            td { (name) }
            td.n { (thousands(t.sessions)) }
            (cell(t.delivered, "good"))
            (cell(t.refused, "bad"))
            (cell(t.tempfailed, "warn"))
            (cell(t.aborted, "bad"))
            (cell(t.firewall, "bad"))
        }
    }
}

fn cell(n: u64, tone: &str) -> Markup {
    let class = if n == 0 { "n zero".to_string() } else { format!("n {tone}") };
    html! { td class=(class) { (thousands(n)) } }
}

fn flagged(r: &Report) -> Markup {
    html! {
        section #flagged {
            h2 { "Flagged sessions" }
            @if r.drawn.is_empty() && r.undrawn.is_empty() {
                p.muted { "No session has a warning or an error." }
            } @else {
                p.muted {
                    (plural(r.flagged, "session has", "sessions have")) " a warning or an error. "
                    @if r.flagged as usize > r.drawn.len() {
                        (r.drawn.len()) " are drawn (at most " (r.max_drawn) ": the first of each headline verdict, then errors before warnings); the others are listed after them."
                    }
                }
                table.index {
                    thead { tr { th { "session" } th { "start" } th { "client → server" } th { "verdicts" } } }
                    tbody {
                        @for d in &r.drawn {
                            tr {
                                td { a href=(format!("#{}", d.anchor)) { "#" (d.id) } }
                                td { (utc(d.start)) }
                                td { code { (d.client) " → " (d.server) } }
                                td { @for v in &d.verdicts { (badge(v.code.as_str(), Some(v.severity))) " " } }
                            }
                        }
                    }
                }
                @for d in &r.drawn { (detail(d)) }
                @if !r.undrawn.is_empty() { (undrawn(r)) }
            }
        }
    }
}

fn detail(d: &Detail) -> Markup {
    html! {
        article.session id=(d.anchor) {
            h3 {
                a.self href=(format!("#{}", d.anchor)) { "Session " (d.id) }
                " "
                @if let Some((code, severity)) = d.headline { (badge(code, Some(severity))) }
            }
            pre.line { (d.line) }
            ul.verdicts {
                @for v in &d.verdicts {
                    li {
                        (badge(v.code.as_str(), Some(v.severity)))
                        " " (v.summary())
                        @if !v.packets.is_empty() { " " span.packets { "packets " (packet_list(&v.packets)) } }
                        @if !v.explanation.is_empty() { p.explain { (v.explanation) } }
                    }
                }
            }
            @if let Some(log) = &d.log { pre.log { (log) } }
            figure.ladder { (PreEscaped(&d.ladder_svg)) }
            @if !d.transcript.is_empty() {
                h4 { "SMTP transcript" }
                p.muted { "C: client, S: server; bytes a middlebox masked or rewrote are " mark { "marked" } "." }
                div.transcript {
                    @for l in &d.transcript { (transcript_line(l)) }
                    @if d.transcript_cut > 0 {
                        div.t.note { span.pkt {} span.who {} span { "… " (d.transcript_cut) " more lines" } }
                    }
                }
            }
        }
    }
}

fn transcript_line(l: &Line) -> Markup {
    let (class, who) = match l.speaker {
        Speaker::Client => ("t client", "C:"),
        Speaker::Server => ("t server", "S:"),
        Speaker::Note => ("t note", ""),
    };
    let class = if l.masked { format!("{class} masked") } else { class.to_string() };
    html! {
        div class=(class) {
            span.pkt { (l.packet) }
            span.who { (who) }
            span.text {
                @for p in &l.pieces {
                    @if p.marked { mark { (p.text) } } @else { (p.text) }
                }
            }
        }
    }
}

fn undrawn(r: &Report) -> Markup {
    html! {
        h3 #not-drawn { "Flagged sessions not drawn" }
        table.index {
            thead { tr { th { "session" } th { "start" } th { "client → server" } th { "verdicts" } } }
            tbody { @for u in &r.undrawn { (undrawn_row(u)) } }
        }
        @if r.unlisted > 0 {
            p.muted {
                "… and " (thousands(r.unlisted)) " more. To draw them, narrow the report with --server, --client, --verdict or --session."
            }
        }
    }
}

fn undrawn_row(u: &Undrawn) -> Markup {
    html! {
        tr {
            td { "#" (u.id) }
            td { (utc(u.start)) }
            td { code { (u.client) " → " (u.server) } }
            td { @for c in &u.codes { code { (c) } " " } }
        }
    }
}

/// "13,500".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// "1 session has", "2 sessions have".
fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

fn percent(n: u64, of: u64) -> String {
    if of == 0 { "-".to_string() } else { format!("{:.1} %", n as f64 * 100.0 / of as f64) }
}

/// Light by default, dark when the system prefers it, black on white when printed. The ladders
/// keep their own white background in every scheme (their colors are chosen for white).
const CSS: &str = r#"
:root { --bg:#ffffff; --fg:#1f2328; --muted:#59636e; --line:#d1d9e0; --card:#f6f8fa;
  --good:#1a7f37; --bad:#cf222e; --warn:#9a6700; --mark:#ffd8f0; --mark-fg:#8e1a5c; --link:#0969da; }
@media (prefers-color-scheme: dark) {
  :root { --bg:#0d1117; --fg:#e6edf3; --muted:#9198a1; --line:#3d444d; --card:#151b23;
    --good:#3fb950; --bad:#ff7b72; --warn:#d29922; --mark:#5c1f45; --mark-fg:#ffc1e3; --link:#4493f8; }
}
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1180px; padding: 24px; background: var(--bg); color: var(--fg);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 26px; margin: 0 0 4px; word-break: break-all; }
h2 { font-size: 20px; margin: 32px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 0 0 8px; }
a { color: var(--link); }
code, pre, .transcript { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13px; }
.muted { color: var(--muted); }
.overview { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 12px; margin-top: 16px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; }
.card h3 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.card p { margin: 2px 0; }
.card .big { font-size: 26px; font-weight: 600; }
.card .names { margin: 4px 0 0; padding-left: 18px; font-size: 13px; max-height: 8.5em; overflow: auto; word-break: break-all; }
table { border-collapse: collapse; margin: 8px 0; font-size: 14px; }
th, td { padding: 4px 12px 4px 0; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 13px; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
td.zero { color: var(--muted); opacity: .6; }
td.good { color: var(--good); } td.bad { color: var(--bad); font-weight: 600; } td.warn { color: var(--warn); font-weight: 600; }
.badge { display: inline-block; padding: 0 7px; border-radius: 10px; font-size: 12px; font-weight: 600;
  font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace;
  border: 1.5px solid var(--c); color: var(--fg); background: color-mix(in srgb, var(--c) 18%, transparent); }
figure { margin: 8px 0; }
figure.chart svg, figure.ladder svg { display: block; max-width: 100%; height: auto; }
figure.chart text { fill: var(--fg); }
.headlines { list-style: none; padding: 0; margin: 8px 0; display: grid; gap: 2px 24px;
  grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); }
.headlines li { display: grid; grid-template-columns: 1fr 5em 5em; align-items: center;
  padding: 3px 0; border-bottom: 1px solid var(--line); }
.headlines .n, .headlines .share { text-align: right; font-variant-numeric: tabular-nums; }
.headlines .share { color: var(--muted); font-size: 13px; }
.headlines .badge { justify-self: start; }
.legend { list-style: none; padding: 0; margin: 4px 0; display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 13px; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
article.session { margin: 24px 0; padding: 16px; border: 1px solid var(--line); border-radius: 8px; }
article.session:target { outline: 3px solid var(--link); }
a.self { color: inherit; text-decoration: none; }
pre.line { margin: 0 0 8px; padding: 8px; background: var(--card); border-radius: 6px; white-space: pre-wrap; word-break: break-all; }
pre.log { margin: 0 0 8px; padding: 8px; border-left: 3px solid var(--link); background: var(--card);
  white-space: pre-wrap; word-break: break-all; }
ul.verdicts { list-style: none; padding: 0; margin: 0 0 12px; }
ul.verdicts li { margin: 6px 0; }
.packets { color: var(--muted); font-size: 13px; }
.explain { margin: 2px 0 0 12px; color: var(--muted); font-size: 14px; }
figure.ladder { background: #ffffff; border-radius: 6px; border: 1px solid var(--line); overflow-x: auto; }
h4 { margin: 12px 0 4px; font-size: 14px; }
.transcript { border: 1px solid var(--line); border-radius: 6px; padding: 6px 0; }
.t { display: grid; grid-template-columns: 5em 2.2em 1fr; padding: 0 8px; white-space: pre-wrap; word-break: break-all; }
.t .pkt { color: var(--muted); text-align: right; padding-right: 10px; }
.t .who { color: var(--muted); }
.t.client .text { color: var(--link); }
.t.server .text { color: var(--good); }
.t.note .text, .t.note span { color: var(--muted); font-style: italic; }
.t.masked { background: color-mix(in srgb, var(--mark) 45%, transparent); }
mark { background: var(--mark); color: var(--mark-fg); border-radius: 2px; }
@media print {
  :root { --bg:#ffffff; --fg:#000000; --muted:#444c56; --line:#bbbbbb; --card:#f6f8fa;
    --good:#116329; --bad:#a40e26; --warn:#7d4e00; --mark:#ffd8f0; --mark-fg:#6e0f47; --link:#0550ae; }
  body { max-width: none; padding: 0; font-size: 11pt; }
  h2 { break-after: avoid; }
  article.session { break-inside: auto; border: none; padding: 0; border-top: 2px solid #000; border-radius: 0; }
  figure.ladder, .card, tr, .t { break-inside: avoid; }
  .card .names { max-height: none; overflow: visible; }
  a { color: inherit; text-decoration: none; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(13_500), "13,500");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(percent(1, 3), "33.3 %");
    }

    #[test]
    fn an_empty_report_is_a_whole_page() {
        let page = render(&Report::default()).unwrap();
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("No session has a warning or an error."));
        assert!(!page.contains("<script"));
    }
}
