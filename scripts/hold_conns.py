#!/usr/bin/env python3
"""Opens N TCP connections to 198.18.0.2:PORT and keeps them idle, for the scale and memory
benchmarks (scripts/bench.sh). Run inside the benchmark's network namespace.

    hold_conns.py N PORT [--hold SECS] [--ready FILE]

Raises its own RLIMIT_NOFILE, connects (blocking, 2 s timeout each, so the stack's SYN and
accept queues are never flooded), then prints "ready OPEN" (and writes it to FILE) and holds
the connections idle for SECS seconds (default 60) or until SIGTERM/SIGINT, then closes them
and exits. Bounded: at most N connections, at most SECS seconds of holding. Only connects to
198.18.0.0/24.
"""
import argparse
import ipaddress
import resource
import signal
import socket
import sys
import time

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("port", type=int)
    ap.add_argument("--addr", default="198.18.0.2")
    ap.add_argument("--hold", type=float, default=60.0)
    ap.add_argument("--ready", default=None)
    a = ap.parse_args()
    if ipaddress.ip_address(a.addr) not in ipaddress.ip_network("198.18.0.0/24"):
        sys.exit("hold_conns: only 198.18.0.0/24 is allowed")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.n + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, soft), max(want, hard)))
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    conns, failed = [], 0
    deadline = time.monotonic() + a.hold
    for _ in range(a.n):
        if stop or time.monotonic() > deadline:
            break
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(2.0)
        try:
            s.connect((a.addr, a.port))
            conns.append(s)
        except OSError:
            s.close()
            failed += 1
            if failed > 50:
                break
    msg = f"ready {len(conns)}"
    print(msg, flush=True)
    if a.ready:
        with open(a.ready, "w") as f:
            f.write(msg + "\n")
    while not stop and time.monotonic() < deadline:
        time.sleep(0.1)
    for s in conns:
        s.close()

if __name__ == "__main__":
    main()
