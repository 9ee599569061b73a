#!/usr/bin/env bash
# The test command: installs what is missing, builds with ASan and UBSan, runs every test
# (unit tests and integration tests against real mosquitto, InfluxDB and VictoriaMetrics
# started on free loopback ports), and ends with one line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh || { echo "0 passed, 1 failed"; exit 1; }
BUILD=${BUILD:-build-test}
if [ ! -d "$BUILD" ]; then
  meson setup "$BUILD" -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debugoptimized \
    >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
fi
if ! ninja -C "$BUILD"; then
  echo "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
meson test -C "$BUILD" --print-errorlogs --num-processes 2 "$@"
rc=$?
python3 - "$BUILD/meson-logs/testlog.json" <<'PY'
import json, sys
passed = failed = skipped = 0
try:
    with open(sys.argv[1]) as f:
        for line in f:
            r = json.loads(line)
            res = r.get("result")
            if res == "OK" or res == "EXPECTEDFAIL":
                passed += 1
            elif res == "SKIP":
                skipped += 1
            else:
                failed += 1
                print("failed:", r.get("name"), res)
except OSError:
    failed += 1
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
PY
exit $rc
