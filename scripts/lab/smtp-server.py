#!/usr/bin/python3
"""Tiny SMTP listeners for behaviours a stock MTA does not show on demand.

Runs in the esa namespace, one listener, sequential connections:

  reject     Cisco ESA "REJECT" host-access policy: the greeting is a 554, then
             the server closes at once (FIN) without waiting for QUIT.
  tcprefuse  Cisco ESA "TCPREFUSE" policy: the kernel completes the handshake,
             the server accepts and aborts the connection with no banner
             (SO_LINGER {1, 0} -> RST/ACK).
"""
import argparse
import socket
import struct
import sys

HOST = "esa.example.com"


def serve(args):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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
        else:
            sys.exit(f"unknown mode {args.mode}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True)
    p.add_argument("--port", type=int, default=25)
    p.add_argument("mode", choices=["reject", "tcprefuse"])
    serve(p.parse_args())


if __name__ == "__main__":
    main()
