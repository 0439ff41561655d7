#!/usr/bin/env python3
"""Drives tunstack's TCP services from the kernel side and checks every byte.

    scripts/tcpcheck.py echo --bytes 1048576         one connection, data echoed back
    scripts/tcpcheck.py echo-many --conns 200        concurrent echo connections
    scripts/tcpcheck.py discard --bytes N            N bytes into discard, closed cleanly
    scripts/tcpcheck.py chargen --bytes N            N bytes of RFC 864 lines, verified
    scripts/tcpcheck.py qotd                         the quote; the server closes first
    scripts/tcpcheck.py hold --seconds S             an idle echo connection held open
    scripts/tcpcheck.py serve --bytes N [--close-first]
                        a kernel-side server on 198.18.0.1:5000 for our active open: sends N
                        random bytes while reading; closes after the client's FIN, or with
                        --close-first as soon as N bytes went each way

--host ADDR talks to the daemon at ADDR instead of 198.18.0.2 (2001:2::2 for IPv6), and
--bind ADDR serves on ADDR instead of 198.18.0.1 (2001:2::1 for IPv6); the address family
follows the address.

Each prints one "... ok ..." line or exits non-zero with what went wrong. Run it inside the
daemon's namespace (scripts/netns.sh); it only talks to 198.18.0.2 or 2001:2::2 (or the
--host given, which must be inside 198.18.0.0/24 or 2001:2::/64).
"""
import argparse
import hashlib
import ipaddress
import random
import selectors
import socket
import sys
import time

ADDR = "198.18.0.2"
SAFE = [ipaddress.ip_network("198.18.0.0/24"), ipaddress.ip_network("2001:2::/64")]


def fail(msg):
    print(f"FAIL: {msg}", flush=True)
    sys.exit(1)


def checked(addr):
    """`addr`, refused unless it lies in one of the test ranges (network safety)."""
    ip = ipaddress.ip_address(addr)
    if not any(ip in net for net in SAFE):
        fail(f"{addr} is outside 198.18.0.0/24 and 2001:2::/64")
    return str(ip)


def connect(port, timeout):
    s = socket.create_connection((ADDR, port), timeout=timeout)
    s.settimeout(timeout)
    return s


def payload(n, seed):
    rng = random.Random(seed)
    return rng.randbytes(n)


def cmd_echo(a):
    data = payload(a.bytes, a.seed)
    s = connect(7, a.timeout)
    sel = selectors.DefaultSelector()
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    sent, got = 0, bytearray()
    deadline = time.monotonic() + a.timeout
    while len(got) < len(data):
        if time.monotonic() > deadline:
            fail(f"echo: timed out with {sent} sent, {len(got)} received")
        for _, ev in sel.select(1):
            if ev & selectors.EVENT_WRITE and sent < len(data):
                sent += s.send(data[sent:sent + 65536])
                if sent == len(data):
                    sel.modify(s, selectors.EVENT_READ)
            if ev & selectors.EVENT_READ:
                chunk = s.recv(65536)
                if not chunk:
                    fail(f"echo: EOF after {len(got)} bytes")
                got += chunk
    s.setblocking(True)
    s.shutdown(socket.SHUT_WR)
    rest = s.recv(1)
    s.close()
    if bytes(got) != data:
        fail("echo: data differs")
    if rest:
        fail("echo: extra bytes after the echo")
    print(f"echo ok {len(data)} bytes sha256={hashlib.sha256(data).hexdigest()[:16]}")


def cmd_echo_many(a):
    sel = selectors.DefaultSelector()
    conns = {}
    for i in range(a.conns):
        s = connect(7, a.timeout)
        s.setblocking(False)
        conns[s] = {"data": payload(a.bytes, a.seed + i), "sent": 0, "got": bytearray()}
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    done = 0
    deadline = time.monotonic() + a.timeout
    while done < a.conns:
        if time.monotonic() > deadline:
            fail(f"echo-many: timed out with {done} of {a.conns} done")
        for key, ev in sel.select(1):
            s, c = key.fileobj, conns[key.fileobj]
            if ev & selectors.EVENT_WRITE and c["sent"] < len(c["data"]):
                c["sent"] += s.send(c["data"][c["sent"]:])
                if c["sent"] == len(c["data"]):
                    sel.modify(s, selectors.EVENT_READ)
            if ev & selectors.EVENT_READ:
                chunk = s.recv(65536)
                if not chunk:
                    fail("echo-many: early EOF")
                c["got"] += chunk
                if len(c["got"]) == len(c["data"]):
                    if bytes(c["got"]) != c["data"]:
                        fail("echo-many: data differs")
                    sel.unregister(s)
                    s.close()
                    done += 1
    print(f"echo-many ok {a.conns} connections x {a.bytes} bytes")


def cmd_discard(a):
    s = connect(9, a.timeout)
    block = payload(65536, a.seed)
    left = a.bytes
    while left > 0:
        n = min(left, len(block))
        s.sendall(block[:n])
        left -= n
    s.shutdown(socket.SHUT_WR)
    if s.recv(1):
        fail("discard: it answered")
    s.close()
    print(f"discard ok {a.bytes} bytes")


def chargen_expected(n):
    out = bytearray()
    line = 0
    while len(out) < n:
        start = line % 95
        out += bytes(32 + (start + i) % 95 for i in range(72)) + b"\r\n"
        line += 1
    return bytes(out[:n])


def cmd_chargen(a):
    s = connect(19, a.timeout)
    got = bytearray()
    while len(got) < a.bytes:
        chunk = s.recv(min(65536, a.bytes - len(got)))
        if not chunk:
            fail(f"chargen: EOF after {len(got)} bytes")
        got += chunk
    s.close()
    if bytes(got) != chargen_expected(a.bytes):
        fail("chargen: pattern differs")
    print(f"chargen ok {a.bytes} bytes")


def cmd_qotd(a):
    s = connect(17, a.timeout)
    got = bytearray()
    while True:
        chunk = s.recv(1024)
        if not chunk:
            break
        got += chunk
    s.close()
    if not got or len(got) >= 512:
        fail(f"qotd: {len(got)} bytes")
    print(f"qotd ok {got.decode().strip()}")


def cmd_hold(a):
    s = connect(7, a.timeout + a.seconds)
    s.sendall(b"ping\n")
    if s.recv(5) != b"ping\n":
        fail("hold: no echo")
    time.sleep(a.seconds)
    try:
        s.sendall(b"again\n")
        ok = s.recv(6) == b"again\n"
    except OSError as e:
        print(f"hold: connection gone after {a.seconds} s: {e}")
        return
    print(f"hold ok alive after {a.seconds} s" if ok else "hold: no echo after idle")


def cmd_serve(a):
    bind = checked(a.bind)
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((bind, 5000))
    srv.listen(1)
    srv.settimeout(a.timeout)
    conn, peer = srv.accept()
    conn.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(conn, selectors.EVENT_READ | selectors.EVENT_WRITE)
    sent_hash, recv_hash = hashlib.sha256(), hashlib.sha256()
    sent = received = 0
    eof = closed = False
    rng = random.Random(a.seed)
    block = b""
    deadline = time.monotonic() + a.timeout
    while not (eof and sent == a.bytes) and not (a.close_first and closed):
        if time.monotonic() > deadline:
            fail(f"serve: timed out: sent {sent}, received {received}")
        for _, ev in sel.select(1):
            if ev & selectors.EVENT_WRITE and sent < a.bytes:
                if not block:
                    block = rng.randbytes(min(65536, a.bytes - sent))
                n = conn.send(block)
                sent_hash.update(block[:n])
                sent += n
                block = block[n:]
                if sent == a.bytes:
                    sel.modify(conn, selectors.EVENT_READ)
            if ev & selectors.EVENT_READ:
                chunk = conn.recv(262144)
                if not chunk:
                    eof = True
                    sel.modify(conn, selectors.EVENT_WRITE) if sent < a.bytes else sel.unregister(conn)
                else:
                    recv_hash.update(chunk)
                    received += len(chunk)
        if a.close_first and sent == a.bytes and received == a.bytes and not closed:
            conn.shutdown(socket.SHUT_WR)  # our FIN goes first
            closed = True
    if a.close_first:
        conn.setblocking(True)
        conn.settimeout(a.timeout)
        while conn.recv(65536):
            pass
    conn.close()
    host = f"[{peer[0]}]" if family == socket.AF_INET6 else peer[0]
    print(f"serve ok peer {host}:{peer[1]}")
    print(f"serve sent {sent} bytes sha256={sent_hash.hexdigest()}")
    print(f"serve received {received} bytes sha256={recv_hash.hexdigest()}")


def main():
    global ADDR
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["echo", "echo-many", "discard", "chargen", "qotd", "hold", "serve"])
    ap.add_argument("--close-first", action="store_true")
    ap.add_argument("--bytes", type=int, default=1 << 20)
    ap.add_argument("--conns", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--host", default=ADDR, help="the daemon's address (198.18.0.2 or 2001:2::2)")
    ap.add_argument("--bind", default="198.18.0.1", help="serve's address (or 2001:2::1)")
    a = ap.parse_args()
    ADDR = checked(a.host)
    {"echo": cmd_echo, "echo-many": cmd_echo_many, "discard": cmd_discard, "chargen": cmd_chargen,
     "qotd": cmd_qotd, "hold": cmd_hold, "serve": cmd_serve}[a.command](a)


if __name__ == "__main__":
    main()
