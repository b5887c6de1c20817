#!/usr/bin/python3
"""Peers for the lab scenarios 32-49 (how sessions end; see scenarios-verdicts.sh).

Servers (in the esa namespace):
  smtp     a small plain SMTP server. With --starttls-plain it answers STARTTLS with 220 and
           carries on in plain text: what a capture exported decrypted (or taken behind a
           TLS-terminating proxy) shows. --vrfy CODE sets the reply to VRFY.
  silent   accepts connections and never sends a byte; closes when the client does.
  binary   answers every chunk with a binary, length-prefixed packet (a VPN on a mail port).
  ftp      an FTP control channel: 220, 331 to USER, 221 to QUIT.

Clients (in the mta namespace):
  starttls-plain  EHLO, STARTTLS, then EHLO/MAIL/RCPT/DATA/QUIT in plain text.
  vrfy            greeting, VRFY postmaster, QUIT.
  stall-greeting  reads the whole greeting, waits --wait seconds, QUIT.
  callout         EHLO, MAIL FROM:<>, RCPT TO, RSET, QUIT (sender callout verification).
  binary          sends OpenVPN-style length-prefixed binary packets, reads the answers.
  ftp             from source port --sport to port 21: USER, QUIT.
  connect-from    from source port --sport, connects to --port (refused: a scan's probe).
"""
import argparse
import os
import socket
import struct
import sys
import time

HELO = "mta.example.net"
FROM = "sender@example.net"
TO = "rcpt@example.com"


def log(msg):
    print(msg, flush=True)


# ------------------------------------------------------------------ servers
def serve(listen, port, handler):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((listen, port))
    srv.listen(8)
    log(f"listening on {listen}:{port}")
    while True:
        conn, peer = srv.accept()
        log(f"connection from {peer}")
        try:
            handler(conn)
        except OSError as e:
            log(f"connection error: {e}")
        finally:
            conn.close()


def lines(conn):
    buf = b""
    while True:
        while b"\r\n" not in buf and b"\n" not in buf:
            chunk = conn.recv(4096)
            if not chunk:
                return
            buf += chunk
        cut = buf.index(b"\n")
        line, buf = buf[:cut].rstrip(b"\r"), buf[cut + 1:]
        yield line.decode("latin-1")


def smtp_handler(a):
    def handle(conn):
        send = lambda text: (log("<- " + text.replace("\r\n", " | ")), conn.sendall(text.encode()))
        send("220 esa.example.com ESMTP\r\n")
        data = False
        for line in lines(conn):
            log("-> " + line)
            if data:
                if line == ".":
                    data = False
                    send("250 OK id=1plain-000001-ab\r\n")
                continue
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                send("250-esa.example.com Hello " + line[5:] + "\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 HELP\r\n")
            elif verb == "HELO":
                send("250 esa.example.com Hello\r\n")
            elif verb == "STARTTLS" and a.starttls_plain:
                send("220 2.0.0 Ready to start TLS\r\n")
            elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                send("250 OK\r\n")
            elif verb == "VRFY":
                send(f"{a.vrfy} 5.1.1 <{line[5:]}>: Recipient address rejected: User unknown\r\n"
                     if a.vrfy >= 500 else f"{a.vrfy} Cannot VRFY user\r\n")
            elif verb == "DATA":
                data = True
                send("354 Enter message, ending with \".\" on a line by itself\r\n")
            elif verb == "QUIT":
                send("221 esa.example.com closing connection\r\n")
                return
            else:
                send("500 unrecognized command\r\n")
    return handle


def silent_handler(conn):
    while conn.recv(4096):
        pass
    log("client closed; closing")


def binary_handler(conn):
    n = 0
    while True:
        chunk = conn.recv(4096)
        if not chunk:
            return
        n += 1
        body = bytes([0x40, n]) + os.urandom(24)
        conn.sendall(struct.pack(">H", len(body)) + body)


def ftp_handler(conn):
    conn.sendall(b"220 ftp.example.com FTP server ready\r\n")
    for line in lines(conn):
        log("-> " + line)
        if line.upper().startswith("USER"):
            conn.sendall(b"331 Please specify the password.\r\n")
        elif line.upper().startswith("QUIT"):
            conn.sendall(b"221 Goodbye.\r\n")
            return


# ------------------------------------------------------------------ clients
class Session:
    def __init__(self, host, port, timeout, sport=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if sport:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(("", sport))
        self.sock.connect((host, port))
        self.buf = b""

    def reply(self):
        """One (possibly multi-line) reply: its code, or None at EOF."""
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(4096)
                if not chunk:
                    return None
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            text = line.decode("latin-1")
            log("<- " + text)
            if len(text) < 4 or text[3] != "-":
                return text[:3]

    def cmd(self, line):
        log("-> " + line)
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()


def client(a):
    if a.mode == "connect-from":
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("", a.sport))
        try:
            s.connect((a.server, a.port))
            log("connected (unexpected)")
        except OSError as e:
            log(f"connect from port {a.sport} to {a.port}: {e}")
        s.close()
        return 0
    if a.mode == "binary":
        s = Session(a.server, a.port, a.timeout)
        for i in range(3):
            body = bytes([0x38]) + os.urandom(8) + bytes([0, 0, 0, 0, 0]) + os.urandom(40)
            s.sock.sendall(struct.pack(">H", len(body)) + body)
            log(f"-> binary packet {i + 1}, {len(body) + 2} bytes")
            log(f"<- {len(s.sock.recv(4096))} bytes")
            time.sleep(0.2)
        s.sock.close()
        return 0
    s = Session(a.server, a.port, a.timeout, a.sport)
    code = s.reply()
    if a.mode == "ftp":
        s.cmd("USER anonymous")
        s.cmd("QUIT")
        s.sock.close()
        return 0
    if code != "220":
        s.sock.close()
        return 1
    if a.mode == "stall-greeting":
        log(f"== greeting complete; waiting {a.wait} s before QUIT")
        time.sleep(a.wait)
        s.cmd("QUIT")
    elif a.mode == "vrfy":
        s.cmd("VRFY postmaster")
        s.cmd("QUIT")
    elif a.mode == "callout":
        s.cmd("EHLO " + HELO)
        s.cmd("MAIL FROM:<>")
        s.cmd(f"RCPT TO:<{TO}>")
        s.cmd("RSET")
        s.cmd("QUIT")
    elif a.mode == "starttls-plain":
        s.cmd("EHLO " + HELO)
        s.cmd("STARTTLS")
        log("== carrying on in plain text")
        s.cmd("EHLO " + HELO)
        s.cmd(f"MAIL FROM:<{FROM}>")
        s.cmd(f"RCPT TO:<{TO}>")
        s.cmd("DATA")
        log("-> [message]")
        s.sock.sendall((f"From: <{FROM}>\r\nTo: <{TO}>\r\nSubject: smtpdiag lab plain text after STARTTLS\r\n\r\n"
                        "hello\r\n.\r\n").encode())
        s.reply()
        s.cmd("QUIT")
    s.sock.close()
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["smtp", "silent", "binary-server", "ftp-server", "starttls-plain", "vrfy",
                                    "stall-greeting", "callout", "binary", "ftp", "connect-from"])
    p.add_argument("--listen")
    p.add_argument("--server")
    p.add_argument("--port", type=int, default=25)
    p.add_argument("--sport", type=int)
    p.add_argument("--starttls-plain", action="store_true")
    p.add_argument("--vrfy", type=int, default=252)
    p.add_argument("--wait", type=float, default=7.0)
    p.add_argument("--timeout", type=float, default=30)
    a = p.parse_args()
    handlers = {"smtp": smtp_handler(a), "silent": silent_handler, "binary-server": binary_handler,
                "ftp-server": ftp_handler}
    if a.mode in handlers:
        serve(a.listen, a.port, handlers[a.mode])
        return 0
    return client(a)


if __name__ == "__main__":
    sys.exit(main())
