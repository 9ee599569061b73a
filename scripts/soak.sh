#!/usr/bin/env bash
# soak.sh - runs oeed for a long time under steady load and checks that its memory and open
# file descriptors stay flat (issue 7). Starts its own mosquitto and InfluxDB on free loopback
# ports, drives them with `oeed-sim live`, samples oeed from /proc every 10 s into a CSV, stops
# everything by PID and removes its temp dir. Not a test: takes minutes to hours.
#
# Usage: scripts/soak.sh [--minutes N] [--machines N] [--rate MSGS_PER_S] [--build DIR]
#                        [--out DIR] [--leakcheck]
#   defaults: 60 minutes, 1000 machines, 5000 msg/s, build dir build-soak, out dir BUILD/soak
#   --leakcheck: builds with -Db_sanitize=address into build-soak-asan, runs a shorter soak
#                (default 3 minutes at 1000 msg/s), stops oeed with SIGTERM and fails when its
#                stderr has a LeakSanitizer (or any AddressSanitizer) report.
#
# Rule (flat after warm-up): warm-up is the first fifth of the run, at least 60 s. The baseline
# is the first sample after warm-up; the run PASSes when the largest RSS among the samples of
# the last half of the run is at most baseline x 1.05, the largest fd count there is at most
# baseline + 2, oeed is still alive at the end and dropped no message or line.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
MINUTES=""
MACHINES=1000
RATE=""
BUILD=""
OUT=""
LEAK=0
INTERVAL=10
while [ $# -gt 0 ]; do
	case "$1" in
	--minutes) MINUTES=$2; shift 2 ;;
	--machines) MACHINES=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	--build) BUILD=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--leakcheck) LEAK=1; shift ;;
	-h|--help) sed -n 2,17p "$0"; exit 0 ;;
	*) echo "soak.sh: unknown argument $1" >&2; exit 1 ;;
	esac
done
if [ "$LEAK" = 1 ]; then
	MINUTES=${MINUTES:-3}
	RATE=${RATE:-1000}
	BUILD=${BUILD:-$SRC/build-soak-asan}
	if [ ! -d "$BUILD" ]; then
		meson setup "$BUILD" "$SRC" -Db_sanitize=address >/dev/null
	fi
	ninja -C "$BUILD" daemon/oeed sim/oeed-sim >/dev/null
else
	MINUTES=${MINUTES:-60}
	RATE=${RATE:-5000}
	BUILD=${BUILD:-$SRC/build-soak}
	ninja -C "$BUILD" daemon/oeed sim/oeed-sim >/dev/null
fi
OUT=${OUT:-$BUILD/soak}
mkdir -p "$OUT"
OEED=$BUILD/daemon/oeed
SIM=$BUILD/sim/oeed-sim
DURATION_S=$((MINUTES * 60))
TMP=$(mktemp -d /tmp/oeed-soak-XXXXXX)
CSV=$OUT/soak.csv
TICK=$(getconf CLK_TCK)

source "$SRC/scripts/servers.sh"

MQ_PID="" DB_PID="" OEED_PID="" SIM_PID=""
stop_pid() { # SIGTERM, then SIGKILL after 10 s; by PID only
	local pid=$1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
	stop_pid "$SIM_PID"
	stop_pid "$OEED_PID"
	stop_pid "$DB_PID"
	stop_pid "$MQ_PID"
	wait 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() { # wait_for SECONDS CMD...
	local t=$1
	shift
	for _ in $(seq $((t * 10))); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "soak.sh: timed out waiting for: $*" >&2
	return 1
}

MQ_PORT=$(free_port)
mkdir -p "$TMP/mq"
write_mosquitto_conf "$TMP/mq/mosquitto.conf" "$MQ_PORT" "max_queued_messages 1000000"
mosquitto -c "$TMP/mq/mosquitto.conf" >"$TMP/mq/log" 2>&1 &
MQ_PID=$!
wait_for 15 mosquitto_pub -h 127.0.0.1 -p "$MQ_PORT" -t ping -m x

DB_PORT=$(free_port)
DB_RPC=$(free_port)
mkdir -p "$TMP/db"
write_influxdb_conf "$TMP/db/influxdb.conf" "$TMP/db" "$DB_PORT" "$DB_RPC"
influxd -config "$TMP/db/influxdb.conf" >"$TMP/db/log" 2>&1 &
DB_PID=$!
wait_for 60 curl -sf "http://127.0.0.1:$DB_PORT/ping"

# The demo's sources and report (1000 machines), the audit trail on with small files so that
# rotation and deletion run many times, the influxdb output.
mkdir -p "$TMP/oeed/state"
sed -e "s|^state_dir: .*|state_dir: $TMP/oeed/state|" \
	-e "s|url: tcp://127.0.0.1:1883|url: tcp://127.0.0.1:$MQ_PORT|" \
	-e "s|^log_level: .*|log_level: warn\ncheckpoint_interval: 10s\nrecord: { file_max: 8MiB, total_max: 64MiB }|" \
	-e '/^outputs:/,$d' "$SRC/config/demo.yaml" >"$TMP/oeed/oeed.yaml"
cat >>"$TMP/oeed/oeed.yaml" <<EOF
outputs:
  - type: influxdb
    url: http://127.0.0.1:$DB_PORT
    api: v1
    database: soak
    create_database: true
EOF
"$OEED" -c "$TMP/oeed/oeed.yaml" --check-config >/dev/null

"$OEED" -c "$TMP/oeed/oeed.yaml" >"$TMP/oeed/stdout" 2>"$TMP/oeed/stderr" &
OEED_PID=$!
sleep 1
"$SIM" live --url "tcp://127.0.0.1:$MQ_PORT" --machines "$MACHINES" --rate "$RATE" \
	--duration "$((DURATION_S + 30))s" >"$TMP/sim.log" 2>&1 &
SIM_PID=$!

echo "soak: $MINUTES min, $MACHINES machines, $RATE msg/s, oeed $OEED (pid $OEED_PID)," \
	"load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "t_s,rss_kib,cpu_s,fds,cpu_pct" >"$CSV"
start=$(date +%s)
prev_cpu=0
prev_t=0
alive=1
while :; do
	now=$(($(date +%s) - start))
	if ! kill -0 "$OEED_PID" 2>/dev/null; then
		alive=0
		echo "soak: oeed exited after ${now}s" >&2
		break
	fi
	rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$OEED_PID/status")
	# utime and stime are fields 14 and 15; the command name (field 2) has no spaces here.
	ticks=$(awk '{print $14 + $15}' "/proc/$OEED_PID/stat")
	fds=$(ls "/proc/$OEED_PID/fd" | wc -l)
	cpu=$(awk -v t="$ticks" -v hz="$TICK" 'BEGIN {printf "%.2f", t / hz}')
	pct=0
	if [ "$now" -gt "$prev_t" ]; then
		pct=$(awk -v c="$cpu" -v p="$prev_cpu" -v dt=$((now - prev_t)) \
			'BEGIN {printf "%.1f", (c - p) * 100 / dt}')
	fi
	echo "$now,$rss,$cpu,$fds,$pct" >>"$CSV"
	prev_cpu=$cpu
	prev_t=$now
	[ "$now" -ge "$DURATION_S" ] && break
	sleep $((INTERVAL - ($(date +%s) - start) % INTERVAL))
done

# oeed's own counters from its last self-metrics point, before stopping it.
selfq() {
	curl -sG "http://127.0.0.1:$DB_PORT/query" --data-urlencode db=soak \
		--data-urlencode "q=SELECT last(messages) AS messages, last(decode_errors) AS \
decode_errors, last(dropped_messages) AS dropped_messages, last(lines_written) AS lines_written, \
last(dropped_lines) AS dropped_lines, last(late) AS late, last(machines) AS machines FROM oeed" |
		python3 -c 'import json,sys
r=json.load(sys.stdin)["results"][0]
s=r.get("series",[{}])[0]
print(" ".join(f"{c}={v}" for c,v in zip(s.get("columns",[]),s.get("values",[[]])[0]) if c!="time"))'
}
SELF=$(selfq || echo "self-metrics unavailable")
stop_pid "$SIM_PID"
SIM_PID=""
rc_oeed=0
if [ "$alive" = 1 ]; then
	kill -TERM "$OEED_PID"
	wait "$OEED_PID" || rc_oeed=$?
fi
OEED_PID=""
cp "$TMP/oeed/stderr" "$OUT/oeed.stderr"

echo "self-metrics: $SELF"
echo "oeed exit code after SIGTERM: $rc_oeed"
verdict=0
python3 - "$CSV" "$DURATION_S" <<'PY' || verdict=1
import csv, sys
rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(open(sys.argv[1]))]
dur = float(sys.argv[2])
warm = max(60.0, dur / 5)
after = [r for r in rows if r["t_s"] >= warm]
last = [r for r in rows if r["t_s"] >= dur / 2]
if not after or not last:
    print("FAIL: too few samples"); sys.exit(1)
b = after[0]
rss_max = max(r["rss_kib"] for r in last)
fd_max = max(r["fds"] for r in last)
cpu = rows[-1]["cpu_s"] - b["cpu_s"]
span = rows[-1]["t_s"] - b["t_s"]
print(f"samples {len(rows)}, warm-up {warm:.0f} s; baseline at t={b['t_s']:.0f} s: "
      f"RSS {b['rss_kib']:.0f} KiB, fds {b['fds']:.0f}")
print(f"last half (t >= {dur / 2:.0f} s): max RSS {rss_max:.0f} KiB "
      f"({(rss_max / b['rss_kib'] - 1) * 100:+.2f} %, limit +5 %), max fds {fd_max:.0f} "
      f"(limit {b['fds'] + 2:.0f}); overall RSS min {min(r['rss_kib'] for r in rows):.0f} "
      f"max {max(r['rss_kib'] for r in rows):.0f} KiB")
print(f"CPU after warm-up: {cpu:.1f} s in {span:.0f} s = {cpu / span * 100 if span else 0:.1f} % of one core")
ok = rss_max <= b["rss_kib"] * 1.05 and fd_max <= b["fds"] + 2
sys.exit(0 if ok else 1)
PY
case "$SELF" in
*"dropped_messages=0 "*"dropped_lines=0 "*) ;;
*) echo "soak: oeed dropped messages or lines (or no self-metrics)"; verdict=1 ;;
esac
[ "$alive" = 1 ] && [ "$rc_oeed" = 0 ] || verdict=1
if [ "$LEAK" = 1 ]; then
	if grep -q "LeakSanitizer\|AddressSanitizer" "$OUT/oeed.stderr"; then
		echo "leakcheck: sanitizer report in $OUT/oeed.stderr:"
		grep -A12 "ERROR: \(LeakSanitizer\|AddressSanitizer\)" "$OUT/oeed.stderr" | head -40
		verdict=1
	else
		echo "leakcheck: no LeakSanitizer/AddressSanitizer report in oeed's stderr"
	fi
fi

if command -v gnuplot >/dev/null; then
	gnuplot <<EOF
set terminal pngcairo size 900,700 noenhanced
set output "$OUT/soak.png"
set datafile separator ","
set key autotitle columnhead
set multiplot layout 3,1 title "oeed soak: $MACHINES machines, $RATE msg/s, $MINUTES min"
set xlabel "time (s)"
set ylabel "RSS (MiB)"
plot "$CSV" using 1:(\$2/1024) with lines lw 2 title "VmRSS"
set ylabel "CPU (% of one core)"
plot "$CSV" using 1:5 with lines lw 2 title "CPU"
set ylabel "open fds"
set yrange [0:*]
plot "$CSV" using 1:4 with lines lw 2 title "fds"
unset multiplot
EOF
	echo "plot: $OUT/soak.png"
fi
echo "csv: $CSV"
if [ "$verdict" = 0 ]; then echo PASS; else echo FAIL; fi
exit "$verdict"
