//! Live capture through libpcap, loaded at run time (see `ffi`): [`LiveCapture`] opens an
//! interface with a BPF filter and hands out [`Frame`]s like the file readers do, [`Dumper`]
//! copies them to a pcap file, [`privdrop`] leaves root once both are open.
//!
//! Every `unsafe` block of smtpdiag is in this folder.

mod dumpfile;
mod ffi;
#[cfg(unix)]
pub mod privdrop;

pub use dumpfile::{Dumper, Owner, create_new};

use super::{Frame, LinkType, Timestamp};
use std::ffi::{CStr, CString, c_char, c_int};
use std::ptr::{self, NonNull};
use std::sync::Arc;

pub use ffi::LIBRARY_NAMES;

/// Snapshot length: whole packets (libpcap's and tcpdump's default).
pub const SNAPLEN: i32 = super::MAX_CAPLEN as i32;
/// Packet buffer timeout: the kernel hands packets over at least this often. A short timeout
/// rather than immediate mode: immediate mode makes Linux libpcap use TPACKET_V2, whose ring
/// has fixed slots sized for the largest frame (64 KiB with segmentation offload), so bursts
/// overflow it (scripts/bench-live at ~100k packets/s: immediate mode with 32/64/128 MiB
/// dropped 29%/10%/0.5%; a 100 ms timeout with 8 MiB dropped none). 100 ms is nothing next to
/// the seconds a session lingers after its close.
pub const TIMEOUT_MS: i32 = 100;
/// Kernel ring size by default (`live --buffer`): room for bursts while a session is being
/// diagnosed and printed; 32 MiB is only 75 ms at 500,000 packets/s.
pub const BUFFER_SIZE: i32 = 64 << 20;

/// The capture filter on the mail ports. On Ethernet it also matches 802.1Q-tagged frames:
/// the `vlan` keyword moves the offsets of what follows it, so the tagged alternative repeats
/// the ports after it (as tcpdump's man page does). Other link types (Linux "any" among them)
/// have no VLAN support in BPF.
pub fn mail_filter(ports: &[u16], link_type: LinkType) -> String {
    let ports: Vec<String> = ports.iter().map(|p| format!("tcp port {p}")).collect();
    let any = ports.join(" or ");
    if link_type == LinkType::ETHERNET { format!("({any}) or (vlan and ({any}))") } else { any }
}

/// How to open the interface.
#[derive(Clone, Debug)]
pub struct LiveConfig {
    pub interface: String,
    /// BPF expression; `None`: [`mail_filter`] on `ports` for the interface's link type.
    pub filter: Option<String>,
    pub ports: Vec<u16>,
    pub promisc: bool,
    pub snaplen: i32,
    pub timeout_ms: i32,
    pub buffer_size: i32,
}

impl LiveConfig {
    pub fn new(interface: &str, filter: Option<&str>, ports: &[u16]) -> LiveConfig {
        LiveConfig {
            interface: interface.to_string(),
            filter: filter.map(str::to_string),
            ports: ports.to_vec(),
            promisc: true,
            snaplen: SNAPLEN,
            timeout_ms: TIMEOUT_MS,
            buffer_size: BUFFER_SIZE,
        }
    }
}

/// What went wrong, phrased for the person at the terminal: each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(
        "live capture needs libpcap, which is not installed (tried {tried}). Install it: the \
         libpcap0.8 package on Debian/Ubuntu (apt-get install libpcap0.8), libpcap on Fedora \
         (dnf install libpcap) or macOS (brew install libpcap), Npcap on Windows \
         (https://npcap.com). Reading capture files does not need it."
    )]
    LibraryMissing { tried: String },
    #[error("the libpcap found lacks {symbol} ({detail}); live capture needs libpcap 1.5 or later")]
    LibraryTooOld { symbol: &'static str, detail: String },
    #[error(
        "no permission to capture on {interface} ({detail}). Run smtpdiag with sudo, or allow it \
         to capture once: sudo setcap cap_net_raw,cap_net_admin=eip $(which smtpdiag)"
    )]
    PermissionDenied { interface: String, detail: String },
    #[error(
        "no permission to put {interface} in promiscuous mode ({detail}); add --no-promisc to \
         see only the host's own traffic"
    )]
    PromiscDenied { interface: String, detail: String },
    #[error("no interface named {interface} ({detail}); smtpdiag live --list-interfaces shows them")]
    NoSuchDevice { interface: String, detail: String },
    #[error("interface {interface} is down ({detail}); bring it up first (ip link set {interface} up)")]
    InterfaceDown { interface: String, detail: String },
    #[error("capture filter {filter:?} is not valid BPF: {detail}")]
    Filter { filter: String, detail: String },
    #[error("{interface}: {detail}")]
    Capture { interface: String, detail: String },
    #[error("{path}: cannot write the capture: {detail}")]
    Write { path: String, detail: String },
}

fn load_error(e: ffi::LoadError) -> LiveError {
    match e {
        ffi::LoadError::NotFound { tried } => {
            let names: Vec<String> = tried.into_iter().map(|(n, _)| n).collect();
            LiveError::LibraryMissing { tried: names.join(", ") }
        }
        ffi::LoadError::Symbol { name, detail } => LiveError::LibraryTooOld { symbol: name, detail },
    }
}

/// libpcap, loaded once per use. Cheap to clone.
#[derive(Clone)]
pub struct Libpcap(Arc<ffi::Api>);

impl Libpcap {
    /// Loads the system's libpcap ([`LIBRARY_NAMES`]).
    pub fn load() -> Result<Libpcap, LiveError> {
        Self::load_from(LIBRARY_NAMES)
    }

    /// Loads the first of `names` that exists (tests use a name that does not).
    pub fn load_from(names: &[&str]) -> Result<Libpcap, LiveError> {
        ffi::load(names).map(Libpcap).map_err(load_error)
    }

    /// The interfaces libpcap can open, as pcap_findalldevs lists them (no privileges needed).
    pub fn interfaces(&self) -> Result<Vec<Interface>, LiveError> {
        let api = &self.0;
        let mut errbuf = [0 as c_char; ffi::ERRBUF_SIZE];
        let mut list: *mut ffi::PcapIf = ptr::null_mut();
        // SAFETY: both out-pointers point to live locals; errbuf has PCAP_ERRBUF_SIZE bytes.
        let rc = unsafe { (api.pcap_findalldevs)(&mut list, errbuf.as_mut_ptr()) };
        if rc != 0 {
            return Err(LiveError::Capture { interface: "interfaces".into(), detail: errbuf_text(&errbuf) });
        }
        let mut out = Vec::new();
        let mut cur = list;
        while !cur.is_null() {
            // SAFETY: `cur` is an element of the list pcap_findalldevs returned, not yet freed;
            // its strings are NUL-terminated or null.
            let (entry, next) = unsafe {
                let d = &*cur;
                let description =
                    (!d.description.is_null()).then(|| CStr::from_ptr(d.description).to_string_lossy().into_owned());
                let entry = Interface {
                    name: CStr::from_ptr(d.name).to_string_lossy().into_owned(),
                    description,
                    loopback: d.flags & ffi::IF_LOOPBACK != 0,
                    up: d.flags & ffi::IF_UP != 0,
                    running: d.flags & ffi::IF_RUNNING != 0,
                };
                (entry, d.next)
            };
            out.push(entry);
            cur = next;
        }
        if !list.is_null() {
            // SAFETY: `list` came from pcap_findalldevs and is freed once, after the last use.
            unsafe { (api.pcap_freealldevs)(list) };
        }
        Ok(out)
    }
}

/// One entry of `--list-interfaces`.
#[derive(Clone, Debug)]
pub struct Interface {
    pub name: String,
    pub description: Option<String>,
    pub loopback: bool,
    pub up: bool,
    pub running: bool,
}

fn errbuf_text(buf: &[c_char]) -> String {
    // SAFETY: libpcap NUL-terminates what it writes in errbuf; the buffer was zeroed first, so
    // a NUL exists within it even if nothing was written.
    unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned()
}

/// Capture counters from pcap_stats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveStats {
    /// Packets the filter accepted (Linux: received by the socket).
    pub received: u64,
    /// Dropped because the kernel buffer was full: smtpdiag did not keep up.
    pub dropped: u64,
    /// Dropped by the interface or its driver before the kernel saw them.
    pub if_dropped: u64,
}

/// An open, activated, filtered capture handle.
pub struct LiveCapture {
    lib: Libpcap,
    handle: NonNull<ffi::PcapT>,
    interface: String,
    link_type: LinkType,
    filter: String,
    frames: u64,
    timeout_ms: i32,
    /// Descriptor to wait on in poll(2) between non-blocking reads; `None` where the platform
    /// has none, then libpcap's own read timeout does the waiting.
    wait_fd: Option<c_int>,
}

/// What one read returned.
pub enum Next<'a> {
    Packet(LivePacket<'a>),
    /// The read timeout passed without a packet.
    Timeout,
    /// No more packets will come (the handle was told to stop).
    End,
}

/// A captured packet, valid until the next read.
pub struct LivePacket<'a> {
    pub frame: Frame<'a>,
}

impl LiveCapture {
    /// Opens and activates `config.interface` and installs the filter. Needs the privileges
    /// to capture (root, or CAP_NET_RAW on Linux); afterwards they can be dropped.
    pub fn open(lib: &Libpcap, config: &LiveConfig) -> Result<LiveCapture, LiveError> {
        let api = &lib.0;
        let name = CString::new(config.interface.as_str()).map_err(|_| LiveError::NoSuchDevice {
            interface: config.interface.clone(),
            detail: "the name contains a NUL byte".into(),
        })?;
        let mut errbuf = [0 as c_char; ffi::ERRBUF_SIZE];
        // SAFETY: `name` is NUL-terminated; errbuf has PCAP_ERRBUF_SIZE bytes.
        let raw = unsafe { (api.pcap_create)(name.as_ptr(), errbuf.as_mut_ptr()) };
        let Some(handle) = NonNull::new(raw) else {
            return Err(LiveError::Capture { interface: config.interface.clone(), detail: errbuf_text(&errbuf) });
        };
        // From here the handle is closed by Drop whatever fails.
        let mut cap = LiveCapture {
            lib: lib.clone(),
            handle,
            interface: config.interface.clone(),
            link_type: LinkType(0),
            filter: String::new(),
            frames: 0,
            timeout_ms: config.timeout_ms,
            wait_fd: None,
        };
        let p = cap.handle.as_ptr();
        // SAFETY: `p` is a created, not yet activated handle: the setters' precondition. They
        // only fail on an activated handle, so their results carry no information here.
        unsafe {
            (api.pcap_set_snaplen)(p, config.snaplen);
            (api.pcap_set_promisc)(p, c_int::from(config.promisc));
            (api.pcap_set_timeout)(p, config.timeout_ms);
            (api.pcap_set_buffer_size)(p, config.buffer_size);
        }
        // SAFETY: `p` is a valid created handle.
        let rc = unsafe { (api.pcap_activate)(p) };
        if rc < 0 {
            return Err(cap.activate_error(rc));
        }
        // Positive codes are warnings (e.g. promiscuous mode not supported): capture works.
        // SAFETY: `p` is activated.
        let dlt = unsafe { (api.pcap_datalink)(p) };
        cap.link_type = link_type_of(dlt);
        cap.filter = config.filter.clone().unwrap_or_else(|| mail_filter(&config.ports, cap.link_type));
        cap.set_filter()?;
        cap.wait_fd = cap.selectable_fd();
        if cap.wait_fd.is_some() {
            let mut errbuf = [0 as c_char; ffi::ERRBUF_SIZE];
            // SAFETY: activated handle; errbuf has PCAP_ERRBUF_SIZE bytes.
            if unsafe { (api.pcap_setnonblock)(p, 1, errbuf.as_mut_ptr()) } != 0 {
                return Err(LiveError::Capture { interface: cap.interface.clone(), detail: errbuf_text(&errbuf) });
            }
        }
        Ok(cap)
    }

    fn selectable_fd(&self) -> Option<c_int> {
        let get = self.lib.0.pcap_get_selectable_fd.filter(|_| cfg!(unix))?;
        // SAFETY: activated handle.
        let fd = unsafe { get(self.handle.as_ptr()) };
        (fd >= 0).then_some(fd)
    }

    fn activate_error(&self, rc: c_int) -> LiveError {
        let (interface, detail) = (self.interface.clone(), self.last_error());
        match rc {
            ffi::ERROR_PERM_DENIED => LiveError::PermissionDenied { interface, detail },
            ffi::ERROR_PROMISC_PERM_DENIED => LiveError::PromiscDenied { interface, detail },
            ffi::ERROR_NO_SUCH_DEVICE => LiveError::NoSuchDevice { interface, detail },
            ffi::ERROR_IFACE_NOT_UP => LiveError::InterfaceDown { interface, detail },
            // libpcap reports a failed socket() as a generic error on some versions.
            _ if is_permission_text(&detail) => LiveError::PermissionDenied { interface, detail },
            _ => LiveError::Capture { interface, detail: format!("{detail} (pcap_activate: {rc})") },
        }
    }

    fn last_error(&self) -> String {
        // SAFETY: the handle is valid; pcap_geterr returns its NUL-terminated message buffer,
        // copied before any other call on the handle.
        unsafe { CStr::from_ptr((self.lib.0.pcap_geterr)(self.handle.as_ptr())) }.to_string_lossy().into_owned()
    }

    fn set_filter(&mut self) -> Result<(), LiveError> {
        let (api, filter) = (&self.lib.0, self.filter.as_str());
        let bad = |detail: String| LiveError::Filter { filter: filter.to_string(), detail };
        let expr = CString::new(filter).map_err(|_| bad("contains a NUL byte".into()))?;
        let mut program = ffi::BpfProgram { bf_len: 0, bf_insns: ptr::null_mut() };
        let p = self.handle.as_ptr();
        // SAFETY: activated handle, live out-pointer, NUL-terminated expression.
        let rc = unsafe { (api.pcap_compile)(p, &mut program, expr.as_ptr(), 1, ffi::NETMASK_UNKNOWN) };
        if rc != 0 {
            return Err(bad(self.last_error()));
        }
        // SAFETY: `program` was filled by pcap_compile; the kernel copies it, so it is freed
        // right after, once.
        let rc = unsafe {
            let rc = (api.pcap_setfilter)(p, &mut program);
            (api.pcap_freecode)(&mut program);
            rc
        };
        if rc != 0 {
            return Err(bad(self.last_error()));
        }
        Ok(())
    }

    pub fn link_type(&self) -> LinkType {
        self.link_type
    }

    /// The BPF expression in force.
    pub fn filter(&self) -> &str {
        &self.filter
    }

    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The next packet, waiting up to the timeout for one. A signal ends the wait early.
    pub fn next_packet(&mut self) -> Result<Next<'_>, LiveError> {
        let mut header: *mut ffi::PktHdr = ptr::null_mut();
        let mut data: *const u8 = ptr::null();
        // SAFETY: activated handle and live out-pointers.
        let rc = unsafe { (self.lib.0.pcap_next_ex)(self.handle.as_ptr(), &mut header, &mut data) };
        match rc {
            1 => {}
            0 => {
                if let Some(fd) = self.wait_fd {
                    wait_readable(fd, self.timeout_ms);
                }
                return Ok(Next::Timeout);
            }
            -2 => return Ok(Next::End),
            _ => return Err(LiveError::Capture { interface: self.interface.clone(), detail: self.last_error() }),
        }
        // SAFETY: on success libpcap set both pointers to its buffer, valid until the next
        // call on this handle; the returned borrow of `self` ends before that call can happen.
        let (header, data) = unsafe {
            let header = &*header;
            (header, std::slice::from_raw_parts(data, header.caplen as usize))
        };
        self.frames += 1;
        let frame = Frame {
            number: self.frames,
            // time_t and suseconds_t are 32 or 64 bits depending on the platform.
            #[allow(clippy::useless_conversion)]
            ts: Timestamp::from_secs_nanos(
                i64::from(header.ts.tv_sec),
                (header.ts.tv_usec as u32).saturating_mul(1000),
            ),
            link_type: self.link_type,
            data,
            orig_len: header.len,
            offset: 0,
        };
        Ok(Next::Packet(LivePacket { frame }))
    }

    /// Counters so far (cumulative since activation).
    pub fn stats(&self) -> Result<LiveStats, LiveError> {
        let mut st = ffi::Stat::default();
        // SAFETY: activated handle; `st` is large enough for every platform's pcap_stat.
        let rc = unsafe { (self.lib.0.pcap_stats)(self.handle.as_ptr(), &mut st) };
        if rc != 0 {
            return Err(LiveError::Capture { interface: self.interface.clone(), detail: self.last_error() });
        }
        Ok(LiveStats { received: st.ps_recv.into(), dropped: st.ps_drop.into(), if_dropped: st.ps_ifdrop.into() })
    }
}

impl Drop for LiveCapture {
    fn drop(&mut self) {
        // SAFETY: the handle came from pcap_create and is closed exactly once, here.
        unsafe { (self.lib.0.pcap_close)(self.handle.as_ptr()) };
    }
}

/// Waits until `fd` is readable, `timeout_ms` passed or a signal arrived.
#[cfg(unix)]
fn wait_readable(fd: c_int, timeout_ms: i32) {
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one live pollfd, count 1. Errors (EINTR from a signal) and timeouts alike just
    // send the caller back to its loop.
    unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
}

#[cfg(not(unix))]
fn wait_readable(_fd: c_int, _timeout_ms: i32) {}

fn is_permission_text(detail: &str) -> bool {
    let d = detail.to_ascii_lowercase();
    d.contains("permission denied") || d.contains("operation not permitted")
}

/// libpcap's DLT_ values equal the LINKTYPE_ numbers except the raw-IP ones, whose DLT number
/// differs between systems (12 or 14) and which files record as LINKTYPE_RAW.
fn link_type_of(dlt: c_int) -> LinkType {
    match dlt {
        12 | 14 => LinkType::RAW,
        n => LinkType(n as u32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_filter_names_every_port_for_plain_and_vlan_frames() {
        assert_eq!(
            mail_filter(&[25, 465, 587, 2525], LinkType::ETHERNET),
            "(tcp port 25 or tcp port 465 or tcp port 587 or tcp port 2525) or \
             (vlan and (tcp port 25 or tcp port 465 or tcp port 587 or tcp port 2525))"
        );
        assert_eq!(mail_filter(&[2525], LinkType::ETHERNET), "(tcp port 2525) or (vlan and (tcp port 2525))");
    }

    #[test]
    fn no_vlan_clause_where_bpf_has_no_vlan_support() {
        assert_eq!(mail_filter(&[25, 587], LinkType::LINUX_SLL), "tcp port 25 or tcp port 587");
        assert_eq!(mail_filter(&[25], LinkType::RAW), "tcp port 25");
    }

    #[test]
    fn missing_library_names_the_package_to_install() {
        let Err(e) = Libpcap::load_from(&["libpcap-does-not-exist.so.99"]) else {
            panic!("a library that does not exist was loaded")
        };
        let text = e.to_string();
        assert!(matches!(e, LiveError::LibraryMissing { .. }));
        assert!(text.contains("libpcap-does-not-exist.so.99"), "{text}");
        for needle in ["libpcap0.8", "Debian/Ubuntu", "Fedora", "macOS", "Npcap"] {
            assert!(text.contains(needle), "{needle} missing from: {text}");
        }
    }

    #[test]
    fn permission_denied_says_sudo_or_setcap() {
        let e =
            LiveError::PermissionDenied { interface: "eth0".into(), detail: "socket: Operation not permitted".into() };
        let text = e.to_string();
        assert!(text.contains("eth0") && text.contains("Operation not permitted"), "{text}");
        assert!(text.contains("sudo"), "{text}");
        assert!(text.contains("setcap cap_net_raw,cap_net_admin=eip $(which smtpdiag)"), "{text}");
        assert!(is_permission_text("socket: Operation not permitted"));
        assert!(!is_permission_text("No such device exists"));
    }

    #[test]
    fn raw_ip_link_types_map_to_linktype_raw() {
        assert_eq!(link_type_of(1), LinkType::ETHERNET);
        assert_eq!(link_type_of(113), LinkType::LINUX_SLL);
        assert_eq!(link_type_of(276), LinkType::LINUX_SLL2);
        assert_eq!(link_type_of(12), LinkType::RAW);
        assert_eq!(link_type_of(14), LinkType::RAW);
    }
}
