#!/usr/bin/env bash
# A two-minute tour: tunstack in a fresh network namespace answers pings (one of them
# fragmented both ways), then tshark decodes the capture.
#
#   sudo scripts/demo.sh
#
# Everything happens inside the namespace, in 198.18.0.0/24; it is deleted at the end.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
[ "$(id -u)" -eq 0 ] || { echo "demo.sh: needs root for the network namespace: sudo $0" >&2; exit 77; }
command -v tshark >/dev/null || { echo "demo.sh: install tshark (apt-get install tshark)" >&2; exit 2; }

(cd "$root" && cargo build --release --quiet --bin tunstack)
pcap=$(mktemp /tmp/tunstack-demo-XXXX.pcap)

"$here/netns.sh" -b "$root/target/release/tunstack" -d "--pcap $pcap" -- sh -c '
  echo "== ping 198.18.0.2 (answered by our IPv4/ICMP code, not the kernel)"
  ping -c 3 -i 0.2 198.18.0.2
  echo
  echo "== ping -s 4000: fragmented on the way in, reassembled, fragmented on the way out"
  ping -c 2 -i 0.2 -s 4000 198.18.0.2
  echo
'
echo
echo "== tshark -r $pcap"
tshark -r "$pcap" 2>/dev/null
echo
echo "Open it yourself: wireshark $pcap"
