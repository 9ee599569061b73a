#!/usr/bin/env bash
# The demo: installs what is missing, builds oeed, starts a local mosquitto and InfluxDB on
# free loopback ports, the machine simulator (sim/oeed-sim) publishing text and JSON machines,
# and oeed writing to InfluxDB; then shows the KPIs as they update, read back from InfluxDB.
# DEMO_SECONDS (default 120) sets how long it runs; Ctrl-C stops it earlier. Everything it
# started is stopped by PID, and its temporary directory is removed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
bash scripts/deps.sh
BUILD=${BUILD:-build-demo}
[ -d "$BUILD" ] || meson setup "$BUILD" --buildtype=release >/dev/null
ninja -C "$BUILD" >/dev/null
OEED=$ROOT/$BUILD/daemon/oeed
SIM=$ROOT/$BUILD/sim/oeed-sim
DIR=$(mktemp -d /tmp/oeed-demo.XXXXXX)
PIDS=()
source scripts/servers.sh
cleanup() {
  stop_pids "${PIDS[@]}"
  rm -rf "$DIR"
}
trap cleanup EXIT INT TERM
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
  --duration "${DEMO_SECONDS:-120}s" >"$DIR/sim.log" 2>&1 &
SIM_PID=$!
PIDS+=($SIM_PID)

echo "mosquitto on :$MQ_PORT, InfluxDB on :$DB_PORT (database oeed), files in $DIR"
echo "KPIs of the current shift, read back from InfluxDB every 5 s (Ctrl-C to stop):"
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
