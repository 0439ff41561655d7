#!/usr/bin/env bash
# A/B comparison of two builds of tunstack on the rows a refactoring must not slow down,
# alternating the two builds within each repetition so both see the same host.
#
#   scripts/compare.sh [-r REPETITIONS] [-b BYTES] [-t WRK_SECS] BEFORE_DIR AFTER_DIR
#
# Each DIR is a checkout whose release binaries are built (cargo build --release --bin
# tunstack --example mem_bulk). Rows, the median of REPETITIONS (default 3) with min–max:
#   in memory: CPU s/GiB between two of our Stacks (examples/mem_bulk, no TUN);
#   HTTP keep-alive: wrk -t2 -c10 requests/s against the built-in page;
#   stack → kernel: Gbit/s from chargen (port 19) to a Python receiver that reads 1 MiB at a
#     time (BYTES, default 300 MB; its CPU share is printed so a saturated client shows).
# Needs root for the namespaces (scripts/netns.sh); every packet stays in 198.18.0.0/24.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
reps=3
bytes=300000000
wrk_secs=5
while getopts "r:b:t:h" opt; do
  case "$opt" in
    r) reps=$OPTARG ;;
    b) bytes=$OPTARG ;;
    t) wrk_secs=$OPTARG ;;
    h) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -eq 2 ] || { echo "usage: compare.sh [-r N] [-b BYTES] [-t SECS] BEFORE_DIR AFTER_DIR" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "compare.sh: needs root (network namespaces): run with sudo" >&2; exit 77; }
dirs=("$1" "$2")
for d in "${dirs[@]}"; do
  for f in target/release/tunstack target/release/examples/mem_bulk; do
    [ -x "$d/$f" ] || { echo "compare.sh: $d/$f missing: cargo build --release --bin tunstack --example mem_bulk" >&2; exit 2; }
  done
done

stats() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "n/a"; exit }
  m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
  printf "%.3f (%.3f–%.3f)\n", m, v[1], v[NR] }'; }

receiver=$(mktemp --suffix=.py)
trap 'rm -f "$receiver"' EXIT
cat > "$receiver" <<'EOF'
import os, socket, sys, time
n = int(sys.argv[1])
s = socket.create_connection(("198.18.0.2", 19))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
buf = bytearray(1 << 20)
got, t0, c0 = 0, time.monotonic(), time.process_time()
while got < n:
    k = s.recv_into(buf)
    if k == 0:
        break
    got += k
t1, c1 = time.monotonic(), time.process_time()
print(f"gbps {got * 8 / (t1 - t0) / 1e9:.3f} cpu {(c1 - c0) / (t1 - t0):.2f} bytes {got}")
EOF

declare -A mem http bulk cpu
for rep in $(seq 1 "$reps"); do
  for i in 0 1; do
    d=${dirs[$i]}
    out=$(timeout 300 "$d/target/release/examples/mem_bulk" --bytes $((1 << 30)) --only ours || true)
    mem[$i]+="$(awk '$1 == "ours" { print $2 }' <<<"$out") "
    out=$("$here/netns.sh" -q -b "$d/target/release/tunstack" -- \
      timeout $((wrk_secs + 30)) wrk -t2 -c10 -d"${wrk_secs}s" http://198.18.0.2/ || true)
    http[$i]+="$(awk '/Requests\/sec/ { print $2 }' <<<"$out") "
    out=$("$here/netns.sh" -q -b "$d/target/release/tunstack" -- \
      timeout 120 python3 "$receiver" "$bytes" || true)
    bulk[$i]+="$(awk '$1 == "gbps" { print $2 }' <<<"$out") "
    cpu[$i]+="$(awk '$1 == "gbps" { print $4 }' <<<"$out") "
    echo "rep $rep ${dirs[$i]}: done" >&2
  done
done

row() { # name, values before, values after
  printf "%-40s %-28s %-28s\n" "$1" "$(tr ' ' '\n' <<<"$2" | grep . | stats)" "$(tr ' ' '\n' <<<"$3" | grep . | stats)"
}
printf "%-40s %-28s %-28s\n" "row (median, min–max of $reps)" "before: ${dirs[0]}" "after: ${dirs[1]}"
row "in memory, CPU s/GiB (lower is better)" "${mem[0]}" "${mem[1]}"
row "HTTP keep-alive -c10, requests/s" "${http[0]}" "${http[1]}"
row "stack → kernel MTU 1500, Gbit/s" "${bulk[0]}" "${bulk[1]}"
row "  receiver CPU share (1.00 = saturated)" "${cpu[0]}" "${cpu[1]}"
