#!/usr/bin/env python3
"""bench-store.py - what one machine costs the store. Records a simulated day of MACHINES
machines with oeed-sim, replays it through `oeed replay` with a production-like config
(report.interval 10s, windows 15m and 1h, periods shift and day, one contract, instance_tag),
counts the lines (points) and numeric fields (samples) per measurement, writes them to a fresh
VictoriaMetrics node and a fresh InfluxDB 1.x, lets each compact, and prints the bytes on disk
per line, per sample and per machine-day, and the points per second per machine.
docs/scale.md records the figures. Not a test.

    python3 bench/bench-store.py            # MACHINES=50, DAYS=1
    Environment: OEED_BUILD (build), MACHINES, DAYS
"""
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
os.environ.setdefault("OEED_BUILD", os.path.join(HERE, "..", "build"))
os.environ.setdefault("OEED", os.path.join(os.environ["OEED_BUILD"], "daemon", "oeed"))
import harness  # noqa: E402

MACHINES = int(os.environ.get("MACHINES", "50"))
DAYS = int(os.environ.get("DAYS", "1"))
CONFIG = """site: plant-1
instance: gw-1
instance_tag: true
state_dir: {d}/state
log_level: warn
sources:
  - topic: "factory/{{line}}/{{machine}}/state"
    decoder: text
    signal: state
    map: {{ RUNNING: running, IDLE: idle/starved, BLOCKED: idle/blocked, STOP: idle/short_stop,
           FAULT: down/fault, JAM: down/jam, TOOLCHANGE: down/tool_change, BREAK: planned/break }}
  - topic: "factory/{{line}}/{{machine}}/count"
    decoder: text
    signal: total
    counts: cumulative
  - topic: "factory/{{line}}/{{machine}}/reject"
    decoder: text
    signal: reject
    counts: cumulative
  - topic: "factory/{{line}}/{{machine}}/data"
    decoder: json
    counts: cumulative
    fields: {{ state: "$.state", total: "$.parts", reject: "$.scrap", timestamp: "$.ts" }}
    map: {{ RUNNING: running, IDLE: idle/starved, BLOCKED: idle/blocked, STOP: idle/short_stop,
           FAULT: down/fault, JAM: down/jam, TOOLCHANGE: down/tool_change, BREAK: planned/break }}
machines:
  defaults: {{ ideal_cycle_time: 1s }}
  max: {max}
report:
  interval: 10s
  windows: [15m, 1h]
  periods: [shift, day]
  timezone: UTC
  shifts:
    - {{ name: early, start: "06:00" }}
    - {{ name: late, start: "14:00" }}
    - {{ name: night, start: "22:00" }}
contracts:
  - {{ name: plant, machines: ["*"], kpi: availability, period: day, target: 0.9, minimum: 0.8 }}
outputs:
  - type: file
    path: "-"
"""


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def post(url, lines, chunk=5000):
    for i in range(0, len(lines), chunk):
        body = ("\n".join(lines[i:i + chunk]) + "\n").encode()
        urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=60).read()


class CompactingInflux(harness.Influx):
    """InfluxDB that snapshots its WAL and compacts at once, so the data directory shows what
    a shard settles to."""

    def start(self):
        super_spawn = self._spawn

        def spawn(argv):
            conf = argv[-1]
            with open(conf) as f:
                text = f.read()
            text = text.replace("  query-log-enabled = false\n",
                                "  query-log-enabled = false\n"
                                "  cache-snapshot-write-cold-duration = \"1s\"\n"
                                "  compact-full-write-cold-duration = \"1s\"\n")
            with open(conf, "w") as f:
                f.write(text)
            super_spawn(argv)
        self._spawn = spawn
        super().start()


def main():
    d = tempfile.mkdtemp(prefix="oeed-bench-store-")
    rec = os.path.join(d, "day.rec")
    sim = os.path.join(os.environ["OEED_BUILD"], "sim", "oeed-sim")
    subprocess.run([sim, "record", "--machines", str(MACHINES), "--duration", f"{24 * DAYS}h",
                    "--start", "2024-01-15T00:00:00Z", "--tail", "2m", "--out", rec], check=True,
                   capture_output=True)
    cfg = os.path.join(d, "oeed.yaml")
    with open(cfg, "w") as f:
        f.write(CONFIG.format(d=d, max=MACHINES + 10))
    t0 = time.monotonic()
    p = harness.run_oeed(["replay", "-c", cfg, rec], timeout=3600, check=True)
    lines = p.stdout.decode().splitlines()
    print(f"replay: {len(lines)} lines in {time.monotonic() - t0:.1f} s")
    per, samples = {}, 0
    for line in lines:
        m, _, fields, _ = harness.parse_line(line)
        n = sum(1 for v in fields.values() if not isinstance(v, str))
        c = per.setdefault(m, [0, 0])
        c[0] += 1
        c[1] += n
        samples += n
    seconds = 86400 * DAYS
    for m, (n, s) in sorted(per.items()):
        print(f"  {m:14s} {n:9d} lines {s:10d} numeric fields  "
              f"{n / MACHINES / seconds:.4f} lines/s per machine")
    print(f"total: {len(lines)} lines, {samples} numeric fields; per machine "
          f"{len(lines) / MACHINES / seconds:.4f} lines/s, {samples / MACHINES / seconds:.3f} "
          f"samples/s")
    with harness.Victoria() as vm:
        post(f"{vm.url}/write?precision=ms", lines)
        urllib.request.urlopen(urllib.request.Request(f"{vm.url}/internal/force_flush"),
                               timeout=60).read()
        urllib.request.urlopen(urllib.request.Request(f"{vm.url}/internal/force_merge"),
                               timeout=60).read()
        time.sleep(10)
        b = du(os.path.join(vm.dir, "data"))
        print(f"VictoriaMetrics: {b} bytes: {b / len(lines):.2f} B/line, {b / samples:.3f} "
              f"B/sample, {b / MACHINES / DAYS / 1e6:.3f} MB per machine-day")
    with CompactingInflux() as db:
        db.create_db("bench")
        post(f"{db.url}/write?db=bench&precision=ms", lines)
        time.sleep(25)  # the WAL snapshot and a full compaction
        b = du(os.path.join(db.dir, "data"))
        w = du(os.path.join(db.dir, "wal"))
        print(f"InfluxDB: {b} bytes in TSM (+{w} WAL): {b / len(lines):.2f} B/line, "
              f"{b / samples:.3f} B/field, {b / MACHINES / DAYS / 1e6:.3f} MB per machine-day")


if __name__ == "__main__":
    main()
