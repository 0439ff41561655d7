#!/usr/bin/env bash
# Benchmarks tunstack against the smoltcp baseline (examples/smoltcp_peer.rs) on the same
# TUN setup, in the same run, each in a fresh network namespace (scripts/netns.sh).
#
#   scripts/bench.sh [-r REPETITIONS] [-c PINGS]
#
# Prints one table: per row, the median of REPETITIONS runs with min–max for each stack, and
# ours/smoltcp. Rows so far: ping RTT. (The performance issue adds bulk transfer, HTTP and
# connection-rate rows.) Needs root for the namespaces; every packet stays in 198.18.0.0/24.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
reps=5
pings=500

while getopts "r:c:h" opt; do
  case "$opt" in
    r) reps=$OPTARG ;;
    c) pings=$OPTARG ;;
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

row() { # $1 = label, $2 = function, $3 = "higher" or "lower" is better
  local ours_runs="" smol_runs=""
  for _ in $(seq 1 "$reps"); do
    ours_runs+="$($2 "$ours" "") "
    smol_runs+="$($2 "$smol" "-p") "
  done
  read -r om omin omax < <(tr ' ' '\n' <<<"$ours_runs" | grep . | stats)
  read -r sm smin smax < <(tr ' ' '\n' <<<"$smol_runs" | grep . | stats)
  ratio=$(awk -v a="$om" -v b="$sm" 'BEGIN { printf (b > 0 ? "%.2f" : "n/a"), a / b }')
  printf '%-28s %10.1f (%.1f–%.1f)   %10.1f (%.1f–%.1f)   %6s  (%s is better)\n' \
    "$1" "$om" "$omin" "$omax" "$sm" "$smin" "$smax" "$ratio" "$3"
}

echo
echo "tunstack vs smoltcp over TUN — $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -r)"
echo "each row: median of $reps runs (min–max)"
printf '%-28s %26s   %26s   %6s\n' "benchmark" "tunstack" "smoltcp" "ratio"
row "ping RTT, µs (median)" ping_rep lower
