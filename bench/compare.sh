#!/usr/bin/env bash
# Measures Nimbus and RabbitMQ quorum queues back to back on this machine,
# PASSES times (default 3), and prints one line per measurement. Both sides
# fsync before acknowledging. Needs rabbitmq-server (apt-get install -y
# rabbitmq-server; stop its system service) and ../shared/tools/peerbench.
#
#   bench/compare.sh                 # 1 KiB, batches of 10, 4 producers + 4 consumers
#   INFLIGHT=8 bench/compare.sh      # each producer/consumer keeps 8 calls in flight
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
peer=${PEERBENCH:-$root/../shared/tools/peerbench}
passes=${PASSES:-3}
inflight=${INFLIGHT:-1}
dur=${DURATION:-15s}
tmp=$(mktemp -d)
trap 'pkill -P $$ 2>/dev/null || true; rm -rf "$tmp"' EXIT
(cd "$root" && go build -o "$tmp/nimbus" ./cmd/nimbus)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
for pass in $(seq "$passes"); do
  sync
  (cd "$peer" && GOFLAGS=-mod=mod go run ./cmd/rabbitbench -runs 1 2>/dev/null) |
    grep -E 'publish with confirms, ≤1000 unconfirmed: msgs/s|consume \+ ack each' |
    awk -F'|' -v p="$pass" '{gsub(/ /,"",$3); print "pass " p " rabbitmq " $2 " " $3}'
  sync
  g=$(port); h=$(port); r=$(port)
  "$tmp/nimbus" serve --data-dir "$tmp/data$pass" --grpc-addr 127.0.0.1:$g --http-addr 127.0.0.1:$h --peer-addr 127.0.0.1:$r 2>"$tmp/serve$pass.log" &
  pid=$!
  until curl -sf "http://127.0.0.1:$h/readyz" >/dev/null; do sleep 0.1; done
  "$tmp/nimbus" bench queue --addr 127.0.0.1:$g --producers 4 --consumers 4 --inflight "$inflight" \
    --size 1024 --batch 10 --duration "$dur" --json -q 2>/dev/null |
    python3 -c 'import json,sys; r=json.load(sys.stdin); print("pass '"$pass"' nimbus send msgs/s %.0f  recv+delete msgs/s %.0f  send p50/p99 %.1f/%.1f ms  e2e p50/p99 %.0f/%.0f ms" % (r["send_msgs_per_sec"], r["recv_msgs_per_sec"], r["send_p50_ms"], r["send_p99_ms"], r["e2e_p50_ms"], r["e2e_p99_ms"]))'
  kill "$pid"; wait "$pid" || true
  rm -rf "$tmp/data$pass"
done
