#!/usr/bin/env python3
"""Sends a barrage of malformed IPv4 packets straight into tunstack's TUN device.

    scripts/barrage.py [--dev tun0] [--repeat N] [--fuzz N] [--seed S]

Packets go through an AF_PACKET socket bound to the TUN device, so the kernel hands them to
the daemon byte for byte (a raw IP socket would fix checksums and lengths for us). Each kind
of damage is sent --repeat times; the script prints, as JSON on its last line, how many
packets of each drop reason the daemon should count. --fuzz adds random garbage (not in the
expected counts; it must merely not hurt the daemon).

Run it inside the daemon's network namespace (scripts/netns.sh does that). Every packet is
addressed within 198.18.0.0/24.
"""
import argparse
import json
import random
import socket
import struct

US, THEM, OTHER = "198.18.0.1", "198.18.0.2", "198.18.0.3"


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip(payload: bytes, proto=1, src=US, dst=THEM, ident=1, frag=0, mf=False, ttl=64,
       total=None, version=4, ihl=5, fix_checksum=True) -> bytes:
    flags_frag = (0x2000 if mf else 0) | (frag // 8)
    total = 20 + len(payload) if total is None else total
    hdr = struct.pack("!BBHHHBBH4s4s", (version << 4) | ihl, 0, total, ident, flags_frag, ttl,
                      proto, 0, socket.inet_aton(src), socket.inet_aton(dst))
    if fix_checksum:
        hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + payload


def icmp_echo(ident=0x4242, seq=1, data=b"barrage!", good=True) -> bytes:
    msg = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + data
    c = csum(msg) if good else (csum(msg) ^ 0x5555)
    return msg[:2] + struct.pack("!H", c) + msg[4:]


def udp(dport=5353, data=b"hello", good=True, length=None) -> bytes:
    length = 8 + len(data) if length is None else length
    seg = struct.pack("!HHHH", 40000, dport, length, 0) + data
    pseudo = socket.inet_aton(US) + socket.inet_aton(THEM) + struct.pack("!BBH", 0, 17, len(seg))
    c = csum(pseudo + seg) or 0xFFFF
    if not good:
        c ^= 0x0F0F
    return seg[:6] + struct.pack("!H", c) + seg[8:]


def cases(ident_base: int):
    """(expected drop reason, packet or list of packets) for each kind of damage."""
    good = ip(icmp_echo())
    n = ident_base
    yield "ipv4-truncated", good[:12]
    yield "ipv4-bad-version", ip(icmp_echo(), version=5)
    # An IPv4 header with version 6: parsed as IPv6, it is shorter than a fixed header.
    yield "ipv6-truncated", ip(icmp_echo(), version=6)
    yield "ipv4-bad-header-length", ip(icmp_echo(), ihl=3)
    yield "ipv4-bad-total-length", ip(icmp_echo(), total=400)
    yield "ipv4-bad-total-length", ip(icmp_echo(), total=12)
    bad = bytearray(good)
    bad[10] ^= 0xFF
    yield "ipv4-bad-checksum", bytes(bad)
    yield "ipv4-not-for-us", ip(icmp_echo(), dst=OTHER)
    yield "ipv4-bad-source", ip(icmp_echo(), src="127.0.0.1")
    yield "ipv4-bad-source", ip(icmp_echo(), src=THEM)
    yield "icmp-truncated", ip(b"\x08\x00\x00")
    yield "icmp-bad-checksum", ip(icmp_echo(good=False))
    yield "udp-truncated", ip(b"\x01\x02\x03", proto=17)
    yield "udp-truncated", ip(udp(length=200), proto=17)
    yield "udp-bad-checksum", ip(udp(good=False), proto=17)
    # Fragments. Each case uses a fresh identification so cases do not interact.
    data = icmp_echo(data=bytes(range(256)) * 8)  # 2056 bytes
    n += 1
    yield "fragment-bad", ip(data[:1001], ident=n, mf=True)  # not a multiple of 8
    n += 1
    yield "fragment-oversized", ip(data[:1000], ident=n, frag=65000)
    n += 1
    # Overlap: the second fragment starts inside the first; the whole datagram is dropped.
    yield "fragment-overlap", [ip(data[:1480], ident=n, mf=True), ip(data[1472:], ident=n, frag=1472)]
    n += 1
    # An exact duplicate is ignored; the datagram still completes (and is answered).
    yield "fragment-duplicate", [ip(data[:1480], ident=n, mf=True), ip(data[:1480], ident=n, mf=True),
                                 ip(data[1480:], ident=n, frag=1480)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dev", default="tun0")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--fuzz", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
    sent = 0

    def send(pkt):
        nonlocal sent
        sock.sendto(pkt, (args.dev, 0x0800))
        sent += 1

    expected = {}
    for r in range(args.repeat):
        for reason, pkts in cases(ident_base=1000 + r * 16):
            for p in pkts if isinstance(pkts, list) else [pkts]:
                send(p)
            expected[reason] = expected.get(reason, 0) + 1

    rng = random.Random(args.seed)
    for _ in range(args.fuzz):
        kind = rng.randrange(3)
        if kind == 0:  # pure garbage
            p = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
        else:  # a valid ping with a few bytes flipped
            p = bytearray(ip(icmp_echo(seq=rng.randrange(65536), data=b"x" * rng.randrange(64))))
            for _ in range(rng.randrange(1, 4)):
                p[rng.randrange(len(p))] ^= 1 << rng.randrange(8)
            p = bytes(p)
        send(p)
    print(f"sent {sent} packets ({args.fuzz} fuzzed)")
    print(json.dumps(expected, sort_keys=True))


if __name__ == "__main__":
    main()
