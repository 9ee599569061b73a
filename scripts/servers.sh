# servers.sh - sourced by scripts/demo.sh, scripts/soak.sh and bench/bench-rss.sh: a free
# loopback port, the mosquitto and InfluxDB 1.x configs they run with (loopback only,
# everything in one dir), and stopping what they started.

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# write_mosquitto_conf FILE PORT [EXTRA_LINE]...
write_mosquitto_conf() {
	local file=$1 port=$2
	shift 2
	{
		printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$port"
		for line in "$@"; do printf '%s\n' "$line"; done
	} >"$file"
}

# write_influxdb_conf FILE DATA_DIR HTTP_PORT RPC_PORT
write_influxdb_conf() {
	cat >"$1" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$4"
[meta]
  dir = "$2/meta"
[data]
  dir = "$2/data"
  wal-dir = "$2/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:$3"
  log-enabled = false
[monitor]
  store-enabled = false
CONF
}

# wait_influxdb HTTP_PORT LOG: up to 60 s for /ping; on failure prints the log and returns 1
wait_influxdb() {
	for _ in $(seq 1 300); do
		curl -sf "http://127.0.0.1:$1/ping" >/dev/null && return 0
		sleep 0.2
	done
	echo "influxd did not start:" >&2
	cat "$2" >&2
	return 1
}

# stop_pids PID...: SIGTERM each, then wait for those that are our children
stop_pids() {
	for pid in "$@"; do kill "$pid" 2>/dev/null || true; done
	for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}
