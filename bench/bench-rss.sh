#!/usr/bin/env bash
# bench-rss.sh - what oeed's resident memory is made of, by config: the live daemon under a
# steady oeed-sim stream through a local mosquitto, one run per variant of config/demo.yaml
# (machines.max, mqtt.queue_len, report.windows), file output to a temp file. After RUN_S
# seconds it prints VmRSS split into RssAnon (oeed's own memory) and RssFile (mapped library
# code, shared with every other process using the same libraries), VmHWM, the engine budget
# from --check-config, and oeed's own messages/dropped_messages counters. Not a test; docs/memory.md has the figures.
#
#   bench/bench-rss.sh [BUILD_DIR]          (default build-release)
#   Environment: RUN_S (60)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build-release}
RUN_S=${RUN_S:-60}
[ -d "$BUILD" ] || meson setup "$BUILD" "$SRC" --buildtype=release >/dev/null
ninja -C "$BUILD" daemon/oeed sim/oeed-sim >/dev/null
OEED=$BUILD/daemon/oeed
SIM=$BUILD/sim/oeed-sim
source "$SRC/scripts/servers.sh"
TMP=$(mktemp -d /tmp/oeed-bench-rss-XXXXXX)
PIDS=()
cleanup() {
	stop_pids "${PIDS[@]}"
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

MQ_PORT=$(free_port)
write_mosquitto_conf "$TMP/mosquitto.conf" "$MQ_PORT"
mosquitto -c "$TMP/mosquitto.conf" >"$TMP/mosquitto.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do mosquitto_pub -h 127.0.0.1 -p "$MQ_PORT" -t ping -m x 2>/dev/null && break; sleep 0.1; done

# variant: name, simulated machines, msg/s, machines.max, queue_len, windows
run() {
	local name=$1 machines=$2 rate=$3 max=$4 queue=$5 windows=$6 dir=$TMP/$1
	mkdir -p "$dir/state"
	sed -e "s|^state_dir: .*|state_dir: $dir/state|" \
		-e "s|url: tcp://127.0.0.1:1883|url: tcp://127.0.0.1:$MQ_PORT\n  queue_len: $queue|" \
		-e "s|^  max: 2000|  max: $max|" -e "s|^  windows: .*|  windows: $windows|" \
		-e "s|^  interval: 10s|  interval: 1s|" \
		-e '/^outputs:/,$d' "$SRC/config/demo.yaml" >"$dir/oeed.yaml"
	printf 'outputs:\n  - type: file\n    path: %s/out.lp\n' "$dir" >>"$dir/oeed.yaml"
	local budget
	budget=$("$OEED" -c "$dir/oeed.yaml" --check-config | sed -n 's/^# memory budget: //p')
	"$OEED" -c "$dir/oeed.yaml" 2>"$dir/log" &
	local pid=$!
	PIDS+=($pid)
	sleep 1
	"$SIM" live --url "tcp://127.0.0.1:$MQ_PORT" --machines "$machines" --rate "$rate" \
		--duration "$((RUN_S + 5))s" --client-id "sim-$name" >"$dir/sim.log" 2>&1 &
	local sim=$!
	PIDS+=($sim)
	sleep "$RUN_S"
	local rss anon file hwm self
	rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
	anon=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status")
	file=$(awk '/^RssFile:/ {print $2}' "/proc/$pid/status")
	hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
	self=$(grep '^oeed,' "$dir/out.lp" | tail -1 | grep -o 'messages=[0-9]*i\|dropped_messages=[0-9]*i' | tr '\n' ' ')
	kill "$sim" "$pid" 2>/dev/null || true
	wait "$sim" "$pid" 2>/dev/null || true
	printf '%-20s %5s %5s %5s %6s %-10s %7s %7s %7s %7s  %s| %s\n' "$name" "$machines" \
		"$rate" "$max" "$queue" "$windows" "$rss" "$anon" "$file" "$hwm" "$self" "$budget"
}

printf '%-20s %5s %5s %5s %6s %-10s %7s %7s %7s %7s  %s\n' variant mach. msg/s max queue \
	windows RSS anon file HWM "(KiB) self-metrics | engine budget"
run demo-as-is 1000 5000 2000 65536 "[15m, 1h]"
run max-fits 1000 5000 1000 65536 "[15m, 1h]"
run max-fits-queue4k 1000 5000 1000 4096 "[15m, 1h]"
run one-line-50 50 250 64 65536 "[15m, 1h]"
run one-line-50-queue4k 50 250 64 4096 "[15m, 1h]"
run one-line-50-1window 50 250 64 4096 "[1h]"
