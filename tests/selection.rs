//! Selecting sessions, the same in `read`, `ladder` and `live`: --verdict, --client, --server,
//! --since/--until, --message-id, --queue-id, --session, --limit; --headers for personal data.

mod common;

use common::*;
use serde_json::Value;

/// Every bundled capture: the lab's (captures/*.pcap) and the public ones (captures/public/).
fn all_captures() -> Vec<String> {
    let mut files: Vec<String> = [captures_dir(), captures_dir().join("public")]
        .iter()
        .flat_map(|dir| std::fs::read_dir(dir).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    files
}

/// `read --json` with the options over every bundled capture: (file name, session id) of each record.
fn selected(options: &[&str]) -> Vec<(String, String)> {
    let files = all_captures();
    let mut args: Vec<&str> = options.to_vec();
    args.extend(files.iter().map(String::as_str));
    sessions(&args).iter().map(|s| (file_name(s), s["id"].as_str().unwrap().to_string())).collect()
}

fn file_name(s: &Value) -> String {
    s["capture"].as_str().unwrap().rsplit('/').next().unwrap().to_string()
}

fn names(list: &[(String, String)]) -> Vec<String> {
    list.iter().map(|(f, id)| format!("{f}:{id}")).collect()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn an_unknown_verdict_is_a_usage_error_listing_the_codes() {
    let file = capture("03-tcprefuse.pcap");
    for command in ["read", "ladder"] {
        let out = run(&[command, "--verdict", "TCPREFUSED", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{command}");
        let err = stderr(&out);
        assert!(err.contains("TCPREFUSED") && err.contains("possible values"), "{err}");
        for code in smtpdiag::diagnose::VerdictCode::all() {
            assert!(err.contains(code.as_str()), "{command}: {code} not listed: {err}");
        }
    }
    // live checks its arguments before it needs libpcap or root.
    let out = run(&["live", "-i", "lo", "--verdict", "BOGUS"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("possible values"));
}

#[test]
fn verdict_selects_in_any_case_and_repeats_as_any_of() {
    let refused = selected(&["--verdict", "tcprefuse"]);
    assert_eq!(names(&refused), ["03-tcprefuse.pcap:1"]);
    let two = selected(&["--verdict", "TCPREFUSE", "--verdict", "PORT_CLOSED"]);
    assert_eq!(names(&two), ["03-tcprefuse.pcap:1", "04-port-closed.pcap:1"]);
}

#[test]
fn text_output_shows_only_the_captures_with_selected_sessions() {
    let files = all_captures();
    let mut args = vec!["read", "--verdict", "TCPREFUSE"];
    args.extend(files.iter().map(String::as_str));
    let out = run(&args);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.matches("== ").count(), 1, "{text}");
    assert!(text.contains("== ") && text.contains("03-tcprefuse.pcap\n#1 "), "{text}");
}

#[test]
fn client_and_server_take_addresses_networks_and_endpoints() {
    let everything = selected(&[]);
    let outside = selected(&["--client", "203.0.113.0/24"]);
    // The fw's inside address: the client as the server saw it through the NAT scenarios (50-59),
    // and a session the fw itself opened in 60.
    let translated = selected(&["--client", "198.51.100.0/24"]);
    assert_eq!(
        names(&translated),
        [
            "50-fw-nat-seqrand-masked-banner.inside.pcap:1",
            "51-fw-nat-seqrand-starttls-stripped.inside.pcap:1",
            "52-fw-nat-seqrand-reset-long-command-line.inside.pcap:1",
            "53-nat-seqrand-clean-delivered.inside.pcap:1",
            "55-fw-nat-first-syn-dropped.inside.pcap:1",
            "60-exim-log-mixed-sessions.inside.pcap:5",
        ]
    );
    // Every other session is from the lab's client, except the public capture's.
    let public: Vec<_> = everything.iter().filter(|(f, _)| f == "pcapplusplus-Smtp.pcap").cloned().collect();
    assert_eq!(public.len(), 3);
    let mut together = [outside, translated, public].concat();
    together.sort();
    let mut everything = everything;
    everything.sort();
    assert_eq!(together, everything);
    let backup = selected(&["--server", "198.51.100.26"]);
    assert_eq!(names(&backup), ["06-tempfail-421-greeting-failover.pcap:2", "07-tempfail-452-rcpt-failover.pcap:2"]);
    assert_eq!(selected(&["--server", "198.51.100.26:25"]), backup);
    assert!(selected(&["--server", "198.51.100.26:587"]).is_empty());
    let out = run(&["read", "--client", "203.0.113", capture("03-tcprefuse.pcap").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is not IP, IP/PREFIX or IP:PORT"), "{}", stderr(&out));
}

#[test]
fn since_and_until_take_utc_times_and_offsets_into_the_capture() {
    // (--until: the scenarios from 50 on were recorded later, in December.)
    let late = selected(&["--since", "2026-11-23 09:00", "--until", "2026-11-24"]);
    assert_eq!(late.len(), 5, "{late:?}");
    assert!(late.iter().all(|(f, _)| f.as_str() >= "27-"), "{late:?}");
    // The public capture's sessions are years older than the lab's.
    let early = selected(&["--until", "2026-11-23T08:57:09Z"]);
    assert_eq!(
        names(&early),
        [
            "01-delivered.pcap:1",
            "02-reject-554-greeting.pcap:1",
            "pcapplusplus-Smtp.pcap:1",
            "pcapplusplus-Smtp.pcap:2",
            "pcapplusplus-Smtp.pcap:3"
        ]
    );
    // The failover capture: the second session starts 1.7 ms after the first packet.
    let file = capture("06-tempfail-421-greeting-failover.pcap");
    let first = sessions(&["--until", "+0.001", file.to_str().unwrap()]);
    assert_eq!(first.iter().map(|s| s["id"].as_str().unwrap()).collect::<Vec<_>>(), ["1"]);
    let out = run(&["read", "--since", "yesterday", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    // An offset needs the capture's first packet, which stdin cannot give twice.
    let out = run(&["read", "--since", "+5s", "-"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("stdin"), "{}", stderr(&out));
}

#[test]
fn message_id_queue_id_and_session_find_the_delivery() {
    let want = ["07-tempfail-452-rcpt-failover.pcap:2"];
    assert_eq!(names(&selected(&["--message-id", "<E1xVPrZ-0006yd-1h@mta.example.net>"])), want);
    assert_eq!(names(&selected(&["--message-id", "E1xVPrZ-0006yd-1h@mta.example.net"])), want);
    assert_eq!(names(&selected(&["--queue-id", "1xVPrZ-0006yi-1p"])), want);
    assert_eq!(names(&selected(&["--session", "07-tempfail-452-rcpt-failover.pcap:2"])), want);
    assert!(selected(&["--queue-id", "nonexistent"]).is_empty());
    let file = capture("07-tempfail-452-rcpt-failover.pcap");
    let one = sessions(&["--session", "2", file.to_str().unwrap()]);
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["id"], "2");
    assert_eq!(selected(&["--limit", "3"]).len(), 3);
}

#[test]
fn ladder_selects_the_same_way() {
    let files = all_captures();
    let mut args = vec!["ladder", "--format", "json", "--queue-id", "1xVPrZ-0006yi-1p", "--client", "203.0.113.5"];
    args.extend(files.iter().map(String::as_str));
    let out = run(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let ladders: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    assert_eq!(ladders.len(), 1);
    assert!(ladders[0].contains("07-tempfail-452-rcpt-failover.pcap:2"), "{}", ladders[0]);
}

#[test]
fn the_record_names_the_message_and_personal_headers_only_on_request() {
    let file = capture("07-tempfail-452-rcpt-failover.pcap");
    let plain = sessions(&["--session", "2", file.to_str().unwrap()]);
    let body = &plain[0]["smtp"]["transactions"][0]["body"];
    assert_eq!(body["message_id"], "<E1xVPrZ-0006yd-1h@mta.example.net>");
    assert_eq!(body["received_path"], serde_json::json!(["root"]));
    assert!(body["bytes"].as_u64().unwrap() > 0);
    assert!(body.get("subject").is_none() && body.get("from").is_none(), "{body}");
    let with = sessions(&["--headers", "--session", "2", file.to_str().unwrap()]);
    let body = &with[0]["smtp"]["transactions"][0]["body"];
    assert!(body["subject"].is_string() && body["from"].is_string() && body["to"].is_string(), "{body}");
}
