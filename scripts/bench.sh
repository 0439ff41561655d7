#!/usr/bin/env bash
# Benchmarks tunstack against the smoltcp baseline (examples/smoltcp_peer.rs) on the same
# TUN setup, in the same run, each in a fresh network namespace (scripts/netns.sh).
#
#   scripts/bench.sh [-r REPETITIONS] [-c PINGS] [-b BYTES] [-t WRK_SECS] [-k IDLE_CONNS]
#                    [-s SCALE_WRK_SECS]
#
# Prints one table: per row, the median of REPETITIONS runs with min–max for each stack, and
# ours/smoltcp; then the device limits. Rows:
#   ping RTT;
#   bulk (scripts/bulk_client.py, not `head | nc`, whose pipe was the limit at ~3.4 Gbit/s
#     for both stacks): kernel → stack (discard) and stack → kernel (chargen), BYTES each
#     (default 500 MB, so the whole run stays under 15 minutes on a noisy host), over IPv4
#     and IPv6 at MTU 1500 with our offload on and off (--offload on|off; smoltcp has no
#     offload: its device is opened without IFF_VNET_HDR), and over IPv4 at MTU 9000 and
#     65000 (our default, --offload auto). The client is one process writing/reading 1 MiB
#     slices and checking every read (chargen's RFC 864 stream). Under each row: the
#     client's CPU share (CPU s / wall s; 1.00 = one core saturated, so a saturated client
#     shows) and the daemon's CPU seconds per GB moved (/proc/PID/stat utime+stime before
#     and after). smoltcp_peer in its best configuration: 4 MiB socket buffers, a discard
#     that consumes in place, a chargen that fills ring space from a prebuilt cycle. Both
#     devices: txqueuelen and MTU as printed in the notes (the kernel's defaults, 500);
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
#     side has 2001:2::1/64): ping -6 RTT to 2001:2::2; HTTP keep-alive wrk -t2 -c10 against
#     http://[2001:2::2]/ (the IPv6 bulk rows are in the bulk group).
#   api (the embedding APIs; ours only, no smoltcp column): bulk each way at once, BYTES
#     each way with SHA-256 checked, from a client on our async API (examples/async_client.rs,
#     tokio multi-thread runtime) vs one on the blocking API (examples/transfer.rs) to the
#     same kernel-side server (scripts/tcpcheck.py serve); Mbit/s each way, ratio
#     async/blocking (the goal: within 20%), with the client's CPU share (our process: the
#     loop thread and the app's threads) and the kernel-side server's (python: when it is
#     near 1.00 the server, not our API, is the limit); then the built-in discard and
#     chargen rows at MTU 1500 (scripts/bulk_client.py) as the stack's in-loop reference.
#   hostile (tunstack only, one run each, figures printed as measured; smoltcp has no SYN
#     cookies or memory budget to compare): (1) 200,000 spoofed SYNs at full speed from
#     198.18.0.10-250 (scripts/hostile.py through AF_PACKET on tun0) with one curl every
#     50 ms to port 80 during the flood: success within 1 s, latency, the first curl after
#     the flood, the sender's CPU; (2) 10,000 connections writing 1 MiB each to echo and never
#     reading, the daemon at --mem-max 256M: RSS (sampled every 0.2 s) against the budget
#     while a fresh client downloads 10 MiB over HTTP byte-exact; (3) 5,000 bogus cookie ACKs
#     after 1,000 SYNs engaged cookies: connections made, RSS growth. Each prints the daemon's
#     RSS and TCP counters (scripts/hostile_run.sh).
#   loss: sending through 0.1%, 1% and 5% random loss each way, the kernel (Reno, CUBIC) and
#     tunstack (NewReno, CUBIC) and smoltcp as senders, 3 runs of 5 s each, with
#     retransmissions per dropped packet and RTOs (scripts/bench_loss.sh, which says where
#     the loss is made and why).
# BENCH_ONLY="ping bulk http scale mem limits ipv6 api hostile loss" picks groups (default: all).
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
  --example mem_bulk --example tun_limits --example transfer)
(cd "$root" && cargo build --release --quiet --features tokio --example async_client)
ours="$root/target/release/tunstack"
smol="$root/target/release/examples/smoltcp_peer"
mem_bulk="$root/target/release/examples/mem_bulk"
tun_limits="$root/target/release/examples/tun_limits"
async_client="$root/target/release/examples/async_client"
transfer="$root/target/release/examples/transfer"

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

# One repetition of a bulk row with scripts/bulk_client.py: prints
# "Gbit/s client_cpu daemon_cpu_s_per_GB" ("n/a n/a n/a" when stalled). The client's CPU is
# CPU seconds over its wall seconds of the transfer (user + system: its system calls run the
# kernel's TCP for it); the daemon's is CPU seconds (/proc/PID/stat utime + stime, ticks)
# per 10^9 bytes moved. The device's txqueuelen and MTU go to the notes.
# $1 = binary, $2 = netns.sh flags, $3 = rx|tx, $4 = address, $5 = MTU, $6 = our --offload
bulk_py_rep() {
  local mode=recv port=19 daemon_args="" cc=${7:-}
  [ "$3" = rx ] && { mode=send; port=9; }
  case "$2" in *-p*) ;; *) daemon_args="--mtu $5${6:+ --offload $6}" ;; esac
  # shellcheck disable=SC2016,SC2086
  "$here/netns.sh" -q $2 -m "$5" -d "$daemon_args" -b "$1" -- \
    env C="$here/bulk_client.py" M="$mode" A="$4" P="$port" N="$bytes" L="$bulk_limit" K="$cc" \
    bash -c "$(wait_snippet "$4")"'
    ticks() { awk "{ print \$14 + \$15 }" "/proc/$DAEMON_PID/stat"; }
    d0=$(ticks)
    out=$(timeout $((L + 10)) python3 "$C" "$M" "$A" "$P" "$N" --timeout "$L" ${K:+--cc "$K"} || true)
    d1=$(ticks)
    echo "dev txqueuelen $(cat /sys/class/net/tun0/tx_queue_len) mtu $(cat /sys/class/net/tun0/mtu)"
    echo "$out daemon_ticks $((d1 - d0)) hz $(getconf CLK_TCK)"' \
    | awk -v tag="$(basename "$1")${6:+ offload $6} $3 $4 MTU $5" -v limit="$bulk_limit" -v notes="$notes" -v b="$bytes" '
        $1 == "dev" { dev = $0; next }
        $1 == "gbps" { printf "%s %s %.3f\n", $2, $4, $(NF - 2) / $NF / (b / 1e9) }
        $1 != "gbps" { print "n/a n/a n/a"; sub(/ daemon_ticks.*/, ""); print "  " tag ": " ($0 == "" ? "no output" : $0) " (run left out)" >> notes }
        END { if (dev != "" && !seen[tag]++) print "  " tag ": " dev >> notes }'
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

# A bulk row (bulk_py_rep): the Gbit/s row, then the client's CPU share and the daemon's CPU
# s/GB under it (median (min–max) of the same runs; ratio ours/smoltcp on the s/GB row).
# $1 = label, $2 = rx|tx, $3 = address, $4 = MTU, $5 = our --offload (empty: default),
# $6 = the kernel sender's congestion control for rx rows (TCP_CONGESTION; empty: the
# namespace's default, CUBIC)
row_bulk() {
  local label=$1 g c d runs=() i
  shift
  for i in 0 1 2 3 4 5; do runs[i]=""; done
  for _ in $(seq 1 "$reps"); do
    read -r g c d < <(bulk_py_rep "$ours" "" "$@")
    runs[0]+="$g " runs[1]+="$c " runs[2]+="$d "
    read -r g c d < <(bulk_py_rep "$smol" "-p" "$1" "$2" "$3" "" "${5:-}")
    runs[3]+="$g " runs[4]+="$c " runs[5]+="$d "
  done
  print_row "$label" "${runs[0]}" "${runs[3]}" higher
  sub_row "  client CPU share (1.00 = one core)" "${runs[1]}" "${runs[4]}"
  print_row "  daemon CPU s per GB moved" "${runs[2]}" "${runs[5]}" lower
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
  default_cc=$(sysctl -n net.ipv4.tcp_congestion_control 2>/dev/null || echo unknown)
  echo "bulk: scripts/bulk_client.py (1 MiB slices, every read checked); ours with --offload as named, smoltcp without offload"
  echo "  kernel senders: the namespace's default congestion control ($default_cc) unless a row names one"
  for dir in rx tx; do
    arrow="kernel → stack"; [ "$dir" = tx ] && arrow="stack → kernel"
    for fam in 198.18.0.2 2001:2::2; do
      v=v4; [ "$fam" = 2001:2::2 ] && v=v6
      for off in on off; do
        row_bulk "$v $arrow, Gbit/s, MTU 1500, offload $off" "$dir" "$fam" 1500 "$off"
      done
      # The kernel sender uses the namespace's default congestion control (printed above;
      # BBR on some hosts, whose pacing holds a sender on a path of tens of µs to about 20
      # Gbit/s, with the client at 0.96 of a core all the same): the same row with the
      # sender on CUBIC (TCP_CONGESTION), for both stacks.
      if [ "$dir" = rx ] && [ "$default_cc" != cubic ]; then
        row_bulk "$v $arrow, Gbit/s, MTU 1500, offload on, sender cubic" "$dir" "$fam" 1500 on cubic
      fi
    done
    for mtu in 9000 65000; do
      row_bulk "v4 $arrow, Gbit/s, MTU $mtu" "$dir" 198.18.0.2 "$mtu" ""
    done
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
  echo "IPv6 at 2001:2::2 (the IPv6 bulk rows are in the bulk group)"
  row "ping -6 RTT, µs (median)" ping_rep lower 2001:2::2
  url="http://[2001:2::2]/" row "v6 HTTP keep-alive, req/s, wrk -c10" http_rep higher -c10
fi
# One repetition of the api row: "mbit client_cpu server_cpu" ("n/a n/a n/a" when it did
# not finish). $1 = example binary (async_client or transfer; same arguments and output).
api_rep() {
  # shellcheck disable=SC2016
  "$here/netns.sh" -q -w 20 -b "$1" -d "--connect 198.18.0.1:5000 --send $bytes --close-first" -- \
    env T="$here/tcpcheck.py" N="$bytes" L="$bulk_limit" bash -c '
    ticks() { awk "{ print \$14 + \$15 }" "/proc/$DAEMON_PID/stat"; }
    d0=$(ticks)
    timeout $((L + 10)) python3 -c "import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(\"server_cpu\", r.ru_utime + r.ru_stime)" python3 "$T" serve --bytes "$N" --timeout "$L" || true
    for _ in $(seq 1 50); do grep -q "^done in" "$DAEMON_LOG" && break; sleep 0.1; done
    d1=$(ticks)
    echo "client_ticks $((d1 - d0)) hz $(getconf CLK_TCK)"
    grep "^done in" "$DAEMON_LOG" || true' \
    | awk '$1 == "server_cpu" { s = $2 } $1 == "client_ticks" { t = $2; hz = $4 }
           $1 == "done" { secs = $3; mbit = $5; sub(/\(/, "", mbit) }
           END { if (secs > 0) printf "%s %.2f %.2f\n", mbit, t / hz / secs, s / secs; else print "n/a n/a n/a" }'
}

if want api; then
  runs=()
  for i in 0 1 2 3 4 5; do runs[i]=""; done
  for _ in $(seq 1 "$reps"); do
    read -r m c s < <(api_rep "$async_client")
    runs[0]+="$m " runs[1]+="$c " runs[2]+="$s "
    read -r m c s < <(api_rep "$transfer")
    runs[3]+="$m " runs[4]+="$c " runs[5]+="$s "
  done
  echo "embedding APIs: our client to a kernel-side server, BYTES each way, SHA-256 checked"
  printf '%-40s %26s   %26s   %6s\n' "" "async API" "blocking API" "ratio"
  print_row "api bulk each way at once, Mbit/s" "${runs[0]}" "${runs[3]}" higher
  sub_row "  client CPU share (our process)" "${runs[1]}" "${runs[4]}"
  sub_row "  kernel-side server CPU share" "${runs[2]}" "${runs[5]}"
  for dir in rx tx; do
    g=""
    for _ in $(seq 1 "$reps"); do g+="$(bulk_py_rep "$ours" "" "$dir" 198.18.0.2 1500 | cut -d' ' -f1) "; done
    label="built-in discard (kernel → stack), Gbit/s"
    [ "$dir" = tx ] && label="built-in chargen (stack → kernel), Gbit/s"
    # shellcheck disable=SC2046
    printf '%-40s %26s\n' "$label" "$(fmt3 $(tr ' ' '\n' <<<"$g" | grep -E '^[0-9.]+$' | stats))"
  done
fi
if want hostile; then
  syns=200000 conns=10000 acks=5000 budget=256M
  www=$(mktemp -d)
  head -c $((10 << 20)) /dev/urandom > "$www/big.bin"
  run_hostile() { # $1 = daemon args, $2.. = hostile_run.sh arguments
    local args=$1
    shift
    "$here/netns.sh" -q -b "$ours" -d "$args" -- env TUNSTACK_BIN="$ours" \
      bash "$here/hostile_run.sh" "$@" 2>&1 || true
  }
  indent_stats() { sed -n 's/^stats /    /p'; }
  echo
  echo "hostile: SYN flood, $syns spoofed SYNs at full speed from 198.18.0.10-250 to port 80"
  out=$(run_hostile "" flood "$syns")
  awk '$1 == "flood" { printf "  flood: %s SYNs in %s s (%s packets/s), sender CPU %s s, device dropped %s\n", $3, $5, substr($7, 2), $10, $14 }
       $1 == "probes" { printf "  curl every 50 ms during the flood: %d of %d answered within 1 s (%.1f%%), median %.1f ms, max %.1f ms\n", $4, $2, ($2 ? 100 * $4 / $2 : 0), $6 * 1000, $8 * 1000 }
       $1 == "first_after" { printf "  first curl after the flood: HTTP %s in %.1f ms\n", $2, $3 * 1000 }
       $1 == "rss_before" { b = $2 } $1 == "rss_after" { printf "  daemon RSS: %d KiB before, %d KiB after\n", b, $2 }' <<<"$out"
  indent_stats <<<"$out"
  echo "hostile: $conns slow readers (1 MiB each to echo, never read), --mem-max $budget, a fresh 10 MiB HTTP download"
  out=$(run_hostile "--mem-max $budget --www $www" slow "$conns" "$www")
  awk '$1 == "readers" { printf "  slow readers: %s connected, %.1f MiB accepted by their kernel sockets, %s reset by the daemon\n", $3, $4 / 1048576, $6 }
       $1 == "download" { printf "  fresh client meanwhile: %s bytes in %.2f s, byte-exact: %s\n", $3, $5, $7 }
       $1 ~ /^rss_/ { v[$1] = $2 }
       END { printf "  daemon RSS: %d KiB at start, %d KiB loaded, %d KiB after the download, peak %d KiB (sampled every 0.2 s; budget %s)\n", v["rss_before"], v["rss_loaded"], v["rss_end"], v["rss_peak"], budget }' \
    budget="$budget" <<<"$out"
  indent_stats <<<"$out"
  echo "hostile: $acks bogus cookie ACKs at full speed (cookies engaged by 1,000 SYNs first)"
  out=$(run_hostile "" acks "$acks")
  awk '$1 == "acks" { printf "  sent %s in %s s, sender CPU %s s, device dropped %s\n", $3, $5, $10, $14 }
       $1 == "rss_before" { b = $2 } $1 == "rss_after" { printf "  daemon RSS: %d KiB before, %d KiB after (%+d KiB)\n", b, $2, $2 - b }
       $1 == "opens_before" { printf "  passive opens before the ACKs: %s (after: see below)\n", $2 }' <<<"$out"
  indent_stats <<<"$out"
  rm -rf "$www"
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
  awk '!seen[$0]++' "$notes"
fi
