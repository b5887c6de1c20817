//! TCP stage: flow table keyed by the 4-tuple, per-direction reassembly, connection state.

pub mod zeek;

/// Which way a byte or packet travelled, once roles are known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    ClientToServer,
    ServerToClient,
}

impl Direction {
    #[inline]
    pub fn reverse(self) -> Direction {
        match self {
            Direction::ClientToServer => Direction::ServerToClient,
            Direction::ServerToClient => Direction::ClientToServer,
        }
    }
    #[inline]
    pub fn index(self) -> usize {
        self as usize
    }
    /// The direction as the outputs name it.
    pub fn name(self) -> &'static str {
        match self {
            Direction::ClientToServer => "client_to_server",
            Direction::ServerToClient => "server_to_client",
        }
    }
}

/// Where a piece of evidence came from: the packet number (1-based, file order) and its time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketRef {
    pub number: u64,
    pub ts: crate::capture::Timestamp,
}

pub mod conn;
pub mod events;
pub mod flow;
pub mod reassembly;
pub mod seq;
