#!/bin/sh
# fault-injection.sh - the long form of tests/test_faults.py: the same faults under steady load
# (corrupted checkpoint, broker SIGKILL, database stop/start, oeed SIGKILL, spool fill), with
# longer phases and more machines. docs/fault-injection.md explains the checks.
# Usage: scripts/fault-injection.sh [BUILD_DIR] [PHASE_SECONDS] [MACHINES]
#        (defaults: build, 60, 50)
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build}
ninja -C "$BUILD" daemon/oeed sim/oeed-sim >/dev/null
export OEED_SOURCE="$SRC" OEED_BUILD="$BUILD" OEED="$BUILD/daemon/oeed"
export FAULTS_PHASE_S="${2:-60}" FAULTS_MACHINES="${3:-50}"
exec python3 "$SRC/tests/test_faults.py" test_faults
