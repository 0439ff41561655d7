#!/usr/bin/env bash
# The loss group of scripts/bench.sh (issue 16): sending through random loss, ours against
# the Linux kernel's on the same TUN path, like with like.
#
#   scripts/bench_loss.sh [-r RUNS] [-t SECS] [-l "0.1 1 5"]
#
# For each loss rate P (percent), random loss of P each way on the TUN path, RUNS runs
# (default 3) of SECS seconds (default 5) each of:
#   kernel reno  → stack   the kernel sends to tunstack's discard (9), TCP_CONGESTION=reno
#   stack newreno → kernel tunstack --cc newreno chargen (19) to the kernel
#   kernel cubic → stack   as above with TCP_CONGESTION=cubic
#   stack cubic → kernel   tunstack --cc cubic chargen to the kernel
#   smoltcp → kernel       examples/smoltcp_peer's chargen to the kernel
# Where the loss is made, so that it is real loss for every sender, segment by segment:
#   tunstack runs (either direction): the daemon's own seeded fault injector, both ways
#     (`--faults loss=P`). With offload on, the kernel hands the daemon TCP super-segments
#     and the daemon hands the kernel its own; the injector strikes each segment a
#     super-segment stands for (src/link/gso.rs), as a wire would. (iptables `statistic`
#     sees a super-segment as one packet: 1% of packets would be bursts of up to 44
#     segments, which no sender recovers from as from random loss.)
#   smoltcp runs (no offload): iptables `statistic` on INPUT of tun0 (its data) and OUTPUT
#     (the kernel's ACKs).
#   Not iptables OUTPUT for the kernel's data: a packet dropped there is refused locally
#   (the send returns EPERM), the kernel's TCP keeps it queued and sends it again without
#   seeing a loss, so the kernel sender would not be losing anything (and no sch_netem here).
# Each row: goodput in Gbit/s (median, min–max; what the receiving application read), the
# sender's retransmissions per data packet the path dropped (the kernel's
# tcpi_total_retrans, or our exit summary; smoltcp n/a), its RTOs per run (the kernel's
# TcpExtTCPTimeouts, or our summary), and the kernel-side client's CPU share
# (scripts/bulk_client.py; 1.00 = one core) so a saturated client shows.
# Needs root; every packet stays in the namespace, in 198.18.0.0/24. MTU 1500.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
reps=3
secs=5
losses="0.1 1 5"
while getopts "r:t:l:h" opt; do
  case "$opt" in
    r) reps=$OPTARG ;;
    t) secs=$OPTARG ;;
    l) losses=$OPTARG ;;
    h) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) exit 2 ;;
  esac
done
if [ "$(id -u)" -ne 0 ]; then
  echo "bench_loss.sh: needs root (network namespaces): run with sudo" >&2
  exit 77
fi
ours=${TUNSTACK_BIN:-$root/target/release/tunstack}
smol=${SMOLTCP_BIN:-$root/target/release/examples/smoltcp_peer}
if [ -z "${TUNSTACK_BIN:-}" ]; then
  echo "building release binaries..." >&2
  (cd "$root" && cargo build --release --quiet --bin tunstack --example smoltcp_peer)
fi

# One run. $1 = loss %, $2 = who sends: "kernel-reno", "kernel-cubic", "ours-newreno",
# "ours-cubic", "smoltcp". Prints "gbps retrans_per_drop rtos client_cpu" (n/a when unknown).
loss_rep() {
  local p=$1 who=$2 bin=$ours flags="" daemon_args mode=recv port=19 kcc="" log out_drop=0
  log=$(mktemp /tmp/bench_loss.XXXXXX)
  local prob seed=$((RANDOM))
  prob=$(awk -v p="$p" 'BEGIN { printf "%.6f", p / 100 }')
  daemon_args="--faults loss=$prob,seed=$seed"
  case "$who" in
    kernel-*) mode=send port=9 kcc=${who#kernel-} ;;
    ours-*) daemon_args+=" --cc ${who#ours-}" ;;
    smoltcp) bin=$smol flags=-p daemon_args="" out_drop=1 ;;
  esac
  local out
  # shellcheck disable=SC2016,SC2086
  out=$("$here/netns.sh" -q $flags -l "$log" -d "$daemon_args" -b "$bin" -- \
    env C="$here/bulk_client.py" M="$mode" P="$port" S="$secs" K="$kcc" PROB="$prob" \
    O="$out_drop" bash -c '
    for _ in $(seq 1 50); do ping -c 1 -W 1 -q 198.18.0.2 >/dev/null 2>&1 && break; sleep 0.1; done
    if [ "$O" = 1 ]; then
      iptables -A INPUT -i tun0 -m statistic --mode random --probability "$PROB" -j DROP
      iptables -A OUTPUT -o tun0 -m statistic --mode random --probability "$PROB" -j DROP
    fi
    r=$(timeout $((S + 40)) python3 "$C" "$M" 198.18.0.2 "$P" 100000000000 --seconds "$S" \
      --timeout $((S + 30)) ${K:+--cc "$K"} || true)
    din=$(iptables -L INPUT -v -x -n | awk "/statistic/ { print \$1 }")
    kto=$(nstat -az TcpExtTCPTimeouts | awk "/TcpExtTCPTimeouts/ { print \$2 }")
    iptables -F INPUT; iptables -F OUTPUT
    echo "$r drops_in ${din:-0} kernel_rtos ${kto:-0}"' || true)
  local ours_rx ours_rto rx_drops tx_drops
  ours_rx=$(sed -n 's/.*retransmits \([0-9]*\) (RTO \([0-9]*\),.*/\1/p' "$log" | tail -1)
  ours_rto=$(sed -n 's/.*retransmits \([0-9]*\) (RTO \([0-9]*\),.*/\2/p' "$log" | tail -1)
  rx_drops=$(sed -n 's/^faults rx (towards the stack): .* dropped \([0-9]*\) .*/\1/p' "$log" | tail -1)
  tx_drops=$(sed -n 's/^faults tx (from the stack): .* dropped \([0-9]*\) .*/\1/p' "$log" | tail -1)
  rm -f "$log"
  awk -v who="$who" -v orx="${ours_rx:-}" -v orto="${ours_rto:-}" -v kdrops="${rx_drops:-0}" \
    -v odrops="${tx_drops:-0}" '
    $1 == "gbps" {
      for (i = 1; i < NF; i++) v[$i] = $(i + 1)
      if (who ~ /^kernel/) { rx = v["retrans"]; drops = kdrops; rto = v["kernel_rtos"] }
      else if (who ~ /^ours/) { rx = orx; drops = odrops; rto = orto }
      else { rx = ""; drops = v["drops_in"]; rto = "" }
      per = (rx == "" || drops == 0) ? "n/a" : sprintf("%.2f", rx / drops)
      printf "%s %s %s %s\n", v["gbps"], per, (rto == "" ? "n/a" : rto), v["cpu"]
      found = 1
    }
    END { if (!found) print "n/a n/a n/a n/a" }' <<<"$out"
}

stats() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "n/a"; exit }
  m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
  printf "%.3f (%.3f–%.3f)\n", m, v[1], v[NR] }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "n/a"; exit }
  print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
nums() { tr ' ' '\n' | grep -E '^[0-9.]+$' || true; }

echo
echo "sending through loss over TUN, MTU 1500 — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, Linux $(uname -r)"
echo "each row: $reps runs of ${secs} s; goodput median (min–max); per row also the median of"
echo "retransmissions per dropped data packet, RTOs per run, and the kernel client's CPU share"
printf '%-6s %-24s %22s %12s %6s %6s\n' "loss" "sender" "Gbit/s" "rexmit/drop" "RTOs" "cpu"
for p in $losses; do
  for who in kernel-reno ours-newreno kernel-cubic ours-cubic smoltcp; do
    g="" x="" t="" c=""
    for _ in $(seq 1 "$reps"); do
      read -r a b d e < <(loss_rep "$p" "$who")
      g+="$a " x+="$b " t+="$d " c+="$e "
    done
    label=$who
    case "$who" in
      kernel-*) label="kernel ${who#kernel-} → stack" ;;
      ours-*) label="tunstack ${who#ours-} → kernel" ;;
      smoltcp) label="smoltcp → kernel" ;;
    esac
    printf '%-6s %-24s %22s %12s %6s %6s\n' "$p%" "$label" "$(nums <<<"$g" | stats)" \
      "$(nums <<<"$x" | median)" "$(nums <<<"$t" | median)" "$(nums <<<"$c" | median)"
  done
done
