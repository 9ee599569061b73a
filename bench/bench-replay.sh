#!/bin/sh
# bench-replay.sh - how fast `oeed replay` runs the engine on one core, and its peak memory.
# Builds a release build, records 1,000 simulated machines with oeed-sim (text and JSON
# payloads, 100,000 and 10,000,000 messages), replays each under /usr/bin/time -v pinned to
# one core with taskset, and prints messages/s and peak RSS; then profiles a 200,000-message
# replay with perf. docs/benchmarks-engine.md records the figures. Not a test: the 10M
# recordings take about 3 GB under $WORK and the run takes minutes.
#
#   bench/bench-replay.sh                      # everything
#   SIZES=100000 STYLES=text bench/bench-replay.sh
#   Environment: BUILD (build-release), WORK (/tmp/oeed-bench), CORE (0), KEEP=1 keeps files.
set -eu
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build-release}
WORK=${WORK:-/tmp/oeed-bench}
SIZES=${SIZES:-"100000 1000000 10000000"}
STYLES=${STYLES:-"text json"}
CORE=${CORE:-0}
MACHINES=${MACHINES:-1000}

if [ ! -x /usr/bin/time ]; then
	apt-get install -y time
fi
test -d "$BUILD" || meson setup "$BUILD" --buildtype=release
ninja -C "$BUILD" daemon/oeed sim/oeed-sim
SIM=$BUILD/sim/oeed-sim
OEED=$BUILD/daemon/oeed
mkdir -p "$WORK"

# Three configs, all demo.yaml otherwise (2 rolling windows, 2 periods, 1 contract):
#  stdout:  the file output "-"; replay writes line protocol to stdout, redirected to /dev/null.
#  devnull: the file output path /dev/null. `oeed replay` always writes to stdout and ignores
#           `outputs:`, so this measures the same thing; it is run to show that.
#  quiet:   report.interval 1h instead of 10s: ~360x fewer machine_kpi lines, so output is
#           cheap and the figure is close to the engine and decoders alone.
cp config/demo.yaml "$WORK/stdout.yaml"
sed 's|path: "-"|path: /dev/null|' config/demo.yaml >"$WORK/devnull.yaml"
sed 's|^  interval: 10s|  interval: 1h|' config/demo.yaml >"$WORK/quiet.yaml"
grep -q 'interval: 1h' "$WORK/quiet.yaml"
"$OEED" -c "$WORK/stdout.yaml" --check-config >/dev/null

# Seconds from /usr/bin/time's "h:mm:ss" or "m:ss.ss".
secs() {
	echo "$1" | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }'
}

# run NAME CONFIG REC MESSAGES
run() {
	taskset -c "$CORE" /usr/bin/time -v -o "$WORK/time.txt" \
		"$OEED" replay -c "$2" "$3" >/dev/null 2>"$WORK/replay.err"
	el=$(secs "$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$WORK/time.txt")")
	rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/time.txt")
	usr=$(sed -n 's/.*User time (seconds): //p' "$WORK/time.txt")
	sys=$(sed -n 's/.*System time (seconds): //p' "$WORK/time.txt")
	# Output volume, measured in a second run for the small recordings only (it costs time).
	out=-1048576
	if [ "$4" -le 1000000 ]; then
		out=$(taskset -c "$CORE" "$OEED" replay -c "$2" "$3" 2>/dev/null | wc -c)
	fi
	awk -v n="$1" -v m="$4" -v el="$el" -v rss="$rss" -v u="$usr" -v s="$sys" -v o="$out" \
		'BEGIN { printf "%-14s %9d msgs %7.2f s wall %9.0f msg/s | cpu %6.2f s %9.0f msg/s | peak RSS %6d KiB | output %6.1f MiB\n", n, m, el, m / el, u + s, m / (u + s), rss, o / 1048576 }'
	tail -n 1 "$WORK/replay.err"
}

echo "# oeed $("$OEED" --version 2>&1 | head -n 1), $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)"
for style in $STYLES; do
	for n in $SIZES; do
		rec="$WORK/$style-$n.rec"
		if [ ! -s "$rec" ]; then
			"$SIM" record --machines "$MACHINES" --style "$style" --count-interval 1s \
				--messages "$n" --seed 1 --out "$rec" 2>/dev/null
		fi
		echo "## $style, $n messages, $(du -m "$rec" | cut -f1) MB recording"
		for cfg in stdout devnull quiet; do
			run "$style/$cfg" "$WORK/$cfg.yaml" "$rec" "$n"
		done
	done
done

# What limits speed: replays under perf (software clock; the VM has no hardware counters),
# top functions by self time. 2,000,000 messages by default: at 200,000 the start-up (engine
# memory being touched for 1,000 machines) is a large share of the profile.
PROFILE_MESSAGES=${PROFILE_MESSAGES:-2000000}
if command -v perf >/dev/null 2>&1; then
	for style in $STYLES; do
		rec="$WORK/$style-$PROFILE_MESSAGES.rec"
		[ -s "$rec" ] || "$SIM" record --machines "$MACHINES" --style "$style" \
			--count-interval 1s --messages "$PROFILE_MESSAGES" --seed 1 --out "$rec" 2>/dev/null
		for cfg in stdout quiet; do
			echo "## perf: $style, $PROFILE_MESSAGES messages, $cfg config"
			taskset -c "$CORE" perf stat -e task-clock,context-switches,page-faults \
				"$OEED" replay -c "$WORK/$cfg.yaml" "$rec" 2>&1 >/dev/null |
				grep -E 'task-clock|page-faults|elapsed'
			taskset -c "$CORE" perf record -q -F 4999 -e cpu-clock -o "$WORK/perf.data" \
				"$OEED" replay -c "$WORK/$cfg.yaml" "$rec" >/dev/null 2>&1
			perf report -i "$WORK/perf.data" --stdio --no-children --sort symbol 2>/dev/null |
				grep -E '^ +[0-9.]+%' | head -n 15
		done
	done
fi

[ "${KEEP:-0}" = 1 ] || rm -f "$WORK"/*.rec "$WORK/perf.data"
