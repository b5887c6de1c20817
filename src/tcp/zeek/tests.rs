use super::state::rstos0_history;
use crate::decode::TcpFlags as Flag;
const FIN: u8 = Flag::FIN;
const SYN: u8 = Flag::SYN;
const RST: u8 = Flag::RST;
const PSH: u8 = Flag::PSH;
const ACK: u8 = Flag::ACK;
use super::*;

const O: bool = true; // sent by the first sender
const R: bool = false; // sent by the other side

/// Feeds (sender, flags, seq, ack, len) with a non-zero window and good checksums.
fn run(pkts: &[(bool, u8, u32, u32, u32)]) -> ZeekConn {
    let mut c = ZeekConn::new();
    for &(from, fl, seq, ack, len) in pkts {
        c.on_packet(from, fl, seq, ack, len, 1000, true);
    }
    c
}

fn handshake() -> Vec<(bool, u8, u32, u32, u32)> {
    vec![(O, SYN, 100, 0, 0), (R, SYN | ACK, 500, 101, 0), (O, ACK, 101, 501, 0)]
}

fn check(c: &ZeekConn, state: &str, history: &str) {
    assert_eq!((c.conn_state(), c.history().as_str()), (state, history));
}

#[test]
fn lone_syn_is_s0() {
    check(&run(&[(O, SYN, 1, 0, 0)]), "S0", "S");
}

#[test]
fn retransmitted_syn_same_seq_is_recorded_once() {
    check(&run(&[(O, SYN, 1, 0, 0), (O, SYN, 1, 0, 0)]), "S0", "S");
}

#[test]
fn syn_with_new_seq_restarts_numbering_so_one_s() {
    // init_endpoint re-bases a SYN_SENT endpoint on the new SYN, whose relative sequence
    // number is then 0 again, like the first one.
    check(&run(&[(O, SYN, 1, 0, 0), (O, SYN, 9000, 0, 0)]), "S0", "S");
}

#[test]
fn syn_after_close_with_other_seq_is_recorded_again() {
    let c = run(&[(O, SYN, 1, 0, 0), (O, FIN, 2, 0, 0), (O, SYN, 50, 0, 0)]);
    check(&c, "SH", "SFS");
}

#[test]
fn syn_synack_is_s1_only_after_ack() {
    let c = run(&handshake()[..2]);
    // Orig still SYN_SENT -> Established by the SYN-ACK; both established.
    check(&c, "S1", "Sh");
    check(&run(&handshake()), "S1", "ShA");
}

#[test]
fn syn_then_rst_is_rstos0() {
    check(&run(&[(O, SYN, 1, 0, 0), (O, RST, 2, 0, 0)]), "RSTOS0", "SR");
}

#[test]
fn syn_then_ack_then_rst_is_rstos0() {
    // The responder's bare ACK leaves it inactive (some stacks ack before SYN-ACK).
    let c = run(&[(O, SYN, 1, 0, 0), (R, ACK, 77, 2, 0), (O, RST, 2, 0, 0)]);
    check(&c, "RSTOS0", "SaR");
}

#[test]
fn syn_answered_by_rst_is_rej() {
    check(&run(&[(O, SYN, 1, 0, 0), (R, RST | ACK, 0, 2, 0)]), "REJ", "Sr");
}

#[test]
fn three_way_then_fin_fin_is_sf() {
    let mut p = handshake();
    p.extend([
        (O, PSH | ACK, 101, 501, 10),
        (R, ACK, 501, 111, 0),
        (O, FIN | ACK, 111, 501, 0),
        (R, FIN | ACK, 501, 112, 0),
        (O, ACK, 112, 502, 0),
    ]);
    check(&run(&p), "SF", "ShADaFf");
}

#[test]
fn orig_fin_only_is_s2() {
    let mut p = handshake();
    p.push((O, FIN | ACK, 101, 501, 0));
    check(&run(&p), "S2", "ShAF");
}

#[test]
fn resp_fin_only_is_s3() {
    let mut p = handshake();
    p.push((R, FIN | ACK, 501, 101, 0));
    check(&run(&p), "S3", "ShAf");
}

#[test]
fn established_then_orig_rst_is_rsto() {
    let mut p = handshake();
    p.push((O, RST | ACK, 101, 501, 0));
    check(&run(&p), "RSTO", "ShAR");
}

#[test]
fn established_then_resp_rst_is_rstr() {
    let mut p = handshake();
    p.push((R, RST, 501, 0, 0));
    check(&run(&p), "RSTR", "ShAr");
}

#[test]
fn synack_then_rst_without_syn_is_rstrh() {
    // The responder (roles known from its server port) sent a SYN-ACK, then reset; the
    // originator never showed up.
    let mut c = ZeekConn::with_ports(25, 40000);
    c.on_packet(O, SYN | ACK, 500, 101, 0, 1000, true);
    c.on_packet(O, RST, 501, 0, 0, 1000, true);
    check(&c, "RSTRH", "^hr");
}

#[test]
fn stealth_scan_synack_answered_by_rst_is_rej_without_flip() {
    // A SYN-ACK followed by a RST is what a stealth scan looks like: Zeek keeps the roles
    // (orig SYN_ACK_SENT, resp RESET), which conn_state() calls REJ.
    let c = run(&[(O, SYN | ACK, 500, 101, 0), (R, RST, 101, 0, 0)]);
    assert!(c.orig_is_first_sender());
    check(&c, "REJ", "Hr");
}

#[test]
fn orig_data_only_is_oth() {
    check(&run(&[(O, PSH | ACK, 1000, 7, 20)]), "OTH", "D");
}

#[test]
fn orig_fin_without_reply_is_sh() {
    check(&run(&[(O, SYN, 1, 0, 0), (O, FIN, 2, 0, 0)]), "SH", "SF");
}

#[test]
fn resp_fin_without_handshake_is_shr() {
    let mut c = ZeekConn::with_ports(25, 40000);
    c.on_packet(O, FIN | ACK, 10, 20, 0, 1000, true);
    check(&c, "SHR", "^f");
}

#[test]
fn lone_rst_is_oth() {
    check(&run(&[(O, RST, 1, 0, 0)]), "OTH", "R");
}

#[test]
fn synack_first_flips_with_caret() {
    let c = run(&[
        (O, SYN | ACK, 500, 101, 0),
        (R, ACK, 101, 501, 0),
        (O, PSH | ACK, 501, 101, 5),
        (R, FIN | ACK, 101, 506, 0),
        (O, FIN | ACK, 506, 102, 0),
    ]);
    assert!(!c.orig_is_first_sender());
    check(&c, "SF", "^hAdFf");
}

#[test]
fn one_sided_synack_ack_fin_is_caret_haf() {
    let c = run(&[(O, SYN | ACK, 500, 101, 0), (O, ACK, 501, 101, 0), (O, FIN | ACK, 501, 101, 0)]);
    assert_eq!(c.history(), "^haf");
    assert!(!c.orig_is_first_sender());
}

#[test]
fn synack_first_from_server_port_flips_at_once() {
    let mut c = ZeekConn::with_ports(80, 56730);
    c.on_packet(O, SYN | ACK, 500, 101, 0, 1000, true);
    assert!(!c.orig_is_first_sender());
    assert_eq!(c.history(), "^h");
}

#[test]
fn syn_from_server_port_is_not_flipped() {
    let mut c = ZeekConn::with_ports(25, 40000);
    c.on_packet(O, SYN, 1, 0, 0, 1000, true);
    assert!(c.orig_is_first_sender());
}

#[test]
fn retransmitted_data_is_t() {
    let mut p = handshake();
    p.extend([(O, ACK, 101, 501, 10), (O, ACK, 101, 501, 10)]);
    check(&run(&p), "S1", "ShADT");
}

#[test]
fn retransmission_letter_scales_by_ten() {
    let mut p = handshake();
    p.push((O, ACK, 101, 501, 10));
    p.extend(std::iter::repeat_n((O, ACK, 101, 501, 10), 100));
    check(&run(&p), "S1", "ShADTTT");
}

#[test]
fn data_letter_only_for_payload() {
    let mut p = handshake();
    p.extend([(O, ACK, 101, 501, 0), (R, ACK, 501, 101, 0)]);
    check(&run(&p), "S1", "ShAa");
}

#[test]
fn zero_window_is_w() {
    let mut c = run(&handshake());
    c.on_packet(R, ACK, 501, 101, 0, 0, true);
    check(&c, "S1", "ShAaw");
}

#[test]
fn zero_window_on_rst_is_not_w() {
    let mut c = run(&handshake());
    c.on_packet(R, RST, 501, 0, 0, 0, true);
    check(&c, "RSTR", "ShAr");
}

#[test]
fn zero_window_after_peer_fin_is_not_w() {
    let mut c = run(&handshake());
    c.on_packet(O, FIN | ACK, 101, 501, 0, 1000, true);
    c.on_packet(R, ACK, 501, 102, 0, 0, true);
    check(&c, "S2", "ShAFa");
}

#[test]
fn bad_checksum_is_c_and_ignored() {
    let mut c = ZeekConn::new();
    c.on_packet(O, SYN, 1, 0, 0, 1000, false);
    check(&c, "OTH", "C");
    c.on_packet(O, SYN, 1, 0, 0, 1000, true);
    check(&c, "S0", "CS");
}

#[test]
fn syn_fin_is_q_and_fin_rst_is_i() {
    check(&run(&[(O, SYN | FIN, 1, 0, 0)]), "SH", "Q");
    let mut p = handshake();
    p.push((O, FIN | RST, 101, 501, 0));
    check(&run(&p), "RSTO", "ShAI");
}

#[test]
fn content_gap_is_g_per_direction() {
    let mut c = run(&handshake());
    c.on_content_gap(false);
    c.on_content_gap(true);
    check(&c, "S1", "ShAgG");
}

#[test]
fn rst_after_fin_exchange_keeps_sf() {
    let mut p = handshake();
    p.extend([(O, FIN | ACK, 101, 501, 0), (R, FIN | ACK, 501, 102, 0), (O, RST, 102, 0, 0)]);
    check(&run(&p), "SF", "ShAFfR");
}

#[test]
fn fin_then_rst_from_same_side_then_peer_fin_is_sf() {
    let mut p = handshake();
    p.extend([(R, FIN | ACK, 501, 101, 0), (R, RST, 502, 0, 0), (O, FIN | ACK, 101, 502, 0)]);
    check(&run(&p), "SF", "ShAfrF");
}

#[test]
fn rstos0_pattern() {
    assert!(rstos0_history("SR"));
    assert!(rstos0_history("^SdR"));
    assert!(rstos0_history("SaR"));
    // Zeek's class [^HAFGIQ] is case-sensitive: responder letters do not stop the match
    // (conn_state() only asks when the responder is inactive anyway).
    assert!(rstos0_history("ShR"));
    assert!(!rstos0_history("R"));
    assert!(!rstos0_history("SAR"));
}
