#!/bin/sh
# bench-compare.sh - oeed vs Node-RED (mqtt in -> function -> influxdb batch, no KPIs) vs
# mosquitto_sub alone (the broker's limit), in ONE run: all three subscribe to `factory/#` on
# one mosquitto at the same time and receive the same `oeed-sim flood` stream (1000 machines,
# QoS 0). Two floods: N messages (sustained rate, CPU seconds per million messages, peak RSS),
# then a 200k-message burst (how many messages each got into the database).
# Node-RED and its influxdb nodes are installed into bench/node-red/node_modules on first use
# (npm install --prefix). Not a test.
# Usage: bench/bench-compare.sh [BUILD_DIR] [N] [OUT_DIR]   (defaults: build, 1000000, BUILD/compare)
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build}
N=${2:-1000000}
OUT=${3:-$BUILD/compare}
NR=$SRC/bench/node-red
if [ ! -x "$NR/node_modules/.bin/node-red" ] ||
	[ ! -d "$NR/node_modules/node-red-contrib-influxdb" ]; then
	npm install --prefix "$NR" --no-audit --no-fund >/dev/null
fi
mkdir -p "$OUT"
export OEED_SOURCE="$SRC" OEED_BUILD="$BUILD" OEED="$BUILD/daemon/oeed"
exec python3 - "$N" "$OUT" "$NR" <<'PY'
import json, os, shutil, signal, subprocess, sys, tempfile, time, urllib.parse, urllib.request
sys.path.insert(0, os.path.join(os.environ["OEED_SOURCE"], "tests"))
from harness import BUILD, Influx, Mosquitto, Oeed, free_port, stop_pid, wait_until

N, OUT, NR = int(sys.argv[1]), sys.argv[2], sys.argv[3]
BURST = 200000
SIM = os.path.join(BUILD, "sim", "oeed-sim")
TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        st = f.read().rsplit(")", 1)[1].split()
    return (int(st[11]) + int(st[12])) / TICK  # utime, stime (fields 14, 15)


def hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(l for l in f if l.startswith("VmHWM:")).split()[1])


def q(db, database, query):
    data = urllib.parse.urlencode({"q": query, "db": database, "epoch": "ns"})
    with urllib.request.urlopen(f"{db.url}/query?{data}", timeout=120) as r:
        res = json.loads(r.read())["results"][0]
    s = res.get("series")
    return dict(zip(s[0]["columns"], s[0]["values"][0])) if s else {}


def settle(read, what, limit=300):
    """Waits until read() stops changing for 5 s; returns its last value."""
    last, since, t0 = None, time.monotonic(), time.monotonic()
    while time.monotonic() - t0 < limit:
        v = read()
        if v != last:
            last, since = v, time.monotonic()
        elif time.monotonic() - since >= 5:
            return v
        time.sleep(0.5)
    print(f"  {what}: still changing after {limit} s", flush=True)
    return last


def sub_lines(path):
    """mosquitto_sub output: one '%U' receive time (s.ns) per message."""
    with open(path, "rb") as f:
        ts = [float(l) for l in f.read().split()]
    return ts


load = open("/proc/loadavg").read().split()[:3]
print(f"load average at start: {' '.join(load)}; {os.cpu_count()} cores", flush=True)
udir = tempfile.mkdtemp(prefix="oeed-bench-nodered-")
procs = {}
try:
    with Mosquitto() as mq, Influx() as db:
        db.create_db("oeed")
        db.create_db("nodered")
        conf = open(os.path.join(os.environ["OEED_SOURCE"], "config", "demo.yaml")).read()
        conf = conf.split("\noutputs:")[0].replace("tcp://127.0.0.1:1883", mq.url)
        conf = conf.replace("state_dir: /tmp/oeed-demo", 'state_dir: "@STATE_DIR@"')
        conf = conf.replace("qos: 1", "qos: 0").replace("interval: 10s", "interval: 1s")
        conf = conf.replace("log_level: info", "log_level: warn")
        conf += f"""
outputs:
  - type: influxdb
    url: {db.url}
    api: v1
    database: oeed
"""
        oe = Oeed(conf)
        oe.start()
        procs["oeed"] = oe.proc.pid
        # Node-RED: its own user dir, the installed nodes through a symlink, the flow copied.
        os.symlink(os.path.join(NR, "node_modules"), os.path.join(udir, "node_modules"))
        shutil.copy(os.path.join(NR, "flows.json"), os.path.join(udir, "flows.json"))
        nr_port = free_port()
        env = dict(os.environ, MQTT_PORT=str(mq.port), INFLUX_PORT=str(db.port))
        nr_log = open(os.path.join(udir, "node-red.log"), "wb")
        nr = subprocess.Popen(["node", os.path.join(NR, "node_modules", "node-red", "red.js"),
                               "--userDir", udir, "--port", str(nr_port), "flows.json"],
                              stdout=nr_log, stderr=subprocess.STDOUT, env=env,
                              stdin=subprocess.DEVNULL)
        procs["node-red"] = nr.pid
        wait_until(lambda: b"Connected to broker" in open(nr_log.name, "rb").read(), 60,
                   "node-red connected")
        sub_out = os.path.join(udir, "sub.txt")
        subf = open(sub_out, "wb")
        sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(mq.port), "-q",
                                "0", "-t", "factory/#", "-F", "%U"], stdout=subf,
                               stdin=subprocess.DEVNULL)
        procs["mosquitto_sub"] = sub.pid
        time.sleep(3)  # everyone subscribed

        def oeed_msgs():
            r = q(db, "oeed", "SELECT last(messages) FROM oeed")
            return r.get("last", 0)

        def nr_rows():
            return q(db, "nodered", "SELECT count(value) FROM mqtt_raw").get("count", 0)

        results = {}
        for phase, count, seed in (("sustained", N, 1), ("burst", BURST, 2)):
            base = {"oeed": oeed_msgs(), "node-red": nr_rows(),
                    "mosquitto_sub": len(sub_lines(sub_out))}
            cpu0 = {k: cpu_s(p) for k, p in procs.items()}
            t0 = time.time()
            sim = subprocess.run([SIM, "flood", "--url", mq.url, "--machines", "1000",
                                  "--messages", str(count), "--qos", "0", "--seed", str(seed)],
                                 capture_output=True, text=True, check=True)
            t_pub = time.time() - t0
            print(f"{phase}: {count} messages published in {t_pub:.1f} s "
                  f"({sim.stdout.strip() or sim.stderr.strip()})", flush=True)
            got = {"mosquitto_sub": settle(lambda: len(sub_lines(sub_out)), "mosquitto_sub"),
                   "oeed": settle(oeed_msgs, "oeed"),
                   "node-red": settle(nr_rows, "node-red")}
            cpu1 = {k: cpu_s(p) for k, p in procs.items()}
            # rates: first to last message each one handled, from its own timestamps
            ts = sub_lines(sub_out)[base["mosquitto_sub"]:]
            span = {"mosquitto_sub": ts[-1] - ts[0] if len(ts) > 1 else 0}
            lo = int(t0 * 1e9)
            rows = []
            data = urllib.parse.urlencode({"q": f"SELECT messages FROM oeed WHERE time >= {lo}",
                                           "db": "oeed", "epoch": "ns"})
            with urllib.request.urlopen(f"{db.url}/query?{data}", timeout=60) as resp:
                s = json.loads(resp.read())["results"][0].get("series", [])
                rows = s[0]["values"] if s else []
            moving = [t for t, m in rows if m > base["oeed"]]
            done = [t for t, m in rows if m >= got["oeed"]]
            first_t = max([t for t, m in rows if m <= base["oeed"]] or [lo])
            span["oeed"] = ((done[0] if done else rows[-1][0]) - first_t) / 1e9 if moving else 0
            f = q(db, "nodered", f"SELECT first(value) FROM mqtt_raw WHERE time >= {lo}")
            la = q(db, "nodered", f"SELECT last(value) FROM mqtt_raw WHERE time >= {lo}")
            span["node-red"] = (la.get("time", 0) - f.get("time", 0)) / 1e9
            res = {}
            for k in ("mosquitto_sub", "oeed", "node-red"):
                n = got[k] - base[k]
                res[k] = {"messages": n, "share": n / count, "span_s": span[k],
                          "rate": n / span[k] if span[k] > 0 else 0,
                          "cpu_s": cpu1[k] - cpu0[k],
                          "cpu_per_M": (cpu1[k] - cpu0[k]) / n * 1e6 if n else 0,
                          "hwm_mib": hwm_kib(procs[k]) / 1024}
            results[phase] = {"published": count, "publish_s": t_pub, "by": res}
            print(f"  {'subscriber':<14} {'messages':>9} {'of sent':>8} {'msg/s':>8} "
                  f"{'CPU s/1M':>9} {'peak RSS MiB':>13}")
            for k, v in res.items():
                print(f"  {k:<14} {v['messages']:>9} {v['share'] * 100:>7.1f}% "
                      f"{v['rate']:>8.0f} {v['cpu_per_M']:>9.1f} {v['hwm_mib']:>13.1f}",
                      flush=True)
        results["load_start"] = load
        results["load_end"] = open("/proc/loadavg").read().split()[:3]
        print(f"load average at end: {' '.join(results['load_end'])}")
        with open(os.path.join(OUT, "compare.json"), "w") as f:
            json.dump(results, f, indent=1)
        with open(os.path.join(OUT, "compare.dat"), "w") as f:
            f.write("subscriber rate cpu_per_M hwm_mib burst_share\n")
            for k in ("mosquitto_sub", "oeed", "node-red"):
                s, b = results["sustained"]["by"][k], results["burst"]["by"][k]
                f.write(f"{k} {s['rate']:.0f} {s['cpu_per_M']:.2f} {s['hwm_mib']:.1f} "
                        f"{b['share'] * 100:.1f}\n")
        stop_pid(sub)
        stop_pid(nr)
        oe.stop()
        oe.__exit__(None, None, None)
finally:
    for p in procs.values():
        try:
            os.kill(p, 0)
            os.kill(p, signal.SIGTERM)
        except OSError:
            pass
    shutil.rmtree(udir, ignore_errors=True)
if shutil.which("gnuplot"):
    dat = os.path.join(OUT, "compare.dat")
    subprocess.run(["gnuplot"], input=f"""
set terminal pngcairo size 1000,700 noenhanced
set output "{OUT}/compare.png"
set style data histograms
set style fill solid 0.8
set boxwidth 0.7
set key off
set multiplot layout 2,2 title "oeed vs Node-RED vs mosquitto_sub ({N} + {BURST} msgs, 1000 machines, QoS 0)"
set title "sustained msg/s received/processed"
plot "{dat}" using 2:xtic(1)
set title "CPU s per million messages"
plot "{dat}" using 3:xtic(1)
set title "peak RSS (VmHWM, MiB)"
plot "{dat}" using 4:xtic(1)
set title "% of a 200k burst handled (in DB / received)"
set yrange [0:105]
plot "{dat}" using 5:xtic(1)
unset multiplot
""", text=True, check=True)
    print(f"plot: {OUT}/compare.png")
PY
