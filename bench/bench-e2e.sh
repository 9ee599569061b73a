#!/bin/sh
# bench-e2e.sh - end to end through mosquitto: `oeed-sim blast` (a raw-socket publisher faster
# than the broker, JSON timestamps taken at publish time; PUB=flood for the paho one) floods
# 1,000 simulated machines
# (text and JSON, demo.yaml topics) into a local mosquitto while two subscribers receive the
# same published stream: mosquitto_sub alone (what the broker delivers: the ceiling) and the
# live daemon (release build, demo.yaml with the file output to /dev/null). For QoS 0 and
# QoS 1 it prints, per subscriber, the messages received and the time from the flood's start
# until the last one arrived (mosquitto_sub: its output's size polled every 50 ms;
# oeed: its `messages` self-metric, written every report.interval = 1 s, so oeed's time is
# rounded UP to the next whole second: its rate is a lower bound), and oeed's CPU seconds
# (utime+stime from /proc/PID/stat) and peak RSS (VmHWM), mosquitto_sub's CPU seconds and the
# ratio of the two per message, and oeed's late/skewed counters. docs/benchmarks-e2e.md has
# the figures. Not a test.
#
#   bench/bench-e2e.sh
#   Environment: BUILD (build-release), WORK (/tmp/oeed-bench-e2e), MACHINES (1000),
#                MESSAGES_QOS0 (500000), MESSAGES_QOS1 (200000), QOS ("0 1"), PUB (blast),
#                PERF (unset; a file name: perf record -g of oeed during the QoS 0 flood).
set -eu
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build-release}
WORK=${WORK:-/tmp/oeed-bench-e2e}
MACHINES=${MACHINES:-1000}
MESSAGES_QOS0=${MESSAGES_QOS0:-500000}
MESSAGES_QOS1=${MESSAGES_QOS1:-200000}
QOS=${QOS:-"0 1"}
PUB=${PUB:-blast}
PERF=${PERF:-}

test -d "$BUILD" || meson setup "$BUILD" --buildtype=release
ninja -C "$BUILD" daemon/oeed sim/oeed-sim >/dev/null
SIM=$BUILD/sim/oeed-sim
OEED=$BUILD/daemon/oeed
rm -rf "$WORK"
mkdir -p "$WORK"
if [ "$(id -u)" = 0 ]; then
	chown mosquitto "$WORK" # mosquitto drops to its own user
fi

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
HZ=$(getconf CLK_TCK)
MQ_PID=
OEED_PID=
SUB_PID=
cleanup() {
	for p in $SUB_PID $OEED_PID $MQ_PID; do
		kill "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

cat >"$WORK/mosquitto.conf" <<EOF
listener $PORT 127.0.0.1
allow_anonymous true
max_queued_messages 0
max_inflight_messages 0
EOF
mosquitto -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &
MQ_PID=$!
sleep 0.5

now_ms() { date +%s%3N; }
cpu_s() { awk -v hz="$HZ" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
hwm_kib() { awk '/^VmHWM/ { print $2 }' "/proc/$1/status"; }
last_messages() {
	grep '^oeed,' "$WORK/out.lp" 2>/dev/null | tail -1 | sed -n 's/.* messages=\([0-9]*\)i.*/\1/p'
}

echo "machines=$MACHINES host: $(nproc) cores, $(uname -r)"
printf '%-4s %9s %10s %8s %9s %7s | %10s %8s %9s %8s %7s %8s %9s | %9s\n' qos published \
	"sub_msgs" "sub_s" "sub_msg/s" "sub_cpu" "oeed_msgs" "oeed_s" "oeed_msg/s" "oeed/sub" \
	"cpu_s" "hwm_MiB" "cpu/msg_x" "us/msg"

for q in $QOS; do
	if [ "$q" = 0 ]; then M=$MESSAGES_QOS0; else M=$MESSAGES_QOS1; fi
	rm -rf "$WORK/state" "$WORK/out.lp" "$WORK/sub.out"
	sed -e "s|url: tcp://127.0.0.1:1883|url: tcp://127.0.0.1:$PORT|" \
	    -e "s|client_id: oeed-demo|client_id: bench-e2e-$q\n  status_topic: st/bench-$q|" \
	    -e "s|^  qos: 1|  qos: $q|" \
	    -e "s|state_dir: /tmp/oeed-demo|state_dir: $WORK/state|" \
	    -e "s|^  interval: 10s|  interval: 1s|" \
	    -e "s|path: \"-\"|path: $WORK/out.lp|" \
	    -e "s|log_level: info|log_level: warn|" \
	    config/demo.yaml >"$WORK/oeed.yaml"
	"$OEED" -c "$WORK/oeed.yaml" 2>"$WORK/oeed-$q.log" &
	OEED_PID=$!
	# one "x" line per message: counted from the file's size, so polling costs nothing
	mosquitto_sub -h 127.0.0.1 -p "$PORT" -q "$q" -t 'factory/#' -F x >"$WORK/sub.out" &
	SUB_PID=$!
	# both subscribed: oeed publishes "online" after its subscriptions
	until [ "$(mosquitto_sub -h 127.0.0.1 -p "$PORT" -t "st/bench-$q" -C 1 -W 1 2>/dev/null)" = online ]; do
		sleep 0.1
	done
	sleep 0.5
	SUB_CPU0=$(cpu_s "$SUB_PID")
	OEED_CPU0=$(cpu_s "$OEED_PID")
	PERF_PID=
	if [ -n "$PERF" ] && [ "$q" = 0 ]; then
		perf record -q -g -F 999 -o "$PERF" -p "$OEED_PID" 2>/dev/null &
		PERF_PID=$!
		sleep 0.5
	fi
	T0=$(now_ms)
	"$SIM" "$PUB" --url "tcp://127.0.0.1:$PORT" --machines "$MACHINES" --messages "$M" \
		--qos "$q" --client-id "bench-pub-$q" >"$WORK/flood-$q.txt" 2>&1 &
	FLOOD_PID=$!
	# mosquitto_sub: until its line count stops growing for 2 s (or reaches M)
	SUB_N=0
	SUB_T=$T0
	STILL=0
	while [ "$STILL" -lt 40 ]; do
		n=$(($(stat -c %s "$WORK/sub.out") / 2))
		if [ "$n" -gt "$SUB_N" ]; then
			SUB_N=$n
			SUB_T=$(now_ms)
			STILL=0
		else
			STILL=$((STILL + 1))
		fi
		[ "$SUB_N" -ge "$M" ] && break
		sleep 0.05
	done
	wait "$FLOOD_PID" || true
	# oeed: the first self-metric line (its timestamp is the report tick) that shows every
	# message; or the last one once the count stops growing
	OEED_N=0
	OEED_T=$T0
	STILL=0
	while [ "$STILL" -lt 4 ]; do
		sleep 1
		n=$(last_messages)
		n=${n:-0}
		if [ "$n" -gt "$OEED_N" ]; then
			OEED_N=$n
			STILL=0
		else
			STILL=$((STILL + 1))
		fi
		[ "$OEED_N" -ge "$M" ] && break
	done
	OEED_T=$(grep '^oeed,' "$WORK/out.lp" | awk -v n="$OEED_N" '{
		if (match($0, / messages=[0-9]+i/)) { v = substr($0, RSTART + 10, RLENGTH - 11) + 0;
		  if (v >= n) { print $NF; exit } } }')
	CPU=$(cpu_s "$OEED_PID")
	SUB_CPU=$(cpu_s "$SUB_PID")
	HWM=$(hwm_kib "$OEED_PID")
	if [ -n "$PERF_PID" ]; then
		kill -INT "$PERF_PID"
		wait "$PERF_PID" 2>/dev/null || true
	fi
	SELF=$(grep '^oeed,' "$WORK/out.lp" | tail -1)
	DROPPED=$(echo "$SELF" | sed -n 's/.*dropped_messages=\([0-9]*\)i.*/\1/p')
	LATE=$(echo "$SELF" | sed -n 's/.*[ ,]late=\([0-9]*\)i.*/\1/p')
	SKEWED=$(echo "$SELF" | sed -n 's/.*skewed=\([0-9]*\)i.*/\1/p')
	WAITS=$(echo "$SELF" | sed -n 's/.*queue_waits=\([0-9]*\)i.*/\1/p')
	kill "$SUB_PID" "$OEED_PID"
	wait "$SUB_PID" "$OEED_PID" 2>/dev/null || true
	SUB_PID=
	OEED_PID=
	awk -v q="$q" -v m="$M" -v sn="$SUB_N" -v st="$SUB_T" -v on="$OEED_N" -v ot="$OEED_T" \
	    -v t0="$T0" -v cpu="$CPU" -v cpu0="$OEED_CPU0" -v scpu="$SUB_CPU" -v scpu0="$SUB_CPU0" \
	    -v hwm="$HWM" 'BEGIN {
		ss = (st - t0) / 1000; os = (ot - t0) / 1000;
		sr = ss > 0 ? sn / ss : 0; orate = os > 0 ? on / os : 0;
		oc = cpu - cpu0; sc = scpu - scpu0;
		x = (sc > 0 && on > 0) ? (oc / on) / (sc / sn) : 0;
		printf "%-4s %9d %10d %8.2f %9.0f %7.2f | %10d %8.2f %9.0f %7.1f%% %7.2f %8.1f %8.2fx | %9.2f\n",
		       q, m, sn, ss, sr, sc, on, os, orate, (sr > 0 ? 100 * orate / sr : 0), oc,
		       hwm / 1024, x, (on > 0 ? oc / on * 1e6 : 0) }'
	echo "     publisher ($PUB): $(tail -1 "$WORK/flood-$q.txt")"
	echo "     oeed: dropped_messages=${DROPPED:-?} queue_waits=${WAITS:-?} late=${LATE:-?} skewed=${SKEWED:-?}"
done
