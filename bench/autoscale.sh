#!/usr/bin/env bash
# Step load on an on-demand stream, with and without autoscaling (issue 9).
# For each mode it starts a fresh `nimbus serve` (--autoscale-interval
# $INTERVAL, or 0 for the fixed run), creates an on-demand stream (4 shards
# at first) with a budget of $BUDGET records/s per shard, puts 1 KiB records
# with `nimbus bench stream` at $LOW records/s for $LOW_FOR, then at $HIGH
# records/s for $HIGH_FOR, and samples every second the open shards
# (describe) and the per-shard write rates the server measures (the
# nimbus_stream_shard_incoming_records_per_second gauges, 10 s EWMA). It
# prints a table per $EVERY seconds and the reaction time: from the step to
# the first split, to the last change of the shard count, and to the moment
# from which no shard is above its budget. MODES picks the runs.
#
#   bench/autoscale.sh
#   LOW=2000 HIGH=16000 HIGH_FOR=120s WINDOW=30s COOLDOWN=30s bench/autoscale.sh
#   MODES=autoscale INTERVAL=30s WINDOW=60s COOLDOWN=60s HIGH_FOR=300s EVERY=15 bench/autoscale.sh  # the defaults
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$root" && go build -o "$tmp/nimbus" ./cmd/nimbus)
NIMBUS="$tmp/nimbus" TMP="$tmp" python3 - <<'EOF'
import json, os, re, socket, subprocess, threading, time, urllib.request

env = os.environ
nimbus, tmp = env["NIMBUS"], env["TMP"]
LOW, HIGH = int(env.get("LOW", "2000")), int(env.get("HIGH", "12000"))
LOW_FOR, HIGH_FOR = env.get("LOW_FOR", "30s"), env.get("HIGH_FOR", "90s")
BUDGET = int(env.get("BUDGET", "1000"))
INTERVAL, WINDOW, COOLDOWN = env.get("INTERVAL", "5s"), env.get("WINDOW", "10s"), env.get("COOLDOWN", "10s")
MAX_SHARDS, EVERY, SIZE = env.get("MAX_SHARDS", "64"), int(env.get("EVERY", "5")), env.get("SIZE", "1024")

def port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def secs(d):
    return float(d[:-1]) if d.endswith("s") else float(d)

def run_mode(mode):
    g, h, r = port(), port(), port()
    addr = "127.0.0.1:%d" % g
    log = open(os.path.join(tmp, mode + ".log"), "w")
    srv = subprocess.Popen([nimbus, "serve", "--data-dir", os.path.join(tmp, mode), "--grpc-addr", addr,
                            "--http-addr", "127.0.0.1:%d" % h, "--peer-addr", "127.0.0.1:%d" % r,
                            "--autoscale-interval", INTERVAL if mode == "autoscale" else "0"], stderr=log)
    try:
        while True:
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/readyz" % h, timeout=1); break
            except Exception:
                time.sleep(0.1)
        cli = [nimbus, "--addr", addr]
        subprocess.run(cli + ["stream", "create", "s", "--on-demand", "--shard-records-per-sec", str(BUDGET),
                              "--scale-window", WINDOW, "--scale-cooldown", COOLDOWN, "--max-shards", MAX_SHARDS],
                       check=True, stdout=subprocess.DEVNULL)
        samples, stop = [], threading.Event()
        t0 = time.time()

        def sample():
            while not stop.wait(1.0):
                d = json.loads(subprocess.run(cli + ["-o", "json", "stream", "describe", "s"], capture_output=True, check=True).stdout)
                open_ = sum(1 for s in d["shards"] if not s.get("ending_sequence_number"))
                m = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % h).read().decode()
                rates = [float(v) for v in re.findall(
                    r'^nimbus_stream_shard_incoming_records_per_second\{shard="[^"]*",stream="s",window="10s"\} (\S+)$', m, re.M)]
                samples.append((time.time() - t0, open_, max(rates or [0]), sum(rates)))

        th = threading.Thread(target=sample); th.start()
        written, reports = [], []
        for rate, dur in ((LOW, LOW_FOR), (HIGH, HIGH_FOR)):
            start = time.time() - t0
            p = subprocess.run(cli + ["bench", "stream", "--stream", "s", "--rate", str(rate), "--duration", dur,
                                      "--consumers", "0", "--record-size", SIZE, "--json"], capture_output=True, text=True, check=True)
            for line in p.stderr.replace("\r", "\n").splitlines():
                mm = re.match(r"\s*(\d+)s\s+written \d+ \((\d+)/s\)", line)
                if mm:
                    written.append((start + int(mm.group(1)), rate, int(mm.group(2))))
            reports.append((rate, json.loads(p.stdout)))
        stop.set(); th.join()
        return t0, samples, written, reports
    finally:
        srv.terminate(); srv.wait()

def table(mode, samples, written, reports):
    step = secs(LOW_FOR)
    print("\n## %s: on-demand stream, budget %d records/s per shard, %s B records, %d -> %d records/s at t=%.0fs" % (
        mode, BUDGET, SIZE, LOW, HIGH, step))
    print("| t (s) | offered rec/s | written rec/s | open shards | busiest shard rec/s (10 s EWMA) |")
    print("|---:|---:|---:|---:|---:|")
    end = max(w[0] for w in written)
    t = EVERY
    while t <= end + 0.5:
        ws = [w for w in written if t - EVERY < w[0] <= t]
        ss = [s for s in samples if s[0] <= t]
        if ws and ss:
            print("| %d | %d | %.0f | %d | %.0f |" % (t, ws[-1][1], sum(w[2] for w in ws) / len(ws), ss[-1][1], ss[-1][2]))
        t += EVERY
    high = [s for s in samples if step < s[0] <= end]
    before = [s for s in samples if s[0] <= step]
    first = before[-1][1] if before else 4
    split = next((s[0] for s in high if s[1] > first), None)
    final = high[-1][1] if high else first
    # settled: from then on the open shard count stays at its final value;
    # in budget: from then on no shard's 10 s rate is above the budget (+5%).
    settled = next((s[0] for i, s in enumerate(high) if all(x[1] == final for x in high[i:])), None)
    ok = next((s[0] for i, s in enumerate(high) if all(x[2] <= 1.05 * BUDGET for x in high[i:])), None)
    for rate, r in reports:
        print("- at %d rec/s: written %.0f rec/s, put p50 %.1f ms, p99 %.1f ms" % (rate, r["write_records_per_sec"], r["put_p50_ms"], r["put_p99_ms"]))
    f = lambda x: "%.0f s after the step" % (x - step) if x else "never"
    print("- first split: %s; shard count settled at %d: %s; every shard within its budget: %s" % (f(split), final, f(settled), f(ok)))

for mode in env.get("MODES", "autoscale fixed").split():
    t0, samples, written, reports = run_mode(mode)
    table(mode, samples, written, reports)
EOF
