#!/usr/bin/env bash
# Measures queue throughput on one node and on a 3-node cluster (RF 3) of
# `nimbus serve` processes on this machine, back to back, PASSES times
# (default 3). The cluster figure is taken through the partition leader's
# node and through a follower (one forwarding hop). All nodes share this
# machine's cores and disk, so the cluster pays for three fsyncs and three
# FSMs per write on the same hardware.
#
#   bench/cluster.sh              # 1 KiB, batches of 10, 4 producers + 4 consumers, 8 calls in flight
#   NIMBUS_BIN=path bench/cluster.sh   # use a built nimbus (bench/compare.sh does)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
passes=${PASSES:-3}
inflight=${INFLIGHT:-8}
dur=${DURATION:-15s}
tmp=$(mktemp -d)
pids=()
trap 'kill ${pids[@]+"${pids[@]}"} 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
if [ -n "${NIMBUS_BIN:-}" ]; then ln -s "$NIMBUS_BIN" "$tmp/nimbus"; else (cd "$root" && go build -o "$tmp/nimbus" ./cmd/nimbus); fi
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
bench() { # label addr [queue]
  "$tmp/nimbus" bench queue --addr "$2" ${3:+--queue "$3"} --producers 4 --consumers 4 --inflight "$inflight" \
    --size 1024 --batch 10 --duration "$dur" --json -q 2>/dev/null |
    python3 -c 'import json,sys; r=json.load(sys.stdin); print("pass '"$pass"' '"$1"' send msgs/s %.0f  recv+delete msgs/s %.0f  send p99 %.1f ms" % (r["send_msgs_per_sec"], r["recv_msgs_per_sec"], r["send_p99_ms"]))' ||
    echo "pass $pass $1: no report (nimbus bench failed)" >&2
}
serve() { # name dir grpc http peer [join]
  local args=(serve --node-id "$1" --data-dir "$2" --grpc-addr "127.0.0.1:$3" --http-addr "127.0.0.1:$4" --peer-addr "127.0.0.1:$5")
  [ -n "${6:-}" ] && args+=(--join "$6")
  "$tmp/nimbus" "${args[@]}" 2>"$tmp/$1.log" &
  pids+=($!)
  until curl -sf "http://127.0.0.1:$4/readyz" >/dev/null; do sleep 0.1; done
}
for pass in $(seq "$passes"); do
  sync
  g=$(port); h=$(port); r=$(port)
  serve single "$tmp/single$pass" "$g" "$h" "$r"
  bench "single-node" "127.0.0.1:$g"
  kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; pids=()
  rm -rf "$tmp/single$pass"
  sync
  declare -a G H R
  for i in 1 2 3; do G[$i]=$(port); H[$i]=$(port); R[$i]=$(port); done
  serve n1 "$tmp/c$pass-1" "${G[1]}" "${H[1]}" "${R[1]}"
  serve n2 "$tmp/c$pass-2" "${G[2]}" "${H[2]}" "${R[2]}" "127.0.0.1:${R[1]}"
  serve n3 "$tmp/c$pass-3" "${G[3]}" "${H[3]}" "${R[3]}" "127.0.0.1:${R[1]}"
  # The joined nodes may still be settling (meta leader, replicas): retry.
  for try in $(seq 40); do
    "$tmp/nimbus" queue create bench --addr "127.0.0.1:${G[1]}" >/dev/null 2>"$tmp/create.err" && break
    [ "$try" = 40 ] && { cat "$tmp/create.err" >&2; exit 1; }
    sleep 0.5
  done
  leader=$("$tmp/nimbus" cluster status --addr "127.0.0.1:${G[1]}" -o json |
    python3 -c 'import json,sys; s=json.load(sys.stdin); print([g for g in s["groups"] if g["resource"]=="bench"][0]["leader"])')
  l=${leader#n}; f=$(( l % 3 + 1 ))
  bench "3-node(via leader n$l)" "127.0.0.1:${G[$l]}" bench
  bench "3-node(via follower n$f)" "127.0.0.1:${G[$f]}" bench
  kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; pids=()
  rm -rf "$tmp/c$pass-"*
done
