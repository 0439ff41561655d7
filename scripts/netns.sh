#!/usr/bin/env bash
# Runs a command against tunstack (or another stack) inside a fresh network namespace.
#
#   scripts/netns.sh [options] [--] COMMAND [ARGS...]
#
# 1. creates a network namespace (its own loopback; IPv6 on, without router solicitations
#    or duplicate address detection),
# 2. starts the daemon inside it and waits until 198.18.0.2 answers ping,
# 3. runs COMMAND inside the namespace, with NETNS, DAEMON_PID and DAEMON_LOG exported,
# 4. stops the daemon by its PID (SIGINT, so it prints its summary and flushes its capture),
#    and deletes the namespace, even when something failed.
# Exit status: COMMAND's, or 1 if the daemon failed to start or exited with an error.
#
# Options:
#   -n NAME   namespace name (default tunstack-PID)
#   -b PATH   daemon binary (default $TUNSTACK_BIN, else target/release/tunstack, else debug)
#   -d ARGS   extra daemon arguments, one string (e.g. "--pcap /tmp/run.pcap --mtu 9000")
#   -l FILE   daemon log (stdout and stderr; default /tmp/NAME.log)
#   -p        create tun0 in the namespace beforehand (persistent, configured with ip(8));
#             for daemons that do not configure the device themselves (the smoltcp baseline,
#             or tunstack --no-configure)
#   -m MTU    MTU for the device made with -p (default 1500)
#   -w SECS   how long to wait for the first ping answer (default 10)
#   -q        quiet: do not print the daemon log at the end
#
# Network safety: every packet stays inside the namespace, in 198.18.0.0/24 and
# 2001:2::/64.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
name="tunstack-$$"
bin="${TUNSTACK_BIN:-}"
daemon_args=""
log=""
precreate=0
mtu=1500
wait_secs=10
quiet=0

while getopts "n:b:d:l:pm:w:qh" opt; do
  case "$opt" in
    n) name=$OPTARG ;;
    b) bin=$OPTARG ;;
    d) daemon_args=$OPTARG ;;
    l) log=$OPTARG ;;
    p) precreate=1 ;;
    m) mtu=$OPTARG ;;
    w) wait_secs=$OPTARG ;;
    q) quiet=1 ;;
    h) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "netns.sh: see -h" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift
[ $# -gt 0 ] || { echo "netns.sh: no command given (see -h)" >&2; exit 2; }

if [ "$(id -u)" -ne 0 ]; then
  echo "netns.sh: needs root (network namespaces): run with sudo" >&2
  exit 77
fi
if [ -z "$bin" ]; then
  for candidate in "$root/target/release/tunstack" "$root/target/debug/tunstack"; do
    [ -x "$candidate" ] && { bin=$candidate; break; }
  done
fi
[ -n "$bin" ] && [ -x "$bin" ] || { echo "netns.sh: no daemon binary (cargo build, or -b PATH)" >&2; exit 2; }
log=${log:-/tmp/$name.log}

daemon_pid=""
cleanup() {
  local status=$?
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -INT "$daemon_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$daemon_pid" 2>/dev/null || break
      sleep 0.05
    done
    if kill -0 "$daemon_pid" 2>/dev/null; then
      echo "netns.sh: daemon $daemon_pid ignored SIGINT for 5 s; killing it" >&2
      kill -KILL "$daemon_pid" 2>/dev/null || true
    fi
  fi
  # Whatever the command left running inside our namespace (its children) goes with it.
  for pid in $(ip netns pids "$name" 2>/dev/null); do
    kill -TERM "$pid" 2>/dev/null || true
  done
  ip netns del "$name" 2>/dev/null || true
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$name"
in_ns() { ip netns exec "$name" "$@"; }
in_ns ip link set lo up
# IPv6 on (the daemon is dual-stack by default), without router solicitations or DAD: the
# kernel side of a point-to-point TUN has no router to find and no one to collide with.
in_ns sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0 \
  net.ipv6.conf.default.router_solicitations=0 net.ipv6.conf.default.accept_ra=0 \
  net.ipv6.conf.default.accept_dad=0 || true
if [ "$precreate" = 1 ]; then
  in_ns ip tuntap add tun0 mode tun
  in_ns ip addr add 198.18.0.1/24 dev tun0
  in_ns ip -6 addr add 2001:2::1/64 dev tun0 nodad 2>/dev/null || true
  in_ns ip link set tun0 mtu "$mtu" up
fi

# shellcheck disable=SC2086 # daemon_args is a list of words
ip netns exec "$name" "$bin" $daemon_args >"$log" 2>&1 &
daemon_pid=$!

ready=0
for _ in $(seq 1 $((wait_secs * 10))); do
  if ! kill -0 "$daemon_pid" 2>/dev/null; then
    break
  fi
  if in_ns ping -c 1 -W 1 -q 198.18.0.2 >/dev/null 2>&1; then
    ready=1
    break
  fi
  sleep 0.1
done
if [ "$ready" != 1 ]; then
  echo "netns.sh: the daemon did not answer ping on 198.18.0.2; its log:" >&2
  sed 's/^/  | /' "$log" >&2 || true
  exit 1
fi

set +e
NETNS=$name DAEMON_PID=$daemon_pid DAEMON_LOG=$log ip netns exec "$name" "$@"
status=$?
set -e

# Stop the daemon now, so its summary is in the log before we show it.
kill -INT "$daemon_pid" 2>/dev/null || true
daemon_status=0
for _ in $(seq 1 100); do
  kill -0 "$daemon_pid" 2>/dev/null || break
  sleep 0.05
done
if kill -0 "$daemon_pid" 2>/dev/null; then
  echo "netns.sh: daemon did not stop within 5 s of SIGINT" >&2
  kill -KILL "$daemon_pid" 2>/dev/null || true
  daemon_status=1
else
  wait "$daemon_pid" || daemon_status=$?
fi
daemon_pid=""
if [ "$quiet" != 1 ]; then
  echo "--- daemon log ($log) ---"
  cat "$log"
fi
if [ "$daemon_status" -ne 0 ] && [ "$status" -eq 0 ]; then
  echo "netns.sh: daemon exited with status $daemon_status" >&2
  status=1
fi
exit "$status"
