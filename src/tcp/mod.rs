//! TCP stage: flow table keyed by the 4-tuple, per-direction reassembly, connection state.

pub mod zeek;

use serde::Serialize;

/// Which way a byte or packet travelled, once roles are known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    ClientToServer,
    ServerToClient,
}

impl Direction {
    pub fn reverse(self) -> Direction {
        match self {
            Direction::ClientToServer => Direction::ServerToClient,
            Direction::ServerToClient => Direction::ClientToServer,
        }
    }
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Where a piece of evidence came from: the packet number (1-based, file order) and its time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PacketRef {
    pub number: u64,
    #[serde(skip)]
    pub ts: crate::capture::Timestamp,
}

pub mod conn;
pub mod events;
pub mod flow;
pub mod reassembly;
pub mod seq;
