//! The few libpcap symbols live capture needs, resolved at run time with `libloading` so that
//! building smtpdiag and reading files never need libpcap. Only the C types these functions
//! touch are declared; every call and every pointer is wrapped by `super` (`LiveCapture`).
//!
//! `pcap_breakloop` is not among them: the handle is non-blocking and `LiveCapture` waits in
//! poll(2) itself, which returns on the tick and on signals. (libpcap's read timeout alone
//! gives no tick: on Linux, pcap_next_ex polls again after an empty timeout.)

use libloading::Library;
use std::ffi::{c_char, c_int, c_uchar, c_uint, c_void};
use std::sync::Arc;

/// PCAP_ERRBUF_SIZE in pcap/pcap.h.
pub const ERRBUF_SIZE: usize = 256;
/// pcap_compile's netmask when it is not known (only `ip broadcast` needs it).
pub const NETMASK_UNKNOWN: u32 = 0xffff_ffff;

// Return codes of pcap_activate (pcap/pcap.h).
pub const ERROR_NO_SUCH_DEVICE: c_int = -5;
pub const ERROR_PERM_DENIED: c_int = -8;
pub const ERROR_IFACE_NOT_UP: c_int = -9;
pub const ERROR_PROMISC_PERM_DENIED: c_int = -11;

/// Opaque `pcap_t`.
#[repr(C)]
pub struct PcapT {
    _private: [u8; 0],
}

/// `struct pcap_pkthdr`: a `struct timeval`, then the captured and the wire length.
#[repr(C)]
pub struct PktHdr {
    pub ts: libc::timeval,
    pub caplen: u32,
    pub len: u32,
}

/// `struct pcap_stat`. Windows' (Npcap) has one more field, `ps_capt`; the padding leaves
/// room for it so pcap_stats never writes past our value.
#[repr(C)]
#[derive(Default)]
pub struct Stat {
    pub ps_recv: c_uint,
    pub ps_drop: c_uint,
    pub ps_ifdrop: c_uint,
    pub _win_capt: c_uint,
}

/// `struct bpf_program`.
#[repr(C)]
pub struct BpfProgram {
    pub bf_len: c_uint,
    pub bf_insns: *mut c_void,
}

/// `struct pcap_if` (one entry of pcap_findalldevs' list).
#[repr(C)]
pub struct PcapIf {
    pub next: *mut PcapIf,
    pub name: *mut c_char,
    pub description: *mut c_char,
    pub addresses: *mut c_void,
    pub flags: u32,
}

// pcap_if.flags
pub const IF_LOOPBACK: u32 = 0x0000_0001;
pub const IF_UP: u32 = 0x0000_0002;
pub const IF_RUNNING: u32 = 0x0000_0004;

/// Library file names to try, most specific first: the runtime package's soname before the
/// development symlink, which is only there when the -dev package is installed.
#[cfg(target_os = "macos")]
pub const LIBRARY_NAMES: &[&str] = &["libpcap.A.dylib", "libpcap.dylib"];
#[cfg(windows)]
pub const LIBRARY_NAMES: &[&str] = &["wpcap.dll"];
#[cfg(not(any(target_os = "macos", windows)))]
pub const LIBRARY_NAMES: &[&str] = &["libpcap.so.1", "libpcap.so.0.8", "libpcap.so"];

macro_rules! pcap_api {
    ($( $name:ident : fn($($arg:ty),*) $(-> $ret:ty)?; )*) => {
        /// libpcap's entry points, valid as long as `_lib` (kept alongside) is loaded.
        pub struct Api {
            $( pub $name: unsafe extern "C" fn($($arg),*) $(-> $ret)?, )*
            /// Unix only (Npcap has no selectable descriptor); `None` where it is missing.
            pub pcap_get_selectable_fd: Option<unsafe extern "C" fn(*mut PcapT) -> c_int>,
            _lib: Library,
        }

        impl Api {
            fn resolve(lib: Library) -> Result<Api, LoadError> {
                Ok(Api {
                    $(
                        // SAFETY: the type written here is the C prototype from pcap/pcap.h
                        // for this name; the pointer is used only while `_lib` is alive, and
                        // `_lib` lives in the same struct.
                        $name: unsafe {
                            *lib.get::<unsafe extern "C" fn($($arg),*) $(-> $ret)?>(
                                concat!(stringify!($name), "\0").as_bytes(),
                            )
                            .map_err(|e| LoadError::Symbol { name: stringify!($name), detail: e.to_string() })?
                        },
                    )*
                    // SAFETY: as above; a missing symbol is allowed for this one.
                    pcap_get_selectable_fd: unsafe {
                        lib.get::<unsafe extern "C" fn(*mut PcapT) -> c_int>(b"pcap_get_selectable_fd\0")
                            .ok()
                            .map(|sym| *sym)
                    },
                    _lib: lib,
                })
            }
        }
    };
}

pcap_api! {
    pcap_create: fn(*const c_char, *mut c_char) -> *mut PcapT;
    pcap_set_snaplen: fn(*mut PcapT, c_int) -> c_int;
    pcap_set_promisc: fn(*mut PcapT, c_int) -> c_int;
    pcap_set_timeout: fn(*mut PcapT, c_int) -> c_int;
    pcap_set_buffer_size: fn(*mut PcapT, c_int) -> c_int;
    pcap_activate: fn(*mut PcapT) -> c_int;
    pcap_setnonblock: fn(*mut PcapT, c_int, *mut c_char) -> c_int;
    pcap_geterr: fn(*mut PcapT) -> *mut c_char;
    pcap_compile: fn(*mut PcapT, *mut BpfProgram, *const c_char, c_int, u32) -> c_int;
    pcap_setfilter: fn(*mut PcapT, *mut BpfProgram) -> c_int;
    pcap_freecode: fn(*mut BpfProgram);
    pcap_next_ex: fn(*mut PcapT, *mut *mut PktHdr, *mut *const c_uchar) -> c_int;
    pcap_datalink: fn(*mut PcapT) -> c_int;
    pcap_stats: fn(*mut PcapT, *mut Stat) -> c_int;
    pcap_close: fn(*mut PcapT);
    pcap_findalldevs: fn(*mut *mut PcapIf, *mut c_char) -> c_int;
    pcap_freealldevs: fn(*mut PcapIf);
}

/// Why libpcap could not be loaded.
#[derive(Debug, Clone)]
pub enum LoadError {
    /// None of the names could be opened; the loader's message for each.
    NotFound { tried: Vec<(String, String)> },
    /// A library was found but lacks a symbol (a libpcap older than 1.5, or not libpcap).
    Symbol { name: &'static str, detail: String },
}

/// Loads the first of `names` that opens and resolves every symbol.
pub fn load(names: &[&str]) -> Result<Arc<Api>, LoadError> {
    let mut tried = Vec::new();
    for name in names {
        // SAFETY: loading libpcap runs its initialisers, which have no preconditions; the
        // names are fixed library names, never user input.
        match unsafe { Library::new(*name) } {
            Ok(lib) => return Api::resolve(lib).map(Arc::new),
            Err(e) => tried.push((name.to_string(), e.to_string())),
        }
    }
    Err(LoadError::NotFound { tried })
}
