//! The report's two plots, drawn by plotters' SVG backend into inline `<svg>` elements: sessions
//! over time stacked by headline verdict, and sessions per server stacked the same way. Colors
//! come from [`color`], so the legend, the tables and both charts agree. Text is left to the
//! page's CSS (`currentColor`), which is how the charts follow the light and dark schemes.

use super::{NO_VERDICT, Report};
use crate::capture::Timestamp;
use crate::diagnose::Severity;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

pub const WIDTH: u32 = 1100;
const TIMELINE_HEIGHT: u32 = 300;
/// Time slots of the timeline.
const BINS: usize = 60;
/// Servers in the bar chart; the table lists them all.
pub const MAX_SERVERS: usize = 15;
/// Verdicts with a color of their own; the rarer ones share "other".
pub const MAX_SERIES: usize = 10;
pub const OTHER: &str = "other";
const AXIS: RGBColor = RGBColor(0x8c, 0x95, 0x9f);
const FONT: &str = "sans-serif";

#[derive(Debug, thiserror::Error)]
#[error("drawing the {chart} chart: {message}")]
pub struct ChartError {
    chart: &'static str,
    message: String,
}

fn failed<E: std::fmt::Display>(chart: &'static str) -> impl Fn(E) -> ChartError {
    move |e| ChartError { chart, message: e.to_string() }
}

/// The color of a headline verdict, the same in both schemes (mid tones that read on white and
/// on near-black): the well-known outcomes have fixed ones, others one by severity.
pub fn color(code: &str, severity: Option<Severity>) -> RGBColor {
    match code {
        "DELIVERED" => RGBColor(0x2d, 0xa4, 0x4e),
        "TLS_STARTED" => RGBColor(0x1b, 0x99, 0x8b),
        "REJECT" => RGBColor(0xcf, 0x22, 0x2e),
        "TCPREFUSE" => RGBColor(0x8e, 0x11, 0x20),
        "PORT_CLOSED" => RGBColor(0xe1, 0x6f, 0x24),
        "NO_ANSWER" => RGBColor(0x82, 0x50, 0xdf),
        "TRANSACTION_REJECTED" => RGBColor(0xfa, 0x45, 0x49),
        "RECEIVING_ABORTED" => RGBColor(0xbc, 0x4c, 0x00),
        "FIREWALL_RESET" => RGBColor(0xa6, 0x26, 0xa4),
        "MASKED_BANNER" | "BANNER_NEVER_COMPLETED" => RGBColor(0xbf, 0x39, 0x89),
        "COMMAND_MASKED" | "STARTTLS_STRIPPED" | "EHLO_KEYWORD_MASKED" => RGBColor(0xe8, 0x5a, 0xad),
        "INSPECTION_LIMIT" => RGBColor(0x6e, 0x40, 0xc9),
        "TEMPFAIL" => RGBColor(0xd4, 0xa7, 0x2c),
        "ABORTED_BY_SENDER" => RGBColor(0xbf, 0x87, 0x00),
        "IDLE_TIMEOUT" => RGBColor(0x9a, 0x67, 0x00),
        "INCOMPLETE" => RGBColor(0x6e, 0x77, 0x81),
        NO_VERDICT | OTHER => RGBColor(0xaf, 0xb8, 0xc1),
        _ => match severity {
            Some(Severity::Error) => RGBColor(0xd1, 0x24, 0x2f),
            Some(Severity::Warning) => RGBColor(0xe3, 0xb3, 0x41),
            Some(Severity::Info) => RGBColor(0x21, 0x8b, 0xff),
            None => RGBColor(0xaf, 0xb8, 0xc1),
        },
    }
}

/// "#RRGGBB", as plotters writes it.
pub fn css(c: RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

/// The most frequent verdicts get a color of their own, worst first (the bottom of each stack),
/// then [`OTHER`] for the rest.
pub fn series(r: &Report) -> Vec<(&'static str, Option<Severity>)> {
    let mut codes: Vec<(&'static str, Option<Severity>, u64)> =
        r.headlines.iter().map(|(c, (s, n))| (*c, *s, *n)).collect();
    codes.sort_by(|a, b| b.2.cmp(&a.2).then(b.1.cmp(&a.1)).then(a.0.cmp(b.0)));
    let more = codes.len() > MAX_SERIES;
    codes.truncate(MAX_SERIES);
    codes.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(b.0)));
    let mut out: Vec<_> = codes.iter().map(|(c, s, _)| (*c, *s)).collect();
    if more {
        out.push((OTHER, None));
    }
    out
}

/// Index of a code's series (the last, "other", for codes without their own).
fn series_index(series: &[(&'static str, Option<Severity>)], code: &str) -> usize {
    series.iter().position(|s| s.0 == code).unwrap_or(series.len() - 1)
}

/// Sessions started per time slot, stacked by headline verdict.
pub fn timeline(r: &Report) -> Result<String, ChartError> {
    let (Some(first), Some(_)) = (r.first, r.last) else { return Ok(String::new()) };
    let series = series(r);
    let latest = r.timeline.iter().map(|p| p.0).max().unwrap_or(first);
    // At least a second wide, so one session still has a slot.
    let span = ((latest.0 - first.0) as f64 / 1e9).max(1.0);
    let slot = span / BINS as f64;
    let mut counts = vec![vec![0u64; series.len()]; BINS];
    for (ts, code) in &r.timeline {
        let bin = (((ts.0 - first.0) as f64 / 1e9 / slot) as usize).min(BINS - 1);
        counts[bin][series_index(&series, code)] += 1;
    }
    let peak = counts.iter().map(|c| c.iter().sum::<u64>()).max().unwrap_or(1).max(1);
    let label = |x: &f64| clock(first, *x, span);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, TIMELINE_HEIGHT)).into_drawing_area();
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..span, 0u64..peak + peak.div_ceil(10))
            .map_err(failed("timeline"))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(8)
            .y_labels(6)
            .x_label_formatter(&label)
            .y_desc("sessions started")
            .x_desc(format!("time (UTC), {} per bar", duration(slot)))
            .axis_style(AXIS)
            .light_line_style(TRANSPARENT)
            .bold_line_style(AXIS.mix(0.3))
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 13))
            .draw()
            .map_err(failed("timeline"))?;
        for (i, (code, severity)) in series.iter().enumerate() {
            let fill = color(code, *severity).filled();
            let bars = counts.iter().enumerate().filter(|(_, c)| c[i] > 0).map(|(bin, c)| {
                let below: u64 = c[..i].iter().sum();
                let x0 = bin as f64 * slot;
                let mut bar = Rectangle::new([(x0, below), (x0 + slot, below + c[i])], fill);
                bar.set_margin(0, 0, 1, 1);
                bar
            });
            chart.draw_series(bars).map_err(failed("timeline"))?;
        }
        root.present().map_err(failed("timeline"))?;
    }
    Ok(svg)
}

/// Sessions of the busiest servers, one bar each, stacked by headline verdict.
pub fn servers(r: &Report) -> Result<String, ChartError> {
    if r.server_headlines.is_empty() {
        return Ok(String::new());
    }
    let series = series(r);
    let mut rows: Vec<(String, Vec<u64>)> = r
        .server_headlines
        .iter()
        .map(|(ip, codes)| {
            let mut counts = vec![0u64; series.len()];
            for (code, n) in codes {
                counts[series_index(&series, code)] += n;
            }
            (ip.to_string(), counts)
        })
        .collect();
    rows.sort_by(|a, b| b.1.iter().sum::<u64>().cmp(&a.1.iter().sum::<u64>()).then(a.0.cmp(&b.0)));
    rows.truncate(MAX_SERVERS);
    // Plotters counts segments from the bottom: the busiest server goes on top.
    rows.reverse();
    let peak = rows.iter().map(|r| r.1.iter().sum::<u64>()).max().unwrap_or(1).max(1);
    let longest = rows.iter().map(|r| r.0.len()).max().unwrap_or(8) as u32;
    let height = 70 + 30 * rows.len() as u32;
    let n = rows.len() as u32;
    let names: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    let label = |v: &SegmentValue<u32>| match v {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => names.get(*i as usize).cloned().unwrap_or_default(),
        SegmentValue::Last => String::new(),
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(longest * 8 + 16)
            .build_cartesian_2d(0u64..peak + peak.div_ceil(10), (0..n).into_segmented())
            .map_err(failed("servers"))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(rows.len())
            .y_label_formatter(&label)
            .x_labels(8)
            .x_desc("sessions")
            .axis_style(AXIS)
            .light_line_style(TRANSPARENT)
            .bold_line_style(AXIS.mix(0.3))
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 13))
            .draw()
            .map_err(failed("servers"))?;
        for (i, (code, severity)) in series.iter().enumerate() {
            let fill = color(code, *severity).filled();
            let bars = rows.iter().enumerate().filter(|(_, r)| r.1[i] > 0).map(|(row, r)| {
                let before: u64 = r.1[..i].iter().sum();
                let y = row as u32;
                let mut bar = Rectangle::new(
                    [(before, SegmentValue::Exact(y)), (before + r.1[i], SegmentValue::Exact(y + 1))],
                    fill,
                );
                bar.set_margin(4, 4, 0, 0);
                bar
            });
            chart.draw_series(bars).map_err(failed("servers"))?;
        }
        root.present().map_err(failed("servers"))?;
    }
    Ok(svg)
}

/// An axis label: time of day, with the date when the plot spans more than a day and with
/// milliseconds when it spans a minute or less.
fn clock(first: Timestamp, offset_s: f64, span_s: f64) -> String {
    let at = Timestamp(first.0 + (offset_s * 1e9) as i64);
    let full = crate::render::text::utc(at); // "2026-11-23 08:50:01.123"
    if span_s > 86_400.0 {
        full.get(5..16).unwrap_or(&full).to_string()
    } else if span_s > 600.0 {
        full.get(11..16).unwrap_or(&full).to_string()
    } else if span_s > 60.0 {
        full.get(11..19).unwrap_or(&full).to_string()
    } else {
        full.get(11..23).unwrap_or(&full).to_string()
    }
}

/// "2 s", "5 min", "3 h", "2 d" for the slot width.
fn duration(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else if s < 120.0 {
        format!("{s:.0} s")
    } else if s < 7200.0 {
        format!("{:.0} min", s / 60.0)
    } else if s < 172_800.0 {
        format!("{:.0} h", s / 3600.0)
    } else {
        format!("{:.0} d", s / 86_400.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(points: &[(i64, &'static str, Severity)]) -> Report {
        let mut r = Report::default();
        for &(secs, code, severity) in points {
            let ts = Timestamp(1_700_000_000_000_000_000 + secs * 1_000_000_000);
            r.first = Some(r.first.map_or(ts, |t| t.min(ts)));
            r.last = Some(r.last.map_or(ts, |t| t.max(ts)));
            r.headlines.entry(code).or_insert((Some(severity), 0)).1 += 1;
            r.timeline.push((ts, code));
            let server = std::net::IpAddr::from([198, 51, 100, (secs % 3) as u8]);
            *r.server_headlines.entry(server).or_default().entry(code).or_default() += 1;
        }
        r
    }

    #[test]
    fn both_charts_draw_one_colored_bar_per_nonempty_stack_part() {
        let r = report(&[
            (0, "DELIVERED", Severity::Info),
            (5, "REJECT", Severity::Error),
            (100, "REJECT", Severity::Error),
        ]);
        let t = timeline(&r).unwrap();
        assert!(t.starts_with("<svg") && t.trim_end().ends_with("</svg>"), "{t}");
        assert_eq!(t.matches(&css(color("REJECT", None))).count(), 2, "two slots with a REJECT");
        assert_eq!(t.matches(&css(color("DELIVERED", None))).count(), 1);
        let s = servers(&r).unwrap();
        assert!(s.contains("198.51.100.0") && s.contains("198.51.100.2"), "{s}");
        assert_eq!(s.matches(&css(color("REJECT", None))).count(), 2);
    }

    #[test]
    fn rare_verdicts_share_a_series() {
        // A1..A10 twice each, A11 and A12 once: the two rare ones go to "other".
        let codes = ["A1", "A2", "A3", "A4", "A5", "A6", "A7", "A8", "A9", "A10", "A11", "A12"];
        let points: Vec<(i64, &'static str, Severity)> = codes
            .iter()
            .enumerate()
            .flat_map(|(i, c)| std::iter::repeat_n((i as i64, *c, Severity::Warning), if i < 10 { 2 } else { 1 }))
            .collect();
        let s = series(&report(&points));
        assert_eq!(s.len(), MAX_SERIES + 1);
        assert_eq!(s.last().unwrap().0, OTHER);
        assert_eq!(series_index(&s, "A12"), MAX_SERIES);
        assert!(series_index(&s, "A10") < MAX_SERIES);
    }

    #[test]
    fn labels_fit_the_span() {
        let t = Timestamp(1_700_000_000_000_000_000); // 2023-11-14 22:13:20 UTC
        assert_eq!(clock(t, 5.0, 60.0), "22:13:25.000");
        assert_eq!(clock(t, 5.0, 120.0), "22:13:25");
        assert_eq!(clock(t, 0.0, 3600.0), "22:13");
        assert_eq!(clock(t, 0.0, 200_000.0), "11-14 22:13");
        assert_eq!(duration(0.5), "500 ms");
        assert_eq!(duration(300.0), "5 min");
    }
}
