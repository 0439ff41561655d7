#!/usr/bin/env python3
"""Kernel-side bulk client for the benchmarks (scripts/bench.sh): one process, one TCP
connection, 1 MiB buffers allocated once, so the client costs as little CPU per byte as the
kernel allows and a saturated client shows in its CPU share. Run inside the benchmark's
network namespace.

    bulk_client.py send HOST PORT BYTES [--timeout SECS]   # e.g. to discard (9)
    bulk_client.py recv HOST PORT BYTES [--timeout SECS]   # e.g. from chargen (19)
    options: --seconds S   stop after S seconds (or BYTES, whichever first) instead of
                           treating fewer than BYTES as a stall (the loss benchmarks)
             --cc NAME     the kernel's congestion control for this socket (TCP_CONGESTION,
                           e.g. reno or cubic; root may pick any the kernel has)

send: sendall() of one preallocated 1 MiB buffer until BYTES are written, then shutdown
(SHUT_WR) and read until the peer closes (what `nc -N` does), so the time covers the data
arriving at the peer. recv: recv_into() the same buffer until BYTES have arrived, then close.
The clock and the process's CPU time (user + system, which includes the kernel's TCP work
done in its system calls) are read right after the connection is established and at the end.

Prints one line: "gbps G cpu C secs S bytes N retrans R" (C = CPU seconds / wall seconds,
1.00 means one core saturated; R = the kernel's tcpi_total_retrans for the connection), or "stalled ..." with exit status 1 when not done within SECS (default
60). Bounded: at most BYTES, at most SECS. Only connects to 198.18.0.0/24 and 2001:2::/64.
"""
import argparse
import ipaddress
import socket
import sys
import time

ALLOWED = [ipaddress.ip_network("198.18.0.0/24"), ipaddress.ip_network("2001:2::/64")]
CHUNK = 1 << 20


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["send", "recv"])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("bytes", type=int)
    ap.add_argument("--timeout", type=float, default=60.0)
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
                s.sendall(view[:n])
                moved += n
            s.shutdown(socket.SHUT_WR)
            while s.recv_into(buf) > 0:  # discard sends nothing; wait for its FIN
                if time.monotonic() > deadline:
                    raise socket.timeout
        else:
            while moved < a.bytes:
                if time.monotonic() > deadline:
                    raise socket.timeout
                if stop is not None and time.monotonic() >= stop:
                    break
                k = s.recv_into(view[: min(CHUNK, a.bytes - moved)])
                if k == 0:
                    break
                moved += k
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


if __name__ == "__main__":
    sys.exit(main())
