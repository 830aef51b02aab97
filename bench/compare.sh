#!/usr/bin/env bash
# Issue 12's comparison in one run: measures Nimbus and the durable peers of
# ../shared/tools/peerbench back to back on this machine, PASSES times
# (default 3), and prints one markdown table of the issue's targets: metric,
# Nimbus median (min-max), peer median, ratio (median of the per-pass
# ratios, min-max), target, met. 1 KiB messages; every system fsyncs before
# it acknowledges (the Debian nats-server row is the non-durable reference).
# Installs the peers when missing (bench/peers-install.sh). Progress and the
# per-pass figures go to stderr, the table to stdout.
#
#   bench/compare.sh                          # or: make compare
#   ROWS="queue stream" PASSES=1 DURATION=3s bench/compare.sh   # a quick check
#
# ROWS (default all): queue (send and receive+delete vs RabbitMQ quorum;
# end-to-end p99 at half the sustainable peak), stream (puts vs Redis
# appendfsync always; produce-to-consume p99 at 5,000 records/s vs NATS
# 2.15.3 sync_interval always, and Debian's NATS 2.9 for reference), fifo
# (high-throughput mode, 100 groups, vs the standard queue), topic (fan-out
# to 4 queues, per subscription vs the standard queue's sends), cluster
# (bench/cluster.sh: RF 3 vs one node). DURATION (15s): every Nimbus run and
# NATS's latency window (the peers keep their own count and time bounds,
# as in RESULTS.md). INFLIGHT (8): calls in flight per queue worker
# (INFLIGHT=1 ROWS=queue is the earlier queue-vs-RabbitMQ run; its per-pass
# lines are on stderr). FIFO_PARTITIONS (server default), STREAM_READ
# (poll), NIMBUS_BIN (a built nimbus instead of building the working tree),
# KEEP_LOGS=1 keeps the temp dir with every report and log.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
peer=${PEERBENCH:-$root/../shared/tools/peerbench}
passes=${PASSES:-3}
dur=${DURATION:-15s}
inflight=${INFLIGHT:-8}
rows=${ROWS:-queue stream fifo topic cluster}
tmp=$(mktemp -d)
res=$tmp/results # "pass key value" lines
pid=
cleanup() { # keeps the temp dir (reports, logs) after a failure or with KEEP_LOGS
  local rc=$?
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  if [ -n "${KEEP_LOGS:-}" ] || [ "$rc" != 0 ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
log() { echo "$*" >&2; }
has() { [[ " $rows " == *" $1 "* ]]; }
record() { # KEY VALUE; a missing value (a failed parse) leaves the row without data
  if [ -z "$2" ]; then log "pass $pass  $1: no value"; return 0; fi
  echo "$pass $1 $2" >>"$res"
  log "pass $pass  $1 = $2"
}
# shellcheck source=bench/node.sh
source "$root/bench/node.sh" # port, serve
# jget FILE EXPR: EXPR over the JSON object r in FILE.
jget() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null || true; }
# prun NAME CMD...: one peerbench command, stdout to $tmp/NAME.md; a failure
# leaves its row without data (the peer's own time bounds apply: -dur default).
prun() {
  local name=$1
  shift
  sync
  "$@" >"$tmp/$name.md" 2>"$tmp/$name.err" || { log "$name failed: $(grep -m1 error: "$tmp/$name.err")"; }
}
# pget FILE METRIC: the median column of a peerbench table row starting with METRIC.
pget() {
  awk -F'|' -v m="$2" 'index($2, " " m) == 1 { gsub(/ /, "", $3); print $3; found=1 } END { exit !found }' "$1" ||
    { log "no '$2' in $1"; cat "$1" >&2; return 1; }
}

# Setup: peers, the Nimbus binary, the peerbench commands.
nats_always=$("$root/bench/peers-install.sh")
log "building nimbus and peerbench"
if [ -n "${NIMBUS_BIN:-}" ]; then cp "$NIMBUS_BIN" "$tmp/nimbus"; else (cd "$root" && go build -o "$tmp/nimbus" ./cmd/nimbus); fi
(cd "$peer" && go build -o "$tmp/" ./cmd/natsbench ./cmd/rabbitbench ./cmd/redisbench)

unserve() { kill "$pid"; wait "$pid" || true; pid=; rm -rf "$tmp/data"; }
nbench() { # OUT KIND FLAGS...: one `nimbus bench` run into OUT (a failed check still reports; none: no data)
  local out=$1
  shift
  sync
  "$tmp/nimbus" bench "$@" --addr "$addr" --json -q >"$out" 2>"$out.err" ||
    log "nimbus bench $1 exited non-zero: $(tail -1 "$out.err")"
  [ -s "$out" ] || log "no report from nimbus bench $*; its row gets no data"
}
qflags=(--producers 4 --consumers 4 --inflight "$inflight" --size 1024 --batch 10 --duration "$dur")

queue_base() { # the standard-queue run the queue, fifo and topic rows compare with
  local out=$tmp/queue$pass.json
  serve
  nbench "$out" queue "${qflags[@]}"
  record nimbus.queue.send "$(jget "$out" 'r["send_msgs_per_sec"]')"
  record nimbus.queue.recv "$(jget "$out" 'r["recv_msgs_per_sec"]')"
  log "pass $pass nimbus send msgs/s $(jget "$out" '"%.0f  recv+delete msgs/s %.0f  send p50/p99 %.1f/%.1f ms  e2e p50/p99 %.0f/%.0f ms" % (r["send_msgs_per_sec"], r["recv_msgs_per_sec"], r["send_p50_ms"], r["send_p99_ms"], r["e2e_p50_ms"], r["e2e_p99_ms"])')"
  local half
  half=$(jget "$out" 'round(min(r["send_msgs_per_sec"], r["recv_msgs_per_sec"]) / 2)')
  if has queue && [ "${half:-0}" -gt 0 ]; then # end-to-end latency at half the sustainable peak (the slower side)
    nbench "$tmp/queuehalf$pass.json" queue "${qflags[@]}" --rate "$half"
    record nimbus.queue.half_rate "$half"
    record nimbus.queue.e2e_p99_half "$(jget "$tmp/queuehalf$pass.json" 'r["e2e_p99_ms"]')"
    record nimbus.queue.half_sent "$(jget "$tmp/queuehalf$pass.json" 'r["send_msgs_per_sec"]')"
  fi
  unserve
}

row_queue() {
  prun rabbit$pass "$tmp/rabbitbench" -runs 1
  record rabbit.send "$(pget "$tmp/rabbit$pass.md" 'publish with confirms, ≤1000 unconfirmed: msgs/s')"
  record rabbit.recv "$(pget "$tmp/rabbit$pass.md" 'consume + ack each')"
}

row_stream() {
  local out=$tmp/stream$pass.json lat=$tmp/streamlat$pass.json
  local sflags=(--shards 4 --record-size 1024 --keys 1000 --consumers 2 --read "${STREAM_READ:-poll}" --duration "$dur")
  prun redis$pass "$tmp/redisbench" -fsync always -runs 1
  record redis.xadd "$(pget "$tmp/redis$pass.md" 'XADD pipelined')"
  serve
  nbench "$out" stream "${sflags[@]}" --producers 8 --inflight 1
  record nimbus.stream.put "$(jget "$out" 'r["write_records_per_sec"]')"
  unserve
  serve
  nbench "$lat" stream "${sflags[@]}" --producers 1 --inflight 1 --linger 1ms --rate 5000
  record nimbus.stream.e2e_p99_5k "$(jget "$lat" 'r["e2e_p99_ms"]')"
  record nimbus.stream.rate_5k "$(jget "$lat" 'r["write_records_per_sec"]')"
  unserve
  local name srv
  for name in nats_always nats_debian; do
    srv=(-server "$nats_always" -sync always)
    [ $name = nats_debian ] && srv=(-server nats-server)
    prun $name$pass "$tmp/natsbench" "${srv[@]}" -runs 1 -n 40000 -rates 5000 -latdur "$dur"
    record $name.e2e_p99_5k "$(pget "$tmp/$name$pass.md" '(d) end-to-end latency at 5000 msg/s p99' | awk '{ print $1 / 1000 }')"
    record $name.e2e_p50_5k "$(pget "$tmp/$name$pass.md" '(d) end-to-end latency at 5000 msg/s p50' | awk '{ print $1 / 1000 }')"
    if grep -q 'WARNING: end-to-end' "$tmp/$name$pass.err"; then record $name.saturated 1; fi
  done
}

row_fifo() {
  local out=$tmp/fifo$pass.json
  serve
  nbench "$out" queue "${qflags[@]}" --fifo --high-throughput --groups 100 ${FIFO_PARTITIONS:+--partitions "$FIFO_PARTITIONS"}
  record nimbus.fifo.send "$(jget "$out" 'r["send_msgs_per_sec"]')"
  record nimbus.fifo.recv "$(jget "$out" 'r["recv_msgs_per_sec"]')"
  unserve
}

row_topic() {
  local out=$tmp/topic$pass.json
  serve
  # 4 publishers x the queue row's calls in flight each: one call per publisher
  nbench "$out" topic --queues 4 --publishers $((4 * inflight)) --batch 10 --size 1024 --consumers 2 --duration "$dur"
  record nimbus.topic.per_sub "$(jget "$out" 'r["fanned_out_msgs_per_sec_publishing"] / r["queues"]')"
  record nimbus.topic.missing "$(jget "$out" 'r["missing"]')"
  unserve
}

row_cluster() { # bench/cluster.sh's single node and 3 nodes, one pass of it
  PASSES=1 DURATION=$dur INFLIGHT=$inflight NIMBUS_BIN=$tmp/nimbus "$root/bench/cluster.sh" >"$tmp/cluster$pass.txt" 2>&1 ||
    { log "bench/cluster.sh failed (its row gets no data this pass):"; tail -20 "$tmp/cluster$pass.txt" >&2; return 0; }
  cat "$tmp/cluster$pass.txt" >&2
  local c=$tmp/cluster$pass.txt
  cget() { awk -v m="$1" -v k="$2" 'index($0, m) { for (i = 1; i < NF - 1; i++) if ($i == k && $(i+1) == "msgs/s") print $(i+2) }' "$c"; }
  record cluster.single.send "$(cget single-node send)"
  record cluster.single.recv "$(cget single-node recv+delete)"
  record cluster.leader.send "$(cget 'via leader' send)"
  record cluster.leader.recv "$(cget 'via leader' recv+delete)"
  record cluster.follower.send "$(cget 'via follower' send)"
}

start=$(date +%s)
for pass in $(seq "$passes"); do
  log "== pass $pass of $passes ($(date -u +%T) UTC, load $(cut -d' ' -f1-3 /proc/loadavg))"
  if has queue; then row_queue; fi
  if has queue || has fifo || has topic; then queue_base; fi
  for r in stream fifo topic cluster; do if has $r; then row_$r; fi; done
done
log "== done in $(($(date +%s) - start)) s"

# The table. Each line: label, Nimbus key, peer key (or "-"), kind, target.
# kind ratio: judged on Nimbus/peer per pass; value: on Nimbus's own figure.
python3 - "$res" "$passes" "$dur" "$inflight" "$rows" <<'EOF'
import sys, statistics as st
res, passes, dur, inflight, rows = sys.argv[1:]
data = {}
for line in open(res):
    p, k, v = line.split()
    data.setdefault(k, {})[int(p)] = float(v)
spec = [
 ("queue", "Standard queue send, batches of 10 (msgs/s) vs RabbitMQ quorum publish with confirms", "nimbus.queue.send", "rabbit.send", "ratio", ">=", 1.5),
 ("queue", "Standard queue receive+delete (msgs/s) vs RabbitMQ consume + ack", "nimbus.queue.recv", "rabbit.recv", "ratio", ">=", 1.5),
 ("queue", "Standard queue end-to-end p99 (ms) at half the sustainable peak", "nimbus.queue.e2e_p99_half", "-", "value", "<", 20),
 ("stream", "Stream puts (records/s) vs Redis pipelined XADD, appendfsync always", "nimbus.stream.put", "redis.xadd", "ratio", ">=", 1.5),
 ("stream", "Stream produce-to-consume p99 (ms) at 5,000 records/s vs NATS 2.15.3 JetStream, sync always", "nimbus.stream.e2e_p99_5k", "nats_always.e2e_p99_5k", "ratio", "<=", 0.5),
 ("stream", "(reference) same vs Debian's NATS 2.9 JetStream, no fsync", "nimbus.stream.e2e_p99_5k", "nats_debian.e2e_p99_5k", "ratio", None, None),
 ("fifo", "FIFO high-throughput, 100 groups, send (msgs/s) vs the standard queue", "nimbus.fifo.send", "nimbus.queue.send", "ratio", ">=", 0.7),
 ("fifo", "FIFO high-throughput, 100 groups, receive+delete (msgs/s) vs the standard queue", "nimbus.fifo.recv", "nimbus.queue.recv", "ratio", ">=", 0.7),
 ("topic", "Topic fan-out to 4 queues, copies/s per subscription vs standard queue send", "nimbus.topic.per_sub", "nimbus.queue.send", "ratio", ">=", 0.25),
 ("cluster", "3-node cluster RF 3 send (msgs/s, client on the leader's node) vs one node", "cluster.leader.send", "cluster.single.send", "ratio", ">=", 0.6),
 ("cluster", "3-node cluster RF 3 receive+delete (msgs/s, leader's node) vs one node", "cluster.leader.recv", "cluster.single.recv", "ratio", ">=", 0.6),
 ("cluster", "(reference) 3-node send, client on a follower (one hop) vs one node", "cluster.follower.send", "cluster.single.send", "ratio", None, None),
]
def fmt(x):
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}"
def summary(xs):
    m = fmt(st.median(xs))
    return m if len(xs) == 1 else f"{m} ({fmt(min(xs))}-{fmt(max(xs))})"
# Runs that fell short of their fixed rate measured a backlog, not latency at
# that rate; a topic run that missed copies is incomplete. notes: (key, text).
notes = []
half = data.get("nimbus.queue.half_rate", {})
for i, v in data.get("nimbus.queue.half_sent", {}).items():
    if v < 0.9 * half[i]:
        notes.append(("nimbus.queue.e2e_p99_half", f"pass {i}: the queue's half-load run sent only {fmt(v)} of {fmt(half[i])} msgs/s"))
for i, v in data.get("nimbus.stream.rate_5k", {}).items():
    if v < 4500:
        notes.append(("nimbus.stream.e2e_p99_5k", f"pass {i}: Nimbus's stream latency run wrote only {fmt(v)} of 5,000 records/s"))
for name, what in (("nats_always", "NATS 2.15.3"), ("nats_debian", "Debian's NATS 2.9")):
    for i, p50 in data.get(name + ".e2e_p50_5k", {}).items():
        if p50 > 100 or i in data.get(name + ".saturated", {}):
            notes.append((name + ".e2e_p99_5k", f"pass {i}: {what} did not keep up with 5,000 msgs/s (p50 {fmt(p50)} ms): its p99 is a backlog"))
for i, v in data.get("nimbus.topic.missing", {}).items():
    if v:
        notes.append(("nimbus.topic.per_sub", f"pass {i}: the topic run missed {v:.0f} copies"))
flagged = {k for k, _ in notes}
ok = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, "<": lambda a, b: a < b}
print(f"\nbench/compare.sh: {passes} pass(es), DURATION={dur}, INFLIGHT={inflight}, 1 KiB, fsync before ack, one machine, loopback\n")
print("| metric | Nimbus | peer | ratio | target | met |")
print("|---|---:|---:|---:|---|---|")
for row, label, nk, pk, kind, op, tgt in spec:
    if row not in rows.split():
        continue
    n = data.get(nk, {})
    if not n:
        print(f"| {label} | no data | | | | |"); continue
    nv = list(n.values())
    peer = ratio = "-"
    judged = st.median(nv)
    if pk != "-":
        p = data.get(pk, {})
        rs = [n[i] / p[i] for i in n if p.get(i)]
        if not rs:
            print(f"| {label} | {summary(nv)} | no data | | | |"); continue
        peer = fmt(st.median(p.values()))
        judged = st.median(rs)
        ratio = f"{judged:.2f}×" + ("" if len(rs) == 1 else f" ({min(rs):.2f}-{max(rs):.2f})")
    target = "-" if op is None else f"{op.replace('>=', '≥').replace('<=', '≤')} {tgt}{'×' if kind == 'ratio' else ' ms'}"
    met = "-" if op is None else ("met" if ok[op](judged, tgt) else "not met")
    if {nk, pk} & flagged:
        met = ("" if op is None else met + " ") + "(saturated run, see below)"
    print(f"| {label} | {summary(nv)} | {peer} | {ratio} | {target} | {met} |")
if half:
    print(f"\nHalf the sustainable peak (min of send and receive+delete msgs/s, / 2) per pass: {', '.join(fmt(v) for v in half.values())} msgs/s.")
if notes:
    print("\nSaturated or incomplete runs (their rows are not a fair measurement):\n")
    print("\n".join("- " + t for _, t in notes))
EOF
