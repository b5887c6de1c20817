# shellcheck shell=bash
# Scenarios 32-49: how sessions end (issue 15). Sourced by run after scenarios.sh; the same
# conventions (one function per capture, run does net_up before and net_down after).

SCENARIOS+=(
	32-starttls-then-plaintext
	33-implicit-tls-answered-in-plaintext
	34-vrfy-550-then-quit
	35-client-stall-after-complete-greeting
	36-server-silent
	37-fw-reset-pipe-in-rcpt
	38-not-smtp-on-465
	39-callout-rset-quit
	40-not-mail-ports-ftp-and-scan
)

PEERS="$LAB_DIR/verdict-peers.py"

# peer_server PORT MODE [ARGS...]: verdict-peers.py as a server in esa on SERVER_IP:PORT
peer_server() {
	local port=$1; shift
	ip netns exec esa "$PY" "$PEERS" "$@" --listen "$SERVER_IP" --port "$port" >>"$WORK/peer-server.log" 2>&1 &
	track $! "peer-server-$port"
	wait_listen esa "$SERVER_IP" "$port"
}

# peer_client MODE [ARGS...]: verdict-peers.py as a client in mta
peer_client() {
	nsx mta "$PY" "$PEERS" "$@" --server "$SERVER_IP" >>"$WORK/$CAP_NAME.client.log" 2>&1 ||
		log "peer client exited $?"
}

# The view of a capture exported decrypted: STARTTLS answered 220, then plain SMTP both ways.
scenario_32_starttls_then_plaintext() {
	peer_server 25 smtp --starttls-plain
	capture_start "$CAP_NAME"
	peer_client starttls-plain
	capture_stop
}

# swaks expects TLS on connect (port 465); Exim there speaks plain SMTP and greets in clear.
scenario_33_implicit_tls_answered_in_plaintext() {
	exim_esa_start
	ip netns exec esa exim4 -C "$WORK/exim-esa/exim.conf" -bdf -oX 465 >"$WORK/exim-esa/daemon465.out" 2>&1 &
	track $! exim-esa-465
	wait_listen esa "$SERVER_IP" 465
	capture_start "$CAP_NAME"
	nsx mta swaks --server "$SERVER_IP" --port 465 --tlsc --helo mta.example.net \
		--from sender@example.net --to rcpt@example.com --timeout 5s \
		>"$WORK/$CAP_NAME.swaks.log" 2>&1 || log "swaks exited $? (expected)"
	capture_stop 2
}

scenario_34_vrfy_550_then_quit() {
	peer_server 25 smtp --vrfy 550
	capture_start "$CAP_NAME"
	peer_client vrfy
	capture_stop
}

# The inside view of 17 without the firewall: a complete 3-line banner, the client waits 7 s.
scenario_35_client_stall_after_complete_greeting() {
	exim_esa_start 'BANNER=$smtp_active_hostname ESMTP Exim $version_number\nAuthorized use only. All connections are logged.\nReport abuse to postmaster@example.com'
	capture_start "$CAP_NAME"
	peer_client stall-greeting --wait 7
	capture_stop
}

scenario_36_server_silent() {
	peer_server 25 silent
	capture_start "$CAP_NAME"
	swaks_c --timeout 7s
	capture_stop
}

scenario_37_fw_reset_pipe_in_rcpt() {
	exim_esa_start
	fw_inspect_start
	capture_start "$CAP_NAME" 1
	swaks_c --to 'rcpt|postmaster@example.com'
	capture_stop
}

scenario_38_not_smtp_on_465() {
	peer_server 465 binary-server
	capture_start "$CAP_NAME"
	peer_client binary --port 465
	capture_stop
}

scenario_39_callout_rset_quit() {
	exim_esa_start
	capture_start "$CAP_NAME"
	peer_client callout
	capture_stop
}

# Mail ports on the initiator's side only (FTP from port 2525, a probe from port 25 to 113),
# then one real delivery: the only mail session in the file.
scenario_40_not_mail_ports_ftp_and_scan() {
	peer_server 21 ftp-server
	exim_esa_start
	capture_start "$CAP_NAME"
	peer_client ftp --port 21 --sport 2525
	peer_client connect-from --port 113 --sport 25
	swaks_c
	capture_stop
}
