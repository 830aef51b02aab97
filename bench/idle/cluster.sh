#!/usr/bin/env bash
# Idle cost of a NODES-node cluster (default 3, at most 3) hosting N (default
# 1000) queues with RF = NODES: every node hosts every partition group (and
# the meta group). Starts the
# nodes, creates the queues through n1, waits for things to settle, then
# samples each node's CPU (from /proc/PID/stat) and RSS over 30 s.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${N:-1000}
nodes=${NODES:-3}
settle=${SETTLE:-20}
tmp=$(mktemp -d)
pids=()
trap 'kill ${pids[@]+"${pids[@]}"} 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
(cd "$root" && go build -o "$tmp/nimbus" ./cmd/nimbus && go build -o "$tmp/idle" ./bench/idle)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
declare -a G H R P
for i in $(seq "$nodes"); do G[$i]=$(port); H[$i]=$(port); R[$i]=$(port); done
for i in $(seq "$nodes"); do
  args=(serve --node-id "n$i" --data-dir "$tmp/d$i" --grpc-addr "127.0.0.1:${G[$i]}" --http-addr "127.0.0.1:${H[$i]}" --peer-addr "127.0.0.1:${R[$i]}")
  [ "$i" -gt 1 ] && args+=(--join "127.0.0.1:${R[1]}")
  "$tmp/nimbus" "${args[@]}" 2>"$tmp/n$i.log" &
  P[$i]=$!; pids+=($!)
  until curl -sf "http://127.0.0.1:${H[$i]}/readyz" >/dev/null; do sleep 0.1; done
done
"$tmp/idle" -addr "127.0.0.1:${G[1]}" -n "$n"
sleep "$settle"
tck=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
declare -a C0
for i in $(seq "$nodes"); do C0[$i]=$(cpu "${P[$i]}"); done
sleep 30
[ -n "${HEAP:-}" ] && curl -s -o "$HEAP" "http://127.0.0.1:${H[1]}/debug/pprof/heap"
for i in $(seq "$nodes"); do
  c1=$(cpu "${P[$i]}")
  rss=$(awk '/VmRSS/{print $2}' "/proc/${P[$i]}/status")
  gor=$(curl -s "http://127.0.0.1:${H[$i]}/metrics" | awk '/^go_goroutines /{print $2}')
  leaders=$(curl -s "http://127.0.0.1:${H[$i]}/metrics" | awk '/^nimbus_raft_group_leader\{/{s+=$2} END{print s}')
  python3 -c "print('n$i idle: %.1f %% of one core, RSS %d MB, %s goroutines, leads %s groups' % (($c1-${C0[$i]})/$tck/30*100, $rss/1024, '$gor', '$leaders'))"
done
