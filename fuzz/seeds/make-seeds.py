#!/usr/bin/env python3
"""Builds the starting corpora of the fuzz targets from real captures.

usage: make-seeds.py OUT_DIR CAPTURE...

capture, pipeline: the capture files themselves (pcap, pcapng, gzip), as they are.
decode:            the first frames of every classic pcap, prefixed by the target's link-type pick.
smtp:              the TCP payloads of every pcap, as the smtp target's (control, length, data) records.
tls:               each direction's payload from its first TLS record header on.
reassembly:        a few hand-made segment sequences (in order, reversed, overlapping, far jumps).
Anything that does not parse is skipped: this only has to give the fuzzers a head start.
"""
import gzip
import os
import shutil
import struct
import sys

# Order of the decode target's LINKS table.
LINKS = {1: 0, 101: 1, 228: 2, 229: 3, 0: 4, 108: 5, 113: 6, 276: 7}
MAIL_PORTS = {25, 465, 587, 2525}
MAX_SEED = 256 * 1024


def pcap_records(data):
    """(link type, [frame bytes]) of a classic pcap, or None."""
    if len(data) < 24:
        return None
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        return None
    link = struct.unpack(end + "I", data[20:24])[0] & 0xFFFF
    frames, at = [], 24
    while at + 16 <= len(data):
        caplen = struct.unpack(end + "I", data[at + 8 : at + 12])[0]
        frame = data[at + 16 : at + 16 + caplen]
        if len(frame) < caplen:
            break
        frames.append(frame)
        at += 16 + caplen
    return link, frames


def tcp_payload(link, frame):
    """(src port, dst port, payload) of an Ethernet/raw IPv4/IPv6 TCP frame, or None."""
    if link == 1:
        if len(frame) < 14:
            return None
        ethertype, ip = struct.unpack(">H", frame[12:14])[0], frame[14:]
        while ethertype in (0x8100, 0x88A8) and len(ip) >= 4:
            ethertype, ip = struct.unpack(">H", ip[2:4])[0], ip[4:]
    elif link in (101, 228, 229):
        ip = frame
        ethertype = 0x0800 if ip[:1] and ip[0] >> 4 == 4 else 0x86DD
    else:
        return None
    if ethertype == 0x0800 and len(ip) >= 20 and ip[9] == 6:
        total = struct.unpack(">H", ip[2:4])[0]
        tcp = ip[(ip[0] & 0x0F) * 4 : total]
    elif ethertype == 0x86DD and len(ip) >= 40 and ip[6] == 6:
        tcp = ip[40 : 40 + struct.unpack(">H", ip[4:6])[0]]
    else:
        return None
    if len(tcp) < 20:
        return None
    sport, dport = struct.unpack(">HH", tcp[:4])
    return sport, dport, tcp[(tcp[12] >> 4) * 4 :]


def write(out, target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data[:MAX_SEED])


def main():
    out, paths = sys.argv[1], sys.argv[2:]
    for path in paths:
        name = os.path.basename(path)
        if os.path.getsize(path) <= MAX_SEED:
            for target in ("capture", "pipeline"):
                write(out, target, name, open(path, "rb").read())
        data = open(path, "rb").read()
        if data[:2] == b"\x1f\x8b":
            try:
                data = gzip.decompress(data)
            except OSError:
                continue
        parsed = pcap_records(data)
        if not parsed:
            continue
        link, frames = parsed
        if link in LINKS:
            for i, frame in enumerate(frames[:12]):
                write(out, "decode", f"{name}.{i}", bytes([LINKS[link]]) + frame)
        records, streams = bytearray(), {0: bytearray(), 1: bytearray()}
        for frame in frames:
            parsed = tcp_payload(link, frame)
            if not parsed or not parsed[2]:
                continue
            sport, dport, payload = parsed
            direction = 0 if dport in MAIL_PORTS else 1
            streams[direction] += payload
            for i in range(0, len(payload), 255):
                piece = payload[i : i + 255]
                records += bytes([direction, len(piece)]) + piece
        if records:
            write(out, "smtp", name, bytes(records))
        for direction, stream in streams.items():
            at = stream.find(b"\x16\x03")
            if at >= 0:
                write(out, "tls", f"{name}.{direction}", bytes([7]) + bytes(stream[at:]))
    # Reassembly: base seq, caps, then (kind, rel u16, [len, data-free]) operations.
    base = struct.pack("<IB", 0xFFFFFF00, 0x35)
    in_order = base + bytes([0, 0, 0]) + b"".join(bytes([3]) + struct.pack("<H", 1 + 10 * i) + bytes([10]) for i in range(20))
    reversed_ = base + bytes([0, 0, 0]) + b"".join(bytes([3]) + struct.pack("<H", 1 + 10 * i) + bytes([10]) for i in reversed(range(20)))
    overlap = base + bytes([0, 0, 0]) + b"".join(bytes([3]) + struct.pack("<H", 1 + 5 * i) + bytes([10]) for i in range(20))
    jumps = base + bytes([0, 0, 0, 3, 1, 0, 10, 0xC3, 11, 0, 10, 0x83, 0, 0, 0, 0, 0, 0, 10, 1, 0, 2, 0x1B, 21, 0, 5, 7, 2, 0, 0])
    for n, seed in (("in-order", in_order), ("reversed", reversed_), ("overlap", overlap), ("jumps", jumps)):
        write(out, "reassembly", n, seed)


if __name__ == "__main__":
    main()
