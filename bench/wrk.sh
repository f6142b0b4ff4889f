#!/usr/bin/env bash
# Throughput of the four ways to reach one backend, measured in one run with
# wrk and reported as ratios to the direct baseline:
#   direct   wrk → backend
#   serve    wrk → devproxy serve → backend
#   tunnel   wrk → devproxy relay → tunnel → devproxy agent → backend
#   poll     wrk → devproxy relay → poll    → devproxy agent → backend
# Every devproxy runs as users run it, headless (--no-tui), logging to a file.
# Usage: bench/wrk.sh [duration=10s] [connections=32] [path=/small]
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-10s}; conns=${2:-32}; path=${3:-/small}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }

tmp=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

go build -o "$tmp/devproxy" ./cmd/devproxy
go build -o "$tmp/backend" ./bench/backend
export XDG_CONFIG_HOME=$tmp/config XDG_STATE_HOME=$tmp/state

wait_port() { for _ in $(seq 100); do curl -s -o /dev/null "http://$1$path" && return 0; sleep 0.1; done; echo "nothing answers on $1"; exit 1; }

"$tmp/backend" -listen 127.0.0.1:3999 & pids+=($!)
wait_port 127.0.0.1:3999
"$tmp/devproxy" serve --no-tui --target http://127.0.0.1:3999 --listen 127.0.0.1:3901 >"$tmp/serve.log" 2>&1 & pids+=($!)
"$tmp/devproxy" relay --no-tui --listen 127.0.0.1:3902 --admin-token bench-admin-token >"$tmp/relay.log" 2>&1 & pids+=($!)
sleep 0.5
for id in tun pol; do
  curl -s -H "Authorization: Bearer bench-admin-token" -d "{\"id\":\"$id\",\"pathPrefixes\":[\"/$id\"]}" http://127.0.0.1:3902/api/backends >"$tmp/$id.json"
done
tok() { python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['agentToken'])" "$tmp/$1.json"; }
"$tmp/devproxy" agent --no-tui --proxy http://127.0.0.1:3902 --backend tun --token "$(tok tun)" --transport tunnel --target http://127.0.0.1:3999 >"$tmp/agent-tun.log" 2>&1 & pids+=($!)
"$tmp/devproxy" agent --no-tui --proxy http://127.0.0.1:3902 --backend pol --token "$(tok pol)" --transport poll --target http://127.0.0.1:3999 >"$tmp/agent-pol.log" 2>&1 & pids+=($!)
# The backend answers /tun/… and /pol/… like /… (it ignores the prefix for sizes).
bpath=$path; [ "$path" = /big ] && bpath=/big
wait_port 127.0.0.1:3901
for id in tun pol; do for _ in $(seq 100); do curl -s -f -o /dev/null "http://127.0.0.1:3902/$id$bpath" && break; sleep 0.1; done; done

run() { # name url
  local out; out=$(wrk -t2 -c"$conns" -d"$dur" --latency "$2")
  local rps; rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  local p50; p50=$(awk '/ 50%/ {print $2}' <<<"$out")
  local p99; p99=$(awk '/ 99%/ {print $2}' <<<"$out")
  local errs; errs=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out")
  echo "$1 $rps $p50 $p99 ${errs:-ok}"
}
echo "wrk -t2 -c$conns -d$dur, path $path, $(nproc) cores"
{
  run direct "http://127.0.0.1:3999$path"
  run serve  "http://127.0.0.1:3901$path"
  run tunnel "http://127.0.0.1:3902/tun$bpath"
  run poll   "http://127.0.0.1:3902/pol$bpath"
} | awk 'NR==1 {base=$2} {printf "%-7s %10.0f req/s  %6.3f× direct   p50 %-9s p99 %-9s %s\n", $1, $2, $2/base, $3, $4, substr($0, index($0,$5))}'
