#!/bin/sh
# bench-influx.sh - throughput of the influxdb output (tests/oeed-output-driver) into a real
# InfluxDB 1.x (API v1) and VictoriaMetrics (API v2), gzip on and off: lines per second from
# the first line to the last acknowledged one, and the driver's CPU seconds per million lines
# (getrusage of the driver, so line reading, batching, gzip and libcurl are all included).
# Not a test. Usage: bench/bench-influx.sh [BUILD_DIR] [LINES]   (defaults: build, 1000000)
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build}
LINES=${2:-1000000}
export OEED_SOURCE="$SRC" OEED_BUILD="$BUILD"
exec python3 - "$LINES" <<'PY'
import json, os, subprocess, sys, tempfile, shutil, time
sys.path.insert(0, os.path.join(os.environ["OEED_SOURCE"], "tests"))
from harness import BUILD, Influx, Victoria

n = int(sys.argv[1])
driver = os.path.join(BUILD, "tests", "oeed-output-driver")
t0 = 1700000000000
data = "".join(
    f"machine_kpi,machine=m{i % 500},line=l{i % 7},window=15m availability={(i % 1000) / 1000},"
    f"oee={(i % 997) / 997},good_count={i}i {t0 + i // 500 * 1000}\n"
    for i in range(n)).encode()
state = tempfile.mkdtemp(prefix="oeed-bench-")


def run(args):
    p = subprocess.run([driver] + args + [f"state_dir={state}", "batch_lines=5000",
                                          "close_timeout_ms=600000", "log_level=warn"],
                       input=data, capture_output=True, check=True)
    st = json.loads(p.stdout)
    assert st["lines_written"] == n and st["lines_dropped"] == 0, st
    return st


print(f"{n} lines, {len(data) / n:.0f} bytes a line, batch_lines=5000")
print(f"{'server':<28} {'gzip':>4} {'lines/s':>10} {'CPU s / 1M lines':>17}")
try:
    with Influx() as db:
        db.create_db("bench")
        for gz in (1, 0):
            db.query('DROP MEASUREMENT "machine_kpi"', db="bench", method="POST") if gz == 0 else None
            st = run([f"url={db.url}", "api=1", "database=bench", f"gzip={gz}", f"name=i{gz}"])
            print(f"{'InfluxDB 1.6 /write':<28} {gz:>4} {n / st['elapsed_ms'] * 1000:>10.0f}"
                  f" {st['cpu_s'] / n * 1e6:>17.2f}", flush=True)
    with Victoria() as vm:
        tok = os.path.join(state, "token")
        open(tok, "w").write("x\n")
        for gz in (1, 0):
            st = run([f"url={vm.url}", "api=2", "org=o", "bucket=b", f"token_file={tok}",
                      f"gzip={gz}", f"name=v{gz}"])
            print(f"{'VictoriaMetrics /api/v2/write':<28} {gz:>4} "
                  f"{n / st['elapsed_ms'] * 1000:>10.0f} {st['cpu_s'] / n * 1e6:>17.2f}",
                  flush=True)
finally:
    shutil.rmtree(state, ignore_errors=True)
PY
