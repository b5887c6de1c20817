# shellcheck shell=bash
# One function per capture. Each runs in freshly built namespaces (run does
# net_up before and net_down after), starts what it needs, records, and stops.
# Function name = "scenario_" + capture name with '-' turned into '_'.

SCENARIOS=(
	01-delivered
	02-reject-554-greeting
	03-tcprefuse
	04-port-closed
	05-syn-dropped
	06-tempfail-421-greeting-failover
	07-tempfail-452-rcpt-failover
	08-aborted-by-sender-quit-after-rcpt
	09-receiving-aborted-fin-mid-data
	10-receiving-aborted-rst-mid-data
	11-idle-timeout-421
	12-rcpt-rejected-550
	13-data-rejected-554
	14-starttls-delivered
	15-tls-handshake-failure
	16-fw-masked-banner
	17-fw-masked-multiline-banner-timeout
	18-fw-starttls-stripped
	19-fw-starttls-command-masked
	20-fw-reset-long-command-line
	21-fw-reset-long-header-line
	22-large-message
	23-mtu-blackhole
	24-fw-reset-too-many-rcpts
	25-fw-reset-long-sender
	26-fw-reset-long-mime-filename
	27-ehlo-refused-helo-fallback
	28-zero-window-slow-reader
	29-slow-handshake-first-syn-lost
	30-fw-any-interface-starttls-stripped
	31-fw-ehlo-keywords-masked
	50-fw-nat-seqrand-masked-banner
	51-fw-nat-seqrand-starttls-stripped
	52-fw-nat-seqrand-reset-long-command-line
	53-nat-seqrand-clean-delivered
	54-fw-nat-syn-dropped
	55-fw-nat-first-syn-dropped
	60-exim-log-mixed-sessions
	61-exim-log-fw-reset-long-header-line
	62-exim-log-idle-timeout
	63-postfix-log-mixed-sessions
	64-postfix-log-fw-reset-long-command-line
)

# ---------------------------------------------------------------- plain sessions
scenario_01_delivered() {
	exim_esa_start
	capture_start "$CAP_NAME"
	swaks_c
	capture_stop
}

scenario_02_reject_554_greeting() {
	pyserver_start reject
	capture_start "$CAP_NAME"
	nsx mta "$PY" "$LAB_DIR/smtp-client.py" greeting-only --server "$SERVER_IP" \
		>"$WORK/$CAP_NAME.client.log" 2>&1
	capture_stop
}

scenario_03_tcprefuse() {
	pyserver_start tcprefuse
	capture_start "$CAP_NAME"
	swaks_c
	capture_stop
}

scenario_04_port_closed() {
	# nothing listens on 198.51.100.25:25: the esa kernel answers the SYN with RST/ACK
	capture_start "$CAP_NAME"
	swaks_c
	capture_stop
}

scenario_05_syn_dropped() {
	exim_esa_start
	nsx fw iptables -A FORWARD -p tcp --dport 25 --syn -j DROP
	capture_start "$CAP_NAME"
	swaks_c --timeout 7s
	capture_stop
}

# ---------------------------------------------------------------- failover (Exim client, two hosts)
exim_mta_send() {
	local dir="$WORK/exim-mta"
	rm -rf "$dir"; mkdir -p "$dir/spool" "$dir/log"
	chown -R Debian-exim:Debian-exim "$dir"
	"$PY" "$LAB_DIR/render-conf.py" "$LAB_DIR/exim-mta.conf.in" "$dir/exim.conf" "WORK=$WORK"
	grep -qxF "$dir/exim.conf" /etc/exim4/trusted_configs 2>/dev/null ||
		echo "$dir/exim.conf" >>/etc/exim4/trusted_configs
	printf 'From: sender@example.net\nTo: rcpt@example.com\nSubject: smtpdiag lab %s\n\nfailover test\n' \
		"$CAP_NAME" | nsx mta exim4 -C "$dir/exim.conf" -odf -f sender@example.net rcpt@example.com ||
		log "exim (mta) exited $?"
	cat "$dir/log/"* >"$WORK/$CAP_NAME.exim-mta.log" 2>/dev/null || true
}

scenario_06_tempfail_421_greeting_failover() {
	exim_esa_start "INTERFACES=$SERVER_IP ; $SERVER2_IP" \
		"CONNECT_RULE=defer condition = \${if eq{\$received_ip_address}{$SERVER_IP}}
          message = 421 4.3.2 esa.example.com Service not available, try again later"
	capture_start "$CAP_NAME"
	exim_mta_send
	capture_stop
}

scenario_07_tempfail_452_rcpt_failover() {
	exim_esa_start "INTERFACES=$SERVER_IP ; $SERVER2_IP" \
		"RCPT_RULE=defer condition = \${if eq{\$received_ip_address}{$SERVER_IP}}
          message = 452 4.3.1 Insufficient system resources"
	capture_start "$CAP_NAME"
	exim_mta_send
	capture_stop
}

# ---------------------------------------------------------------- aborted / timed out
scenario_08_aborted_by_sender_quit_after_rcpt() {
	exim_esa_start
	capture_start "$CAP_NAME"
	swaks_c --quit-after RCPT
	capture_stop
}

scenario_09_receiving_aborted_fin_mid_data() {
	exim_esa_start
	capture_start "$CAP_NAME"
	nsx mta "$PY" "$LAB_DIR/smtp-client.py" abort-data --how fin --server "$SERVER_IP" \
		>"$WORK/$CAP_NAME.client.log" 2>&1
	capture_stop 2
}

scenario_10_receiving_aborted_rst_mid_data() {
	exim_esa_start
	capture_start "$CAP_NAME"
	nsx mta "$PY" "$LAB_DIR/smtp-client.py" abort-data --how rst --server "$SERVER_IP" \
		>"$WORK/$CAP_NAME.client.log" 2>&1
	capture_stop 2
}

scenario_11_idle_timeout_421() {
	exim_esa_start RECV_TIMEOUT=5s
	capture_start "$CAP_NAME"
	nsx mta "$PY" "$LAB_DIR/smtp-client.py" idle --server "$SERVER_IP" \
		>"$WORK/$CAP_NAME.client.log" 2>&1
	capture_stop
}

# ---------------------------------------------------------------- transaction rejected
scenario_12_rcpt_rejected_550() {
	exim_esa_start
	capture_start "$CAP_NAME"
	swaks_c --to nobody@example.com
	capture_stop
}

scenario_13_data_rejected_554() {
	exim_esa_start "DATA_RULE=deny message = 554 5.7.1 Message content rejected"
	capture_start "$CAP_NAME"
	swaks_c
	capture_stop
}

# ---------------------------------------------------------------- TLS
scenario_14_starttls_delivered() {
	exim_esa_start 'TLS_ADV=*'
	capture_start "$CAP_NAME"
	swaks_c --tls
	capture_stop
}

scenario_15_tls_handshake_failure() {
	# server: TLS 1.2 with AES-256-GCM only; client: TLS 1.2 offering only AES128-SHA
	exim_esa_start 'TLS_ADV=*' 'TLS_CIPHERS=NONE:+VERS-TLS1.2:+ECDHE-RSA:+AES-256-GCM:+AEAD:+SIGN-ALL:+COMP-NULL:+CURVE-ALL:+CTYPE-X509'
	capture_start "$CAP_NAME"
	swaks_c --tls --tls-protocol tlsv1_2 --tls-cipher AES128-SHA
	capture_stop
}

# ---------------------------------------------------------------- ASA ESMTP inspection (fw)
scenario_16_fw_masked_banner() {
	exim_esa_start
	fw_inspect_start
	capture_start "$CAP_NAME" 1
	swaks_c
	capture_stop
}

scenario_17_fw_masked_multiline_banner_timeout() {
	exim_esa_start 'BANNER=$smtp_active_hostname ESMTP Exim $version_number\nAuthorized use only. All connections are logged.\nReport abuse to postmaster@example.com'
	fw_inspect_start
	capture_start "$CAP_NAME" 1
	swaks_c --timeout 7s
	capture_stop 2
}

scenario_18_fw_starttls_stripped() {
	exim_esa_start 'TLS_ADV=*'
	fw_inspect_start
	capture_start "$CAP_NAME" 1
	swaks_c --tls-optional
	capture_stop
}

# The same session as 18, recorded with `tcpdump -i any` on the firewall: each packet appears
# twice, before and after the rewrite, so one file shows what was changed.
scenario_30_fw_any_interface_starttls_stripped() {
	exim_esa_start 'TLS_ADV=*'
	fw_inspect_start
	capture_start "$CAP_NAME" any
	swaks_c --tls-optional
	capture_stop
}

# Exim offers CHUNKING as well as STARTTLS: the fw masks both (marker letters A and B).
scenario_31_fw_ehlo_keywords_masked() {
	exim_esa_start 'TLS_ADV=*' 'CHUNKING_ADV=*'
	fw_inspect_start
	capture_start "$CAP_NAME"
	swaks_c --tls-optional
	capture_stop
}

scenario_19_fw_starttls_command_masked() {
	exim_esa_start 'TLS_ADV=*'
	fw_inspect_start
	capture_start "$CAP_NAME" 1
	nsx mta "$PY" "$LAB_DIR/smtp-client.py" starttls-anyway --server "$SERVER_IP" \
		>"$WORK/$CAP_NAME.client.log" 2>&1
	capture_stop
}

scenario_20_fw_reset_long_command_line() {
	exim_esa_start
	fw_inspect_start
	capture_start "$CAP_NAME" 1
	local lp; lp=$(printf 'x%.0s' $(seq 1 560))
	swaks_c --to "$lp@example.com"
	capture_stop
}

scenario_21_fw_reset_long_header_line() {
	exim_esa_start
	fw_inspect_start
	capture_start "$CAP_NAME" 1
	local v; v=$(printf 'y%.0s' $(seq 1 1100))
	swaks_c --header "X-Long-Header: $v"
	capture_stop
}

# ---------------------------------------------------------------- size / path MTU
make_body() { # 60 KB of text lines
	local f="$WORK/body-60k.txt" i
	: >"$f"
	for i in $(seq 1 1000); do
		printf 'line %04d: the quick brown fox jumps over the lazy dog 0123456789\n' "$i" >>"$f"
	done
	echo "$f"
}

scenario_22_large_message() {
	exim_esa_start
	local body; body=$(make_body)
	capture_start "$CAP_NAME"
	swaks_c --body "@$body"
	capture_stop
}

scenario_23_mtu_blackhole() {
	exim_esa_start
	# path-MTU black hole: full-size packets towards the server vanish, no ICMP comes back
	nsx fw iptables -A FORWARD -i f0 -o f1 -m length --length 1001:65535 -j DROP
	local body; body=$(make_body)
	capture_start "$CAP_NAME" 1
	swaks_c --body "@$body" --timeout 7s
	capture_stop 2
}

# ---------------------------------------------------------------- more ASA inspection limits
scenario_24_fw_reset_too_many_rcpts() {
	exim_esa_start
	fw_inspect_start
	capture_start "$CAP_NAME" 1
	local to i
	to=rcpt@example.com
	for i in $(seq 2 101); do to+=",rcpt+$i@example.com"; done
	swaks_c --to "$to"
	capture_stop
}

scenario_25_fw_reset_long_sender() {
	exim_esa_start
	fw_inspect_start
	capture_start "$CAP_NAME" 1
	local lp; lp=$(printf 's%.0s' $(seq 1 330))
	swaks_c --from "$lp@example.net"
	capture_stop
}

scenario_26_fw_reset_long_mime_filename() {
	exim_esa_start
	fw_inspect_start
	local att="$WORK/attachment.txt" name
	printf 'attachment body\n' >"$att"
	name="$(printf 'f%.0s' $(seq 1 270)).txt"
	capture_start "$CAP_NAME" 1
	swaks_c --attach-type text/plain --attach-name "$name" --attach "@$att"
	capture_stop
}

# ---------------------------------------------------------------- more TCP / SMTP oddities
scenario_27_ehlo_refused_helo_fallback() {
	# the server refuses EHLO with a 5xx; Exim (client) falls back to HELO and delivers
	exim_esa_start "CONNECT_RULE=" 'HELO_RULE=deny condition = ${if match{$smtp_command}{\N^(?i)ehlo\N}}
          message = 502 5.5.1 EHLO not supported'
	capture_start "$CAP_NAME"
	exim_mta_send
	capture_stop
}

scenario_28_zero_window_slow_reader() {
	pyserver_start slowreader --rcvbuf 4096 --stall 4
	local body; body=$(make_body)
	capture_start "$CAP_NAME"
	swaks_c --body "@$body" --timeout 20s
	capture_stop
}

scenario_29_slow_handshake_first_syn_lost() {
	exim_esa_start
	# the fw loses the first SYN of the connection; the retransmitted SYN gets through 1 s later
	nsx fw iptables -A FORWARD -p tcp --dport 25 --syn -m statistic --mode nth --every 2 --packet 0 -j DROP
	capture_start "$CAP_NAME"
	swaks_c
	capture_stop
}

# ---------------------------------------------------------------- NAT and sequence randomization (fw)
# Recorded on both sides like 16-26, with the fw also translating as an ASA does: the client
# reaches the server at SERVER_PUBLIC_IP (DNAT), leaves the fw as FW_IN_IP with another port
# (PAT), and both sequence spaces are shifted by a constant (SEQ_SHIFT_CLIENT, SEQ_SHIFT_SERVER).
scenario_50_fw_nat_seqrand_masked_banner() {
	exim_esa_start
	fw_nat_start
	capture_start "$CAP_NAME" 1
	swaks_c
	capture_stop
}

scenario_51_fw_nat_seqrand_starttls_stripped() {
	exim_esa_start 'TLS_ADV=*'
	fw_nat_start
	capture_start "$CAP_NAME" 1
	swaks_c --tls-optional
	capture_stop
}

scenario_52_fw_nat_seqrand_reset_long_command_line() {
	exim_esa_start
	fw_nat_start
	capture_start "$CAP_NAME" 1
	local lp; lp=$(printf 'x%.0s' $(seq 1 560))
	swaks_c --to "$lp@example.com"
	capture_stop
}

# Translation and shift only: nothing rewritten, nothing injected, nothing lost.
scenario_53_nat_seqrand_clean_delivered() {
	exim_esa_start
	fw_nat_start --no-inspect
	capture_start "$CAP_NAME" 1
	swaks_c
	capture_stop
}

# Scenario 29 through the translating fw: the first SYN is dropped after the translation, the
# retransmitted one crosses; diff shows which SYN was lost.
scenario_55_fw_nat_first_syn_dropped() {
	exim_esa_start
	fw_nat_start --no-inspect
	nsx fw iptables -A FORWARD -p tcp --dport 25 --syn -m statistic --mode nth --every 2 --packet 0 -j DROP
	capture_start "$CAP_NAME" 1
	swaks_c
	capture_stop
}

# The fw translates but drops every SYN to port 25 after the translation: the client's SYNs
# (outside) never show up inside; the inside capture stays empty.
scenario_54_fw_nat_syn_dropped() {
	exim_esa_start
	fw_nat_start --no-inspect
	nsx fw iptables -I FORWARD -p tcp --dport 25 --syn -j DROP
	capture_start "$CAP_NAME" 1
	swaks_c --timeout 5s
	capture_stop
}

# ---------------------------------------------------------------- the server's log beside the capture (--maillog)
# Exim writes its mainlog (captures/NAME.exim.log) for every scenario it serves; these record
# several sessions whose log lines tell different stories.

# Four sessions from the client (two of them at once), plus one from the firewall's inside
# address that only the inside capture sees: beside the outside capture, the log knows a
# connection with no session.
scenario_60_exim_log_mixed_sessions() {
	exim_esa_start
	capture_start "$CAP_NAME" 1
	swaks_c
	swaks_c --quit-after RCPT &
	local first=$!
	CAP_NAME=$CAP_NAME.2 swaks_c --to nobody@example.com
	wait "$first" || true
	nsx mta "$PY" "$LAB_DIR/smtp-client.py" abort-data --how rst --server "$SERVER_IP" \
		>"$WORK/$CAP_NAME.client.log" 2>&1
	nsx fw swaks --server "$SERVER_IP" --port 25 --helo fw.example.net --from admin@example.net \
		--to rcpt@example.com --timeout 7s >"$WORK/$CAP_NAME.fw-swaks.log" 2>&1 || true
	capture_stop 2
}

scenario_61_exim_log_fw_reset_long_header_line() {
	exim_esa_start
	fw_inspect_start
	capture_start "$CAP_NAME" 1
	local v; v=$(printf 'y%.0s' $(seq 1 1100))
	swaks_c --header "X-Long-Header: $v"
	capture_stop 2
}

scenario_62_exim_log_idle_timeout() {
	exim_esa_start RECV_TIMEOUT=5s
	capture_start "$CAP_NAME"
	nsx mta "$PY" "$LAB_DIR/smtp-client.py" idle --server "$SERVER_IP" \
		>"$WORK/$CAP_NAME.client.log" 2>&1
	capture_stop
}

# The same kinds of session against Postfix (smtpd_client_port_logging = yes), its maillog_file
# beside the capture (captures/NAME.postfix.log); the client goes silent in the last one and
# Postfix times it out (smtpd_timeout 5 s).
scenario_63_postfix_log_mixed_sessions() {
	postfix_esa_start "smtpd_timeout = 5s"
	capture_start "$CAP_NAME"
	swaks_c
	swaks_c --quit-after RCPT &
	local first=$!
	CAP_NAME=$CAP_NAME.2 swaks_c --to nobody@example.com
	wait "$first" || true
	nsx mta "$PY" "$LAB_DIR/smtp-client.py" abort-data --how rst --server "$SERVER_IP" \
		>"$WORK/$CAP_NAME.client.log" 2>&1
	nsx mta "$PY" "$LAB_DIR/smtp-client.py" idle --server "$SERVER_IP" \
		>"$WORK/$CAP_NAME.idle.log" 2>&1
	capture_stop 2
}

# As 20 (a RCPT line too long for the firewall's ESMTP inspection), Postfix behind the firewall.
scenario_64_postfix_log_fw_reset_long_command_line() {
	postfix_esa_start
	fw_inspect_start
	capture_start "$CAP_NAME" 1
	local lp; lp=$(printf 'x%.0s' $(seq 1 560))
	swaks_c --to "$lp@example.com"
	capture_stop 2
}
