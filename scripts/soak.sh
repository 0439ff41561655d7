#!/usr/bin/env bash
# Soak (issue 14): mixed load at once against the default daemon in its own namespace, with
# the daemon's RSS, connections and counters sampled every 10 s.
#
#   scripts/soak.sh [MINUTES]        (default 10)
#   scripts/soak.sh --seconds SECS   (the CI version: --seconds 60)
#
# Load, all at once for the whole run (every loop bounded in count and time):
#   - wrk keep-alive (1 thread, 4 connections) and wrk `Connection: close` (1 thread,
#     2 connections) against http://198.18.0.2/
#   - bulk echo: scripts/bulk_client.py echo, 4 MiB per connection, one after another, every
#     byte checked
#   - a ping flood, 500 per second (ping -i 0.002 -w SECS)
#   - 1% random loss each way: iptables statistic rules on tun0 inside the namespace
#     (INPUT and OUTPUT); the AF_PACKET floods and barrages below bypass them
#   - a SYN flood every minute (at 30 s, 90 s, ...): 50,000 SYNs at full speed from spoofed
#     sources in 198.18.0.10-250 (scripts/hostile.py synflood)
#   - a malformed-packet barrage every 30 s (at 20 s, 50 s, ...): scripts/barrage.py
#     --repeat 2 --fuzz 200, a new seed each time
# Every second: the daemon's RSS (VmRSS). Every 10 s also: the heap as glibc sees it (what
# the daemon holds, what the allocator keeps free; `tunstack stats`), the connection slot
# table, its TCP connections by state (`tunstack ss`: with the kernel's clients at
# 198.18.0.1, and half-open ones from the spoofed sources), TCP memory in use and counters.
# Printed as a series and a text plot of RSS.
#
# The daemon runs with its defaults except --msl 5s (TIME-WAIT 10 s instead of 60 s), so
# "no connection is stuck" can be checked within the run. Passes (exit 0) when
#   1. memory is flat: the median RSS of the last window of the load is within 10% of the
#      median RSS of the baseline window, which starts at minute 2 (for runs shorter than
#      5 minutes at a third of the run); a window is a minute long (a third of the run for
#      short ones): 120-180 s against the last minute for 10 minutes, 20-40 s against
#      40-60 s for 60 s. Medians of the 1 s samples, because single samples swing with the
#      working set (TIME-WAIT population, echo buffers: about ±10%, README "Soak").
#      Runs shorter than 5 minutes measure inside the warm-up (the 10-minute run settles by
#      minute 4), so they allow 15% between the windows and also require the RSS once the
#      clients have stopped to be within 10% of the baseline: a leak keeps it high;
#   2. no connection is stuck: once the clients have stopped and the loss rules are gone,
#      every connection to the clients (198.18.0.1) is gone within 2×MSL + 2 s (10 s of
#      TIME-WAIT plus the 1 s sampling step and timer granularity);
#   3. byte counts check out: every bulk echo run got all its bytes back unchanged (and
#      there was at least one), wrk had no non-2xx responses and answered requests in both
#      modes; wrk's socket errors are printed (loss makes a few timeouts possible);
#   4. the daemon is still running at the end.
# Exit status 1 otherwise (77 when not root). Network safety: scripts/netns.sh makes the
# namespace and deletes it on exit (trap); everything is sent to 198.18.0.0/24 inside it;
# processes are stopped by PID.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
MSL=5

if [ "${1:-}" != "--inner" ]; then
  secs=600
  case "${1:-}" in
    "") ;;
    --seconds) secs=${2:?--seconds needs a number} ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) secs=$(( ${1} * 60 )) ;;
  esac
  [ "$secs" -ge 30 ] 2>/dev/null || { echo "soak.sh: at least 30 seconds" >&2; exit 2; }
  if [ "$(id -u)" -ne 0 ]; then
    echo "soak.sh: needs root (network namespaces, iptables): run with sudo" >&2
    exit 77
  fi
  for tool in wrk ping iptables python3 ip; do
    command -v "$tool" >/dev/null || { echo "soak.sh: needs $tool" >&2; exit 2; }
  done
  # The generated HTTPS certificate goes to /tmp, not into the current directory.
  pem=/tmp/soak-$$.pem
  "$here/netns.sh" -q -n "soak-$$" -d "--msl ${MSL}s --tls-cert-out $pem" -- "$0" --inner "$secs"
  status=$?
  rm -f "$pem"
  exit "$status"
fi

# --- inside the namespace (netns.sh exports DAEMON_PID) ---
secs=$2
bin=${TUNSTACK_BIN:-$root/target/release/tunstack}
[ -x "$bin" ] || bin=$root/target/debug/tunstack
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}" ${sampler:+"$sampler"}; do kill "$p" 2>/dev/null; done
  iptables -D INPUT -i tun0 -m statistic --mode random --probability 0.01 -j DROP 2>/dev/null
  iptables -D OUTPUT -o tun0 -m statistic --mode random --probability 0.01 -j DROP 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
now() { local t=${EPOCHREALTIME/./}; echo $(( (t - start_us) / 1000000 )); }
rss() { awk '/VmRSS/ { print $2 }' "/proc/$DAEMON_PID/status" 2>/dev/null || echo 0; }
# The figure after LABEL in TEXT (0 when absent).
fig() { grep -o "$1 [0-9][0-9]*" <<<"$2" | head -1 | awk '{ print $NF }' | grep . || echo '?'; }
base_t=120 win=60
[ "$secs" -lt 300 ] && base_t=$(( secs / 30 * 10 )) win=$(( secs / 30 * 10 ))

iptables -I INPUT -i tun0 -m statistic --mode random --probability 0.01 -j DROP || exit 1
iptables -I OUTPUT -o tun0 -m statistic --mode random --probability 0.01 -j DROP || exit 1
echo "soak: ${secs} s of mixed load, 1% loss each way on tun0, daemon PID $DAEMON_PID" \
  "(--msl ${MSL}s); baseline: median RSS over ${base_t}-$(( base_t + win )) s"

start_us=${EPOCHREALTIME/./}
wrk -t1 -c4 -d"${secs}s" --timeout 5s http://198.18.0.2/ > "$tmp/wrk_ka" 2>&1 &
pids+=($!)
wrk -t1 -c2 -d"${secs}s" --timeout 5s -H 'Connection: close' http://198.18.0.2/ \
  > "$tmp/wrk_close" 2>&1 &
pids+=($!)
ping -q -i 0.002 -w "$secs" 198.18.0.2 > "$tmp/ping" 2>&1 &
pids+=($!)
# Bulk echo, 4 MiB per connection, one after another until the time is up (at most ten
# runs per second of the soak).
(
  for _ in $(seq 1 $(( secs * 10 ))); do
    [ "$(now)" -ge "$secs" ] && break
    python3 "$here/bulk_client.py" echo 198.18.0.2 7 $((4 << 20)) --timeout 60 2>&1 | tail -1
  done
) > "$tmp/echo" &
pids+=($!)

# RSS every second, until the end of the load.
(
  for i in $(seq 0 "$secs"); do
    while [ "$(now)" -lt "$i" ]; do sleep 0.05; done
    echo "$i $(rss)"
  done
) > "$tmp/rss1" &
sampler=$!

printf '%6s %8s %8s %8s %6s %5s %5s %5s %8s %9s %9s %9s %8s %8s\n' t_s rss_kib heap_kib \
  free_kib slots est tw other halfopen tcp_mem rx_pkts cookies drops barrage > "$tmp/series"
floods=0 barrages=0
for k in $(seq 0 $(( secs / 10 ))); do
  # Wait for the sample's time, starting the minute's SYN flood and the barrages on the way.
  while [ "$(now)" -lt $(( k * 10 )) ]; do sleep 0.2; done
  t=$(( k * 10 ))
  if [ $(( (t + 30) % 60 )) -eq 0 ] && [ "$t" -lt "$secs" ]; then
    timeout 30 python3 "$here/hostile.py" synflood 50000 --seed "$k" >> "$tmp/floods" 2>&1 &
    floods=$((floods + 1))
  fi
  if [ $(( t % 30 )) -eq 20 ] && [ "$t" -lt "$secs" ]; then
    (timeout 60 python3 "$here/barrage.py" --repeat 2 --fuzz 200 --seed "$k" \
      | sed -n 1p) >> "$tmp/barrages" 2>&1 &
    barrages=$((barrages + 1))
  fi
  ss=$("$bin" ss 2>&1)
  st=$("$bin" stats 2>&1)
  read -r est tw other half < <(awk '
    $5 ~ /^198\.18\.0\.1:/ { if ($1 == "ESTABLISHED") e++; else if ($1 == "TIME-WAIT") w++; else o++ }
    $5 ~ /^198\.18\.0\.([0-9][0-9]|[0-9][0-9][0-9]):/ && $1 != "LISTEN" { h++ }
    END { print e + 0, w + 0, o + 0, h + 0 }' <<<"$ss")
  mem=$(sed -n 's/^tcp memory: \([^ ]*\) in use.*/\1/p' <<<"$st")
  printf '%6s %8s %8s %8s %6s %5s %5s %5s %8s %9s %9s %9s %8s %8s\n' "$t" "$(rss)" \
    "$(fig 'held' "$st")" "$(fig 'kept-free' "$st")" "$(fig 'table' "$st")" "$est" "$tw" "$other" \
    "$half" "${mem:-?}" "$(fig 'rx' "$st")" "$(fig 'cookies sent' "$st")" \
    "$(fig 'drops:' "$st")" "$barrages" >> "$tmp/series"
  tail -1 "$tmp/series"
done

wait "$sampler"
# The clients stop by themselves (wrk -d, ping -w, the echo loop's clock); bounded wait.
for _ in $(seq 1 900); do
  alive=0
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ "$alive" = 0 ] && break
  sleep 0.1
done
for p in "${pids[@]}"; do kill "$p" 2>/dev/null && echo "soak: stopped client $p (still running)"; done
wait 2>/dev/null
iptables -D INPUT -i tun0 -m statistic --mode random --probability 0.01 -j DROP
iptables -D OUTPUT -o tun0 -m statistic --mode random --probability 0.01 -j DROP

# No stuck connection: every connection to the clients is gone within 2×MSL (+ 2 s).
left=-1 gone_after=-1
for i in $(seq 0 $(( 2 * MSL + 2 ))); do
  left=$("$bin" ss 2>&1 | awk '$5 ~ /^198\.18\.0\.1:/ { n++ } END { print n + 0 }')
  if [ "$left" -eq 0 ]; then gone_after=$i; break; fi
  sleep 1
done
leftover=$("$bin" ss 2>&1 | awk '$5 ~ /^198\.18\.0\.1:/')

echo
echo "soak: series (every 10 s; est/tw/other: connections to the clients at 198.18.0.1 by state;"
echo "      halfopen: connections from the spoofed SYN sources; rx_pkts, cookies, drops: counters"
echo "      since start; barrage: barrages started so far)"
cat "$tmp/series"

# A text plot of RSS: one column per sample, baseline ±20% tall, the ±10% band marked.
base_rss=$(awk -v t="$base_t" 'NR > 1 && $1 == t { print $2 }' "$tmp/series")
end_load_rss=$(awk 'NR > 1 { r = $2 } END { print r }' "$tmp/series")
# Median, minimum and maximum of the 1 s RSS samples with FROM <= t < TO.
window() {
  awk -v a="$1" -v b="$2" '$1 >= a && $1 < b && $2 > 0 { print $2 }' "$tmp/rss1" | sort -n |
    awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)], v[1], v[NR], NR }'
}
read -r base_med base_min base_max base_n < <(window "$base_t" $(( base_t + win )))
read -r end_med end_min end_max end_n < <(window $(( secs - win + 1 )) $(( secs + 1 )))
echo
echo "soak: RSS over time (KiB; rows from baseline +20% down to -20%, values beyond drawn in the"
echo "      top or bottom row; '=' marks the ±10% band)"
awk -v b="$base_med" -v bt="$base_t" -v bw="$win" 'NR > 1 { n++; r[n] = $2; t[n] = $1 }
  END {
    rows = 9
    for (y = 0; y < rows; y++) {
      hi = b * (1.2 - 0.4 * y / rows); lo = b * (1.2 - 0.4 * (y + 1) / rows)
      line = sprintf("%8d |", hi)
      for (i = 1; i <= n; i++) {
        v = r[i]; if (v > b * 1.2) v = b * 1.2 - 1; if (v < b * 0.8) v = b * 0.8
        if (v <= hi && v > lo) c = "*"
        else if (lo < b * 1.1 && hi > b * 0.9) c = "="
        else c = " "
        line = line c
      }
      print line
    }
    axis = sprintf("%8s +", ""); for (i = 1; i <= n; i++) axis = axis "-"; print axis
    printf "%8s  t = 0 .. %d s, one column per 10 s; baseline %d KiB (median over %d-%d s)\n", \
      "", t[n], b, bt, bt + bw
  }' "$tmp/series"

# Results.
echo
status=0
fail() { echo "soak: FAIL: $*"; status=1; }
for f in wrk_ka wrk_close; do
  [ "$f" = wrk_ka ] && echo "soak: wrk keep-alive:" || echo "soak: wrk Connection: close:"
  sed 's/^/    /' "$tmp/$f"
  grep -q 'Socket errors' "$tmp/$f" || echo "    (no socket errors)"
done
echo "soak: ping flood: $(grep -E 'packets transmitted' "$tmp/ping")"
echo "soak: SYN floods ($floods):"; sed 's/^/    /' "$tmp/floods" 2>/dev/null
echo "soak: barrages ($barrages):"; sed 's/^/    /' "$tmp/barrages" 2>/dev/null
runs=$(grep -c . "$tmp/echo") ok=$(grep -c '^gbps ' "$tmp/echo")
echo "soak: bulk echo: $ok of $runs runs of 4 MiB got every byte back unchanged" \
  "($(( ok * 4 )) MiB each way)"
grep -v '^gbps ' "$tmp/echo" | sed 's/^/    /'
echo "soak: RSS median over ${base_t}-$(( base_t + win )) s ${base_med:-?} KiB" \
  "(${base_min:-?}-${base_max:-?}, ${base_n:-0} samples), over the last ${win} s ${end_med:-?} KiB" \
  "(${end_min:-?}-${end_max:-?}, ${end_n:-0} samples)"
medians=$(for a in $(seq 0 "$win" $(( secs - 1 ))); do
  window "$a" $(( a + win )) | awk '{ printf " %s", $1 }'
done)
echo "soak: RSS median per ${win} s (KiB, from 0 s):${medians}"
after_rss=$(rss)
echo "soak: RSS samples: at ${base_t} s ${base_rss} KiB, at the end of the load ${end_load_rss} KiB," \
  "after the clients stopped ${after_rss} KiB"
echo "soak: connections to the clients after the load: gone after ${gone_after} s" \
  "(TIME-WAIT is 2×MSL = $((2 * MSL)) s)"

kill -0 "$DAEMON_PID" 2>/dev/null || fail "the daemon is not running"
if [ -z "${base_med:-}" ] || [ -z "${end_med:-}" ]; then
  fail "no RSS samples"
else
  tol=10
  [ "$secs" -lt 300 ] && tol=15  # a short run's windows are inside the warm-up
  if [ $(( end_med * 100 )) -gt $(( base_med * (100 + tol) )) ] || \
     [ $(( end_med * 100 )) -lt $(( base_med * (100 - tol) )) ]; then
    fail "median RSS over the last ${win} s ($end_med KiB) is not within ${tol}% of the median" \
      "over ${base_t}-$(( base_t + win )) s ($base_med KiB)"
  fi
  if [ "$secs" -lt 300 ] && [ $(( after_rss * 10 )) -gt $(( base_med * 11 )) ]; then
    fail "RSS after the clients stopped ($after_rss KiB) is more than 10% above the median" \
      "over ${base_t}-$(( base_t + win )) s ($base_med KiB)"
  fi
fi
if [ "$gone_after" -lt 0 ]; then
  fail "$left connections to the clients still there $((2 * MSL + 2)) s after the load:"
  echo "$leftover" | sed 's/^/    /'
fi
[ "$runs" -gt 0 ] && [ "$ok" -eq "$runs" ] || fail "bulk echo: $ok of $runs runs complete and exact"
for f in wrk_ka wrk_close; do
  grep -q 'Non-2xx' "$tmp/$f" && fail "$f: $(grep 'Non-2xx' "$tmp/$f")"
  grep -q 'requests in' "$tmp/$f" || fail "$f: no requests answered"
done
[ "$status" = 0 ] && echo "soak: PASS" || echo "soak: FAILED"
exit "$status"
