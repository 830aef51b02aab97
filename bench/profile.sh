#!/usr/bin/env bash
# CPU profiles of the server under the loads of bench/compare.sh's rows, for
# the "what limits it" half of issue 12: one fresh node per row, the row's
# `nimbus bench` flags, and a CPU profile of the server (/debug/pprof) taken
# in the middle of the run. Writes OUT/ROW.pprof (symbolized: read it with
# `go tool pprof -top OUT/ROW.pprof`, no binary needed) and prints each
# profile's top entries by cumulative time.
#
#   bench/profile.sh                      # queue fifo stream topic into bench/profiles
#   ROWS="queue" OUT=/tmp/p bench/profile.sh
#
# ROWS (default "queue fifo stream topic"), OUT (bench/profiles), DURATION
# (20s: the bench; the profile covers its middle SECONDS, default 10),
# NIMBUS_BIN (a built nimbus instead of building the working tree).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rows=${ROWS:-queue fifo stream topic}
out=${OUT:-$root/bench/profiles}
dur=${DURATION:-20s}
secs=${SECONDS_PROFILED:-10}
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
# shellcheck source=bench/node.sh
source "$root/bench/node.sh" # port, serve
mkdir -p "$out"
if [ -n "${NIMBUS_BIN:-}" ]; then cp "$NIMBUS_BIN" "$tmp/nimbus"; else (cd "$root" && go build -o "$tmp/nimbus" ./cmd/nimbus); fi

qflags=(--producers 4 --consumers 4 --inflight 8 --size 1024 --batch 10 --duration "$dur")
for row in $rows; do
  case $row in
  queue) args=(queue "${qflags[@]}") ;;
  fifo) args=(queue "${qflags[@]}" --fifo --high-throughput --groups 100) ;;
  stream) args=(stream --shards 4 --record-size 1024 --keys 1000 --consumers 2 --read poll --producers 8 --inflight 1 --duration "$dur") ;;
  topic) args=(topic --queues 4 --publishers 32 --batch 10 --size 1024 --consumers 2 --duration "$dur") ;;
  *) echo "unknown row $row (queue, fifo, stream, topic)" >&2; exit 2 ;;
  esac
  serve || exit 1
  # The profile starts a quarter into the run and lasts SECONDS_PROFILED.
  start=$(python3 -c "import sys; d='$dur'; print(max(1, int(float(d.rstrip('s')) / 4)))")
  (sleep "$start" && curl -sf -o "$out/$row.pprof" "http://127.0.0.1:$h/debug/pprof/profile?seconds=$secs") &
  prof=$!
  "$tmp/nimbus" bench "${args[@]}" --addr "127.0.0.1:$g" -q >"$tmp/$row.txt" 2>&1 || echo "nimbus bench $row exited non-zero" >&2
  wait "$prof" || echo "no profile for $row" >&2
  kill "$pid"; wait "$pid" || true; pid=
  echo "== $row"
  tail -n 6 "$tmp/$row.txt"
  [ -s "$out/$row.pprof" ] && go tool pprof -top -cum -nodecount=25 "$out/$row.pprof" 2>/dev/null | sed -n '4,32p'
done
