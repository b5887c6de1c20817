//! `smtpdiag diff`: every pair of lab captures recorded on both sides of the firewall (NAME.pcap
//! outside, NAME.inside.pcap inside) reports exactly the rewrite, injection or loss its scenario
//! made and nothing else; plus the bad inputs (same capture twice, nothing in common, clocks
//! minutes apart, different link types) and the drawings.

mod common;

use common::{bin, capture, captures_dir};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(bin()).args(args).env("NO_COLOR", "1").output().expect("run smtpdiag")
}

fn diff_json(outside: &Path, inside: &Path) -> Vec<Value> {
    let out = run(&["diff", "--json", outside.to_str().unwrap(), inside.to_str().unwrap()]);
    assert!(out.status.success(), "diff failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect()
}

/// The verdicts' fixed explanations are in the JSON only with --explain.
#[test]
fn explanations_only_with_explain() {
    let (outside, inside) = (capture("16-fw-masked-banner.pcap"), capture("16-fw-masked-banner.inside.pcap"));
    let with = |extra: &[&str]| -> Vec<Value> {
        let mut args = vec!["diff", "--json"];
        args.extend_from_slice(extra);
        args.extend([outside.to_str().unwrap(), inside.to_str().unwrap()]);
        let out = run(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let verdicts = |records: &[Value]| -> Vec<Value> {
        records.iter().flat_map(|r| r["verdicts"].as_array().cloned().unwrap_or_default()).collect()
    };
    let plain = verdicts(&with(&[]));
    assert!(!plain.is_empty() && plain.iter().all(|v| v.get("explanation").is_none()), "{plain:?}");
    let explained = verdicts(&with(&["--explain"]));
    assert_eq!(plain.len(), explained.len());
    assert!(explained.iter().all(|v| v["explanation"].as_str().is_some_and(|e| !e.is_empty())), "{explained:?}");
}

fn the_pair(name: &str) -> Value {
    let records = diff_json(&capture(&format!("{name}.pcap")), &capture(&format!("{name}.inside.pcap")));
    let pairs: Vec<&Value> = records.iter().filter(|r| r["kind"] == "pair").collect();
    assert_eq!(pairs.len(), 1, "{name}: {records:?}");
    assert!(records.iter().all(|r| r["schema"] == "smtpdiag.diff.v2"));
    assert!(records.iter().all(|r| r["kind"] != "unpaired"), "{name}: unpaired sessions {records:?}");
    pairs[0].clone()
}

/// A rewritten line: direction, rule, masked word, (sent, received).
type RewriteFact = (&'static str, &'static str, Option<&'static str>, Option<(&'static str, &'static str)>);
/// Lost bytes (direction, outside packets, first line) or a lost control packet ("SYN", …).
type LostFact = (&'static str, &'static [u64], &'static str);
/// A pcap record: seconds, microseconds, frame bytes.
type Record = (u32, u32, Vec<u8>);

/// What a scenario did: rewritten lines (direction, rule, word, sent, received), forged
/// packets (side, packet, claimed end), lost bytes (direction, outside packets, first line).
struct Expect {
    name: &'static str,
    rewrites: &'static [RewriteFact],
    injected: &'static [(&'static str, u64, &'static str)],
    lost: &'static [LostFact],
    nat: bool,
}

const BANNER: RewriteFact = ("server_to_client", "masked_banner", None, None);
const STARTTLS_KEYWORD: RewriteFact =
    ("server_to_client", "masked_ehlo_keyword", Some("STARTTLS"), Some(("250-STARTTLS", "250-XXXXXXXA")));
const RESETS_20: &[(&str, u64, &str)] = &[("inside", 10, "client"), ("outside", 11, "server")];

const EXPECTED: &[Expect] = &[
    Expect { name: "16-fw-masked-banner", rewrites: &[BANNER], injected: &[], lost: &[], nat: false },
    Expect {
        name: "17-fw-masked-multiline-banner-timeout",
        rewrites: &[BANNER, BANNER, BANNER],
        injected: &[],
        lost: &[],
        nat: false,
    },
    Expect {
        name: "18-fw-starttls-stripped",
        rewrites: &[BANNER, STARTTLS_KEYWORD],
        injected: &[],
        lost: &[],
        nat: false,
    },
    Expect {
        name: "19-fw-starttls-command-masked",
        rewrites: &[
            ("client_to_server", "masked_command", Some("STARTTLS"), Some(("STARTTLS", "XXXXXXXX"))),
            BANNER,
            STARTTLS_KEYWORD,
        ],
        injected: &[],
        lost: &[],
        nat: false,
    },
    Expect {
        name: "20-fw-reset-long-command-line",
        rewrites: &[BANNER],
        injected: RESETS_20,
        lost: &[("client_to_server", &[10], "RCPT TO:<xxxx")],
        nat: false,
    },
    Expect {
        name: "21-fw-reset-long-header-line",
        rewrites: &[BANNER],
        injected: &[("inside", 15, "client"), ("outside", 16, "server")],
        lost: &[("client_to_server", &[15], "Date: ")],
        nat: false,
    },
    Expect {
        name: "23-mtu-blackhole",
        rewrites: &[],
        injected: &[],
        lost: &[("client_to_server", &[15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29], "Date: ")],
        nat: false,
    },
    Expect {
        name: "24-fw-reset-too-many-rcpts",
        rewrites: &[BANNER],
        injected: &[("inside", 210, "client"), ("outside", 211, "server")],
        lost: &[("client_to_server", &[210], "RCPT TO:<rcpt+101@example.com>")],
        nat: false,
    },
    Expect {
        name: "25-fw-reset-long-sender",
        rewrites: &[BANNER],
        injected: &[("inside", 8, "client"), ("outside", 9, "server")],
        lost: &[("client_to_server", &[8], "MAIL FROM:<sss")],
        nat: false,
    },
    Expect {
        name: "26-fw-reset-long-mime-filename",
        rewrites: &[BANNER],
        injected: &[("inside", 15, "client"), ("outside", 17, "server")],
        lost: &[("client_to_server", &[15, 16], "Date: ")],
        nat: false,
    },
    Expect {
        name: "37-fw-reset-pipe-in-rcpt",
        rewrites: &[BANNER],
        injected: &[("inside", 10, "client"), ("outside", 11, "server")],
        lost: &[("client_to_server", &[10], "RCPT TO:<rcpt|")],
        nat: false,
    },
    Expect { name: "50-fw-nat-seqrand-masked-banner", rewrites: &[BANNER], injected: &[], lost: &[], nat: true },
    Expect {
        name: "51-fw-nat-seqrand-starttls-stripped",
        rewrites: &[BANNER, STARTTLS_KEYWORD],
        injected: &[],
        lost: &[],
        nat: true,
    },
    Expect {
        name: "52-fw-nat-seqrand-reset-long-command-line",
        rewrites: &[BANNER],
        injected: RESETS_20,
        lost: &[("client_to_server", &[10], "RCPT TO:<xxxx")],
        nat: true,
    },
    Expect { name: "53-nat-seqrand-clean-delivered", rewrites: &[], injected: &[], lost: &[], nat: true },
    // The first SYN dropped after the translation; the retransmitted one crossed.
    Expect {
        name: "55-fw-nat-first-syn-dropped",
        rewrites: &[],
        injected: &[],
        lost: &[("client_to_server", &[1], "SYN")],
        nat: true,
    },
    // Scenario 21 again, with the server's Exim mainlog beside it (tests/maillog.rs).
    Expect {
        name: "61-exim-log-fw-reset-long-header-line",
        rewrites: &[BANNER],
        injected: &[("inside", 15, "client"), ("outside", 16, "server")],
        lost: &[("client_to_server", &[15], "Date: ")],
        nat: false,
    },
    // Scenario 20 against Postfix, whose EHLO keywords the fw masks too (tests/maillog.rs).
    Expect {
        name: "64-postfix-log-fw-reset-long-command-line",
        rewrites: &[
            BANNER,
            ("server_to_client", "masked_ehlo_keyword", Some("VRFY"), Some(("250-VRFY", "250-XXXA"))),
            ("server_to_client", "masked_ehlo_keyword", Some("SMTPUTF8"), Some(("250-SMTPUTF8", "250-XXXXXXXB"))),
            ("server_to_client", "masked_ehlo_keyword", Some("CHUNKING"), Some(("250 CHUNKING", "250 XXXXXXXC"))),
        ],
        injected: &[("inside", 11, "client"), ("outside", 12, "server")],
        lost: &[("client_to_server", &[11], "RCPT TO:<xxxx")],
        nat: false,
    },
];

/// Pairs that are not one session each side, checked by tests of their own below.
const SEVERAL_SESSIONS: &[&str] = &["54-fw-nat-syn-dropped", "60-exim-log-mixed-sessions"];

fn arr(v: &Value) -> &Vec<Value> {
    v.as_array().unwrap_or_else(|| panic!("not an array: {v}"))
}

fn u64s(v: &Value) -> Vec<u64> {
    arr(v).iter().map(|x| x.as_u64().unwrap()).collect()
}

#[test]
fn every_pair_in_captures_has_an_expectation() {
    let mut names: Vec<String> = std::fs::read_dir(captures_dir())
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str()?.strip_suffix(".inside.pcap").map(str::to_string))
        .filter(|n| !SEVERAL_SESSIONS.contains(&n.as_str()))
        .collect();
    names.sort();
    let known: Vec<&str> = EXPECTED.iter().map(|e| e.name).collect();
    assert_eq!(names, known, "captures/*.inside.pcap and the expectations in tests/diff.rs differ");
}

#[test]
fn each_pair_reports_exactly_what_its_scenario_did() {
    for e in EXPECTED {
        let p = the_pair(e.name);
        let name = e.name;
        assert_eq!(p["certainty"], "certain", "{name}");
        let rewrites = arr(&p["rewrites"]);
        assert_eq!(rewrites.len(), e.rewrites.len(), "{name}: rewrites {rewrites:#?}");
        for (r, (dir, rule, word, lines)) in rewrites.iter().zip(e.rewrites) {
            assert_eq!(r["direction"], *dir, "{name}: {r}");
            assert_eq!(r["rule"], *rule, "{name}: {r}");
            assert_eq!(r["word"].as_str(), *word, "{name}: {r}");
            if let Some((sent, received)) = lines {
                assert_eq!(
                    (r["sent"].as_str().unwrap(), r["received"].as_str().unwrap()),
                    (*sent, *received),
                    "{name}"
                );
            }
            // The packet that carried it, on both sides.
            assert_eq!(arr(&r["packets"]["outside"]).len(), 1, "{name}: {r}");
            assert_eq!(arr(&r["packets"]["inside"]).len(), 1, "{name}: {r}");
        }
        let injected = arr(&p["injected"]);
        assert_eq!(injected.len(), e.injected.len(), "{name}: injected {injected:#?}");
        for (x, (side, packet, claims)) in injected.iter().zip(e.injected) {
            assert_eq!((x["side"].as_str().unwrap(), x["packet"].as_u64().unwrap()), (*side, *packet), "{name}: {x}");
            assert_eq!(x["claims"], *claims, "{name}: {x}");
            assert_eq!(x["flags"], "RST/ACK", "{name}: {x}");
            // The firewall's own TTL gives it away.
            assert_eq!((x["ttl"].as_u64(), x["usual_ttl"].as_u64()), (Some(255), Some(63)), "{name}: {x}");
        }
        let lost = arr(&p["lost"]);
        assert_eq!(lost.len(), e.lost.len(), "{name}: lost {lost:#?}");
        for (l, (dir, packets, text)) in lost.iter().zip(e.lost) {
            assert_eq!(l["direction"], *dir, "{name}: {l}");
            assert_eq!(u64s(&l["packets"]["outside"]), *packets, "{name}: {l}");
            match *text {
                "SYN" => assert_eq!(l["kind"], "syn", "{name}: {l}"),
                _ => {
                    assert_eq!(l["kind"], "bytes", "{name}: {l}");
                    assert!(l["text"].as_str().unwrap().starts_with(text), "{name}: {l}");
                }
            }
        }
        assert!(arr(&p["resegmented"]).is_empty(), "{name}: {}", p["resegmented"]);
        // One verdict per finding, named as the findings are.
        let codes: Vec<&str> = arr(&p["verdicts"]).iter().map(|v| v["code"].as_str().unwrap()).collect();
        let count = |c: &str| codes.iter().filter(|&&x| x == c).count();
        assert_eq!(count("REWRITTEN_IN_PATH"), e.rewrites.len(), "{name}: {codes:?}");
        assert_eq!(count("INJECTED_RESET"), e.injected.len(), "{name}: {codes:?}");
        assert_eq!(count("DROPPED_IN_PATH"), e.lost.len(), "{name}: {codes:?}");
        assert_eq!(codes.len(), e.rewrites.len() + e.injected.len() + e.lost.len(), "{name}: {codes:?}");
        // Both sides' own verdicts beside them, and a transit delay both ways.
        assert!(!arr(&p["outside"]["verdicts"]).is_empty() || name.starts_with("17"), "{name}");
        for dir in ["client_to_server", "server_to_client"] {
            let d = &p["delay_ms"][dir];
            assert!(d["packets"].as_u64().unwrap() >= 2, "{name}: {d}");
            assert!(d["median"].as_f64().unwrap() >= 0.0 && d["max"].as_f64().unwrap() < 100.0, "{name}: {d}");
        }
        translation(name, &p["translation"], e.nat);
        assert_eq!(p["clock_skew_s"], 0.0, "{name}: the lab's two captures share a clock");
    }
}

/// The NAT scenarios (lib.sh: DNAT 203.0.113.25 → 198.51.100.25, PAT to 198.51.100.1:30000-30999,
/// SEQ_SHIFT_CLIENT=0x1a2b3c4d, SEQ_SHIFT_SERVER=0xe0f01234); the others change nothing.
fn translation(name: &str, t: &Value, nat: bool) {
    assert_eq!(t["client_side"], "outside", "{name}");
    let (c, s) = (&t["client"], &t["server"]);
    if !nat {
        for x in [c, s] {
            assert_eq!((x["address_translated"].as_bool(), x["port_translated"].as_bool()), (Some(false), Some(false)));
        }
        assert_eq!(t["seq_offset"]["client_to_server"], 0, "{name}");
        assert_eq!(t["seq_offset"]["server_to_client"], 0, "{name}");
        return;
    }
    assert_eq!(c["outside"]["ip"], "203.0.113.5", "{name}");
    assert_eq!(c["inside"]["ip"], "198.51.100.1", "{name}");
    let port = c["inside"]["port"].as_u64().unwrap();
    assert!((30000..=30999).contains(&port), "{name}: PAT port {port}");
    assert_eq!(c["port_translated"], true, "{name}");
    assert_eq!(
        (s["outside"]["ip"].as_str(), s["inside"]["ip"].as_str()),
        (Some("203.0.113.25"), Some("198.51.100.25"))
    );
    assert_eq!((s["outside"]["port"].as_u64(), s["port_translated"].as_bool()), (Some(25), Some(false)), "{name}");
    assert_eq!(t["seq_offset"]["client_to_server"].as_i64(), Some(0x1a2b3c4d), "{name}");
    assert_eq!(t["seq_offset"]["server_to_client"].as_i64(), Some(-(0xe0f01234u32 as i32 as i64)), "{name}");
}

#[test]
fn a_pair_nothing_changed_says_so() {
    let name = "53-nat-seqrand-clean-delivered";
    let out = run(&["diff", &path(&format!("{name}.pcap")), &path(&format!("{name}.inside.pcap"))]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("nothing rewritten, injected or lost"), "{text}");
    assert!(text.contains("1 pair(s), 0 changed in path"), "{text}");
    assert!(text.contains("address and port translated"), "{text}");
}

fn path(name: &str) -> String {
    capture(name).to_str().unwrap().to_string()
}

// ---------------------------------------------------------------- pcap surgery for bad inputs

/// Records of a little-endian classic pcap: (header, records as (ts_sec, ts_usec, data)).
fn records(bytes: &[u8]) -> (Vec<u8>, Vec<Record>) {
    assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "the lab writes little-endian microsecond pcap");
    let le = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap());
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let len = le(&bytes[at + 8..at + 12]) as usize;
        out.push((le(&bytes[at..at + 4]), le(&bytes[at + 4..at + 8]), bytes[at + 16..at + 16 + len].to_vec()));
        at += 16 + len;
    }
    (bytes[..24].to_vec(), out)
}

fn write_pcap(path: &Path, header: &[u8], recs: &[Record]) {
    let mut b = header.to_vec();
    for (s, us, data) in recs {
        for v in [*s, *us, data.len() as u32, data.len() as u32] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(data);
    }
    std::fs::write(path, b).unwrap();
}

/// A copy of a capture with every timestamp moved by `shift_us` microseconds.
fn shifted(name: &str, shift_us: i64, dir: &Path) -> PathBuf {
    let (h, recs) = records(&std::fs::read(capture(name)).unwrap());
    let recs: Vec<_> = recs
        .into_iter()
        .map(|(s, us, d)| {
            let t = s as i64 * 1_000_000 + us as i64 + shift_us;
            ((t / 1_000_000) as u32, (t % 1_000_000) as u32, d)
        })
        .collect();
    let p = dir.join(format!("shifted-{name}"));
    write_pcap(&p, &h, &recs);
    p
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn clocks_minutes_apart_are_found_and_corrected() {
    let dir = tempfile::tempdir().unwrap();
    let name = "52-fw-nat-seqrand-reset-long-command-line";
    let inside = shifted(&format!("{name}.inside.pcap"), 183_250_000, dir.path());
    let records = diff_json(&capture(&format!("{name}.pcap")), &inside);
    let p = records.iter().find(|r| r["kind"] == "pair").expect("still paired");
    let skew = p["clock_skew_s"].as_f64().unwrap();
    assert!((skew - 183.25).abs() < 0.01, "skew {skew}");
    assert!(p["clock_note"].as_str().unwrap().contains("clocks disagree"), "{}", p["clock_note"]);
    // The same findings as with the clocks in step, and transit times that make sense.
    assert_eq!(arr(&p["injected"]).len(), 2);
    assert_eq!(arr(&p["lost"]).len(), 1);
    assert!(p["delay_ms"]["client_to_server"]["max"].as_f64().unwrap() < 50.0, "{}", p["delay_ms"]);
    let out = run(&["diff", &path(&format!("{name}.pcap")), inside.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("the two clocks disagree: the inside capture's clock is 183.2"), "{text}");
    assert!(!text.contains("time zone"), "{text}");
}

#[test]
fn an_hour_apart_looks_like_a_time_zone() {
    let dir = tempfile::tempdir().unwrap();
    let inside = shifted("18-fw-starttls-stripped.inside.pcap", -3_600_000_000, dir.path());
    let out = run(&["diff", &path("18-fw-starttls-stripped.pcap"), inside.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("outside capture's clock is 3600.0"), "{text}");
    assert!(text.contains("time zone"), "{text}");
}

#[test]
fn the_same_capture_twice_is_refused() {
    let a = path("16-fw-masked-banner.pcap");
    let out = run(&["diff", &a, &a]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("are the same capture (the same file)"), "{}", stderr(&out));
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.pcap");
    std::fs::copy(&a, &copy).unwrap();
    let out = run(&["diff", &a, copy.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("identical packets at identical times"), "{}", stderr(&out));
}

#[test]
fn captures_of_different_traffic_have_nothing_in_common() {
    // Two sessions of the same kind (same client commands), days apart, bytes that differ.
    let out = run(&["diff", &path("16-fw-masked-banner.pcap"), &path("53-nat-seqrand-clean-delivered.inside.pcap")]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("no session in common"), "{err}");
    assert!(err.contains("2026-11-23") && err.contains("2026-12-06"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_session_without_partner_is_listed_with_its_reason() {
    // Outside: session 16 (13 days earlier) then session 50; inside: 50 only.
    let dir = tempfile::tempdir().unwrap();
    let (h, mut recs) = records(&std::fs::read(capture("16-fw-masked-banner.pcap")).unwrap());
    recs.extend(records(&std::fs::read(capture("50-fw-nat-seqrand-masked-banner.pcap")).unwrap()).1);
    let merged = dir.path().join("merged.pcap");
    write_pcap(&merged, &h, &recs);
    let records = diff_json(&merged, &capture("50-fw-nat-seqrand-masked-banner.inside.pcap"));
    let pairs: Vec<_> = records.iter().filter(|r| r["kind"] == "pair").collect();
    let unpaired: Vec<_> = records.iter().filter(|r| r["kind"] == "unpaired").collect();
    assert_eq!(pairs.len(), 1);
    assert_eq!(pairs[0]["outside"]["session"], 2);
    assert_eq!(unpaired.len(), 1, "{unpaired:?}");
    assert_eq!((unpaired[0]["side"].as_str(), unpaired[0]["session"].as_u64()), (Some("outside"), Some(1)));
    assert!(unpaired[0]["reason"].as_str().unwrap().contains("before its first packet"), "{}", unpaired[0]);
}

#[test]
fn different_link_types_are_named_and_still_compared() {
    // The inside capture rewritten as raw IP (LINKTYPE_RAW): Ethernet headers gone.
    let dir = tempfile::tempdir().unwrap();
    let name = "18-fw-starttls-stripped";
    let (mut h, recs) = records(&std::fs::read(capture(&format!("{name}.inside.pcap"))).unwrap());
    h[20..24].copy_from_slice(&101u32.to_le_bytes());
    let recs: Vec<_> = recs.into_iter().map(|(s, us, d)| (s, us, d[14..].to_vec())).collect();
    let raw = dir.path().join("raw.pcap");
    write_pcap(&raw, &h, &recs);
    let out = run(&["diff", "--json", &path(&format!("{name}.pcap")), raw.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(stderr(&out).contains("different link types"), "{}", stderr(&out));
    let p: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(arr(&p["rewrites"]).len(), 2);
}

#[test]
fn ladders_draw_three_columns_in_every_format() {
    let name = "52-fw-nat-seqrand-reset-long-command-line";
    let (o, i) = (path(&format!("{name}.pcap")), path(&format!("{name}.inside.pcap")));
    let out = run(&["diff", "--ladder", "--width", "140", &o, &i]);
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // The dropped RCPT ends at the device; the forged resets start there.
    let rcpt = lines.iter().find(|l| l.contains("RCPT TO:") && l.contains('│')).expect("RCPT row");
    assert!(rcpt.contains('✕') && rcpt.contains("◀ dropped"), "{rcpt}");
    let resets: Vec<&&str> = lines.iter().filter(|l| l.contains("RST/ACK") && l.contains("forged reset")).collect();
    assert_eq!(resets.len(), 2, "{text}");
    // The banner row: masked on the client's side, whole on the server's, the device marked.
    assert!(
        lines.iter().any(|l| l.contains("220 esa.example.com") && l.contains("220 ****") && l.contains('≠')),
        "{text}"
    );
    assert!(text.contains("device"), "{text}");
    let out = run(&["diff", "--format", "mermaid", &o, &i]);
    let m = String::from_utf8(out.stdout).unwrap();
    assert!(m.starts_with("sequenceDiagram") && m.contains("participant D as device"), "{m}");
    assert!(m.contains("C-xD:") && m.contains("D-xC:") && m.contains("D-xS:"), "{m}");
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("pair.svg");
    let out = run(&["diff", "--format", "svg", "-o", svg.to_str().unwrap(), &o, &i]);
    assert!(out.status.success());
    let s = std::fs::read_to_string(&svg).unwrap();
    assert!(s.starts_with("<?xml") && s.trim_end().ends_with("</svg>") && s.contains("device 203.0.113.25:25"), "{s}");
}

#[test]
fn syns_the_device_dropped_leave_the_session_unpaired_not_an_error() {
    // Scenario 54: the fw translates, then drops every SYN; the inside capture stays empty.
    let name = "54-fw-nat-syn-dropped";
    let records = diff_json(&capture(&format!("{name}.pcap")), &capture(&format!("{name}.inside.pcap")));
    assert_eq!(records.len(), 1, "{records:?}");
    let u = &records[0];
    assert_eq!(
        (u["kind"].as_str(), u["side"].as_str(), u["session"].as_u64()),
        (Some("unpaired"), Some("outside"), Some(1))
    );
    assert!(u["reason"].as_str().unwrap().contains("the device dropped the SYNs"), "{u}");
    let out = run(&["diff", &path(&format!("{name}.pcap")), &path(&format!("{name}.inside.pcap"))]);
    assert!(out.status.success() && stderr(&out).is_empty(), "{}", stderr(&out));
}

#[test]
fn several_sessions_pair_one_by_one() {
    // Scenario 60: four client sessions through a plain router, then one the fw itself opens.
    let name = "60-exim-log-mixed-sessions";
    let records = diff_json(&capture(&format!("{name}.pcap")), &capture(&format!("{name}.inside.pcap")));
    let pairs: Vec<&Value> = records.iter().filter(|r| r["kind"] == "pair").collect();
    assert_eq!(pairs.len(), 4, "{records:?}");
    for (k, p) in pairs.iter().enumerate() {
        let id = k as u64 + 1;
        assert_eq!((p["outside"]["session"].as_u64(), p["inside"]["session"].as_u64()), (Some(id), Some(id)));
        assert_eq!(p["certainty"], "certain");
        for field in ["rewrites", "injected", "lost", "verdicts"] {
            assert!(arr(&p[field]).is_empty(), "pair {id}: {field} {}", p[field]);
        }
    }
    let unpaired: Vec<&Value> = records.iter().filter(|r| r["kind"] == "unpaired").collect();
    assert_eq!(unpaired.len(), 1, "{unpaired:?}");
    assert_eq!((unpaired[0]["side"].as_str(), unpaired[0]["session"].as_u64()), (Some("inside"), Some(5)));
    assert_eq!(unpaired[0]["client"]["ip"], "198.51.100.1");
    assert!(unpaired[0]["reason"].as_str().unwrap().contains("opened by the device itself"), "{}", unpaired[0]);
}

#[test]
fn session_selects_pairs_and_stdin_is_refused() {
    let name = "60-exim-log-mixed-sessions";
    let (o, i) = (path(&format!("{name}.pcap")), path(&format!("{name}.inside.pcap")));
    let out = run(&["diff", "--json", "--session", "3", &o, &i]);
    let lines: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["outside"]["session"], 3);
    let out = run(&["diff", "-", &i]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not standard input"), "{}", stderr(&out));
}
