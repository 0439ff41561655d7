#!/usr/bin/env python3
"""Hostile load against tunstack, for scripts/bench.sh's `hostile` group and tests/live_hostile.rs.
Run inside the daemon's network namespace (scripts/netns.sh).

    hostile.py synflood N [--port 80] [--dev tun0] [--rate PPS]
    hostile.py ackflood N [--port 80] [--dev tun0] [--rate PPS]
    hostile.py slowreaders N [--port 7] [--bytes 1048576] [--hold SECS] [--ready FILE]

synflood: N SYNs at full speed from spoofed sources 198.18.0.10-250 (random ports and
  sequence numbers, Linux's options: MSS 1460, SACK-permitted, timestamps, window scale 7)
  to 198.18.0.2:PORT, written straight into the TUN device through an AF_PACKET socket (as
  scripts/barrage.py does), so the kernel neither routes nor answers them. The daemon's
  SYN-ACKs to those sources end at the kernel, which does not forward them (a fresh
  namespace has forwarding off).
ackflood: N bogus cookie ACKs (random sequence and acknowledgment numbers) the same way.
  --rate paces either flood to PPS packets per second (default 0: full speed).
  Both print "sent N in S s (P packets/s), CPU C s, device dropped D" (D: packets the TUN
  device's queue to the daemon had no room for).
slowreaders: opens N connections to 198.18.0.2:PORT, writes up to BYTES on each
  (non-blocking, round-robin, as far as the windows let it) and never reads; prints
  "ready OPEN WRITTEN reset R failed F" (and writes it to FILE), then holds them for SECS
  (default 60) or until SIGTERM/SIGINT, and prints "done OPEN reset R". Connecting and
  writing take at most SECS as well. Raises its own RLIMIT_NOFILE.

Network safety: every packet stays in 198.18.0.0/24, inside the namespace. Bounded: N
packets or connections, at most SECS of holding.
"""
import argparse
import ipaddress
import random
import resource
import signal
import socket
import struct
import sys
import time

STACK = "198.18.0.2"
ETH_P_IP = 0x0800


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def segment(src: str, sport: int, dport: int, seq: int, ack: int, flags: int,
            options: bytes) -> bytes:
    """An IPv4 packet carrying one TCP segment from src:sport to the stack."""
    off = (20 + len(options)) // 4
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, off << 4, flags, 64240, 0, 0) + options
    s, d = socket.inet_aton(src), socket.inet_aton(STACK)
    pseudo = s + d + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), random.getrandbits(16), 0x4000,
                     64, 6, 0, s, d)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return ip + tcp


def flood(args, syn: bool):
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
    rng = random.Random(args.seed)
    dropped_before = tx_dropped(args.dev)
    cpu0, t0 = time.process_time(), time.monotonic()
    sent = 0
    for i in range(args.n):
        src = f"198.18.0.{10 + i % 241}"
        sport = rng.randrange(1024, 65536)
        tsval = rng.getrandbits(32)
        if syn:
            # MSS 1460, SACK-permitted, timestamps, NOP, window scale 7 (Linux's order).
            opts = (struct.pack("!BBH", 2, 4, 1460) + b"\x04\x02"
                    + struct.pack("!BBII", 8, 10, tsval, 0) + b"\x01\x03\x03\x07")
            pkt = segment(src, sport, args.port, rng.getrandbits(32), 0, 0x02, opts)
        else:
            opts = b"\x01\x01" + struct.pack("!BBII", 8, 10, tsval, rng.getrandbits(32))
            pkt = segment(src, sport, args.port, rng.getrandbits(32), rng.getrandbits(32), 0x10,
                          opts)
        while True:
            try:
                sock.sendto(pkt, (args.dev, ETH_P_IP))
                break
            except BlockingIOError:
                time.sleep(0.0001)
            except OSError as e:
                if e.errno != 105:  # ENOBUFS: the device queue is full, try again
                    raise
                time.sleep(0.0001)
        sent += 1
        if args.rate > 0:
            ahead = t0 + sent / args.rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    wall = time.monotonic() - t0
    cpu = time.process_time() - cpu0
    # Packets the device's queue to the daemon had no room for.
    dropped = tx_dropped(args.dev) - dropped_before
    print(f"sent {sent} in {wall:.2f} s ({sent / wall:.0f} packets/s), CPU {cpu:.2f} s, "
          f"device dropped {dropped}", flush=True)


def tx_dropped(dev: str) -> int:
    with open(f"/sys/class/net/{dev}/statistics/tx_dropped") as f:
        return int(f.read())


def slowreaders(args):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.n + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, soft), max(want, hard)))
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    deadline = time.monotonic() + args.hold
    conns, failed = [], 0
    for _ in range(args.n):
        if stop or time.monotonic() > deadline:
            break
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # A small kernel send buffer: the bytes wait in the daemon, not in our kernel.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
        s.settimeout(3.0)
        try:
            s.connect((STACK, args.port))
            s.setblocking(False)
            conns.append([s, 0])
        except OSError:
            s.close()
            failed += 1
            if failed > 100:
                break
    chunk = b"x" * 65536
    # Write round-robin until every connection wrote BYTES or nothing moves for 2 s.
    idle_since = time.monotonic()
    while not stop and time.monotonic() < deadline and time.monotonic() - idle_since < 2:
        moved = False
        for c in conns:
            if c[1] >= args.bytes:
                continue
            try:
                n = c[0].send(chunk[: min(len(chunk), args.bytes - c[1])])
                c[1] += n
                moved = moved or n > 0
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                c[1] = args.bytes  # reset by the daemon: nothing more to write
        if moved:
            idle_since = time.monotonic()
        else:
            time.sleep(0.05)
    reset = sum(1 for c in conns if is_reset(c[0]))
    msg = f"ready {len(conns)} {sum(c[1] for c in conns)} reset {reset} failed {failed}"
    print(msg, flush=True)
    if args.ready:
        with open(args.ready, "w") as f:
            f.write(msg + "\n")
    deadline = time.monotonic() + args.hold
    while not stop and time.monotonic() < deadline:
        time.sleep(0.1)
    reset = sum(1 for c in conns if is_reset(c[0]))
    print(f"done {len(conns)} reset {reset}", flush=True)
    for c in conns:
        c[0].close()


def is_reset(s) -> bool:
    return s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0 or peer_gone(s)


def peer_gone(s) -> bool:
    try:
        s.getpeername()
        return False
    except OSError:
        return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["synflood", "ackflood", "slowreaders"])
    ap.add_argument("n", type=int)
    ap.add_argument("--port", type=int, default=None)
    ap.add_argument("--dev", default="tun0")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--rate", type=float, default=0.0)
    ap.add_argument("--bytes", type=int, default=1 << 20)
    ap.add_argument("--hold", type=float, default=60.0)
    ap.add_argument("--ready", default=None)
    args = ap.parse_args()
    assert ipaddress.ip_address(STACK) in ipaddress.ip_network("198.18.0.0/24")
    if args.seed is None:  # different sources for each mode, so an ACK never hits a SYN's tuple
        args.seed = {"synflood": 14, "ackflood": 41}.get(args.mode, 0)
    if args.mode == "slowreaders":
        args.port = args.port or 7
        slowreaders(args)
    else:
        args.port = args.port or 80
        flood(args, args.mode == "synflood")


if __name__ == "__main__":
    sys.exit(main())
