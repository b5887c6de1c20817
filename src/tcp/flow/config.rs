//! The flow table's settings: which ports are mail, the caps, the timeouts.

use super::super::reassembly::ReassemblyLimits;

#[derive(Clone, Debug)]
pub struct TcpConfig {
    /// A connection is tracked when either port is in this set.
    pub ports: Vec<u16>,
    pub limits: ReassemblyLimits,
    /// Cap on out-of-order bytes buffered by all flows together.
    pub max_buffered_total: usize,
    pub max_flows: usize,
    /// Cap on the memory held by all connections together (see [`super::state::Flow::charge`]).
    pub memcap: usize,
    /// Seconds without a packet after which an open connection is handed on.
    pub idle_timeout_s: f64,
    /// Seconds after its last packet that a connection whose handshake never completed (and
    /// that carried no payload) is handed on: Zeek's `tcp_SYN_timeout` and `tcp_attempt_delay`.
    pub half_open_timeout_s: f64,
    /// Seconds a closed connection waits for late packets (retransmitted FIN, final ACK, RST).
    pub linger_s: f64,
    /// Seconds a connection whose FINs were both acknowledged (nothing more is owed either way)
    /// waits before it is handed on; for the rest of `linger_s` a tombstone absorbs late
    /// packets. Lingering whole, thousands of finished sessions held a third of the memory.
    pub close_grace_s: f64,
    /// Packet events kept per connection for ladders and rules.
    pub max_events: usize,
    /// Keep only the packets rules need, not every packet for a ladder (see `tcp::events`).
    pub compact_events: bool,
    /// Recognises payload only a server sends (an SMTP reply), for captures that start mid-session.
    pub server_payload_hint: Option<fn(&[u8]) -> bool>,
}

/// The timeouts in nanoseconds, the unit of packet times: converted once, not per packet.
#[derive(Clone, Copy, Debug)]
pub(super) struct Waits {
    pub idle: i64,
    pub half_open: i64,
    pub linger: i64,
    /// A connection whose FINs were both acknowledged: `close_grace_s`, at most `linger_s`.
    pub closed_clean: i64,
}

impl Waits {
    pub fn of(config: &TcpConfig) -> Waits {
        let nanos = |s: f64| (s * 1e9) as i64;
        Waits {
            idle: nanos(config.idle_timeout_s),
            half_open: nanos(config.half_open_timeout_s),
            linger: nanos(config.linger_s),
            closed_clean: nanos(config.close_grace_s.min(config.linger_s)),
        }
    }
}

pub const DEFAULT_PORTS: [u16; 4] = [25, 465, 587, 2525];
pub const DEFAULT_MEMCAP: usize = 256 << 20;

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            ports: DEFAULT_PORTS.to_vec(),
            limits: ReassemblyLimits::default(),
            max_buffered_total: 256 << 20,
            max_flows: 200_000,
            memcap: DEFAULT_MEMCAP,
            idle_timeout_s: 600.0,
            half_open_timeout_s: 5.0,
            linger_s: 5.0,
            close_grace_s: 1.0,
            max_events: 20_000,
            compact_events: false,
            server_payload_hint: None,
        }
    }
}
