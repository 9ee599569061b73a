#!/bin/sh
# bench-inorder.sh - the in-order cost of two builds side by side: replays the same 1M-message
# recordings (oeed-sim record, 1000 machines, text and JSON) with each build's oeed, pinned to
# one core, alternating the builds ROUNDS times, and prints the median task-clock of each and
# their ratio (docs/benchmarks-engine.md, run 4). Not a test.
#
#   BASE=/path/to/old/build NEW=build-release bench/bench-inorder.sh
#   Environment: ROUNDS (7), CONFIGS ("quiet stdout"), STYLES ("text json"), CORE (1), WORK.
set -eu
cd "$(dirname "$0")/.."
BASE=${BASE:?the build to compare against}
NEW=${NEW:-build-release}
WORK=${WORK:-/tmp/oeed-bench-inorder}
ROUNDS=${ROUNDS:-7}
CORE=${CORE:-1}
mkdir -p "$WORK"
cp config/demo.yaml "$WORK/stdout.yaml"
sed 's|^  interval: 10s|  interval: 1h|' config/demo.yaml >"$WORK/quiet.yaml"
for style in ${STYLES:-text json}; do
	test -s "$WORK/$style.rec" || "$NEW/sim/oeed-sim" record --machines 1000 --style "$style" \
		--count-interval 1s --messages 1000000 --seed 1 --out "$WORK/$style.rec" 2>/dev/null
done
median() { sort -n "$1" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
for cfg in ${CONFIGS:-quiet stdout}; do
	for style in ${STYLES:-text json}; do
		: >"$WORK/t.base"
		: >"$WORK/t.new"
		i=0
		while [ "$i" -lt "$ROUNDS" ]; do
			for b in base new; do
				if [ "$b" = base ]; then o=$BASE; else o=$NEW; fi
				taskset -c "$CORE" perf stat -x, -e task-clock -o "$WORK/ps.txt" \
					"$o/daemon/oeed" replay -c "$WORK/$cfg.yaml" "$WORK/$style.rec" \
					>/dev/null 2>&1
				grep task-clock "$WORK/ps.txt" | cut -d, -f1 >>"$WORK/t.$b"
			done
			i=$((i + 1))
		done
		mb=$(median "$WORK/t.base")
		mn=$(median "$WORK/t.new")
		echo "$style/$cfg base $mb ms new $mn ms ratio $(echo "$mn $mb" | awk '{ printf "%.3f", $1 / $2 }')"
	done
done
