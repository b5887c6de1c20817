#!/usr/bin/python3
"""esmtp-inspect.py: a Cisco ASA/PIX "inspect esmtp" imitation for the smtpdiag lab.

Runs in the fw namespace and receives every forwarded TCP/25 packet through
NFQUEUE (iptables -A FORWARD -p tcp --dport 25 -j NFQUEUE, and --sport 25).
libnetfilter_queue is driven through ctypes (Debian ships no Python binding).

Every rewrite is done IN PLACE: the payload keeps its length, so TCP sequence
and acknowledgement numbers never change; only the TCP checksum is recomputed.
This is what the ASA does and what smtpdiag must recognise by comparing the
outside view (fw facing the client) with the inside view (fw facing the server).

Rules, and the ASA default behaviour each one imitates
-------------------------------------------------------
1. Banner masking (ASA: "the SMTP banner is masked with asterisks so the
   server's software and version are hidden", default `mask-banner`).
   In the server's first reply every character after the 4-character
   "220 " / "220-" prefix becomes '*', except the characters '2' and '0';
   CR LF are kept. For a multi-line banner the continuation lines are masked
   completely (their "220 " prefix too: "220 " turns into "220*"), so the
   client never sees a final "220 " line and waits until it times out; this
   is the well-known "multi-line banner + ESMTP inspection" hang.
2. EHLO reply filtering (ASA: extensions the inspection engine does not
   support are masked, e.g. "250-XXXXXXXA" for STARTTLS). In the reply to
   EHLO, each keyword line (after the first line) whose keyword is not in
   EHLO_ALLOWED is replaced by 'X's of the same length, the last character
   replaced by a marker letter: A for the first masked keyword of the reply,
   B for the second, and so on ("250-STARTTLS" -> "250-XXXXXXXA").
3. Command filtering (ASA: commands outside the supported set are replaced
   by X's, "XXXXXXXX" for STARTTLS, and the server answers 500). A client
   command line whose verb is not in COMMANDS_ALLOWED has its whole text
   (CR LF kept) replaced by 'X's.
4. Protocol limits (ASA ESMTP inspection drops the connection and resets
   both sides): command line longer than 512 bytes (CR LF included), more
   than 100 RCPTs in one transaction, MAIL FROM address longer than 320
   bytes, message header line longer than 998 bytes, MIME filename longer
   than 255 bytes, a MAIL FROM or RCPT TO line holding a pipe character '|'.
   The offending segment is dropped, and the fw sends a
   RST/ACK to each side, spoofing the other end's address but with its own
   IP TTL (255) and IP-ID (a private counter), which is how a middlebox
   reset can be told from a real one. All later packets of the connection
   are dropped (the ASA has forgotten it).

Address translation and sequence randomization (scenarios 50-59)
---------------------------------------------------------------
5. With --seq-shift C,S the fw shifts each side's sequence space by a constant,
   as the ASA's TCP sequence number randomization does (a constant offset per
   direction and connection): the client's sequence numbers grow by C on the way
   in (and the server's acknowledgements of them shrink by C on the way out),
   the server's grow by S on the way out (and the client's acknowledgements
   shrink by S on the way in); SACK blocks are fixed up the same way. Addresses
   and ports are translated by iptables (DNAT of a public server address, SNAT
   with port translation of the client, set up by lib.sh). For the shift to stay
   invisible to the fw's own connection tracking, client packets are queued in
   raw PREROUTING (before conntrack: it sees them already shifted) and server
   packets in FORWARD (after conntrack: it sees them not yet shifted), so
   conntrack only ever sees the inside sequence space. Flows are keyed by the
   client's outside address and port, the one thing both hooks agree on.
   --no-inspect keeps the translation and the shift but rewrites no byte.

Simplifications (documented, fine for the lab's sessions): a decision about
a line is taken with the bytes seen so far, so a verb split across two
segments is judged from its first part; out-of-order segments are passed
unchanged; a retransmitted segment gets the same rewrite as its first copy.
"""
import argparse
import ctypes
import ctypes.util
import os
import re
import socket
import struct
import sys

EHLO_ALLOWED = {
    "8BITMIME", "AUTH", "DELIVERBY", "DSN", "ENHANCEDSTATUSCODES", "ETRN",
    "HELP", "PIPELINING", "SIZE", "VERB", "XUSR", "X-LINK2STATE", "XEXCH50",
}
COMMANDS_ALLOWED = {
    "HELO", "EHLO", "MAIL", "RCPT", "DATA", "RSET", "NOOP", "QUIT", "AUTH",
    "ETRN", "HELP", "SAML", "SEND", "SOML", "VRFY",
}
MAX_CMD_LINE = 512        # bytes, CR LF included
MAX_RCPTS = 100
MAX_SENDER = 320
MAX_HEADER_LINE = 998     # bytes, CR LF excluded
MAX_MIME_FILENAME = 255

NF_DROP, NF_ACCEPT = 0, 1
NFQNL_COPY_PACKET = 2


def log(msg):
    print(msg, flush=True)


# ------------------------------------------------------------------ checksums
def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def tcp_checksum(src, dst, seg):
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(seg))
    return csum(pseudo + seg)


# ------------------------------------------------------------------ injected resets
class Injector:
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        self.ip_id = 0x5A00   # the fw's own IP-ID counter, unrelated to the hosts'

    def rst(self, src, sport, dst, dport, seq, ack):
        tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, 0x14, 0, 0, 0)
        tcp = tcp[:16] + struct.pack("!H", tcp_checksum(src, dst, tcp)) + tcp[18:]
        self.ip_id = (self.ip_id + 1) & 0xFFFF
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), self.ip_id, 0,
                         255, 6, 0, src, dst)
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        self.sock.sendto(ip + tcp, (socket.inet_ntoa(dst), 0))


def fix_sack(seg, thl, peer_shift):
    """SACK blocks (option 5) name the peer's sequence numbers: shift them like the ack."""
    if not peer_shift:
        return
    i = 20
    while i < thl:
        kind = seg[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= thl or seg[i + 1] < 2:
            break
        length = seg[i + 1]
        if kind == 5:
            for j in range(i + 2, min(i + length, thl) - 3, 4):
                v = struct.unpack("!I", seg[j:j + 4])[0]
                seg[j:j + 4] = struct.pack("!I", (v - peer_shift) & 0xFFFFFFFF)
        i += length


class Reset(Exception):
    def __init__(self, why):
        super().__init__(why)
        self.why = why


# ------------------------------------------------------------------ per-connection state
class Flow:
    def __init__(self, key):
        self.key = key
        self.dead = False
        # per direction: next expected seq and rewrites done, for retransmissions
        self.next_seq = {"c2s": None, "s2c": None}
        self.done = {"c2s": {}, "s2c": {}}
        # server -> client
        self.s_line = bytearray()     # original bytes of the current server line
        self.banner = True            # still in the greeting
        self.banner_lines = 0
        self.ehlo_pending = False     # client sent EHLO, reply not finished
        self.ehlo_line = 0
        self.ehlo_marker = 0
        self.data_pending = False     # client sent DATA, waiting for 354
        # client -> server
        self.c_line = bytearray()     # original bytes of the current client line
        self.c_masking = False        # current client line is being X'ed
        self.c_verb_done = False
        self.in_data = False
        self.in_headers = False
        self.rcpts = 0

    # ---- server -> client
    def server_bytes(self, data):
        out = bytearray(data)
        here = []   # offsets in this segment holding the current line's bytes
        for i, b in enumerate(data):
            pos = len(self.s_line)
            self.s_line.append(b)
            here.append((i, pos))
            if self.banner and b not in (0x0D, 0x0A, ord("2"), ord("0")):
                # first line keeps its "220 "/"220-" prefix; continuation lines do not
                if self.banner_lines > 0 or pos >= 4:
                    out[i] = ord("*")
            if b == 0x0A:
                line = bytes(self.s_line)
                if not self.banner and self.ehlo_pending and self.ehlo_line >= 1:
                    masked = self._mask_ehlo_line(line)
                    for j, p in here:
                        out[j] = masked[p]
                self._server_line_done(line)
                self.s_line.clear()
                here = []
        return out

    def _mask_ehlo_line(self, line):
        m = re.match(rb"(\d{3}[- ])([\x21-\x7e]+)", line)
        if not m or m.group(2).upper().decode("latin-1") in EHLO_ALLOWED:
            return line
        kw = m.group(2)
        marker = bytes([ord("A") + self.ehlo_marker % 26])
        self.ehlo_marker += 1
        log(f"{self.key}: EHLO keyword {kw.decode('latin-1')!r} masked")
        return m.group(1) + b"X" * (len(kw) - 1) + marker + line[m.end(2):]

    def _server_line_done(self, line):
        code, sep = line[:3], line[3:4]
        final = sep != b"-"
        if self.banner:
            self.banner_lines += 1
            if final:
                self.banner = False
                log(f"{self.key}: banner masked ({self.banner_lines} line(s))")
            return
        if self.ehlo_pending:
            self.ehlo_line += 1
            if final:
                self.ehlo_pending = False
            return
        if self.data_pending and final:
            self.data_pending = False
            if code == b"354":
                self.in_data = True
                self.in_headers = True
                self.c_line.clear()

    # ---- client -> server
    def client_bytes(self, data):
        out = bytearray(data)
        verb_pos = []   # offsets in this segment holding the current verb's bytes
        for i, b in enumerate(data):
            self.c_line.append(b)
            n = len(self.c_line)
            if self.in_data:
                if b == 0x0A:
                    self._data_line_done(bytes(self.c_line))
                    self.c_line.clear()
                elif self.in_headers and n > MAX_HEADER_LINE:
                    raise Reset(f"header line longer than {MAX_HEADER_LINE} bytes")
                continue
            if n > MAX_CMD_LINE:
                raise Reset(f"command line longer than {MAX_CMD_LINE} bytes")
            if not self.c_verb_done:
                if b in (0x20, 0x0D, 0x0A):
                    self.c_verb_done = True
                    verb = bytes(self.c_line[:-1]).upper().decode("latin-1")
                    if verb not in COMMANDS_ALLOWED:
                        self.c_masking = True
                        for j in verb_pos:
                            out[j] = ord("X")
                        log(f"{self.key}: command {verb!r} masked")
                else:
                    verb_pos.append(i)
            if self.c_masking and b not in (0x0D, 0x0A) and self.c_verb_done:
                out[i] = ord("X")
            if b == 0x0A:
                self._command_done(bytes(self.c_line))
                self.c_line.clear()
                self.c_masking = False
                self.c_verb_done = False
        return out

    def _command_done(self, line):
        text = line.rstrip(b"\r\n").decode("latin-1")
        verb = text.split(" ", 1)[0].upper()
        if self.c_masking:
            return
        if verb in ("EHLO", "HELO"):
            self.ehlo_pending = verb == "EHLO"
            self.ehlo_line = 0
            self.ehlo_marker = 0
        if verb in ("MAIL", "RCPT") and "|" in text:
            raise Reset(f"pipe character in a {verb} parameter")
        if verb == "MAIL":
            self.rcpts = 0
            m = re.match(r"(?i)MAIL FROM:\s*<([^>]*)>", text)
            if m and len(m.group(1)) > MAX_SENDER:
                raise Reset(f"sender address longer than {MAX_SENDER} bytes")
        elif verb == "RCPT":
            self.rcpts += 1
            if self.rcpts > MAX_RCPTS:
                raise Reset(f"more than {MAX_RCPTS} RCPT commands")
        elif verb == "DATA":
            self.data_pending = True

    def _data_line_done(self, line):
        if line in (b".\r\n", b".\n"):
            self.in_data = False
            self.in_headers = False
            return
        if self.in_headers and line in (b"\r\n", b"\n"):
            self.in_headers = False
        m = re.search(rb'(?i)filename\*?=\s*"?([^";\r\n]*)', line)
        if m and len(m.group(1)) > MAX_MIME_FILENAME:
            raise Reset(f"MIME filename longer than {MAX_MIME_FILENAME} bytes")


# ------------------------------------------------------------------ packet handling
class Inspector:
    def __init__(self, seq_shift=(0, 0), inspect=True):
        self.flows = {}
        self.inj = Injector()
        self.shift_c, self.shift_s = seq_shift
        self.inspect = inspect

    def handle(self, pkt):
        """Returns (verdict, new_packet_or_None)."""
        ihl = (pkt[0] & 0x0F) * 4
        if pkt[9] != 6:
            return NF_ACCEPT, None
        src, dst = pkt[12:16], pkt[16:20]
        tcp = pkt[ihl:]
        sport, dport, seq, ack, off = struct.unpack("!HHIIB", tcp[:13])
        flags = tcp[13]
        thl = (off >> 4) * 4
        payload = tcp[thl:]
        c2s = dport == 25
        # the client's (outside) endpoint: the server's address differs between the hooks under DNAT
        ckey = (src, sport) if c2s else (dst, dport)
        if flags & 0x02 and not flags & 0x10 and c2s:   # new SYN: new connection
            name = "%s:%d>%s:%d" % (socket.inet_ntoa(src), sport, socket.inet_ntoa(dst), dport)
            self.flows[ckey] = Flow(name)
            log(f"{name}: new connection")
        flow = self.flows.get(ckey)
        if flow is None:
            return NF_ACCEPT, None
        if flow.dead:
            return NF_DROP, None
        name = flow.key
        d = "c2s" if c2s else "s2c"
        if flags & 0x02:
            flow.next_seq[d] = (seq + 1) & 0xFFFFFFFF
            return self._out(pkt, ihl, thl, tcp, tcp[thl:], c2s)
        if not payload or not self.inspect:
            return self._out(pkt, ihl, thl, tcp, payload, c2s)
        exp = flow.next_seq[d]
        if exp is not None and seq != exp:
            prev = flow.done[d].get(seq)
            if prev is not None and len(prev) == len(payload):
                new = prev                          # retransmission: same rewrite
            else:
                return self._out(pkt, ihl, thl, tcp, payload, c2s)   # out of order / partial: pass
        else:
            try:
                new = bytes(flow.client_bytes(payload) if c2s else self._server(flow, payload))
            except Reset as r:
                log(f"{name}: RESET ({r.why}); dropping segment seq={seq}, resetting both sides")
                flow.dead = True
                # to the server, as if from the client: seq where the dropped segment started
                # (in the inside sequence space; under NAT, conntrack translates the addresses)
                self.inj.rst(src, sport, dst, dport, (seq + self.shift_c) & 0xFFFFFFFF,
                             (ack - self.shift_s) & 0xFFFFFFFF)
                # to the client, as if from the server: the client's ack is the server's next seq
                self.inj.rst(dst, dport, src, sport, ack, (seq) & 0xFFFFFFFF)
                return NF_DROP, None
            flow.done[d][seq] = new
            flow.next_seq[d] = (seq + len(payload)) & 0xFFFFFFFF
        return self._out(pkt, ihl, thl, tcp, new, c2s, changed=new != payload)

    def _out(self, pkt, ihl, thl, tcp, payload, c2s, changed=False):
        """The packet as it leaves: new payload, sequence spaces shifted, TCP checksum redone."""
        if not changed and not (self.shift_c or self.shift_s):
            return NF_ACCEPT, None
        seg = bytearray(tcp[:thl] + payload)
        seq, ack = struct.unpack("!II", seg[4:12])
        # own sequence numbers grow by the sender's shift; acks of the peer's shrink by the peer's
        own, peer = (self.shift_c, self.shift_s) if c2s else (self.shift_s, self.shift_c)
        seg[4:8] = struct.pack("!I", (seq + own) & 0xFFFFFFFF)
        if seg[13] & 0x10:
            seg[8:12] = struct.pack("!I", (ack - peer) & 0xFFFFFFFF)
        fix_sack(seg, thl, peer)
        src, dst = pkt[12:16], pkt[16:20]
        seg[16:18] = b"\0\0"
        seg[16:18] = struct.pack("!H", tcp_checksum(src, dst, bytes(seg)))
        return NF_ACCEPT, bytes(pkt[:ihl]) + bytes(seg)

    def _server(self, flow, payload):
        return flow.server_bytes(payload)


# ------------------------------------------------------------------ libnetfilter_queue via ctypes
def run(queue_num, ready, insp):
    lib = ctypes.CDLL(ctypes.util.find_library("netfilter_queue") or "libnetfilter_queue.so.1",
                      use_errno=True)
    lib.nfq_open.restype = ctypes.c_void_p
    lib.nfq_create_queue.restype = ctypes.c_void_p
    CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                          ctypes.c_void_p)
    lib.nfq_create_queue.argtypes = [ctypes.c_void_p, ctypes.c_uint16, CB, ctypes.c_void_p]
    lib.nfq_get_msg_packet_hdr.restype = ctypes.c_void_p
    lib.nfq_get_msg_packet_hdr.argtypes = [ctypes.c_void_p]
    lib.nfq_get_payload.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.POINTER(ctypes.c_char))]
    lib.nfq_set_verdict.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32,
                                    ctypes.c_uint32, ctypes.c_char_p]
    lib.nfq_set_mode.argtypes = [ctypes.c_void_p, ctypes.c_uint8, ctypes.c_uint32]
    lib.nfq_fd.argtypes = [ctypes.c_void_p]
    lib.nfq_handle_packet.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    lib.nfq_unbind_pf.argtypes = [ctypes.c_void_p, ctypes.c_uint16]
    lib.nfq_bind_pf.argtypes = [ctypes.c_void_p, ctypes.c_uint16]

    def callback(qh, nfmsg, nfad, data):
        hdr = lib.nfq_get_msg_packet_hdr(nfad)
        pkt_id = struct.unpack("!I", ctypes.string_at(hdr, 4))[0]
        ptr = ctypes.POINTER(ctypes.c_char)()
        n = lib.nfq_get_payload(nfad, ctypes.byref(ptr))
        pkt = ctypes.string_at(ptr, n)
        try:
            verdict, new = insp.handle(pkt)
        except Exception as e:   # never wedge the queue
            log(f"inspector error: {e!r}")
            verdict, new = NF_ACCEPT, None
        if new is None:
            return lib.nfq_set_verdict(qh, pkt_id, verdict, 0, None)
        return lib.nfq_set_verdict(qh, pkt_id, verdict, len(new), new)

    cb = CB(callback)
    h = lib.nfq_open()
    if not h:
        sys.exit("nfq_open failed")
    lib.nfq_unbind_pf(h, socket.AF_INET)
    lib.nfq_bind_pf(h, socket.AF_INET)
    qh = lib.nfq_create_queue(h, queue_num, cb, None)
    if not qh:
        sys.exit("nfq_create_queue failed (is another process bound to the queue?)")
    lib.nfq_set_mode(qh, NFQNL_COPY_PACKET, 0xFFFF)
    fd = lib.nfq_fd(h)
    log(f"esmtp-inspect: bound to NFQUEUE {queue_num}")
    if ready:
        open(ready, "w").close()
    while True:
        try:
            buf = os.read(fd, 65536 + 4096)
        except OSError as e:
            log(f"recv: {e}")
            continue
        lib.nfq_handle_packet(h, buf, len(buf))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--queue", type=int, default=0)
    p.add_argument("--ready", help="file to create once the queue is bound")
    p.add_argument("--seq-shift", default="0,0", metavar="C,S",
                   help="add C to the client's and S to the server's sequence numbers (mod 2^32)")
    p.add_argument("--no-inspect", action="store_true", help="translate and shift only; rewrite nothing")
    a = p.parse_args()
    shift = tuple(int(x, 0) & 0xFFFFFFFF for x in a.seq_shift.split(","))
    try:
        run(a.queue, a.ready, Inspector(shift, not a.no_inspect))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
