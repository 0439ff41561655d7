#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/ (run from anywhere; overwrites the
seed-* files, leaves whatever libFuzzer added). The packets and requests are the ones the
tests use: the handshake segments of tests/tcp_rfc_figures.rs and tests/stack_tcp.rs
(MSS, window scale, SACK-permitted, timestamps), the pings and fragments of
tests/stack_icmp.rs and tests/stack_icmpv6.rs, UDP echo of tests/stack_udp.rs, and the
requests of tests/http_sim.rs and tests/http_fuzz.rs. The structured targets (connection,
https) take `arbitrary` input and start from libFuzzer's own corpus."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
PEER, US = bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])
PEER6 = bytes.fromhex("20010002000000000000000000000001")
US6 = bytes.fromhex("20010002000000000000000000000002")


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return struct.pack("!H", ~s & 0xFFFF)


def tcp(sport, dport, seq, ack, flags, wnd=65535, opts=b"", payload=b"", v6=False):
    opts += b"\x01" * (-len(opts) % 4)
    h = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (20 + len(opts)) // 4 << 4,
                    flags, wnd, 0, 0) + opts + payload
    if v6:
        pseudo = PEER6 + US6 + struct.pack("!IxxxB", len(h), 6)
    else:
        pseudo = PEER + US + struct.pack("!xBH", 6, len(h))
    return h[:16] + csum(pseudo + h) + h[18:]


def ipv4(proto, payload, ident=1, frag=0):
    h = struct.pack("!BBHHHBB2s4s4s", 0x45, 0, 20 + len(payload), ident, frag, 64, proto,
                    b"\0\0", PEER, US)
    return h[:10] + csum(h) + h[12:] + payload


def ipv6(nh, payload):
    return struct.pack("!IHBB", 0x60000000, len(payload), nh, 64) + PEER6 + US6 + payload


def icmp_echo(data=b"ping"):
    m = struct.pack("!BBHHH", 8, 0, 0, 0x1234, 1) + data
    return m[:2] + csum(m) + m[4:]


def icmp6_echo(data=b"ping"):
    m = struct.pack("!BBHHH", 128, 0, 0, 0x1234, 1) + data
    pseudo = PEER6 + US6 + struct.pack("!IxxxB", len(m), 58)
    return m[:2] + csum(pseudo + m) + m[4:]


def udp(sport, dport, data):
    u = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    pseudo = PEER + US + struct.pack("!xBH", 17, len(u))
    return u[:6] + csum(pseudo + u) + u[8:]


SYN_OPTS = (b"\x02\x04\x05\xb4" + b"\x01\x03\x03\x07" + b"\x04\x02"
            + b"\x08\x0a" + struct.pack("!II", 1, 0))
SACK_OPTS = b"\x01\x01\x05\x0a" + struct.pack("!II", 1000, 2000)
SYN, ACK, FIN, RST, PSH = 2, 16, 1, 4, 8

SEGMENTS = {
    "syn": tcp(40000, 80, 100, 0, SYN, opts=SYN_OPTS),
    "syn-plain": tcp(40000, 80, 0xFFFFFF00, 0, SYN),
    "synack": tcp(80, 40000, 300, 101, SYN | ACK, opts=SYN_OPTS),
    "data": tcp(40000, 80, 101, 301, ACK | PSH, payload=b"GET / HTTP/1.1\r\n\r\n"),
    "sack": tcp(40000, 80, 101, 301, ACK, opts=SACK_OPTS),
    "fin": tcp(40000, 80, 101, 301, FIN | ACK),
    "rst": tcp(40000, 80, 101, 0, RST),
}

PING = ipv4(1, icmp_echo())
BIG = icmp_echo(bytes(range(256)) * 6)
FRAG1 = ipv4(1, BIG[:1000], ident=7, frag=0x2000)
FRAG2 = ipv4(1, BIG[1000:], ident=7, frag=1000 // 8)


def rec(packet, fix=False):
    return bytes([1 if fix else 0]) + struct.pack("!H", len(packet)) + packet


TIMERS, ADVANCE_1S = b"\x05", b"\x04" + struct.pack("!H", 1000 // 16)
STACK = {
    "syn": rec(ipv4(6, SEGMENTS["syn"])) + TIMERS + ADVANCE_1S + TIMERS,
    "syn6": rec(ipv6(6, tcp(40000, 80, 100, 0, SYN, opts=SYN_OPTS, v6=True))) + TIMERS,
    "syn-then-rst": rec(ipv4(6, SEGMENTS["syn"])) + rec(ipv4(6, SEGMENTS["rst"])),
    "ping": rec(PING),
    "ping6": rec(ipv6(58, icmp6_echo())),
    "fragments": rec(FRAG1) + rec(FRAG2),
    "fragment-timeout": rec(FRAG1) + b"\x04\xff\xff" + TIMERS,
    "udp-echo": rec(ipv4(17, udp(5000, 7, b"hello"))),
    "udp-closed": rec(ipv4(17, udp(5000, 9999, b"hello"))),
    "connect": b"\x06\x00" + TIMERS + ADVANCE_1S + TIMERS,
}

REQUESTS = {
    "get": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "valid": b"GET /index.html?x=1 HTTP/1.1\r\nHost: 198.18.0.2\r\nRange: bytes=0-5\r\n"
             b"If-None-Match: \"a\"\r\n\r\n",
    "head": b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n",
    "http10": b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "pipelined": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 3,
    "post": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    "chunked": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "close": b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "ims": b"GET / HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT\r\n\r\n",
}


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


for name, seg in SEGMENTS.items():
    write("tcp_parse", name, seg)
for name, data in STACK.items():
    write("stack", name, data)
for name, req in REQUESTS.items():
    write("http", name, b"\x00" + req)
# Slowloris: a head in three pieces 4 s apart, then a half-close.
write("http", "slowloris", b"\x10" + b"\xff".join([b"GET / HT", b"TP/1.1\r\n", b"Host: x\r\n"]) + b"\xfe")
