#!/usr/bin/env bash
# Benchmarks tunstack against the smoltcp baseline (examples/smoltcp_peer.rs) on the same
# TUN setup, in the same run, each in a fresh network namespace (scripts/netns.sh).
#
#   scripts/bench.sh [-r REPETITIONS] [-c PINGS] [-b BYTES] [-t WRK_SECS] [-k IDLE_CONNS]
#                    [-s SCALE_WRK_SECS]
#
# Prints one table: per row, the median of REPETITIONS runs with min–max for each stack, and
# ours/smoltcp; then the device limits. Rows:
#   ping RTT; bulk kernel → stack (discard) and stack → kernel (chargen) at MTU 1500, 9000
#   and 65000 (BYTES each, default 500 MB, so the whole run stays under 10 minutes on a
#   noisy host);
#   HTTP keep-alive requests/s: wrk -t2 -c10 and -c50 for WRK_SECS (default 5) against
#     http://198.18.0.2/. What is compared: tunstack's full HTTP server (src/app/http/) with
#     its built-in page (1143-byte body, ~1.4 KB response with Date, ETag, Cache-Control...)
#     vs smoltcp_peer's minimal responder returning the same page with a 3-line head (~1.2 KB);
#   new connections/s: wrk -c50 with `Connection: close` (the server closes each connection);
#   scale: the -c10 keep-alive rate (wrk for SCALE_WRK_SECS, default 3) with IDLE_CONNS (default 10000) idle connections to echo
#     (port 7) held open beside it (scripts/hold_conns.py), as a fraction of the rate without
#     them, measured in the same namespace one after the other;
#   memory: daemon VmRSS growth per idle established connection while those IDLE_CONNS are
#     opened (smoltcp_peer gets IDLE_CONNS extra echo sockets with 4+4 KiB buffers allocated
#     at start, so its growth excludes them: its per-connection cost is paid up front);
#   in memory, no TUN: CPU s/GiB moved one way between two of our Stacks vs two smoltcp
#     Interfaces over an in-memory link (examples/mem_bulk.rs, one thread, getrusage);
#   device limits: packets/s a bare loop reads from / writes to tun0 (examples/tun_limits.rs);
#   ipv6 (both daemons dual-stack: tunstack by default, smoltcp_peer with --addr6; the kernel
#     side has 2001:2::1/64): ping -6 RTT to 2001:2::2; bulk kernel → stack (discard) and
#     stack → kernel (chargen) at MTU 1500 over IPv6 (BYTES each), each beside its IPv4 twin
#     measured the same way; HTTP keep-alive wrk -t2 -c10 against http://[2001:2::2]/.
#     The bulk rows of this group use scripts/bulk_client.py, not `head | nc` (one process,
#     one preallocated 1 MiB buffer for sendall/recv_into), and print under each row the
#     client's and the daemon's CPU share (CPU s / wall s of the transfer; 1.00 = one core
#     saturated), so a saturated client shows. Its IPv4 twins differ from the bulk group's
#     rows only in that client.
#   loss: sending through 0.1%, 1% and 5% random loss each way, the kernel (Reno, CUBIC) and
#     tunstack (NewReno, CUBIC) and smoltcp as senders, 3 runs of 5 s each, with
#     retransmissions per dropped packet and RTOs (scripts/bench_loss.sh, which says where
#     the loss is made and why).
# BENCH_ONLY="ping bulk http scale mem limits ipv6 loss" picks groups (default: all).
# Needs root for the namespaces; every packet stays in 198.18.0.0/24 and 2001:2::/64.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
reps=5
pings=500
bytes=500000000
bulk_limit=60
wrk_secs=5
idle=10000
scale_secs=3

while getopts "r:c:b:t:k:s:h" opt; do
  case "$opt" in
    r) reps=$OPTARG ;;
    c) pings=$OPTARG ;;
    b) bytes=$OPTARG ;;
    t) wrk_secs=$OPTARG ;;
    k) idle=$OPTARG ;;
    s) scale_secs=$OPTARG ;;
    h) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) exit 2 ;;
  esac
done

if [ "$(id -u)" -ne 0 ]; then
  echo "bench.sh: needs root (network namespaces): run with sudo" >&2
  exit 77
fi

echo "building release binaries..." >&2
(cd "$root" && cargo build --release --quiet --bin tunstack --example smoltcp_peer \
  --example mem_bulk --example tun_limits)
ours="$root/target/release/tunstack"
smol="$root/target/release/examples/smoltcp_peer"
mem_bulk="$root/target/release/examples/mem_bulk"
tun_limits="$root/target/release/examples/tun_limits"

# Diagnostics of the runs (wrk socket errors, refused connections, scale details), printed
# after the table.
notes=$(mktemp)
trap 'rm -f "$notes"' EXIT

# BENCH_ONLY="http scale ..." runs only those groups (ping bulk http scale mem limits ipv6
# loss).
want() { [ -z "${BENCH_ONLY:-}" ] || [[ " $BENCH_ONLY " == *" $1 "* ]]; }

# median and range of numbers on stdin -> "median min max"
stats() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "nan nan nan"; exit }
  m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m, v[1], v[NR] }'; }

# Shell code for the start of a command inside a namespace: wait until address $1 answers
# one ping, at most 5 s (netns.sh waits for 198.18.0.2 only; this covers 2001:2::2 too).
wait_snippet() {
  echo "for _ in \$(seq 1 50); do ping -c 1 -W 1 -q $1 >/dev/null 2>&1 && break; sleep 0.1; done"
}

# One repetition of the ping row: median RTT in µs of $pings pings 2 ms apart.
ping_rep() { # $1 = binary, $2 = extra netns.sh flags, $3 = address (default 198.18.0.2)
  local addr=${3:-198.18.0.2} family=-4
  [[ "$addr" == *:* ]] && family=-6
  # shellcheck disable=SC2086
  "$here/netns.sh" -q $2 -b "$1" -- \
    bash -c "$(wait_snippet "$addr"); ping $family -c $pings -i 0.002 -W 1 $addr" \
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
  # Bounded: a transfer that has not finished after $bulk_limit s counts as stalled (n/a).
  # shellcheck disable=SC2086
  "$here/netns.sh" -q $2 -m "$4" -d "$daemon_args" -b "$1" -- bash -c \
    "s=\$(date +%s.%N); timeout $bulk_limit bash -c '$cmd' && e=\$(date +%s.%N) \
       && echo \"elapsed \$s \$e\" || echo stalled" \
    | awk -v b="$bytes" -v tag="$(basename "$1") $3 MTU $4" -v limit="$bulk_limit" -v notes="$notes" '
        /^elapsed/ { printf "%.3f\n", b * 8 / ($3 - $2) / 1e9 }
        /^stalled/ { print "n/a"; print "  " tag ": transfer stalled, not done after " limit " s (run left out)" >> notes }'
}

# One repetition of a bulk row with scripts/bulk_client.py (the ipv6 group): prints
# "Gbit/s client_cpu daemon_cpu" ("n/a n/a n/a" when stalled). The CPU figures are CPU
# seconds over the client's wall seconds of the transfer: the client's own (user + system,
# its system calls run the kernel's TCP for it) and the daemon's (/proc/PID/stat, ticks).
# $1 = binary, $2 = netns.sh flags, $3 = rx|tx, $4 = address, $5 = MTU
bulk_py_rep() {
  local mode=recv port=19 daemon_args=""
  [ "$3" = rx ] && { mode=send; port=9; }
  case "$2" in *-p*) ;; *) daemon_args="--mtu $5" ;; esac
  # shellcheck disable=SC2016,SC2086
  "$here/netns.sh" -q $2 -m "$5" -d "$daemon_args" -b "$1" -- \
    env C="$here/bulk_client.py" M="$mode" A="$4" P="$port" N="$bytes" L="$bulk_limit" \
    bash -c "$(wait_snippet "$4")"'
    ticks() { awk "{ print \$14 + \$15 }" "/proc/$DAEMON_PID/stat"; }
    d0=$(ticks)
    out=$(timeout $((L + 10)) python3 "$C" "$M" "$A" "$P" "$N" --timeout "$L" || true)
    d1=$(ticks)
    echo "$out daemon_ticks $((d1 - d0)) hz $(getconf CLK_TCK)"' \
    | awk -v tag="$(basename "$1") $3 $4 MTU $5" -v limit="$bulk_limit" -v notes="$notes" '
        $1 == "gbps" { printf "%s %s %.2f\n", $2, $4, $(NF - 2) / $NF / $6 }
        $1 != "gbps" { print "n/a n/a n/a"; sub(/ daemon_ticks.*/, ""); print "  " tag ": " ($0 == "" ? "no output" : $0) " (run left out)" >> notes }'
}

# One repetition of an HTTP row: wrk's requests/s. $1 = binary, $2 = netns.sh flags,
# $3.. = wrk arguments; the URL is $url (default http://198.18.0.2/). wrk's socket errors go
# to stderr (they are not hidden).
http_rep() {
  local bin=$1 flags=$2 u=${url:-http://198.18.0.2/} host
  shift 2
  host=${u#http://}; host=${host%%/*}; host=${host#\[}; host=${host%\]}
  # shellcheck disable=SC2086
  "$here/netns.sh" -q $flags -b "$bin" -- env U="$u" bash -c "$(wait_snippet "$host")"'
    timeout $(($1 + 30)) wrk -t2 -d"$1s" "${@:2}" "$U"
    # tunstack logs each connection its HTTP server turns away (max_connections reached).
    refused=$(grep -c "refusing one" "$DAEMON_LOG" || true)
    [ "${refused:-0}" = 0 ] || echo "refused $refused"' _ "$wrk_secs" "$@" \
    | awk -v tag="$(basename "$bin") wrk -d${wrk_secs}s $*${url:+ $url}" -v notes="$notes" '
           /Socket errors/ { sub(/^ */, ""); print "  " tag ": " $0 >> notes }
           /^refused/ { print "  " tag ": the HTTP server refused " $2 " connections (max_connections reached)" >> notes }
           /Requests\/sec/ { print $2 }'
}

# One repetition of the scale and memory rows, in one namespace: the -c10 keep-alive rate,
# then $idle connections opened to echo (daemon RSS read before and after), then the rate
# again beside them. Prints "rate_ratio rss_growth_per_conn whole_rss_per_conn loaded_rate"
# ("n/a" each when not all of them opened). smoltcp_peer runs with its pool of $idle extra
# sockets from the start, so its "without" rate already pays for polling that pool.
scale_rep() { # $1 = binary, $2 = netns.sh flags
  local daemon_args=""
  case "$2" in *-p*) daemon_args="--idle $idle" ;; esac
  # shellcheck disable=SC2016,SC2086
  "$here/netns.sh" -q $2 -d "$daemon_args" -b "$1" -- \
    env H="$here" N="$idle" W="$scale_secs" B="$1" NOTES="$notes" bash -c '
    rss() { awk "/^VmRSS/ { print \$2 * 1024 }" /proc/$DAEMON_PID/status; }
    rate() { timeout $((W + 30)) wrk -t2 -c10 -d${W}s http://198.18.0.2/ | awk "/Requests\\/sec/ { print \$2 }"; }
    timeout 20 wrk -t2 -c10 -d1s http://198.18.0.2/ >/dev/null  # warm-up
    base=$(rate)
    r0=$(rss)
    ready=$(mktemp)
    python3 "$H/hold_conns.py" "$N" 7 --hold $((W + 120)) --ready "$ready" >/dev/null &
    holder=$!
    for _ in $(seq 1 900); do [ -s "$ready" ] && break; sleep 0.1; done
    sleep 0.5
    r1=$(rss)
    opened=$(awk "{ print \$2 }" "$ready")
    loaded=$(rate)
    kill -TERM "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
    rm -f "$ready"
    echo "  $(basename "$B") scale: ${base} req/s, ${opened:-0} idle opened, then ${loaded} req/s; VmRSS ${r0} -> ${r1} bytes" >>"$NOTES"
    if [ "${opened:-0}" != "$N" ]; then echo "n/a n/a n/a n/a"; exit 0; fi
    awk -v a="$loaded" -v b="$base" -v r0="$r0" -v r1="$r1" -v n="$N" \
      "BEGIN { printf \"%.3f %.0f %.0f %.2f\\n\", a / b, (r1 - r0) / n, r1 / n, a }"' \
    _
}

# Formats one figure: whole numbers from 1000 up, else two decimals.
fmt3() { awk -v m="$1" -v lo="$2" -v hi="$3" 'function f(x) { return x >= 1000 ? sprintf("%.0f", x) : sprintf("%.2f", x) }
  BEGIN { if (m == "nan") print "n/a"; else printf "%s (%s–%s)", f(m), f(lo), f(hi) }'; }

# Prints one row from two lists of per-run figures ("n/a" runs are left out).
print_row() { # $1 = label, $2 = ours runs, $3 = smoltcp runs, $4 = "higher"/"lower", $5 = note
  local om omin omax sm smin smax ratio
  read -r om omin omax < <(tr ' ' '\n' <<<"$2" | grep -E '^[0-9.eE+-]+$' | stats)
  read -r sm smin smax < <(tr ' ' '\n' <<<"$3" | grep -E '^[0-9.eE+-]+$' | stats)
  ratio=$(awk -v a="$om" -v b="$sm" 'BEGIN { if (a == "nan" || b == "nan" || b == 0) print "n/a"; else printf "%.2f", a / b }')
  printf '%-40s %26s   %26s   %6s  (%s is better)%s\n' \
    "$1" "$(fmt3 "$om" "$omin" "$omax")" "$(fmt3 "$sm" "$smin" "$smax")" "$ratio" "$4" "${5:+ $5}"
}

row() { # $1 = label, $2 = function, $3 = "higher" or "lower" is better, $4.. = extra args
  local ours_runs="" smol_runs="" label=$1 fn=$2 better=$3
  shift 3
  for _ in $(seq 1 "$reps"); do
    ours_runs+="$($fn "$ours" "" "$@") "
    smol_runs+="$($fn "$smol" "-p" "$@") "
  done
  print_row "$label" "$ours_runs" "$smol_runs" "$better"
}

# A bulk row of the ipv6 group (bulk_py_rep): the Gbit/s row, then the client's and the
# daemon's CPU share under it (median (min–max) of the same runs; no ratio).
# $1 = label, $2.. = bulk_py_rep's arguments after the netns.sh flags
row_cpu() {
  local label=$1 g c d runs=() i
  shift
  for i in 0 1 2 3 4 5; do runs[i]=""; done
  for _ in $(seq 1 "$reps"); do
    read -r g c d < <(bulk_py_rep "$ours" "" "$@")
    runs[0]+="$g " runs[1]+="$c " runs[2]+="$d "
    read -r g c d < <(bulk_py_rep "$smol" "-p" "$@")
    runs[3]+="$g " runs[4]+="$c " runs[5]+="$d "
  done
  print_row "$label" "${runs[0]}" "${runs[3]}" higher
  sub_row "  client CPU share (1.00 = one core)" "${runs[1]}" "${runs[4]}"
  sub_row "  daemon CPU share" "${runs[2]}" "${runs[5]}"
}

sub_row() { # $1 = label, $2 = ours runs, $3 = smoltcp runs
  local a b
  a=$(tr ' ' '\n' <<<"$2" | grep -E '^[0-9.]+$' | stats)
  b=$(tr ' ' '\n' <<<"$3" | grep -E '^[0-9.]+$' | stats)
  # shellcheck disable=SC2086
  printf '%-40s %26s   %26s\n' "$1" "$(fmt3 $a)" "$(fmt3 $b)"
}

echo
echo "tunstack vs smoltcp over TUN — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), Linux $(uname -r)"
echo "each row: median of $reps runs (min–max)"
printf '%-40s %26s   %26s   %6s\n' "benchmark" "tunstack" "smoltcp" "ratio"
if want ping; then row "ping RTT, µs (median)" ping_rep lower; fi
if want bulk; then
  for mtu in 1500 9000 65000; do
    row "kernel → stack, Gbit/s, MTU $mtu" bulk_rep higher rx "$mtu"
    row "stack → kernel, Gbit/s, MTU $mtu" bulk_rep higher tx "$mtu"
  done
fi
if want http; then
  row "HTTP keep-alive, req/s, wrk -c10" http_rep higher -c10
  row "HTTP keep-alive, req/s, wrk -c50" http_rep higher -c50
  row "HTTP new conns/s, wrk -c50, close" http_rep higher -c50 -H "Connection: close"
fi
if want scale; then
  scale_ours="" scale_smol="" mem_ours="" mem_smol="" tot_ours="" tot_smol=""
  load_ours="" load_smol=""
  for _ in $(seq 1 "$reps"); do
    read -r a b c d < <(scale_rep "$ours" "")
    scale_ours+="$a " mem_ours+="$b " tot_ours+="$c " load_ours+="$d "
    read -r a b c d < <(scale_rep "$smol" "-p")
    scale_smol+="$a " mem_smol+="$b " tot_smol+="$c " load_smol+="$d "
  done
  print_row "keep-alive c10 beside $idle idle, req/s" "$load_ours" "$load_smol" higher
  print_row "keep-alive c10, $idle idle / none" "$scale_ours" "$scale_smol" higher \
    "[smoltcp: both with its $idle-socket pool]"
  print_row "RSS growth per idle conn, bytes ($idle)" "$mem_ours" "$mem_smol" lower \
    "[smoltcp: pool allocated at start]"
  print_row "whole RSS / $idle idle conns, bytes" "$tot_ours" "$tot_smol" lower
fi
if want mem; then
  mb_ours="" mb_smol=""
  for _ in $(seq 1 "$reps"); do
    out=$(timeout 300 "$mem_bulk" --bytes $((1 << 30)) || true)
    mb_ours+="$(awk '$1 == "ours" { print $2 }' <<<"$out") "
    mb_smol+="$(awk '$1 == "smoltcp" { print $2 }' <<<"$out") "
  done
  print_row "in memory, no TUN: CPU s/GiB, MTU 1500" "$mb_ours" "$mb_smol" lower
fi
if want ipv6; then
  echo "IPv6 at 2001:2::2 (v4 twins at 198.18.0.2); bulk rows: scripts/bulk_client.py, not nc"
  row "ping -6 RTT, µs (median)" ping_rep lower 2001:2::2
  row_cpu "v6 kernel → stack, Gbit/s, MTU 1500" rx 2001:2::2 1500
  row_cpu "v4 kernel → stack, Gbit/s, MTU 1500" rx 198.18.0.2 1500
  row_cpu "v6 stack → kernel, Gbit/s, MTU 1500" tx 2001:2::2 1500
  row_cpu "v4 stack → kernel, Gbit/s, MTU 1500" tx 198.18.0.2 1500
  url="http://[2001:2::2]/" row "v6 HTTP keep-alive, req/s, wrk -c10" http_rep higher -c10
fi
if want limits; then
  # shellcheck disable=SC2016
  read_out=$("$here/netns.sh" -q -b "$ours" -- timeout 30 "$tun_limits" --read --secs 2 || true)
  write_out=$("$here/netns.sh" -q -b "$ours" -- timeout 30 "$tun_limits" --write --secs 2 || true)
  echo
  echo "device limits (bare loop on its own TUN device, 92-byte IPv4/UDP packets, one run):"
  awk '$1 == "read" { gsub(/[()]/, ""); printf "  read from TUN:  %9.0f packets/s (the kernel flood sent %.0f/s; if equal, the sender was the limit)\n", $2, $4 }' <<<"$read_out"
  awk '$1 == "write" { printf "  write to TUN:   %9.0f packets/s\n", $2 }' <<<"$write_out"
  [ -n "$read_out" ] || echo "  read from TUN: n/a (tun_limits --read failed)"
  [ -n "$write_out" ] || echo "  write to TUN: n/a (tun_limits --write failed)"
  echo "  (for scale: 1 Gbit/s of 1500-byte packets is 83,333 packets/s)"
fi
if want loss; then
  TUNSTACK_BIN="$ours" SMOLTCP_BIN="$smol" "$here/bench_loss.sh" -r 3 -t 5
fi
if [ -s "$notes" ]; then
  echo
  echo "notes from the runs:"
  cat "$notes"
fi
