#!/usr/bin/env python3
"""Kernel-side bulk client for the benchmarks (scripts/bench.sh) and the live offload
tests: one process, one TCP connection, large writes and reads from buffers allocated once,
so the client costs as little CPU per byte as the kernel allows and a saturated client
shows in its CPU share. Run inside the benchmark's network namespace.

    bulk_client.py send HOST PORT BYTES [--timeout SECS]   # e.g. to discard (9)
    bulk_client.py recv HOST PORT BYTES [--timeout SECS]   # e.g. from chargen (19)
    bulk_client.py echo HOST PORT BYTES [--timeout SECS]   # e.g. through echo (7)
    options: --seconds S   stop after S seconds (or BYTES, whichever first) instead of
                           treating fewer than BYTES as a stall (the loss benchmarks)
             --cc NAME     the kernel's congestion control for this socket (TCP_CONGESTION,
                           e.g. reno or cubic; root may pick any the kernel has)

send: sendall() of 1 MiB slices of a pattern until BYTES are written, then shutdown
(SHUT_WR) and read until the peer closes (what `nc -N` does), so the time covers the data
arriving at the peer. recv: recv_into() one 1 MiB buffer until BYTES have arrived, each read
compared with the RFC 864 chargen stream at its offset (--no-check: count only), then close.
echo: sends BYTES of the pattern and reads them back at the same time (non-blocking, one
thread), each read compared with the pattern at its offset, then shuts down and waits for
the peer's FIN. The pattern is seeded pseudo-random octets with a period of 1 MiB + 4093, so
a lost, repeated or misplaced segment does not line up with it. The checks compare whole
slices (memcmp), so they cost little beside the system calls.

The clock and the process's CPU time (user + system, which includes the kernel's TCP work
done in its system calls) are read right after the connection is established and at the end.

Prints one line: "gbps G cpu C secs S bytes N retrans R" (C = CPU seconds / wall seconds,
1.00 means one core saturated; for echo, G counts one direction; R = the kernel's
tcpi_total_retrans for the connection), or "stalled ..." / "corrupt ..." with
exit status 1. Bounded: at most BYTES each way, at most SECS (default 60). Only connects to
198.18.0.0/24 and 2001:2::/64.
"""
import argparse
import ipaddress
import random
import selectors
import socket
import sys
import time

ALLOWED = [ipaddress.ip_network("198.18.0.0/24"), ipaddress.ip_network("2001:2::/64")]
CHUNK = 1 << 20
PERIOD = CHUNK + 4093


def chargen_stream():
    """RFC 864 as tunstack and smoltcp_peer send it: 95 lines of 72 characters + CR LF,
    each line starting one character further; returns (cycle length, a buffer holding the
    cycle repeated so any CHUNK-long slice starting inside the first cycle fits)."""
    cycle = bytearray()
    for n in range(95):
        cycle += bytes(32 + (n + i) % 95 for i in range(72)) + b"\r\n"
    reps = (CHUNK + len(cycle)) // len(cycle) + 1
    return len(cycle), bytes(cycle) * reps


def pattern():
    """The send pattern: PERIOD pseudo-random octets, stored twice so any slice of up to
    PERIOD octets starting in the first copy is contiguous."""
    one = random.Random(13).randbytes(PERIOD)
    return PERIOD, one + one


class Checker:
    """Compares received octets with a periodic stream at their offset."""

    def __init__(self, period, stream):
        self.period, self.stream, self.at = period, stream, 0

    def take(self, data):
        o = self.at % self.period
        # bytes == bytes is one memcmp (memoryview == memoryview compares item by item,
        # 40 times slower: it would make the client the bottleneck).
        if data.tobytes() != self.stream[o:o + len(data)]:
            bad = next(i for i in range(len(data)) if data[i] != self.stream[o + i])
            print(f"corrupt: octet {self.at + bad} differs from the stream")
            sys.exit(1)
        self.at += len(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["send", "recv", "echo"])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("bytes", type=int)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--no-check", action="store_true", help="recv: count only")
    ap.add_argument("--seconds", type=float, default=0.0)
    ap.add_argument("--cc", default=None)
    a = ap.parse_args()
    ip = ipaddress.ip_address(a.host)
    if not any(ip.version == n.version and ip in n for n in ALLOWED):
        sys.exit("bulk_client: only 198.18.0.0/24 and 2001:2::/64 are allowed")
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    deadline = time.monotonic() + a.timeout
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    period, stream = pattern()
    out = memoryview(stream)
    check = None
    if a.mode == "recv" and not a.no_check:
        check = Checker(*chargen_stream())
    elif a.mode == "echo":
        check = Checker(period, stream)
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(a.timeout)
    if a.cc:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, a.cc.encode())
    s.connect((a.host, a.port))
    t0, c0 = time.monotonic(), time.process_time()
    stop = t0 + a.seconds if a.seconds > 0 else None
    moved = 0
    try:
        if a.mode == "send":
            while moved < a.bytes:
                if time.monotonic() > deadline:
                    raise socket.timeout
                if stop is not None and time.monotonic() >= stop:
                    break
                n = min(CHUNK, a.bytes - moved)
                o = moved % period
                s.sendall(out[o:o + n])
                moved += n
            s.shutdown(socket.SHUT_WR)
            while s.recv_into(buf) > 0:  # discard sends nothing; wait for its FIN
                if time.monotonic() > deadline:
                    raise socket.timeout
        elif a.mode == "recv":
            while moved < a.bytes:
                if time.monotonic() > deadline:
                    raise socket.timeout
                if stop is not None and time.monotonic() >= stop:
                    break
                k = s.recv_into(view[: min(CHUNK, a.bytes - moved)])
                if k == 0:
                    break
                if check:
                    check.take(view[:k])
                moved += k
        else:
            moved = echo(s, a.bytes, deadline, out, period, view, check)
    except (socket.timeout, TimeoutError):
        print(f"stalled after {moved} of {a.bytes} bytes ({a.timeout:.0f} s)")
        return 1
    t1, c1 = time.monotonic(), time.process_time()
    info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    retrans = int.from_bytes(info[100:104], "little") if len(info) >= 104 else -1
    s.close()
    if moved < a.bytes and stop is None:
        print(f"stalled: the peer closed after {moved} of {a.bytes} bytes")
        return 1
    secs = t1 - t0
    print(
        f"gbps {moved * 8 / secs / 1e9:.3f} cpu {(c1 - c0) / secs:.2f} secs {secs:.3f} "
        f"bytes {moved} retrans {retrans}"
    )
    return 0


def echo(s, total, deadline, out, period, view, check):
    """Writes `total` octets of the pattern and reads them back; returns octets read back
    (all of them, or fewer when the peer closed early)."""
    s.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    sent = got = 0
    while got < total:
        if time.monotonic() > deadline:
            raise socket.timeout
        for _, ev in sel.select(1):
            if ev & selectors.EVENT_WRITE and sent < total:
                o = sent % period
                try:
                    sent += s.send(out[o:o + min(CHUNK, total - sent)])
                except BlockingIOError:
                    pass
                if sent == total:
                    sel.modify(s, selectors.EVENT_READ)
                    s.shutdown(socket.SHUT_WR)
            if ev & selectors.EVENT_READ:
                try:
                    k = s.recv_into(view[: min(CHUNK, total - got)])
                except BlockingIOError:
                    continue
                if k == 0:
                    return got
                check.take(view[:k])
                got += k
    s.setblocking(True)
    s.settimeout(max(1.0, deadline - time.monotonic()))
    if s.recv_into(view) != 0:
        print("corrupt: octets after the echo")
        sys.exit(1)
    return got


if __name__ == "__main__":
    sys.exit(main())
