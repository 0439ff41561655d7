#!/usr/bin/env python3
"""Sends a barrage of malformed IPv4 and IPv6 packets straight into tunstack's TUN device.

    scripts/barrage.py [--dev tun0] [--repeat N] [--fuzz N] [--seed S]

Packets go through an AF_PACKET socket bound to the TUN device (protocol 0x0800 for IPv4,
0x86DD for IPv6), so the kernel hands them to the daemon byte for byte (a raw IP socket would
fix checksums and lengths for us). Each kind of damage is sent --repeat times; the script
prints, as JSON on its last line, how many packets of each drop reason the daemon should
count. --fuzz adds random garbage of both families (not in the expected counts; it must
merely not hurt the daemon). --no-ipv6 leaves the IPv6 cases and IPv6 fuzz out.

The device queues at most txqueuelen (500) packets for the daemon and drops the rest, so
the barrage keeps pace: every --pace packets it pings the daemon (an ordinary echo request
through the kernel, behind the barrage in the same queue) and waits for the reply. It
prints how many packets it sent, how many pacing pings, and how many packets the device
dropped (tx_dropped of the device: 0 unless the daemon fell behind anyway).

Run it inside the daemon's network namespace (scripts/netns.sh does that). Every packet is
addressed within 198.18.0.0/24 or 2001:2::/64 (or to a link-local multicast group on the
TUN link), and comes from there: IPv6 fuzz never flips address bits.
"""
import argparse
import json
import random
import socket
import struct
import time

US, THEM, OTHER = "198.18.0.1", "198.18.0.2", "198.18.0.3"
US6, THEM6, OTHER6 = "2001:2::1", "2001:2::2", "2001:2::3"
ETH_P_IP, ETH_P_IPV6 = 0x0800, 0x86DD
# IPv6 Next Header values (RFC 8200 §4, IANA protocol numbers).
HOP_BY_HOP, TCP, UDP, ROUTING, FRAGMENT, ICMPV6, NO_NEXT, DEST_OPTS = 0, 6, 17, 43, 44, 58, 59, 60


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


def a6(addr: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, addr)


def ip6(payload: bytes, nh=ICMPV6, src=US6, dst=THEM6, hop_limit=64, plen=None) -> bytes:
    """An IPv6 packet: the 40-octet fixed header (RFC 8200 §3) and `payload` (extension
    headers included); `plen` overrides the Payload Length."""
    plen = len(payload) if plen is None else plen
    return struct.pack("!IHBB16s16s", 6 << 28, plen, nh, hop_limit, a6(src), a6(dst)) + payload


def upper6(msg: bytes, proto: int, src=US6, dst=THEM6, csum_at=2, good=True) -> bytes:
    """`msg` with its checksum (at `csum_at`) computed over the IPv6 pseudo-header (RFC 8200
    §8.1); `good=False` spoils it."""
    pseudo = a6(src) + a6(dst) + struct.pack("!IxxxB", len(msg), proto)
    msg = msg[:csum_at] + b"\0\0" + msg[csum_at + 2:]
    c = csum(pseudo + msg)
    if proto == UDP:
        c = c or 0xFFFF
    if not good:
        c ^= 0x5555
    return msg[:csum_at] + struct.pack("!H", c) + msg[csum_at + 2:]


def echo6(ident=0x4243, seq=1, data=b"barrage6", icmp_type=128, code=0, good=True,
          src=US6, dst=THEM6) -> bytes:
    """An ICMPv6 echo request (RFC 4443 §4.1) with its checksum."""
    msg = struct.pack("!BBHHH", icmp_type, code, 0, ident, seq) + data
    return upper6(msg, ICMPV6, src=src, dst=dst, good=good)


def udp6(dport=5353, data=b"hello6", checksum=None, dst=THEM6) -> bytes:
    """A UDP datagram (RFC 768) with its checksum over the IPv6 pseudo-header, or `checksum`."""
    seg = struct.pack("!HHHH", 40000, dport, 8 + len(data), 0) + data
    if checksum is not None:
        return seg[:6] + struct.pack("!H", checksum) + seg[8:]
    return upper6(seg, UDP, dst=dst, csum_at=6)


def tcp6(dport=7, good=True) -> bytes:
    """A bare SYN (20-octet header, no options)."""
    seg = struct.pack("!HHIIBBHHH", 40001, dport, 12345, 0, 5 << 4, 0x02, 65535, 0, 0)
    return upper6(seg, TCP, csum_at=16, good=good)


def options6(nh: int, body: bytes) -> bytes:
    """A Hop-by-Hop or Destination Options header (RFC 8200 §4.2) naming `nh`, holding the
    options in `body` (padded by the caller to 6, 14, ... octets)."""
    assert (2 + len(body)) % 8 == 0
    return struct.pack("!BB", nh, (2 + len(body)) // 8 - 1) + body


def frag6(nh: int, offset: int, more: bool, ident: int) -> bytes:
    """A Fragment header (RFC 8200 §4.5); `offset` in octets, a multiple of 8."""
    return struct.pack("!BBHI", nh, 0, offset | (1 if more else 0), ident)


def cases6(ident_base: int):
    """(expected drop reason, IPv6 packet or list of them) for each kind of IPv6 damage. Every
    packet but the ones named for their addresses goes from 2001:2::1 to 2001:2::2."""
    n = ident_base
    good = ip6(echo6())
    # RFC 8200 §3: the fixed header.
    yield "ipv6-truncated", good[:20]
    yield "ipv6-bad-payload-length", ip6(echo6(), plen=200)
    yield "ipv6-hop-limit-zero", ip6(echo6(), hop_limit=0)
    # RFC 4291: addresses.
    yield "ipv6-not-for-us", ip6(echo6(dst=OTHER6), dst=OTHER6)
    yield "ipv6-bad-source", ip6(echo6(src="::1"), src="::1")
    yield "ipv6-bad-source", ip6(echo6(src=THEM6), src=THEM6)
    # An MLDv2 report (RFC 3810 §5.2, type 143, no records) to ff02::16: a group we are not in.
    mld = upper6(struct.pack("!BBHHH", 143, 0, 0, 0, 0), ICMPV6, dst="ff02::16")
    yield "ipv6-multicast-not-ours", ip6(mld, dst="ff02::16")
    # RFC 8200 §4: the extension-header walk.
    yield "ipv6-extension-truncated", ip6(struct.pack("!BB", ICMPV6, 4) + b"\1\4\0\0\0\0", nh=DEST_OPTS)
    yield "ipv6-unknown-next-header", ip6(b"experimental 253", nh=253)
    # Type 0 (RFC 5095: deprecated), one segment left, naming us as the final destination
    # (which the ICMPv6 checksum is computed for, as RFC 8200 §8.1 asks).
    routing = struct.pack("!BBBBI", ICMPV6, 2, 0, 1, 0) + a6(THEM6)
    yield "ipv6-routing-header", ip6(routing + echo6(), nh=ROUTING)
    hbh_second = options6(HOP_BY_HOP, b"\1\4\0\0\0\0") + options6(ICMPV6, b"\1\4\0\0\0\0")
    yield "ipv6-hop-by-hop-not-first", ip6(hbh_second + echo6(), nh=DEST_OPTS)
    # Unrecognized options: 10xxxxxx (discard, Parameter Problem) and 01xxxxxx (discard).
    yield "ipv6-unknown-option", ip6(options6(ICMPV6, b"\x9e\4\0\0\0\0") + echo6(), nh=DEST_OPTS)
    yield "ipv6-unknown-option", ip6(options6(ICMPV6, b"\x5e\4\0\0\0\0") + echo6(), nh=HOP_BY_HOP)
    # An option (type 00xxxxxx, skippable) running past its header.
    yield "ipv6-bad-option", ip6(options6(ICMPV6, b"\x1e\x09\0\0\0\0") + echo6(), nh=DEST_OPTS)
    yield "ipv6-no-next-header", ip6(b"", nh=NO_NEXT)
    # RFC 8200 §4.5 fragments, a fresh Identification each.
    data = echo6(ident=0x4244, data=bytes(range(256)) * 8)  # 2056 octets
    n += 1
    yield "fragment-bad", ip6(frag6(ICMPV6, 0, True, n) + data[:1001], nh=FRAGMENT)
    n += 1
    yield "fragment-oversized", ip6(frag6(ICMPV6, 65000, False, n) + data[:1000], nh=FRAGMENT)
    n += 1
    # RFC 7112: a first fragment that stops inside the TCP header.
    yield "fragment6-incomplete-chain", ip6(frag6(TCP, 0, True, n) + b"\0" * 8, nh=FRAGMENT)
    n += 1
    # RFC 5722: the second fragment overlaps the first; the packet is discarded and
    # remembered, so its last fragment is dropped as well.
    yield "fragment-overlap", [ip6(frag6(ICMPV6, 0, True, n) + data[:1448], nh=FRAGMENT),
                               ip6(frag6(ICMPV6, 1440, True, n) + data[1440:1448 + 8], nh=FRAGMENT)]
    yield "fragment6-after-overlap", ip6(frag6(ICMPV6, 1456, False, n) + data[1456:], nh=FRAGMENT)
    n += 1
    # An exact duplicate is ignored; the packet still completes (and is answered).
    first = ip6(frag6(ICMPV6, 0, True, n) + data[:1448], nh=FRAGMENT)
    yield "fragment-duplicate", [first, first, ip6(frag6(ICMPV6, 1448, False, n) + data[1448:], nh=FRAGMENT)]
    # RFC 4443: ICMPv6.
    yield "icmpv6-truncated", ip6(b"\x80\0\0")
    yield "icmpv6-truncated", ip6(upper6(b"\x80\0\0\0\x42\x42", ICMPV6))  # an echo cut at 6 octets
    yield "icmpv6-bad-checksum", ip6(echo6(good=False))
    yield "icmpv6-unhandled-type", ip6(echo6(icmp_type=129))  # an echo reply nobody asked for
    # UDP and TCP over IPv6.
    yield "udp-bad-checksum", ip6(udp6(checksum=0), nh=UDP)  # zero: not allowed over IPv6
    yield "udp-bad-checksum", ip6(udp6(checksum=0x1234), nh=UDP)
    yield "udp-truncated", ip6(b"\x01\x02\x03", nh=UDP)
    yield "udp-to-multicast", ip6(udp6(dst="ff02::1"), nh=UDP, dst="ff02::1")
    yield "tcp-bad-checksum", ip6(tcp6(good=False), nh=TCP)


def fuzz6(rng) -> bytes:
    """Random IPv6 damage with real addresses: a valid ping with bits flipped outside the
    addresses, or a fixed header followed by random extension headers and bytes."""
    if rng.randrange(2):
        p = bytearray(ip6(echo6(seq=rng.randrange(65536), data=b"y" * rng.randrange(64))))
        for _ in range(rng.randrange(1, 4)):
            i = rng.choice([*range(8), *range(40, len(p))])
            p[i] ^= 1 << rng.randrange(8)
        return bytes(p)
    body = bytearray()
    for _ in range(rng.randrange(4)):
        nh = rng.choice([HOP_BY_HOP, ROUTING, FRAGMENT, DEST_OPTS, ICMPV6, UDP, TCP, NO_NEXT, 253])
        units = rng.randrange(3)
        body += bytes([nh, units]) + bytes(rng.randrange(256) for _ in range(6 + 8 * units))
    body += bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
    nh = rng.choice([HOP_BY_HOP, ROUTING, FRAGMENT, DEST_OPTS, ICMPV6, UDP, TCP, NO_NEXT, 253])
    plen = len(body) if rng.randrange(4) else rng.randrange(256)
    dst = rng.choice([THEM6, THEM6, THEM6, "ff02::1", "ff02::1:ff00:2"])
    return ip6(bytes(body), nh=nh, dst=dst, hop_limit=rng.randrange(3), plen=plen)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dev", default="tun0")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--fuzz", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-ipv6", action="store_true", help="IPv4 cases and fuzz only")
    ap.add_argument("--pace", type=int, default=200, help="packets between pacing pings")
    args = ap.parse_args()

    sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
    pinger = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    stats = f"/sys/class/net/{args.dev}/statistics/tx_dropped"

    def tx_dropped():
        with open(stats) as f:
            return int(f.read())

    dropped_before = tx_dropped()
    sent = pings = 0

    def keep_pace():
        """One echo request behind everything sent so far; its reply means the daemon has read
        them all. Gives up (and says so) after 5 s."""
        nonlocal pings
        pings += 1
        ident, seq = 0x7A7A, pings
        for _ in range(3):
            try:
                pinger.sendto(icmp_echo(ident=ident, seq=seq, data=b"pace"), (THEM, 0))
                break
            except PermissionError:
                pass  # dropped by a local firewall rule (the soak's 1% loss): send again
        deadline = time.monotonic() + 5
        while (left := deadline - time.monotonic()) > 0:
            pinger.settimeout(left)
            try:
                reply = pinger.recv(2048)  # any ICMP to us: the barrage's answers too
            except socket.timeout:
                break
            ihl = (reply[0] & 0x0F) * 4
            if reply[ihl] == 0 and struct.unpack("!HH", reply[ihl + 4:ihl + 8]) == (ident, seq):
                return
        print(f"pacing ping {seq} unanswered after 5 s")

    def send(pkt, proto):
        nonlocal sent
        sock.sendto(pkt, (args.dev, proto))
        sent += 1
        if sent % args.pace == 0:
            keep_pace()

    expected = {}
    for r in range(args.repeat):
        families = [(cases(ident_base=1000 + r * 16), ETH_P_IP)]
        if not args.no_ipv6:
            families.append((cases6(ident_base=2000 + r * 16), ETH_P_IPV6))
        for family, proto in families:
            for reason, pkts in family:
                for p in pkts if isinstance(pkts, list) else [pkts]:
                    send(p, proto)
                expected[reason] = expected.get(reason, 0) + 1

    rng = random.Random(args.seed)
    for _ in range(args.fuzz):
        kind = rng.randrange(3 if args.no_ipv6 else 5)
        proto = ETH_P_IP
        if kind == 0:  # pure garbage
            p = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
        elif kind <= 2:  # a valid ping with a few bytes flipped
            p = bytearray(ip(icmp_echo(seq=rng.randrange(65536), data=b"x" * rng.randrange(64))))
            for _ in range(rng.randrange(1, 4)):
                p[rng.randrange(len(p))] ^= 1 << rng.randrange(8)
            p = bytes(p)
        else:
            p, proto = fuzz6(rng), ETH_P_IPV6
        send(p, proto)
    keep_pace()
    print(f"sent {sent} packets ({args.fuzz} fuzzed), {pings} pacing pings, "
          f"device dropped {tx_dropped() - dropped_before}")
    print(json.dumps(expected, sort_keys=True))


if __name__ == "__main__":
    main()
