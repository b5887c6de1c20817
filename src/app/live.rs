//! `smtpdiag live -i IFACE`: sniffs an interface and prints each SMTP session as it ends
//! (closed, or idle for `--idle` seconds), through the same analyzer and printer as `read`.
//!
//! Order matters for safety: the capture handle and the `-w` file are opened as root, root is
//! dropped, and only then is the first packet read and parsed.

use super::config;
use super::output::{Interrupt, stdout_color};
use super::pipeline::{SessionSink, Stage, report_warnings};
use super::printer::{Printer, text_width};
use anyhow::{Context, Result};
use smtpdiag::capture::live::{self, Dumper, Libpcap, LiveCapture, LiveConfig, LiveStats, Next, Owner, privdrop};
use smtpdiag::capture::{FrameSink, Timestamp};
use smtpdiag::cli::LiveArgs;
use smtpdiag::render::sanitize::sanitize;
use smtpdiag::render::text::TextStyle;
use smtpdiag::session::{Analyzer, Session};
use std::ops::ControlFlow;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often idle and closed sessions are handed on, and the `-w` file flushed, when packets
/// keep coming (without packets, each read timeout is a tick anyway).
const TICK: Duration = Duration::from_millis(200);

/// Live, a session held for the failover check waits this long on the wall clock at most
/// (reading a file, the window is 120 s of capture time): a person is watching.
const LIVE_FAILOVER_WAIT_S: f64 = 3.0;

pub fn run(args: LiveArgs) -> Result<i32> {
    let lib = Libpcap::load()?;
    if args.list_interfaces {
        return list_interfaces(&lib);
    }
    let interface = args.interface.as_deref().context("-i/--interface is required")?;
    let interrupt = Interrupt::install();
    let mut analyzer_config = config::analyzer(&args.analysis);
    // Without ladders the rules need only some of each session's packets (memory stays flat).
    analyzer_config.tcp.compact_events = !args.ladder;
    let mut diagnose_config = config::diagnose(&args.analysis);
    diagnose_config.failover_window_s = diagnose_config.failover_window_s.min(LIVE_FAILOVER_WAIT_S);
    let mut live_config = LiveConfig::new(interface, args.filter.as_deref(), &analyzer_config.tcp.ports);
    live_config.promisc = !args.no_promisc;
    live_config.buffer_size = (args.buffer_mib << 20) as i32;

    // Who to become is settled before any file is touched: a bad --user changes nothing.
    let account = account(&args)?;
    let mut capture = LiveCapture::open(&lib, &live_config)?;
    let owner = account.as_ref().map(|a| Owner { uid: a.uid, gid: a.gid });
    let mut dumper = args
        .write
        .as_deref()
        .map(|path| Dumper::create(path, capture.link_type(), live_config.snaplen.max(0) as u32, args.force, owner))
        .transpose()?;
    // Mail logs are often readable by root alone: read as root, parsed after root is given up.
    let logs = super::maillog::read(&args.maillog)?;
    let follow = super::maillog::open_follow(&args.maillog)?;
    let identity = leave_root(&args, account.as_ref())?;
    eprintln!(
        "smtpdiag: listening on {}, link-type {}, snapshot length {} bytes, filter \"{}\"{identity}",
        sanitize(interface),
        link_type_text(capture.link_type()),
        live_config.snaplen,
        capture.filter(),
    );

    let style = TextStyle { color: stdout_color(), explain: args.explain };
    // Sessions appear one by one, minutes apart: each is written out at once.
    let mut selector = smtpdiag::select::Selector::new(&args.select);
    // Offsets count from the start of the capture.
    selector.set_origin(interface, wall_clock());
    let mut printer = Printer::new(args.json, style, args.ladder.then_some(&args.ladder_style), true)
        .events(args.events)
        .select(selector)
        .wrap(text_width(&args.ladder_style));
    printer.totals.summary.by = args.summary.by;
    printer.maillog = super::maillog::index(&args.maillog, logs)?;
    if let Some(index) = &mut printer.maillog {
        index.follow(follow);
    }
    // Shared by the analyzer's callback and the timer that releases held sessions.
    let stage = std::cell::RefCell::new(Stage::new(&diagnose_config, &mut printer));
    let mut analyzer = Analyzer::new(interface, analyzer_config, |s| stage.borrow_mut().session(s));
    let limits = Limits {
        count: args.count,
        until: args.duration.map(|d| Instant::now() + Duration::from_secs_f64(d.max(0.0))),
    };
    let tick = |now: Timestamp| stage.borrow_mut().tick(now.as_secs_f64());
    let result = capture_loop(&mut capture, dumper.as_mut(), &mut analyzer, &interrupt, &limits, &tick);
    // However the capture ended, the sessions still open are reported (as capture_end).
    analyzer.finish();
    report_warnings(interface, &analyzer.warnings);
    let (decode_stats, table_stats) = (analyzer.decode_stats.clone(), analyzer.table_stats().clone());
    drop(analyzer);
    stage.into_inner().finish();
    printer.capture_done(&decode_stats, &table_stats);
    if let Some(index) = &mut printer.maillog {
        super::maillog::finish(index, args.json, &mut printer.out);
    }
    printer.print_totals(args.summary.totals);
    printer.out.flush();

    // A capture that failed is 1; output that could not be written (stdout, -w) is 2.
    let mut status = if printer.out.failed { 2 } else { 0 };
    if let Some(d) = dumper.as_mut()
        && let Err(e) = d.flush()
    {
        eprintln!("smtpdiag: {}", sanitize(&e.to_string()));
        status = 2;
    }
    drop(dumper);
    if let Err(e) = result {
        eprintln!("smtpdiag: {}", sanitize(&e.to_string()));
        status = status.max(if matches!(e, live::LiveError::Write { .. }) { 2 } else { 1 });
    }
    match capture.stats() {
        Ok(stats) => eprintln!("{}", stats_line(decode_stats.frames, stats)),
        Err(e) => eprintln!("smtpdiag: capture statistics unavailable: {e}"),
    }
    Ok(status)
}

struct Limits {
    count: Option<u64>,
    until: Option<Instant>,
}

/// Reads packets until a limit, a signal, a closed output or a capture error.
fn capture_loop<F: FnMut(Session) -> ControlFlow<()>>(
    capture: &mut LiveCapture,
    mut dumper: Option<&mut Dumper>,
    analyzer: &mut Analyzer<F>,
    interrupt: &Interrupt,
    limits: &Limits,
    tick: &dyn Fn(Timestamp),
) -> Result<(), live::LiveError> {
    let mut packets = 0u64;
    let mut last_tick = Instant::now();
    loop {
        if interrupt.raised() || analyzer.stopped() {
            return Ok(());
        }
        if limits.count.is_some_and(|n| packets >= n) || limits.until.is_some_and(|t| Instant::now() >= t) {
            return Ok(());
        }
        match capture.next_packet()? {
            Next::Packet(packet) => {
                packets += 1;
                if let Some(d) = dumper.as_deref_mut() {
                    d.dump(&packet)?;
                }
                // A Break here means the output is gone; `stopped()` ends the loop above.
                let _ = analyzer.frame(&packet.frame);
            }
            Next::Timeout => {}
            Next::End => return Ok(()),
        }
        if last_tick.elapsed() >= TICK {
            last_tick = Instant::now();
            // Capture timestamps come from the same wall clock, so "idle since" compares.
            let now = wall_clock();
            analyzer.expire(now);
            tick(now);
            if let Some(d) = dumper.as_deref_mut() {
                d.flush()?;
            }
        }
    }
}

fn wall_clock() -> Timestamp {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    Timestamp::from_secs_nanos(d.as_secs() as i64, d.subsec_nanos())
}

/// tcpdump's closing counts, on one line.
fn stats_line(captured: u64, s: LiveStats) -> String {
    format!(
        "smtpdiag: {captured} packets captured, {} received by filter, {} dropped by kernel, {} dropped by interface",
        s.received, s.dropped, s.if_dropped
    )
}

/// The account to switch to after opening the capture: None when not root or with --keep-root.
#[cfg(unix)]
fn account(args: &LiveArgs) -> Result<Option<privdrop::Account>> {
    if !privdrop::is_root() || args.keep_root {
        return Ok(None);
    }
    Ok(Some(privdrop::target(args.user.as_deref())?))
}

/// Switches to the unprivileged account (the `-w` file was given to it when created); returns
/// how to mention it on the "listening" line.
#[cfg(unix)]
fn leave_root(args: &LiveArgs, account: Option<&privdrop::Account>) -> Result<String> {
    if !privdrop::is_root() {
        if let Some(user) = &args.user {
            eprintln!("smtpdiag: warning: --user {} ignored: not running as root", sanitize(user));
        }
        return Ok(String::new());
    }
    let Some(account) = account else {
        return Ok(", staying root (--keep-root)".into());
    };
    privdrop::drop_to(account)?;
    Ok(format!(", running as {}", running_as(&account.name, account.uid, user_name)))
}

/// "nobody (uid 65534)": an account known by its number alone (SUDO_UID without SUDO_USER,
/// `--user 65534`) is named from the password database, else shown once as "uid N".
fn running_as(name: &str, uid: u32, name_of: impl Fn(u32) -> Option<String>) -> String {
    let numeric = name == uid.to_string() || name == format!("uid {uid}");
    match if numeric { name_of(uid) } else { Some(name.to_string()) } {
        Some(name) => format!("{} (uid {uid})", sanitize(&name)),
        None => format!("uid {uid}"),
    }
}

/// The user name of `uid` (getpwuid_r).
#[cfg(unix)]
fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: all-zero is a valid `struct passwd` (integers and null pointers).
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer refers to a live local; buf's length is passed with it.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() {
        return None;
    }
    // SAFETY: on success pw_name is a NUL-terminated string inside `buf`, still alive.
    Some(unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) }.to_string_lossy().into_owned())
}

/// "LINUX_SLL (113)"; a number the registry table lacks stays a number.
fn link_type_text(link: smtpdiag::capture::LinkType) -> String {
    match link.name() {
        "" => link.0.to_string(),
        name => format!("{name} ({})", link.0),
    }
}

#[cfg(not(unix))]
fn account(_args: &LiveArgs) -> Result<Option<privdrop::Account>> {
    Ok(None)
}

#[cfg(not(unix))]
fn leave_root(_args: &LiveArgs, _account: Option<&privdrop::Account>) -> Result<String> {
    Ok(String::new())
}

fn list_interfaces(lib: &Libpcap) -> Result<i32> {
    let mut text = String::new();
    for i in lib.interfaces()? {
        let mut flags = Vec::new();
        if i.up {
            flags.push("up");
        }
        if i.running {
            flags.push("running");
        }
        if i.loopback {
            flags.push("loopback");
        }
        let description = i.description.map(|d| format!("  {d}")).unwrap_or_default();
        text.push_str(&format!("{:<16} [{}]{description}\n", i.name, flags.join(", ")));
    }
    super::output::write_stdout(text.as_bytes())?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_is_named_once() {
        let nobody = |uid: u32| (uid == 65534).then(|| "nobody".to_string());
        assert_eq!(running_as("uid 65534", 65534, nobody), "nobody (uid 65534)");
        assert_eq!(running_as("65534", 65534, nobody), "nobody (uid 65534)");
        assert_eq!(running_as("uid 4242", 4242, nobody), "uid 4242");
        assert_eq!(running_as("alice", 1000, nobody), "alice (uid 1000)");
    }

    #[test]
    fn link_types_are_named() {
        use smtpdiag::capture::LinkType;
        assert_eq!(link_type_text(LinkType(113)), "LINUX_SLL (113)");
        assert_eq!(link_type_text(LinkType(1)), "ETHERNET (1)");
        assert_eq!(link_type_text(LinkType(64999)), "64999");
    }

    #[test]
    fn stats_line_names_every_counter() {
        let line = stats_line(10, LiveStats { received: 12, dropped: 2, if_dropped: 0 });
        assert_eq!(
            line,
            "smtpdiag: 10 packets captured, 12 received by filter, 2 dropped by kernel, 0 dropped by interface"
        );
    }
}
