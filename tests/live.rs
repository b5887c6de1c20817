//! `smtpdiag live` on real interfaces: network namespaces joined by a veth pair, real SMTP
//! exchanges (aiosmtpd, swaks, and a tiny Python server for rejections and resets), replays
//! with tcpreplay, and the privilege drop.
//!
//! Needs root, libpcap and the tools `scripts/ci-deps-live` installs, so every test is ignored
//! by plain `cargo test`; run them with `cargo test --test live -- --ignored`. Each test makes
//! its own namespaces (unique names), uses addresses only inside them (10.99.0.0/24 and
//! 192.0.2.0/24), and removes them in Drop even when it fails.

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::thread;
use std::time::{Duration, Instant};

const SMTPDIAG: &str = env!("CARGO_BIN_EXE_smtpdiag");
/// The system Python, which has Debian's python3-aiosmtpd (a pyenv python may not).
const PYTHON: &str = "/usr/bin/python3";
const CLIENT_IP: &str = "10.99.0.1";
const SERVER_IP: &str = "10.99.0.2";

/// A tiny SMTP-ish server: `reject` greets with 554 and closes (RFC 5321 §3.1); `refuse`
/// accepts and resets at once (SO_LINGER 0), as a TCP-level refusal looks after accept.
const PY_SERVER: &str = r#"
import socket, struct, sys, time
mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port))
s.listen(16)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    if mode == "reject":
        c.sendall(b"554 5.7.1 mail.test no SMTP service here\r\n")
        c.close()
    else:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
"#;

/// Connects, reads what the server says until it closes or resets, then closes; with `hold`,
/// keeps the connection open after the greeting until killed.
const PY_CLIENT: &str = r#"
import socket, sys, time
addr, port, hold = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "hold"
try:
    # A reset right after the handshake can already fail the connect.
    c = socket.create_connection((addr, port), timeout=10)
except ConnectionResetError:
    sys.exit(0)
try:
    data = c.recv(4096)
    if hold:
        print("connected", flush=True)
        time.sleep(60)
    while data:
        data = c.recv(4096)
except ConnectionResetError:
    pass
c.close()
"#;

fn require_root() {
    let out = Command::new("id").arg("-u").output().expect("id");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0", "these tests need root (run by .ci/run)");
}

fn unique(tag: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("sdl{}-{}-{tag}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    out
}

fn ip(args: &[&str]) {
    run(Command::new("ip").args(args));
}

/// Namespaces and processes of one test; all gone when it drops, in that order.
struct Lab {
    namespaces: Vec<String>,
    children: Vec<Child>,
    dir: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        require_root();
        Lab { namespaces: Vec::new(), children: Vec::new(), dir: tempfile::tempdir().expect("tempdir") }
    }

    fn netns(&mut self, tag: &str) -> String {
        let name = unique(tag);
        ip(&["netns", "add", &name]);
        self.namespaces.push(name.clone());
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        name
    }

    /// Client and server namespaces joined by veth `vc` (client, 10.99.0.1) – `vs` (server,
    /// 10.99.0.2). Returns (client ns, server ns).
    fn pair(&mut self) -> (String, String) {
        let (c, s) = (self.netns("c"), self.netns("s"));
        ip(&["-n", &c, "link", "add", "vc", "type", "veth", "peer", "name", "vs", "netns", &s]);
        ip(&["-n", &c, "addr", "add", &format!("{CLIENT_IP}/24"), "dev", "vc"]);
        ip(&["-n", &s, "addr", "add", &format!("{SERVER_IP}/24"), "dev", "vs"]);
        ip(&["-n", &c, "link", "set", "vc", "up"]);
        ip(&["-n", &s, "link", "set", "vs", "up"]);
        (c, s)
    }

    /// One namespace holding both ends of veth `ra` – `rb`, no addresses: frames sent on `ra`
    /// arrive on `rb` and go nowhere else.
    fn replay_link(&mut self) -> String {
        let n = self.netns("r");
        ip(&["-n", &n, "link", "add", "ra", "type", "veth", "peer", "name", "rb"]);
        // No IPv6 on them: router solicitations would be the only other frames.
        for dev in ["ra", "rb"] {
            let _ = Command::new("ip")
                .args(["netns", "exec", &n, "sysctl", "-qw", &format!("net.ipv6.conf.{dev}.disable_ipv6=1")])
                .status();
            ip(&["-n", &n, "link", "set", dev, "up"]);
        }
        n
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).expect("write script");
        p
    }

    fn spawn(&mut self, ns: &str, args: &[&str]) -> usize {
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {args:?}: {e}"));
        self.children.push(child);
        self.children.len() - 1
    }

    /// Starts one of the Python servers and waits for it to listen.
    fn py_server(&mut self, ns: &str, mode: &str, port: u16) {
        let script = self.write("server.py", PY_SERVER);
        let i = self.spawn(ns, &[PYTHON, script.to_str().unwrap(), mode, SERVER_IP, &port.to_string()]);
        let stdout = self.children[i].stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("server output");
        assert_eq!(line.trim(), "ready", "{mode} server did not start");
    }

    /// aiosmtpd accepting every message, waited for until it listens.
    fn aiosmtpd(&mut self, ns: &str, port: u16) {
        self.spawn(ns, &[PYTHON, "-m", "aiosmtpd", "-n", "-l", &format!("{SERVER_IP}:{port}")]);
        wait_until("aiosmtpd listening", || {
            let out = Command::new("ip")
                .args(["netns", "exec", ns, "ss", "-Hltn", &format!("sport = :{port}")])
                .output()
                .expect("ss");
            !out.stdout.is_empty()
        });
    }

    fn python_client(&self, ns: &str, port: u16) {
        let script = self.write("client.py", PY_CLIENT);
        run(Command::new("ip")
            .args(["netns", "exec", ns, PYTHON, script.to_str().unwrap(), SERVER_IP])
            .args([&port.to_string(), "once"]));
    }

    fn swaks(&self, ns: &str, port: u16) {
        run(Command::new("ip").args(["netns", "exec", ns, "swaks", "--silent", "2", "--timeout", "10"]).args([
            "--server",
            SERVER_IP,
            "--port",
            &port.to_string(),
            "--helo",
            "client.test",
            "--from",
            "alice@client.test",
            "--to",
            "bob@server.test",
        ]));
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Deleting a namespace removes the veth ends inside it.
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// A running `smtpdiag live`, started once it prints its "listening" line.
struct Live {
    child: Child,
    stderr: Receiver<String>,
    stderr_seen: Vec<String>,
}

struct LiveResult {
    status: std::process::ExitStatus,
    sessions: Vec<Value>,
    /// The `--totals` record of an NDJSON run.
    totals: Vec<Value>,
    /// Everything written to stdout (text runs: sessions, then totals).
    stdout: String,
    stderr: String,
}

impl Live {
    fn start(ns: &str, args: &[&str], env: &[(&str, &str)]) -> Live {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, SMTPDIAG, "live"]).args(args);
        cmd.env_remove("SUDO_UID").env_remove("SUDO_GID").env_remove("SUDO_USER");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start smtpdiag live");
        let (tx, rx) = channel();
        let stderr = child.stderr.take().expect("stderr");
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut live = Live { child, stderr: rx, stderr_seen: Vec::new() };
        loop {
            match live.stderr.recv_timeout(Duration::from_secs(10)) {
                Ok(line) => {
                    let ready = line.contains("listening on");
                    live.stderr_seen.push(line);
                    if ready {
                        break;
                    }
                }
                Err(_) => {
                    let _ = live.child.kill();
                    panic!("smtpdiag live did not start: {:?}", live.stderr_seen);
                }
            }
        }
        live
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, sig: &str) {
        run(Command::new("kill").args([sig, &self.pid().to_string()]));
    }

    /// Waits for the exit (at most `limit`) and parses the NDJSON on stdout.
    fn wait(mut self, limit: Duration) -> LiveResult {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                panic!("smtpdiag live did not stop within {limit:?}");
            }
            thread::sleep(Duration::from_millis(50));
        };
        let mut stdout = String::new();
        std::io::Read::read_to_string(self.child.stdout.as_mut().expect("stdout"), &mut stdout).expect("stdout");
        let deadline = Instant::now() + Duration::from_secs(2);
        while let Ok(line) = self.stderr.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            self.stderr_seen.push(line);
        }
        // Text runs end with their totals on stdout: only NDJSON runs have records to parse.
        let records: Vec<Value> = if stdout.starts_with('{') {
            stdout.lines().map(|l| serde_json::from_str(l).expect("NDJSON line")).collect()
        } else {
            Vec::new()
        };
        let (totals, sessions) = records.into_iter().partition(|r| r["schema"] == "smtpdiag.totals.v1");
        LiveResult { status, sessions, totals, stdout, stderr: self.stderr_seen.join("\n") }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_json(file: &Path) -> Vec<Value> {
    let out = run(Command::new(SMTPDIAG).args(["read", "--json"]).arg(file));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).expect("NDJSON")).collect()
}

fn by_id(sessions: &[Value]) -> BTreeMap<String, Value> {
    sessions.iter().map(|s| (s["id"].as_str().expect("id").to_string(), s.clone())).collect()
}

fn server_port(s: &Value) -> u64 {
    s["server"]["port"].as_u64().expect("server port")
}

fn session_on(sessions: &[Value], port: u16) -> &Value {
    let found: Vec<&Value> = sessions.iter().filter(|s| server_port(s) == u64::from(port)).collect();
    assert_eq!(found.len(), 1, "one session to port {port} expected in {sessions:#?}");
    found[0]
}

fn check_replies(s: &Value, expect: impl Fn(&[u64]) -> bool, what: &str) {
    let replies: Vec<u64> =
        s["smtp"]["replies"].as_array().expect("replies").iter().filter_map(Value::as_u64).collect();
    assert!(expect(&replies), "{what}: replies {replies:?}");
}

fn check_verdict(s: &Value, code: &str) {
    let verdicts = s["verdicts"].as_array().expect("verdicts");
    assert!(verdicts.iter().any(|v| v["code"] == code), "expected verdict {code} in {verdicts:?}");
}

fn assert_stats(stderr: &str) {
    assert!(
        stderr.contains("packets captured")
            && stderr.contains("dropped by kernel")
            && stderr.contains("dropped by interface"),
        "capture statistics missing from stderr:\n{stderr}"
    );
}

#[test]
#[ignore = "needs root and libpcap; run by .ci/run"]
fn delivery_reject_and_refuse_are_reported_and_written() {
    let mut lab = Lab::new();
    let (c, s) = lab.pair();
    lab.aiosmtpd(&s, 25);
    lab.py_server(&s, "reject", 587);
    lab.py_server(&s, "refuse", 2525);
    let written = lab.path("live.pcap");
    let live = Live::start(&s, &["-i", "vs", "--json", "--duration", "6", "-w", written.to_str().unwrap()], &[]);
    lab.swaks(&c, 25);
    lab.python_client(&c, 587);
    lab.python_client(&c, 2525);
    let result = live.wait(Duration::from_secs(20));
    assert!(result.status.success(), "exit {}: {}", result.status, result.stderr);
    assert_stats(&result.stderr);
    assert_eq!(result.sessions.len(), 3, "{:#?}", result.sessions);

    for session in &result.sessions {
        assert_eq!(session["schema"], "smtpdiag.session.v2");
        assert_eq!(session["capture"], "vs");
        assert_eq!(session["client"]["ip"], CLIENT_IP);
        assert_eq!(session["server"]["ip"], SERVER_IP);
        assert_eq!(session["tcp"]["handshake"], "complete", "{session:#}");
        assert_eq!(session["end"], "closed", "{session:#}");
    }

    let delivery = session_on(&result.sessions, 25);
    let closed_by = delivery["tcp"]["closed_by"].as_str().unwrap();
    assert!(closed_by == "client_fin" || closed_by == "server_fin", "delivery closed by {closed_by}");
    assert_eq!(delivery["tcp"]["conn_state"], "SF");
    check_replies(
        delivery,
        |r| r.first() == Some(&220) && r.contains(&354) && r.contains(&221) && r.iter().all(|&c| c < 400),
        "delivery",
    );

    let reject = session_on(&result.sessions, 587);
    assert_eq!(reject["tcp"]["closed_by"], "server_fin");
    check_replies(reject, |r| r == [554], "reject");
    check_verdict(reject, "REJECT");

    let refuse = session_on(&result.sessions, 2525);
    assert_eq!(refuse["tcp"]["closed_by"], "server_rst");
    assert_eq!(refuse["tcp"]["payload_bytes"]["server"], 0);
    check_verdict(refuse, "TCPREFUSE");

    // What -w wrote reads back to the same records, but for the capture's name.
    let reread = read_json(&written);
    let strip = |v: &[Value]| -> BTreeMap<String, Value> {
        by_id(v)
            .into_iter()
            .map(|(id, mut s)| {
                s.as_object_mut().unwrap().remove("capture");
                (id, s)
            })
            .collect()
    };
    assert_eq!(strip(&result.sessions), strip(&reread));
}

/// The fields that do not depend on timing: tcpreplay --topspeed keeps the packets, not the
/// gaps between them.
fn timeless(s: &Value) -> Value {
    let t = &s["tcp"];
    serde_json::json!({
        "id": s["id"], "client": s["client"], "server": s["server"], "end": s["end"],
        "first_packet": s["first_packet"], "last_packet": s["last_packet"],
        "handshake": t["handshake"], "conn_state": t["conn_state"], "history": t["history"],
        "closed_by": t["closed_by"], "packets": t["packets"], "payload_bytes": t["payload_bytes"],
        "smtp": s["smtp"], "verdict_codes": s["verdicts"].as_array().map(|v| v.iter().map(|v| v["code"].clone()).collect::<Vec<_>>()),
    })
}

#[test]
#[ignore = "needs root and libpcap; run by .ci/run"]
fn replayed_capture_gives_the_same_sessions_as_read() {
    let mut lab = Lab::new();
    let (c, s) = lab.pair();
    // Record a small capture of real exchanges with tcpdump.
    lab.aiosmtpd(&s, 25);
    lab.py_server(&s, "reject", 587);
    lab.py_server(&s, "refuse", 2525);
    let recorded = lab.path("recorded.pcap");
    let mut tcpdump = Command::new("ip")
        .args([
            "netns",
            "exec",
            &s,
            "tcpdump",
            "-i",
            "vs",
            "--immediate-mode",
            "-U",
            "-n",
            "-w",
            recorded.to_str().unwrap(),
            "tcp",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tcpdump");
    let mut line = String::new();
    // "tcpdump: listening on vs, ..." comes once the capture is open.
    BufReader::new(tcpdump.stderr.as_mut().unwrap()).read_line(&mut line).expect("tcpdump output");
    assert!(line.contains("listening"), "tcpdump: {line}");
    lab.swaks(&c, 25);
    lab.python_client(&c, 587);
    lab.python_client(&c, 2525);
    lab.swaks(&c, 25);
    thread::sleep(Duration::from_millis(500));
    run(Command::new("kill").args(["-INT", &tcpdump.id().to_string()]));
    tcpdump.wait().expect("tcpdump exit");
    let from_file = read_json(&recorded);
    let size = std::fs::metadata(&recorded).map(|m| m.len()).unwrap_or(0);
    assert_eq!(from_file.len(), 4, "{size} bytes recorded: {from_file:#?}");

    // Replay it at top speed onto a veth and sniff the other end.
    let r = lab.replay_link();
    let live = Live::start(&r, &["-i", "rb", "--json", "--duration", "5"], &[]);
    run(Command::new("ip").args(["netns", "exec", &r, "tcpreplay", "-q", "-i", "ra", "--topspeed"]).arg(&recorded));
    let result = live.wait(Duration::from_secs(20));
    assert!(result.status.success(), "exit {}: {}", result.status, result.stderr);
    assert_stats(&result.stderr);
    let timeless_all = |v: &[Value]| by_id(v).values().map(timeless).collect::<Vec<_>>();
    assert_eq!(timeless_all(&result.sessions), timeless_all(&from_file));
}

#[test]
#[ignore = "needs root and libpcap; run by .ci/run"]
fn sigint_finishes_open_sessions_and_prints_statistics() {
    let mut lab = Lab::new();
    let (c, s) = lab.pair();
    lab.aiosmtpd(&s, 25);
    let live = Live::start(&s, &["-i", "vs", "--json", "--totals"], &[]);
    // A client that stays connected after the greeting.
    let script = lab.write("client.py", PY_CLIENT);
    let i = lab.spawn(&c, &[PYTHON, script.to_str().unwrap(), SERVER_IP, "25", "hold"]);
    let mut line = String::new();
    BufReader::new(lab.children[i].stdout.take().unwrap()).read_line(&mut line).expect("client output");
    assert_eq!(line.trim(), "connected");
    thread::sleep(Duration::from_millis(300));
    live.signal("-INT");
    let result = live.wait(Duration::from_secs(5));
    assert_eq!(result.status.code(), Some(0), "{}", result.stderr);
    assert_stats(&result.stderr);
    // NDJSON on stdout: the totals are a record there (on stderr only when it is a terminal).
    assert_eq!(result.totals.len(), 1, "totals record missing:\n{}", result.stdout);
    assert_eq!(result.totals[0]["sessions"], 1);
    assert_eq!(result.sessions.len(), 1, "{:#?}", result.sessions);
    let open = &result.sessions[0];
    assert_eq!(open["end"], "capture_end");
    assert_eq!(open["tcp"]["closed_by"], "none");
    check_replies(open, |r| r == [220], "open session");
}

#[test]
#[ignore = "needs root and libpcap; run by .ci/run"]
fn count_stops_the_capture() {
    let mut lab = Lab::new();
    let (c, s) = lab.pair();
    lab.aiosmtpd(&s, 25);
    let live = Live::start(&s, &["-i", "vs", "--json", "--count", "3"], &[]);
    lab.swaks(&c, 25);
    let result = live.wait(Duration::from_secs(10));
    assert!(result.status.success(), "{}", result.stderr);
    assert!(result.stderr.contains("smtpdiag: 3 packets captured"), "{}", result.stderr);
    assert_eq!(result.sessions.len(), 1);
    assert_eq!(result.sessions[0]["tcp"]["history"], "ShA", "the three packets of the handshake");
}

#[test]
#[ignore = "needs root and libpcap; run by .ci/run"]
fn idle_sessions_are_printed_without_further_packets() {
    let mut lab = Lab::new();
    let (c, s) = lab.pair();
    lab.aiosmtpd(&s, 25);
    let live = Live::start(&s, &["-i", "vs", "--json", "--idle", "1"], &[]);
    let script = lab.write("client.py", PY_CLIENT);
    let i = lab.spawn(&c, &[PYTHON, script.to_str().unwrap(), SERVER_IP, "25", "hold"]);
    let mut line = String::new();
    BufReader::new(lab.children[i].stdout.take().unwrap()).read_line(&mut line).expect("client output");
    // Nothing else is sent; the wall clock alone must hand the session on.
    thread::sleep(Duration::from_millis(2500));
    live.signal("-TERM");
    let result = live.wait(Duration::from_secs(5));
    assert_eq!(result.status.code(), Some(0), "{}", result.stderr);
    assert_eq!(result.sessions.len(), 1, "{:#?}", result.sessions);
    assert_eq!(result.sessions[0]["end"], "idle");
}

fn status_ids(pid: u32, key: &str) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let line = status.lines().find(|l| l.starts_with(key)).unwrap_or_else(|| panic!("{key} in status"));
    line[key.len()..].split_whitespace().map(|n| n.parse().unwrap()).collect()
}

#[test]
#[ignore = "needs root and libpcap; run by .ci/run"]
fn root_is_dropped_after_opening_the_capture() {
    let mut lab = Lab::new();
    let (_c, s) = lab.pair();
    let comm = |pid: u32| std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();

    // To the sudo caller, who also gets the -w file.
    let written = lab.path("dropped.pcap");
    let env = [("SUDO_UID", "4242"), ("SUDO_GID", "4343"), ("SUDO_USER", "tester")];
    let live = Live::start(&s, &["-i", "vs", "--duration", "3", "-w", written.to_str().unwrap()], &env);
    assert_eq!(comm(live.pid()).trim(), "smtpdiag");
    assert_eq!(status_ids(live.pid(), "Uid:"), [4242; 4]);
    assert_eq!(status_ids(live.pid(), "Gid:"), [4343; 4]);
    assert_eq!(status_ids(live.pid(), "Groups:"), [4343]);
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(&written).expect("-w file");
        assert_eq!((meta.uid(), meta.gid()), (4242, 4343));
    }
    let result = live.wait(Duration::from_secs(10));
    assert!(result.status.success(), "{}", result.stderr);
    assert_stats(&result.stderr);

    // Without sudo: nobody.
    let live = Live::start(&s, &["-i", "vs", "--duration", "2"], &[]);
    assert_eq!(status_ids(live.pid(), "Uid:"), [65534; 4]);
    drop(live);

    // --user names the account.
    let live = Live::start(&s, &["-i", "vs", "--duration", "2", "--user", "daemon"], &[]);
    assert_eq!(status_ids(live.pid(), "Uid:")[0], 1, "daemon is uid 1 on Debian");
    drop(live);

    // --keep-root keeps it.
    let live = Live::start(&s, &["-i", "vs", "--duration", "2", "--keep-root"], &[]);
    assert_eq!(status_ids(live.pid(), "Uid:"), [0; 4]);
}

#[test]
#[ignore = "needs root and libpcap; run by .ci/run"]
fn bad_interface_and_filter_are_explained() {
    let mut lab = Lab::new();
    let n = lab.netns("e");
    let out = Command::new("ip").args(["netns", "exec", &n, SMTPDIAG, "live", "-i", "nosuch0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no interface named nosuch0") && err.contains("--list-interfaces"), "{err}");

    let out = Command::new("ip")
        .args(["netns", "exec", &n, SMTPDIAG, "live", "-i", "lo", "--filter", "tcp port banana"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("capture filter \"tcp port banana\" is not valid BPF"), "{err}");

    // Without root and capabilities: the way out is named.
    let out = Command::new("ip")
        .args(["netns", "exec", &n, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", SMTPDIAG])
        .args(["live", "-i", "lo"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no permission to capture on lo") && err.contains("sudo"), "{err}");
    assert!(err.contains("setcap cap_net_raw,cap_net_admin=eip $(which smtpdiag)"), "{err}");

    let out = run(Command::new("ip").args(["netns", "exec", &n, SMTPDIAG, "live", "--list-interfaces"]));
    assert!(String::from_utf8_lossy(&out.stdout).lines().any(|l| l.starts_with("lo ")), "lo listed");
}

#[test]
#[ignore = "needs root and libpcap; run by .ci/run"]
fn any_interface_uses_linux_cooked_capture() {
    let mut lab = Lab::new();
    let (c, s) = lab.pair();
    lab.aiosmtpd(&s, 25);
    let live = Live::start(&s, &["-i", "any", "--json", "--duration", "3"], &[]);
    assert!(live.stderr_seen.iter().any(|l| l.contains("link-type LINUX_SLL (113)")), "{:?}", live.stderr_seen);
    lab.swaks(&c, 25);
    let result = live.wait(Duration::from_secs(10));
    assert!(result.status.success(), "{}", result.stderr);
    assert_eq!(result.sessions.len(), 1, "{:#?}", result.sessions);
    assert_eq!(result.sessions[0]["capture"], "any");
    assert_eq!(result.sessions[0]["tcp"]["conn_state"], "SF");
    // Schema v2 leaves the counter out while both sides are at 0.
    let retransmitted = &result.sessions[0]["tcp"]["retransmissions"];
    assert!(retransmitted.is_null() || retransmitted["client"] == 0, "each packet seen once: {retransmitted}");
}
