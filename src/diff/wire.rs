//! How the diff's JSON names the TCP stage's types (which carry no serde): directions and
//! roles by name, endpoints as `{ip, port}`, as in the session record.

use crate::tcp::Direction;
use crate::tcp::conn::{Endpoint, Role};
use serde::ser::{SerializeStruct, Serializer};

pub fn direction<S: Serializer>(d: &Direction, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(d.name())
}

pub fn role<S: Serializer>(r: &Role, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(r.name())
}

pub fn endpoint<S: Serializer>(e: &Endpoint, s: S) -> Result<S::Ok, S::Error> {
    let mut out = s.serialize_struct("Endpoint", 2)?;
    out.serialize_field("ip", &e.ip)?;
    out.serialize_field("port", &e.port)?;
    out.end()
}
