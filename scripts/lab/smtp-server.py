#!/usr/bin/python3
"""Tiny SMTP listeners for behaviours a stock MTA does not show on demand.

Runs in the esa namespace, one listener, sequential connections:

  reject     Cisco ESA "REJECT" host-access policy: the greeting is a 554, then
             the server closes at once (FIN) without waiting for QUIT.
  tcprefuse  Cisco ESA "TCPREFUSE" policy: the kernel completes the handshake,
             the server accepts and aborts the connection with no banner
             (SO_LINGER {1, 0} -> RST/ACK).
  slowreader a minimal but complete SMTP server with a tiny receive buffer
             that stops reading for a few seconds after "354", so the
             client's DATA fills the window: zero-window advertisements and
             window probes, then it reads on and accepts the message.
"""
import argparse
import socket
import struct
import sys
import time

HOST = "esa.example.com"


def serve(args):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if args.rcvbuf:
        # set before listen(): accepted sockets inherit it, and the window scale
        # offered in the SYN/ACK is chosen from it
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, args.rcvbuf)
    ls.bind((args.listen, args.port))
    ls.listen(8)
    print(f"listening {args.listen}:{args.port} mode={args.mode}", flush=True)
    while True:
        conn, peer = ls.accept()
        print(f"connection from {peer}", flush=True)
        if args.mode == "reject":
            conn.sendall(f"554 5.7.1 {HOST} Access denied - connection rejected by policy\r\n".encode())
            conn.close()      # FIN right behind the 554, before the client can say anything
        elif args.mode == "tcprefuse":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
        elif args.mode == "slowreader":
            slow_session(conn, args.stall)
        else:
            sys.exit(f"unknown mode {args.mode}")


def slow_session(conn, stall):
    f = conn.makefile("rb")

    def say(line):
        conn.sendall(line.encode() + b"\r\n")

    say(f"220 {HOST} ESMTP slowreader")
    while True:
        line = f.readline()
        if not line:
            break
        verb = line[:4].upper()
        if verb == b"EHLO":
            say(f"250-{HOST}")
            say("250-PIPELINING")
            say("250 SIZE 20971520")
        elif verb in (b"HELO", b"MAIL", b"RCPT", b"RSET", b"NOOP"):
            say("250 OK")
        elif verb == b"DATA":
            say("354 End data with <CR><LF>.<CR><LF>")
            print(f"stalling {stall}s before reading the message", flush=True)
            time.sleep(stall)
            size = 0
            while True:
                body = f.readline()
                if not body or body in (b".\r\n", b".\n"):
                    break
                size += len(body)
            say(f"250 2.0.0 Ok: {size} bytes queued")
        elif verb == b"QUIT":
            say(f"221 2.0.0 {HOST} closing connection")
            break
        else:
            say("500 5.5.2 unrecognized command")
    f.close()
    conn.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True)
    p.add_argument("--port", type=int, default=25)
    p.add_argument("--rcvbuf", type=int, default=0, help="SO_RCVBUF for the listener")
    p.add_argument("--stall", type=float, default=4.0, help="slowreader: seconds without reading")
    p.add_argument("mode", choices=["reject", "tcprefuse", "slowreader"])
    serve(p.parse_args())


if __name__ == "__main__":
    main()
