# shellcheck shell=bash
# Shared helpers for scripts/lab/run: namespaces, captures, servers, teardown.
# Sourced by run; expects LAB_DIR, WORK, CAP_DIR, PY to be set.

# ---------------------------------------------------------------- addresses
CLIENT_IP=203.0.113.5      # mta namespace (sending client)
FW_OUT_IP=203.0.113.1      # fw, facing the client  (interface f0: "outside")
FW_IN_IP=198.51.100.1      # fw, facing the server  (interface f1: "inside")
SERVER_IP=198.51.100.25    # esa namespace, primary receiving server
SERVER2_IP=198.51.100.26   # esa namespace, second address (failover target)
SERVER_PUBLIC_IP=203.0.113.25  # the server's outside address when the fw translates (DNAT to SERVER_IP)
NAT_PORTS=30000-30999      # the client's ports after the fw's port translation (SNAT to FW_IN_IP)
# sequence shifts of the NAT scenarios (client's space, server's space), as an ASA randomizes
SEQ_SHIFT_CLIENT=0x1a2b3c4d
SEQ_SHIFT_SERVER=0xe0f01234
SERVER_TARGET=$SERVER_IP   # where clients connect: SERVER_PUBLIC_IP under NAT
NAMESPACES=(mta fw esa)

log() { printf '[lab] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- packages
install_deps() {
	local need=()
	command -v tcpdump >/dev/null || need+=(tcpdump)
	command -v swaks >/dev/null || need+=(swaks libnet-ssleay-perl libio-socket-ssl-perl)
	command -v ip >/dev/null || need+=(iproute2)
	command -v iptables >/dev/null || need+=(iptables)
	command -v ethtool >/dev/null || need+=(ethtool)
	command -v openssl >/dev/null || need+=(openssl)
	command -v exim4 >/dev/null || need+=(exim4-daemon-light)
	command -v pgrep >/dev/null || need+=(procps)
	[ -x /usr/bin/python3 ] || need+=(python3)
	/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || need+=(python3-aiosmtpd)
	[ -e /usr/lib/x86_64-linux-gnu/libnetfilter_queue.so.1 ] ||
		ls /usr/lib/*/libnetfilter_queue.so.1 >/dev/null 2>&1 || need+=(libnetfilter-queue1)
	if [ ${#need[@]} -gt 0 ]; then
		log "installing: ${need[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
	fi
	# the Debian package may start a system-wide exim in the root namespace; it
	# is not used by the lab (each namespace runs its own daemon), leave it be.
}

# ---------------------------------------------------------------- processes
# Background processes started by the lab: "pid name" lines, killed at teardown.
track() { echo "$1 $2" >>"$WORK/pids"; }

stop_pid() { # stop_pid PID [SIGNAL]: signal one process we started and wait for it
	local pid=$1 sig=${2:-TERM} i
	kill -0 "$pid" 2>/dev/null || return 0
	kill -s "$sig" "$pid" 2>/dev/null || true
	for i in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -s KILL "$pid" 2>/dev/null || true
}

kill_tracked() {
	[ -f "$WORK/pids" ] || return 0
	local pid name
	while read -r pid name; do
		stop_pid "$pid" TERM
	done < <(tac "$WORK/pids")
	: >"$WORK/pids"
}

# ---------------------------------------------------------------- namespaces
ns_del_all() {
	local ns pid
	for ns in "${NAMESPACES[@]}"; do
		if ip netns list | grep -qw "^$ns"; then
			# processes left in a namespace from a crashed earlier run: end them one by one
			for pid in $(ip netns pids "$ns" 2>/dev/null); do stop_pid "$pid" KILL; done
			ip netns del "$ns" 2>/dev/null || true
		fi
		rm -rf "/etc/netns/$ns"
	done
}

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

no_offload() { # disable segmentation/checksum offloads so captures show wire-size, checksummed packets
	local ns=$1 dev=$2
	nsx "$ns" ethtool -K "$dev" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
}

# mta[m0] 203.0.113.5 ---- 203.0.113.1 [f0] fw [f1] 198.51.100.1 ---- 198.51.100.25/.26 [e0] esa
net_up() {
	SERVER_TARGET=$SERVER_IP
	ns_del_all
	local ns
	for ns in "${NAMESPACES[@]}"; do
		mkdir -p "/etc/netns/$ns"
		# name resolution inside the namespaces never leaves them
		printf 'nameserver 127.0.0.1\n' >"/etc/netns/$ns/resolv.conf"
		cat >"/etc/netns/$ns/hosts" <<-HOSTS
		127.0.0.1 localhost
		$CLIENT_IP mta.example.net
		$SERVER_IP esa.example.com esa1.example.com
		$SERVER2_IP esa2.example.com
		$FW_OUT_IP fw.example.net
		HOSTS
		ip netns add "$ns"
		nsx "$ns" ip link set lo up
		nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
		nsx "$ns" sysctl -qw net.ipv4.tcp_no_metrics_save=1
	done
	ip link add m0 netns mta type veth peer name f0 netns fw
	ip link add e0 netns esa type veth peer name f1 netns fw
	nsx mta ip addr add "$CLIENT_IP/24" dev m0
	nsx fw ip addr add "$FW_OUT_IP/24" dev f0
	nsx fw ip addr add "$FW_IN_IP/24" dev f1
	nsx esa ip addr add "$SERVER_IP/24" dev e0
	nsx esa ip addr add "$SERVER2_IP/24" dev e0
	for pair in mta:m0 fw:f0 fw:f1 esa:e0; do
		ns=${pair%%:*}; dev=${pair#*:}
		nsx "$ns" ip link set "$dev" mtu 1500 up
		no_offload "$ns" "$dev"
	done
	nsx mta ip route add default via "$FW_OUT_IP"
	nsx esa ip route add default via "$FW_IN_IP"
	nsx fw sysctl -qw net.ipv4.ip_forward=1
	# the fw namespace only routes between the two lab subnets: nothing else exists
	nsx fw iptables -P FORWARD ACCEPT
}

net_down() {
	kill_tracked
	ns_del_all
}

# ---------------------------------------------------------------- captures
# capture_start NAME [1|any]: tcpdump on f0 (outside) and, with 1, also on f1 (inside);
# with "any", one capture on all of fw's interfaces (every forwarded packet recorded twice,
# once on each side, as `tcpdump -i any` on a real router does)
CAP_NAME=
CAP_INSIDE=0
capture_start() {
	CAP_NAME=$1; CAP_INSIDE=${2:-0}
	local side dev out
	for side in outside inside; do
		[ "$side" = inside ] && [ "$CAP_INSIDE" != 1 ] && continue
		if [ "$side" = outside ]; then dev=f0; out="$WORK/$CAP_NAME.pcap"
		else dev=f1; out="$WORK/$CAP_NAME.inside.pcap"; fi
		[ "$CAP_INSIDE" = any ] && dev=any
		rm -f "$out" "$WORK/tcpdump-$side.err"
		# -s 1600: pinned snaplen, whole 1500-byte frames; filter "ip" keeps ARP out
		ip netns exec fw tcpdump -i "$dev" -U -s 1600 -nn -Z root -w "$out" ip 2>"$WORK/tcpdump-$side.err" &
		local pid=$!
		track "$pid" "tcpdump-$side"
		echo "$pid" >"$WORK/tcpdump-$side.pid"
		local i
		for i in $(seq 1 50); do
			grep -q "listening on" "$WORK/tcpdump-$side.err" 2>/dev/null && break
			sleep 0.1
		done
	done
	sleep 0.3
}

capture_stop() {
	sleep "${1:-1}"
	local side pid
	for side in outside inside; do
		[ -f "$WORK/tcpdump-$side.pid" ] || continue
		pid=$(cat "$WORK/tcpdump-$side.pid")
		stop_pid "$pid" INT
		rm -f "$WORK/tcpdump-$side.pid"
	done
	cp "$WORK/$CAP_NAME.pcap" "$CAP_DIR/$CAP_NAME.pcap"
	[ "$CAP_INSIDE" = 1 ] && cp "$WORK/$CAP_NAME.inside.pcap" "$CAP_DIR/$CAP_NAME.inside.pcap"
	# the receiving server's own log beside the capture (smtpdiag read --maillog)
	[ -s "$WORK/exim-esa/log/mainlog" ] && cp "$WORK/exim-esa/log/mainlog" "$CAP_DIR/$CAP_NAME.exim.log"
	[ -s "$WORK/postfix-esa/maillog" ] && cp "$WORK/postfix-esa/maillog" "$CAP_DIR/$CAP_NAME.postfix.log"
	log "$CAP_NAME: $(tcpdump -nn -r "$CAP_DIR/$CAP_NAME.pcap" 2>/dev/null | wc -l) packets outside"
}

# ---------------------------------------------------------------- TLS material
make_cert() {
	mkdir -p "$WORK/tls"
	[ -f "$WORK/tls/esa.crt" ] && return 0
	openssl req -x509 -newkey rsa:2048 -nodes -days 30 -sha256 \
		-subj "/CN=esa.example.com" -addext "subjectAltName=DNS:esa.example.com" \
		-keyout "$WORK/tls/esa.key" -out "$WORK/tls/esa.crt" 2>/dev/null
	chmod 0644 "$WORK/tls/esa.key" "$WORK/tls/esa.crt"   # lab-only throwaway key
	chmod 0755 "$WORK/tls"
}

# ---------------------------------------------------------------- servers
wait_listen() { # wait_listen NS IP PORT
	local i
	for i in $(seq 1 50); do
		nsx "$1" ss -Hltn "src $2:$3" 2>/dev/null | grep -q . && return 0
		sleep 0.1
	done
	die "nothing listening on $2:$3 in $1"
}

# exim_esa_start [KEY=VALUE ...]: receiving Exim in esa, configured from exim-esa.conf.in
exim_esa_start() {
	local dir="$WORK/exim-esa"
	rm -rf "$dir"; mkdir -p "$dir/spool" "$dir/log"
	chown -R Debian-exim:Debian-exim "$dir"
	local -A v=(
		[WORK]="$WORK" [BANNER]='$smtp_active_hostname ESMTP Exim $version_number $tod_full'
		[TLS_ADV]='' [CHUNKING_ADV]='' [RECV_TIMEOUT]=30s [CONNECT_RULE]='' [RCPT_RULE]='' [DATA_RULE]='' [HELO_RULE]=''
		[TLS_CIPHERS]='NORMAL' [INTERFACES]="$SERVER_IP"
	)
	local kv
	for kv in "$@"; do v[${kv%%=*}]=${kv#*=}; done
	local args=() k
	for k in "${!v[@]}"; do args+=("$k=${v[$k]}"); done
	"$PY" "$LAB_DIR/render-conf.py" "$LAB_DIR/exim-esa.conf.in" "$dir/exim.conf" "${args[@]}"
	grep -qxF "$dir/exim.conf" /etc/exim4/trusted_configs 2>/dev/null ||
		echo "$dir/exim.conf" >>/etc/exim4/trusted_configs
	ip netns exec esa exim4 -C "$dir/exim.conf" -bdf -oX 25 >"$dir/daemon.out" 2>&1 &
	track $! exim-esa
	local ip
	for ip in ${v[INTERFACES]//;/ }; do wait_listen esa "$ip" 25; done
}

# pyserver_start MODE [ARGS...]: scripts/lab/smtp-server.py in esa (odd server behaviours)
pyserver_start() {
	ip netns exec esa "$PY" "$LAB_DIR/smtp-server.py" --listen "$SERVER_IP" "$@" >"$WORK/pyserver.log" 2>&1 &
	track $! pyserver
	wait_listen esa "$SERVER_IP" 25
}

# fw_inspect_start: ESMTP inspection (NFQUEUE rewriter) on the fw FORWARD chain
fw_inspect_start() {
	rm -f "$WORK/inspect.ready"
	ip netns exec fw "$PY" "$LAB_DIR/esmtp-inspect.py" --queue 0 --ready "$WORK/inspect.ready" \
		>"$WORK/inspect.log" 2>&1 &
	track $! esmtp-inspect
	local i
	for i in $(seq 1 100); do [ -f "$WORK/inspect.ready" ] && break; sleep 0.1; done
	[ -f "$WORK/inspect.ready" ] || { cat "$WORK/inspect.log" >&2; die "esmtp-inspect did not start"; }
	nsx fw iptables -A FORWARD -p tcp --dport 25 -j NFQUEUE --queue-num 0
	nsx fw iptables -A FORWARD -p tcp --sport 25 -j NFQUEUE --queue-num 0
}

# fw_nat_start [--no-inspect]: the fw translates like an ASA with a static NAT for the server and
# PAT for the client: DNAT SERVER_PUBLIC_IP -> SERVER_IP, SNAT CLIENT_IP -> FW_IN_IP:NAT_PORTS, and
# (esmtp-inspect.py --seq-shift) both sequence spaces shifted by a constant; with --no-inspect it
# rewrites no byte. Clients then connect to SERVER_TARGET (= SERVER_PUBLIC_IP).
fw_nat_start() {
	local extra=()
	[ "${1:-}" = --no-inspect ] && extra+=(--no-inspect)
	SERVER_TARGET=$SERVER_PUBLIC_IP
	nsx fw ip addr add "$SERVER_PUBLIC_IP/32" dev f0   # answers ARP for the public address
	nsx fw sysctl -qw net.netfilter.nf_conntrack_tcp_be_liberal=1 2>/dev/null || true
	nsx fw iptables -t nat -A PREROUTING -i f0 -d "$SERVER_PUBLIC_IP" -p tcp --dport 25 -j DNAT --to-destination "$SERVER_IP"
	nsx fw iptables -t nat -A POSTROUTING -o f1 -s "$CLIENT_IP" -p tcp --dport 25 -j SNAT --to-source "$FW_IN_IP:$NAT_PORTS"
	rm -f "$WORK/inspect.ready"
	ip netns exec fw "$PY" "$LAB_DIR/esmtp-inspect.py" --queue 0 --ready "$WORK/inspect.ready" \
		--seq-shift "$SEQ_SHIFT_CLIENT,$SEQ_SHIFT_SERVER" "${extra[@]}" >"$WORK/inspect.log" 2>&1 &
	track $! esmtp-inspect
	local i
	for i in $(seq 1 100); do [ -f "$WORK/inspect.ready" ] && break; sleep 0.1; done
	[ -f "$WORK/inspect.ready" ] || { cat "$WORK/inspect.log" >&2; die "esmtp-inspect did not start"; }
	# client packets before conntrack (raw), server packets after it (FORWARD): see esmtp-inspect.py
	nsx fw iptables -t raw -A PREROUTING -i f0 -p tcp --dport 25 -j NFQUEUE --queue-num 0
	nsx fw iptables -A FORWARD -p tcp --sport 25 -j NFQUEUE --queue-num 0
}

# swaks from the mta namespace with the lab's fixed identities
swaks_c() {
	nsx mta swaks --server "$SERVER_TARGET" --port 25 --helo mta.example.net \
		--from sender@example.net --to rcpt@example.com \
		--header "Subject: smtpdiag lab $CAP_NAME" --timeout 7s "$@" \
		>"$WORK/$CAP_NAME.swaks.log" 2>&1 || log "swaks exited $? (expected for failure scenarios)"
}

# ---------------------------------------------------------------- Postfix (esa), beside Exim
# Debian's postfix conflicts with exim4 (both are the system's MTA), so the lab unpacks the
# package into $WORK instead of installing it, and runs its master in esa with a config of its
# own. Its log goes to maillog_file (postlogd): captures/NAME.postfix.log.
PF_ROOT=
postfix_unpack() {
	PF_ROOT="$WORK/postfix-pkg"
	[ -x "$PF_ROOT/usr/lib/postfix/sbin/master" ] && return 0
	local deps=(libsasl2-2 libicu72 libdb5.3 libnsl2 ssl-cert netbase cpio)
	local need=() p
	for p in "${deps[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
	if [ ${#need[@]} -gt 0 ]; then
		log "installing: ${need[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
	fi
	getent group postdrop >/dev/null || groupadd --system postdrop
	id postfix >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin postfix
	mkdir -p "$WORK/postfix-deb"
	chown _apt "$WORK/postfix-deb" 2>/dev/null || true  # apt-get download drops to _apt
	(cd "$WORK/postfix-deb" && apt-get download -q postfix >/dev/null)
	dpkg-deb -x "$WORK"/postfix-deb/postfix_*.deb "$PF_ROOT"
}

# postfix_esa_start [main.cf lines...]: receiving Postfix on SERVER_IP:25 in esa; accepts
# rcpt@example.com, rejects other local parts (550 5.1.1), discards what it accepts
postfix_esa_start() {
	postfix_unpack
	local dir="$WORK/postfix-esa" lib="$PF_ROOT/usr/lib/postfix"
	rm -rf "$dir"; mkdir -p "$dir/conf" "$dir/data"
	local q="$dir/spool" d
	for d in active bounce corrupt defer deferred flush hold incoming private saved trace pid; do
		mkdir -p "$q/$d"
	done
	mkdir -p "$q/public" "$q/maildrop"
	chown -R postfix:root "$q" "$dir/data"
	chown root:root "$q" "$q/pid"
	chgrp postdrop "$q/public" "$q/maildrop"; chmod 0710 "$q/public"; chmod 1730 "$q/maildrop"
	chmod 0700 "$q/private"
	touch "$dir/maillog"; chown postfix "$dir/maillog"
	cat >"$dir/conf/main.cf" <<-CF
	compatibility_level = 3.6
	config_directory = $dir/conf
	queue_directory = $q
	data_directory = $dir/data
	daemon_directory = $lib/sbin
	command_directory = $PF_ROOT/usr/sbin
	shlib_directory = $lib
	meta_directory = $dir/conf
	mail_owner = postfix
	setgid_group = postdrop
	import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C LD_LIBRARY_PATH=$lib
	maillog_file = $dir/maillog
	maillog_file_prefixes = $WORK
	myhostname = esa.example.com
	mydomain = example.com
	mydestination = example.com
	mynetworks = 127.0.0.0/8
	inet_interfaces = $SERVER_IP
	inet_protocols = ipv4
	smtpd_banner = \$myhostname ESMTP Postfix
	smtpd_client_port_logging = yes
	local_recipient_maps = inline:{ rcpt=ok }
	alias_maps =
	alias_database =
	local_transport = discard
	default_transport = error:the lab sends nothing out
	biff = no
	smtpd_tls_security_level = none
	CF
	local kv
	for kv in "$@"; do printf '%s\n' "$kv" >>"$dir/conf/main.cf"; done
	cat >"$dir/conf/master.cf" <<-CF
	smtp      inet  n       -       n       -       -       smtpd
	pickup    unix  n       -       n       60      1       pickup
	cleanup   unix  n       -       n       -       0       cleanup
	qmgr      unix  n       -       n       300     1       qmgr
	rewrite   unix  -       -       n       -       -       trivial-rewrite
	bounce    unix  -       -       n       -       0       bounce
	defer     unix  -       -       n       -       0       bounce
	trace     unix  -       -       n       -       0       bounce
	verify    unix  -       -       n       -       1       verify
	flush     unix  n       -       n       1000?   0       flush
	proxymap  unix  -       -       n       -       -       proxymap
	showq     unix  n       -       n       -       -       showq
	error     unix  -       -       n       -       -       error
	discard   unix  -       -       n       -       -       discard
	anvil     unix  -       -       n       -       1       anvil
	scache    unix  -       -       n       -       1       scache
	postlog   unix-dgram n  -       n       -       1       postlogd
	CF
	ip netns exec esa env LD_LIBRARY_PATH="$lib" MAIL_CONFIG="$dir/conf" \
		"$lib/sbin/master" -c "$dir/conf" -w >"$dir/master.out" 2>&1 ||
		{ cat "$dir/master.out" "$dir/maillog" >&2; die "postfix master did not start"; }
	local pid
	pid=$(head -1 "$q/pid/master.pid" 2>/dev/null | tr -d ' ')
	[ -n "$pid" ] && track "$pid" postfix-master
	wait_listen esa "$SERVER_IP" 25
}
