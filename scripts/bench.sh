#!/usr/bin/env bash
# Benchmarks tunstack against the smoltcp baseline (examples/smoltcp_peer.rs) on the same
# TUN setup, in the same run, each in a fresh network namespace (scripts/netns.sh).
#
#   scripts/bench.sh [-r REPETITIONS] [-c PINGS] [-b BYTES]
#
# Prints one table: per row, the median of REPETITIONS runs with min–max for each stack, and
# ours/smoltcp. Rows so far: ping RTT; bulk kernel → stack (discard) and stack → kernel
# (chargen) at MTU 1500, 9000 and 65000. (HTTP, connection-rate, scale and memory rows come
# with the performance issue.) Needs root for the namespaces; every packet stays in
# 198.18.0.0/24.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
reps=5
pings=500
bytes=1000000000

while getopts "r:c:b:h" opt; do
  case "$opt" in
    r) reps=$OPTARG ;;
    c) pings=$OPTARG ;;
    b) bytes=$OPTARG ;;
    h) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) exit 2 ;;
  esac
done

if [ "$(id -u)" -ne 0 ]; then
  echo "bench.sh: needs root (network namespaces): run with sudo" >&2
  exit 77
fi

echo "building release binaries..." >&2
(cd "$root" && cargo build --release --quiet --bin tunstack --example smoltcp_peer)
ours="$root/target/release/tunstack"
smol="$root/target/release/examples/smoltcp_peer"

# median and range of numbers on stdin -> "median min max"
stats() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "nan nan nan"; exit }
  m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m, v[1], v[NR] }'; }

# One repetition of the ping row: median RTT in µs of $pings pings 2 ms apart.
ping_rep() { # $1 = binary, $2 = extra netns.sh flags
  # shellcheck disable=SC2086
  "$here/netns.sh" -q $2 -b "$1" -- ping -c "$pings" -i 0.002 -W 1 198.18.0.2 \
    | sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' | awk '{ print $1 * 1000 }' | stats | cut -d' ' -f1
}

# One repetition of a bulk row: Gbit/s moving $bytes through discard (rx) or chargen (tx).
# $1 = binary, $2 = netns.sh flags, $3 = rx|tx, $4 = MTU
bulk_rep() {
  local cmd daemon_args=""
  if [ "$3" = rx ]; then
    cmd="head -c $bytes /dev/zero | nc -N 198.18.0.2 9"
  else
    cmd="nc 198.18.0.2 19 | head -c $bytes > /dev/null"
  fi
  case "$2" in *-p*) ;; *) daemon_args="--mtu $4" ;; esac
  # shellcheck disable=SC2086
  "$here/netns.sh" -q $2 -m "$4" -d "$daemon_args" -b "$1" -- bash -c \
    "s=\$(date +%s.%N); $cmd; e=\$(date +%s.%N); echo \"elapsed \$s \$e\"" \
    | awk -v b="$bytes" '/^elapsed/ { printf "%.3f\n", b * 8 / ($3 - $2) / 1e9 }'
}

row() { # $1 = label, $2 = function, $3 = "higher" or "lower" is better, $4.. = extra args
  local ours_runs="" smol_runs="" label=$1 fn=$2 better=$3
  shift 3
  for _ in $(seq 1 "$reps"); do
    ours_runs+="$($fn "$ours" "" "$@") "
    smol_runs+="$($fn "$smol" "-p" "$@") "
  done
  read -r om omin omax < <(tr ' ' '\n' <<<"$ours_runs" | grep . | stats)
  read -r sm smin smax < <(tr ' ' '\n' <<<"$smol_runs" | grep . | stats)
  ratio=$(awk -v a="$om" -v b="$sm" 'BEGIN { printf (b > 0 ? "%.2f" : "n/a"), a / b }')
  printf '%-34s %9.2f (%.2f–%.2f)   %9.2f (%.2f–%.2f)   %6s  (%s is better)\n' \
    "$label" "$om" "$omin" "$omax" "$sm" "$smin" "$smax" "$ratio" "$better"
}

echo
echo "tunstack vs smoltcp over TUN — $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -r)"
echo "each row: median of $reps runs (min–max)"
printf '%-34s %25s   %25s   %6s\n' "benchmark" "tunstack" "smoltcp" "ratio"
row "ping RTT, µs (median)" ping_rep lower
for mtu in 1500 9000 65000; do
  row "kernel → stack, Gbit/s, MTU $mtu" bulk_rep higher rx "$mtu"
  row "stack → kernel, Gbit/s, MTU $mtu" bulk_rep higher tx "$mtu"
done
