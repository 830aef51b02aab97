#!/usr/bin/env bash
# Step load on a standard queue, with and without partition autoscaling
# (issue 9). For each mode it starts a fresh `nimbus serve`
# (--autoscale-interval $INTERVAL, or 0 for the fixed run), creates a
# standard queue with a budget of $BUDGET messages/s per partition, sends
# and receives 1 KiB messages with `nimbus bench queue` at $LOW messages/s
# for $LOW_FOR, then at $HIGH messages/s (0: as fast as the producers go)
# for $HIGH_FOR, and samples every second the partitions taking sends
# (`queue scaling -o json`). It prints a table per $EVERY seconds and the
# reaction time: from the step to the first change and to the last change
# of the partition count. MODES picks the runs.
#
#   bench/queue_autoscale.sh
#   LOW=500 HIGH=0 BUDGET=1000 HIGH_FOR=60s bench/queue_autoscale.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$root" && go build -o "$tmp/nimbus" ./cmd/nimbus)
NIMBUS="$tmp/nimbus" TMP="$tmp" python3 - <<'PY'
import json, os, re, socket, subprocess, threading, time, urllib.request

env = os.environ
nimbus, tmp = env["NIMBUS"], env["TMP"]
LOW, HIGH = int(env.get("LOW", "500")), int(env.get("HIGH", "0"))
LOW_FOR, HIGH_FOR = env.get("LOW_FOR", "15s"), env.get("HIGH_FOR", "45s")
BUDGET = int(env.get("BUDGET", "1000"))
INTERVAL, WINDOW, COOLDOWN = env.get("INTERVAL", "1s"), env.get("WINDOW", "3s"), env.get("COOLDOWN", "3s")
MAX_PARTS, EVERY, SIZE = env.get("MAX_PARTITIONS", "8"), int(env.get("EVERY", "3")), env.get("SIZE", "1024")
PRODUCERS, CONSUMERS = env.get("PRODUCERS", "8"), env.get("CONSUMERS", "8")

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
        subprocess.run(cli + ["queue", "create", "q"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(cli + ["queue", "scaling", "q", "--partition-messages-per-sec", str(BUDGET),
                              "--scale-window", WINDOW, "--scale-cooldown", COOLDOWN, "--max-partitions", MAX_PARTS],
                       check=True, stdout=subprocess.DEVNULL)
        samples, stop = [], threading.Event()
        t0 = time.time()

        def sample():
            while not stop.wait(1.0):
                d = json.loads(subprocess.run(cli + ["-o", "json", "queue", "scaling", "q"], capture_output=True, check=True).stdout)
                samples.append((time.time() - t0, sum(1 for p in d["Partitions"] if p["State"] == "ACTIVE")))

        th = threading.Thread(target=sample); th.start()
        rates, reports = [], []
        for rate, dur in ((LOW, LOW_FOR), (HIGH, HIGH_FOR)):
            start = time.time() - t0
            p = subprocess.run(cli + ["bench", "queue", "--queue", "q", "--rate", str(rate), "--duration", dur,
                                      "--producers", PRODUCERS, "--consumers", CONSUMERS, "--size", SIZE, "--batch", "10", "--json"],
                               capture_output=True, text=True, check=True)
            for line in p.stderr.replace("\r", "\n").splitlines():
                mm = re.match(r"\s*(\d+)s\s+sent \d+ \((\d+)/s\)\s+recv \d+ \((\d+)/s\)", line)
                if mm:
                    rates.append((start + int(mm.group(1)), rate, int(mm.group(2)), int(mm.group(3))))
            reports.append((rate, json.loads(p.stdout)))
        stop.set(); th.join()
        return samples, rates, reports
    finally:
        srv.terminate(); srv.wait()

def table(mode, samples, rates, reports):
    step = secs(LOW_FOR)
    print("\n## %s: standard queue, budget %d msgs/s per partition, %s B messages, %d -> %s msgs/s at t=%.0fs" % (
        mode, BUDGET, SIZE, LOW, HIGH or "unlimited", step))
    print("| t (s) | offered msgs/s | sent msgs/s | received msgs/s | partitions |")
    print("|---:|---:|---:|---:|---:|")
    end = max(x[0] for x in rates)
    t = EVERY
    while t <= end + 0.5:
        ws = [x for x in rates if t - EVERY < x[0] <= t]
        ss = [s for s in samples if s[0] <= t]
        if ws and ss:
            print("| %d | %s | %.0f | %.0f | %d |" % (t, ws[-1][1] or "max", sum(x[2] for x in ws) / len(ws), sum(x[3] for x in ws) / len(ws), ss[-1][1]))
        t += EVERY
    high = [s for s in samples if step < s[0] <= end]
    first = [s for s in samples if s[0] <= step][-1][1]
    change = next((s[0] for s in high if s[1] != first), None)
    final = high[-1][1] if high else first
    settled = next((s[0] for i, s in enumerate(high) if all(x[1] == final for x in high[i:])), None)
    for rate, r in reports:
        print("- at %s msgs/s offered: sent %.0f msgs/s, received %.0f msgs/s, send p50 %.1f ms, p99 %.1f ms" % (
            rate or "max", r["send_msgs_per_sec"], r.get("recv_msgs_per_sec", 0), r.get("send_p50_ms", 0), r.get("send_p99_ms", 0)))
    f = lambda x: "%.0f s after the step" % (x - step) if x else "never"
    print("- first partition change: %s; partitions settled at %d: %s" % (f(change), final, f(settled)))

for mode in env.get("MODES", "autoscale fixed").split():
    samples, rates, reports = run_mode(mode)
    table(mode, samples, rates, reports)
PY
