#!/usr/bin/env bash
# One part of scripts/bench.sh's `hostile` group, run inside the daemon's namespace by
# scripts/netns.sh (which exports DAEMON_PID). Prints "key value..." lines for bench.sh.
#
#   hostile_run.sh flood SYNS        SYNS spoofed SYNs at full speed (scripts/hostile.py) with
#                                    one curl every 50 ms to port 80 during the flood, then
#                                    the first curl after it
#   hostile_run.sh slow CONNS WWW    CONNS connections write 1 MiB each to echo and never read;
#                                    meanwhile a fresh client downloads WWW/big.bin over HTTP
#   hostile_run.sh acks ACKS         ACKS bogus cookie ACKs after 1,000 SYNs engaged cookies
#
# Bounded: every loop has a count and every client a timeout. Every packet stays in
# 198.18.0.0/24.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
bin=${TUNSTACK_BIN:-$root/target/release/tunstack}
rss() { awk '/VmRSS/ { print $2 }' "/proc/$DAEMON_PID/status"; }
stats() { "$bin" stats | grep -E '^tcp|^drops|tcp-' | sed 's/^/stats /'; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

case "$1" in
flood)
  echo "rss_before $(rss)"
  python3 "$here/hostile.py" synflood "$2" > "$tmp/flood" &
  flood=$!
  # One curl every 50 ms while the flood runs (at most 2,000).
  for _ in $(seq 1 2000); do
    kill -0 "$flood" 2>/dev/null || break
    curl -s -o /dev/null --max-time 1 -w '%{http_code} %{time_total}\n' http://198.18.0.2/ \
      >> "$tmp/probes" || echo "000 1" >> "$tmp/probes"
    sleep 0.05
  done
  wait "$flood"
  sed 's/^/flood /' "$tmp/flood"
  curl -s -o /dev/null --max-time 1 -w 'first_after %{http_code} %{time_total}\n' \
    http://198.18.0.2/ || echo "first_after 000 1"
  touch "$tmp/probes"
  sort -k2 -g "$tmp/probes" | awk '{ n++; if ($1 == 200 && $2 < 1) ok++; t[n] = $2 }
    END { printf "probes %d ok %d median_s %s max_s %s\n", n, ok, (n ? t[int((n + 1) / 2)] : 0), (n ? t[n] : 0) }' 
  echo "rss_after $(rss)"
  stats
  ;;
slow)
  conns=$2 www=$3
  echo "rss_before $(rss)"
  # RSS sampled every 0.2 s while the load runs (bounded: 600 samples).
  (for _ in $(seq 1 600); do rss; sleep 0.2; done) > "$tmp/rss" &
  sampler=$!
  python3 "$here/hostile.py" slowreaders "$conns" --hold 120 --ready "$tmp/ready" \
    > "$tmp/readers" &
  readers=$!
  for _ in $(seq 1 1200); do [ -s "$tmp/ready" ] && break; sleep 0.1; done
  sed 's/^/readers /' "$tmp/ready"
  echo "rss_loaded $(rss)"
  s=$(date +%s.%N)
  curl -s --max-time 60 -o "$tmp/big" http://198.18.0.2/big.bin
  e=$(date +%s.%N)
  if cmp -s "$tmp/big" "$www/big.bin"; then exact=yes; else exact=no; fi
  echo "download bytes $(stat -c %s "$tmp/big" 2>/dev/null || echo 0) s $(echo "$e - $s" | bc) exact $exact"
  echo "rss_end $(rss)"
  stats
  kill "$sampler" "$readers" 2>/dev/null
  wait "$readers" 2>/dev/null
  echo "rss_peak $(sort -n "$tmp/rss" | tail -1)"
  ;;
acks)
  python3 "$here/hostile.py" synflood 1000 > /dev/null
  sleep 0.2
  before=$(rss)
  opens=$("$bin" stats | sed -n 's/.*passive opens \([0-9]*\).*/\1/p')
  python3 "$here/hostile.py" ackflood "$2" | sed 's/^/acks /'
  sleep 0.5
  echo "rss_before $before"
  echo "rss_after $(rss)"
  echo "opens_before $opens"
  stats
  ;;
esac
