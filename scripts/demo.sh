#!/usr/bin/env bash
# The demo: installs what it needs (scripts/deps.sh --demo: the build, mosquitto, InfluxDB;
# their services are left disabled), builds oeed, starts a local mosquitto and InfluxDB on
# free loopback ports, the machine simulator (sim/oeed-sim) publishing text and JSON machines,
# and oeed writing to InfluxDB; then shows the KPIs as they update, read back from InfluxDB.
# It stops by itself after DEMO_SECONDS (default 120); Ctrl-C stops it earlier. Everything it
# started is stopped by PID. Its directory is removed, unless --keep: then the recording,
# oeed's state, the line protocol and the InfluxDB data stay, and it prints what to try next.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
KEEP=""
case "${1:-}" in
  --keep) KEEP=1 ;;
  "") ;;
  *) echo "usage: $0 [--keep]   (DEMO_SECONDS=N sets how long it runs, default 120)" >&2; exit 1 ;;
esac
SECONDS_TO_RUN=${DEMO_SECONDS:-120}
bash scripts/deps.sh --demo
BUILD=${BUILD:-build-demo}
[ -d "$BUILD" ] || meson setup "$BUILD" --buildtype=release >/dev/null
ninja -C "$BUILD" >/dev/null
OEED=$ROOT/$BUILD/daemon/oeed
SIM=$ROOT/$BUILD/sim/oeed-sim
DIR=$(mktemp -d /tmp/oeed-demo.XXXXXX)
PIDS=()
source scripts/servers.sh
cleanup() {
  [ -z "${CLEANED:-}" ] || return 0
  CLEANED=1
  stop_pids "${PIDS[@]}"
  if [ -n "$KEEP" ]; then
    next_steps
  else
    rm -rf "$DIR"
  fi
}
next_steps() {
  local day shift h
  h=$((10#$(date -u +%H)))
  day=$(date -u +%Y-%m-%d)
  if [ $h -ge 6 ] && [ $h -lt 14 ]; then shift=early
  elif [ $h -ge 14 ] && [ $h -lt 22 ]; then shift=late
  else shift=night; [ $h -ge 6 ] || day=$(date -u -d yesterday +%Y-%m-%d)
  fi
  cat <<NEXT

Kept in $DIR (remove it with: rm -rf $DIR):
  oeed.yaml   the demo's config        state/recordings/   every message oeed received
  oeed.lp     the line protocol        influx/             the InfluxDB data
Try next:
  $OEED replay -c $DIR/oeed.yaml $DIR/state/recordings | head
  $OEED report -c $DIR/oeed.yaml --contract demo-availability --period "$day $shift" $DIR/state/recordings
    (the shift that was running; shifts start 06:00, 14:00, 22:00 UTC; --html report.html for a page)
  influxd -config $DIR/influxdb.conf &     # InfluxDB again on the kept data, loopback only:
  curl -G http://127.0.0.1:$DB_PORT/query --data-urlencode db=oeed --data-urlencode 'q=SHOW MEASUREMENTS'
    (stop it with: kill %1)
NEXT
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM
MQ_PORT=$(free_port); DB_PORT=$(free_port); DB_RPC=$(free_port)

write_mosquitto_conf "$DIR/mosquitto.conf" "$MQ_PORT"
mosquitto -c "$DIR/mosquitto.conf" >"$DIR/mosquitto.log" 2>&1 &
PIDS+=($!)

mkdir -p "$DIR/influx"
write_influxdb_conf "$DIR/influxdb.conf" "$DIR/influx" "$DB_PORT" "$DB_RPC"
influxd -config "$DIR/influxdb.conf" >"$DIR/influxd.log" 2>&1 &
PIDS+=($!)
wait_influxdb "$DB_PORT" "$DIR/influxd.log" || exit 2

# The demo config, pointed at these servers, writing to InfluxDB and to a file.
sed -e "s#tcp://127.0.0.1:1883#tcp://127.0.0.1:$MQ_PORT#" -e "s#/tmp/oeed-demo#$DIR/state#" \
    -e 's#ideal_cycle_time: 1s#ideal_cycle_time: 50ms#' \
    -e '/^outputs:/,$d' config/demo.yaml > "$DIR/oeed.yaml"
cat >> "$DIR/oeed.yaml" <<CONF
outputs:
  - type: influxdb
    url: http://127.0.0.1:$DB_PORT
    api: v1
    database: oeed
    create_database: true
    flush_interval: 1s
  - type: file
    path: $DIR/oeed.lp
record: true
CONF
"$OEED" -c "$DIR/oeed.yaml" --check-config | tail -2
"$OEED" -c "$DIR/oeed.yaml" 2>"$DIR/oeed.log" &
PIDS+=($!)
sleep 1
# 8 machines, time running 20x faster than the wall clock (so the config above divides the
# ideal cycle time by 20); no payload timestamps, so oeed uses the receive time.
"$SIM" live --url "tcp://127.0.0.1:$MQ_PORT" --machines 8 --speed 20 --no-ts \
  --duration "${SECONDS_TO_RUN}s" >"$DIR/sim.log" 2>&1 &
SIM_PID=$!
PIDS+=($SIM_PID)

echo "mosquitto on :$MQ_PORT, InfluxDB on :$DB_PORT (database oeed), files in $DIR"
echo "KPIs of the current shift, read back from InfluxDB every 5 s; the demo stops by itself"
echo "after $SECONDS_TO_RUN s (DEMO_SECONDS=N to change), Ctrl-C stops it now$([ -n "$KEEP" ] && echo ", its data is kept" || echo "; --keep keeps its data")."
while kill -0 "$SIM_PID" 2>/dev/null; do
  sleep 5
  python3 - "$DB_PORT" <<'PY' || true
import json, sys, urllib.parse, urllib.request
port = sys.argv[1]
q = ('SELECT last(availability) AS a, last(performance) AS p, last(quality) AS q, '
     'last(oee) AS oee, last(failures) AS f, last(mttr_s) AS mttr, last(total_count) AS n '
     'FROM machine_kpi WHERE "window" = \'shift\' GROUP BY machine')
url = f"http://127.0.0.1:{port}/query?" + urllib.parse.urlencode({"db": "oeed", "q": q})
res = json.loads(urllib.request.urlopen(url, timeout=5).read())["results"][0]
series = res.get("series", [])
if not series:
    print("  (no KPIs yet)")
    sys.exit(0)
fmt = lambda v, p="{:.1%}": "-" if v is None else p.format(v)
print(f"  {'machine':10} {'avail':>7} {'perf':>7} {'quality':>7} {'OEE':>7} {'fails':>5} {'MTTR s':>7} {'parts':>7}")
for s in series:
    v = dict(zip(s["columns"], s["values"][0]))
    print(f"  {s['tags']['machine']:10} {fmt(v['a']):>7} {fmt(v['p']):>7} {fmt(v['q']):>7} "
          f"{fmt(v['oee']):>7} {fmt(v['f'], '{:.0f}'):>5} {fmt(v['mttr'], '{:.0f}'):>7} {fmt(v['n'], '{:.0f}'):>7}")
q = "SELECT last(status) AS s, last(value) AS v FROM contract GROUP BY contract"
url = f"http://127.0.0.1:{port}/query?" + urllib.parse.urlencode({"db": "oeed", "q": q})
for s in json.loads(urllib.request.urlopen(url, timeout=5).read())["results"][0].get("series", []):
    v = dict(zip(s["columns"], s["values"][0]))
    print(f"  contract {s['tags']['contract']}: {v['s']} (value {fmt(v['v'])})")
print()
PY
done
echo "demo finished; oeed's log:"
tail -5 "$DIR/oeed.log"
