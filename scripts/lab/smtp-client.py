#!/usr/bin/python3
"""Small SMTP clients for sessions swaks will not produce (runs in the mta namespace).

  greeting-only  read the greeting; on anything but 220 close without QUIT
                 (as Python's smtplib does), else QUIT.
  idle           greeting, EHLO, then go silent until the server gives up.
  abort-data     EHLO/MAIL/RCPT/DATA, send headers and part of the body, then
                 die: --how fin (plain close) or --how rst (SO_LINGER {1,0}).
  starttls-anyway  EHLO, then STARTTLS although it was not advertised, read the
                 reply, QUIT (a client configured to always try TLS).
"""
import argparse
import socket
import struct
import sys
import time

HELO = "mta.example.net"
FROM = "sender@example.net"
TO = "rcpt@example.com"


class Session:
    def __init__(self, host, port, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def reply(self):
        """Read one (possibly multi-line) reply; returns (code, lines) or (None, lines) on EOF."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(4096)
                if not chunk:
                    return None, lines
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            text = line.decode("latin-1")
            print("<- " + text, flush=True)
            lines.append(text)
            if len(text) < 4 or text[3] != "-":
                return text[:3], lines

    def cmd(self, line):
        print("-> " + line, flush=True)
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["greeting-only", "idle", "abort-data", "starttls-anyway"])
    p.add_argument("--server", required=True)
    p.add_argument("--port", type=int, default=25)
    p.add_argument("--how", choices=["fin", "rst"], default="fin")
    p.add_argument("--timeout", type=float, default=30)
    a = p.parse_args()

    s = Session(a.server, a.port, a.timeout)
    code, _ = s.reply()
    if code != "220":
        print("== non-220 greeting: closing without QUIT", flush=True)
        s.sock.close()
        return 0
    if a.mode == "greeting-only":
        s.cmd("QUIT")
        s.sock.close()
        return 0

    s.cmd("EHLO " + HELO)
    if a.mode == "idle":
        print("== going silent", flush=True)
        code, _ = s.reply()  # blocks until the server times us out
        print(f"== server said {code}, closing", flush=True)
        s.sock.close()
        return 0
    if a.mode == "starttls-anyway":
        s.cmd("STARTTLS")
        s.cmd("QUIT")
        s.sock.close()
        return 0

    # abort-data
    s.cmd(f"MAIL FROM:<{FROM}>")
    s.cmd(f"RCPT TO:<{TO}>")
    code, _ = s.cmd("DATA")
    if code != "354":
        return 1
    head = (f"From: <{FROM}>\r\nTo: <{TO}>\r\nSubject: smtpdiag lab aborted transfer\r\n"
            "Message-ID: <abort@mta.example.net>\r\n\r\n")
    body = "".join(f"line {i:04d} of a message that will never be finished\r\n" for i in range(40))
    print(f"-> [{len(head) + len(body)} bytes of message, no final dot]", flush=True)
    s.sock.sendall((head + body).encode())
    time.sleep(0.5)
    if a.how == "rst":
        s.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        print("== process dies, socket aborted (RST)", flush=True)
    else:
        print("== process dies, socket closed (FIN)", flush=True)
    s.sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
