//! Folds what the TLS reader found into the connection's `TlsInfo` and the event list, with
//! the names admins know (RFC 8446 §6 alert descriptions, protocol versions).

use super::event::Event;
use super::record::{ClientHello, ServerHello, TlsAlert, TlsInfo};
use super::tls::{APPLICATION_DATA, Finding};
use crate::tcp::{Direction, PacketRef};

/// Alerts kept per session: a handshake fails with one or two; a stream of them is noise that
/// must not grow the record.
const MAX_ALERTS: usize = 16;

pub fn version_name(v: u16) -> String {
    match v {
        0x0300 => "SSL 3.0".into(),
        0x0301 => "TLS 1.0".into(),
        0x0302 => "TLS 1.1".into(),
        0x0303 => "TLS 1.2".into(),
        0x0304 => "TLS 1.3".into(),
        _ => format!("0x{v:04x}"),
    }
}

pub fn alert_name(d: u8) -> String {
    let name = match d {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => return format!("unknown({d})"),
    };
    name.into()
}

fn side(from: Direction) -> &'static str {
    match from {
        Direction::ClientToServer => "client",
        Direction::ServerToClient => "server",
    }
}

/// Folds a finding into the summary and describes it as an event. Only the first encrypted
/// record and the first non-TLS bytes of a direction become events: the rest is counted, so a
/// long session cannot crowd the event list.
pub fn apply(info: &mut TlsInfo, from: Direction, f: Finding, at: PacketRef) -> Option<Event> {
    let (record, detail, len) = match f {
        Finding::ClientHello { version, supported, sni } => client_hello(info, version, supported, sni, at),
        Finding::ServerHello { version } => {
            let hello = ServerHello { version: version_name(version), packet: at };
            info.server_hello.get_or_insert(hello);
            ("server_hello", version_name(version), 0)
        }
        Finding::OtherHandshake { len } => ("handshake", String::new(), len),
        Finding::Alert { level, description } => alert(info, from, level, description, at),
        Finding::ChangeCipherSpec => {
            info.change_cipher_spec = true;
            ("change_cipher_spec", String::new(), 1)
        }
        Finding::Encrypted { content_type, len } => encrypted(info, from, content_type, len)?,
        Finding::NotTls { len } => {
            info.non_tls_bytes += len as u64;
            if info.non_tls_bytes > len as u64 {
                return None;
            }
            ("not_tls", String::new(), len)
        }
    };
    Some(Event::Tls { from, record: record.into(), detail, len, packet: at })
}

type Described = (&'static str, String, usize);

fn client_hello(
    info: &mut TlsInfo,
    version: u16,
    supported: Vec<u16>,
    sni: Option<String>,
    at: PacketRef,
) -> Described {
    let detail = format!("{} sni={}", version_name(version), sni.as_deref().unwrap_or("-"));
    let supported_versions = supported.into_iter().map(version_name).collect();
    let hello = ClientHello { version: version_name(version), supported_versions, sni, packet: at };
    info.client_hello.get_or_insert(hello);
    ("client_hello", detail, 0)
}

fn alert(info: &mut TlsInfo, from: Direction, level: u8, description: u8, at: PacketRef) -> Described {
    let level = match level {
        1 => "warning".to_string(),
        2 => "fatal".to_string(),
        _ => format!("level({level})"),
    };
    let description = alert_name(description);
    let detail = format!("{level} {description}");
    if info.alerts.len() < MAX_ALERTS {
        info.alerts.push(TlsAlert { from: side(from).into(), level, description, packet: at });
    }
    ("alert", detail, 2)
}

fn encrypted(info: &mut TlsInfo, from: Direction, content_type: u8, len: usize) -> Option<Described> {
    info.encrypted = true;
    let (records, bytes) = match from {
        Direction::ClientToServer => (&mut info.client_encrypted_records, &mut info.client_app_data_bytes),
        Direction::ServerToClient => (&mut info.server_encrypted_records, &mut info.server_app_data_bytes),
    };
    *records += 1;
    if content_type == APPLICATION_DATA {
        *bytes += len as u64;
    }
    (*records == 1).then(|| ("encrypted", format!("content type {content_type}"), len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_names_and_counting() {
        let mut info = TlsInfo::default();
        let at = PacketRef { number: 7, ..Default::default() };
        let f = Finding::Alert { level: 2, description: 40 };
        assert!(apply(&mut info, Direction::ServerToClient, f, at).is_some());
        assert_eq!(info.alerts[0].description, "handshake_failure");
        for _ in 0..3 {
            apply(&mut info, Direction::ClientToServer, Finding::Encrypted { content_type: 23, len: 10 }, at);
        }
        assert_eq!((info.client_encrypted_records, info.client_app_data_bytes), (3, 30));
        assert_eq!(alert_name(255), "unknown(255)");
        assert_eq!(version_name(0x7f1c), "0x7f1c");
    }
}
