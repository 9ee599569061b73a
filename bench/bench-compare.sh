#!/bin/sh
# bench-compare.sh - oeed vs Node-RED (mqtt in -> function -> influxdb batch, no KPIs) vs
# mosquitto_sub alone (the broker's limit), in one invocation, on one mosquitto and one InfluxDB,
# fed by `oeed-sim blast` (raw socket, faster than the broker; 1000 machines, QoS 0, seeds 1
# and 2: the same stream every time but for the JSON timestamps, taken at publish time).
# Two floods per round: N messages (sustained rate, CPU seconds per million messages, peak RSS
# as VmHWM), then a 200k-message burst (how many messages each got into the database; for
# mosquitto_sub: received). oeed's figures come from its self-metrics (`messages`, every 1 s).
# Node-RED and its influxdb nodes are installed into bench/node-red/node_modules on first use
# (npm install --prefix). Not a test.
# MODE together: the three subscribe at the same time (one stream, fanned out by one broker:
# all three then run at the broker's fan-out pace); sequential: one subscriber at a time, each
# fed the same seeded stream (each one's own ceiling); both (default): together, then sequential.
# Usage: bench/bench-compare.sh [BUILD_DIR] [N] [OUT_DIR] [MODE]
#        (defaults: build, 1000000, BUILD/compare, both); MODE plot: redraw the PNG only
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build}
N=${2:-1000000}
OUT=${3:-$BUILD/compare}
MODE=${4:-both}
NR=$SRC/bench/node-red
if [ ! -x "$NR/node_modules/.bin/node-red" ] ||
	[ ! -d "$NR/node_modules/node-red-contrib-influxdb" ]; then
	npm install --prefix "$NR" --no-audit --no-fund >/dev/null
fi
mkdir -p "$OUT"
export OEED_SOURCE="$SRC" OEED_BUILD="$BUILD" OEED="$BUILD/daemon/oeed"
exec python3 - "$N" "$OUT" "$NR" "$MODE" <<'PY'
import json, os, shutil, signal, subprocess, sys, tempfile, time, urllib.parse, urllib.request
sys.path.insert(0, os.path.join(os.environ["OEED_SOURCE"], "tests"))
from harness import BUILD, Influx, Mosquitto, Oeed, free_port, stop_pid, wait_until

N, OUT, NR, MODE = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
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


def oeed_conf(mq, db, database):
    conf = open(os.path.join(os.environ["OEED_SOURCE"], "config", "demo.yaml")).read()
    conf = conf.split("\noutputs:")[0].replace("tcp://127.0.0.1:1883", mq.url)
    conf = conf.replace("state_dir: /tmp/oeed-demo", 'state_dir: "@STATE_DIR@"')
    conf = conf.replace("qos: 1", "qos: 0").replace("interval: 10s", "interval: 1s")
    conf = conf.replace("log_level: info", "log_level: warn")
    return conf + f"""
outputs:
  - type: influxdb
    url: {db.url}
    api: v1
    database: {database}
"""


def run_round(mq, db, active, tag):
    """Starts the subscribers in `active`, floods N then BURST messages, returns the figures."""
    procs, stops = {}, []
    odb = f"oeed_{tag}"
    db.create_db(odb)
    udir = tempfile.mkdtemp(prefix="oeed-bench-nodered-")
    sub_out = os.path.join(udir, "sub.txt")
    try:
        if "oeed" in active:
            oe = Oeed(oeed_conf(mq, db, odb))
            oe.start()
            procs["oeed"] = oe.proc.pid
            stops.append(lambda: (oe.stop(), oe.__exit__(None, None, None)))
        if "node-red" in active:
            # its own user dir, the installed nodes through a symlink, the flow copied
            os.symlink(os.path.join(NR, "node_modules"), os.path.join(udir, "node_modules"))
            shutil.copy(os.path.join(NR, "flows.json"), os.path.join(udir, "flows.json"))
            env = dict(os.environ, MQTT_PORT=str(mq.port), INFLUX_PORT=str(db.port))
            nr_log = open(os.path.join(udir, "node-red.log"), "wb")
            nr = subprocess.Popen(["node", os.path.join(NR, "node_modules", "node-red",
                                                        "red.js"),
                                   "--userDir", udir, "--port", str(free_port()), "flows.json"],
                                  stdout=nr_log, stderr=subprocess.STDOUT, env=env,
                                  stdin=subprocess.DEVNULL)
            procs["node-red"] = nr.pid
            stops.append(lambda: stop_pid(nr))
            wait_until(lambda: b"Connected to broker" in open(nr_log.name, "rb").read(), 60,
                       "node-red connected")
        if "mosquitto_sub" in active:
            subf = open(sub_out, "wb")
            sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(mq.port),
                                    "-q", "0", "-t", "factory/#", "-F", "%U"], stdout=subf,
                                   stdin=subprocess.DEVNULL)
            procs["mosquitto_sub"] = sub.pid
            stops.append(lambda: stop_pid(sub))
        time.sleep(3)  # everyone connected and subscribed

        readers = {
            "oeed": lambda: q(db, odb, "SELECT last(messages) FROM oeed").get("last", 0),
            "node-red": lambda: q(db, "nodered",
                                  "SELECT count(value) FROM mqtt_raw").get("count", 0),
            "mosquitto_sub": lambda: len(sub_lines(sub_out)),
        }
        results = {}
        for phase, count, seed in (("sustained", N, 1), ("burst", BURST, 2)):
            base = {k: readers[k]() for k in active}
            cpu0 = {k: cpu_s(p) for k, p in procs.items()}
            t0 = time.time()
            sim = subprocess.run([SIM, "blast", "--url", mq.url, "--machines", "1000",
                                  "--messages", str(count), "--qos", "0", "--seed", str(seed)],
                                 capture_output=True, text=True, check=True)
            t_pub = time.time() - t0
            print(f"{tag} {phase}: {count} messages published in {t_pub:.1f} s "
                  f"({sim.stdout.strip() or sim.stderr.strip()})", flush=True)
            got = {k: settle(readers[k], k) for k in active}
            cpu1 = {k: cpu_s(p) for k, p in procs.items()}
            lo = int(t0 * 1e9)
            span = {}
            # rates: first to last message each one handled, from its own timestamps
            if "mosquitto_sub" in active:
                ts = sub_lines(sub_out)[base["mosquitto_sub"]:]
                span["mosquitto_sub"] = ts[-1] - ts[0] if len(ts) > 1 else 0
            if "oeed" in active:
                # self-metrics every second: from the last point before the first message
                # to the first point that shows the final count
                data = urllib.parse.urlencode({"q": f"SELECT messages FROM oeed WHERE time >= "
                                                    f"{lo - 2000000000}", "db": odb,
                                               "epoch": "ns"})
                with urllib.request.urlopen(f"{db.url}/query?{data}", timeout=60) as resp:
                    sr = json.loads(resp.read())["results"][0].get("series", [])
                    rows = sr[0]["values"] if sr else []
                before = [t for t, m in rows if m <= base["oeed"]]
                done = [t for t, m in rows if m >= got["oeed"]]
                span["oeed"] = (done[0] - max(before)) / 1e9 if before and done else 0
            if "node-red" in active:
                f = q(db, "nodered", f"SELECT first(value) FROM mqtt_raw WHERE time >= {lo}")
                la = q(db, "nodered", f"SELECT last(value) FROM mqtt_raw WHERE time >= {lo}")
                span["node-red"] = (la.get("time", 0) - f.get("time", 0)) / 1e9
            res = {}
            for k in active:
                n = got[k] - base[k]
                res[k] = {"messages": n, "share": n / count, "span_s": span[k],
                          "rate": n / span[k] if span[k] > 0 else 0,
                          "cpu_s": cpu1[k] - cpu0[k],
                          "cpu_per_M": (cpu1[k] - cpu0[k]) / n * 1e6 if n else 0,
                          "hwm_mib": hwm_kib(procs[k]) / 1024}
            results[phase] = {"published": count, "publish_s": t_pub,
                              "publish_rate": count / t_pub, "by": res}
            print(f"  {'subscriber':<14} {'messages':>9} {'of sent':>8} {'msg/s':>8} "
                  f"{'CPU s/1M':>9} {'peak RSS MiB':>13}")
            for k, v in res.items():
                print(f"  {k:<14} {v['messages']:>9} {v['share'] * 100:>7.1f}% "
                      f"{v['rate']:>8.0f} {v['cpu_per_M']:>9.1f} {v['hwm_mib']:>13.1f}",
                      flush=True)
        return results
    finally:
        for stop in stops:
            stop()
        shutil.rmtree(udir, ignore_errors=True)


ALL = ("mosquitto_sub", "oeed", "node-red")
if MODE == "plot":  # only redraw OUT/compare.png from OUT/compare.json
    out = json.load(open(os.path.join(OUT, "compare.json")))
else:
    load = open("/proc/loadavg").read().split()[:3]
    print(f"load average at start: {' '.join(load)}; {os.cpu_count()} cores; mode {MODE}",
          flush=True)
    out = {"load_start": load, "N": N, "burst": BURST}
    with Mosquitto() as mq, Influx() as db:
        db.create_db("nodered")
        if MODE in ("together", "both"):
            out["together"] = run_round(mq, db, ALL, "together")
        if MODE in ("sequential", "both"):
            out["sequential"] = {}
            for k in ALL:
                r = run_round(mq, db, (k,), k.replace("-", "_"))
                for phase in r:
                    out["sequential"].setdefault(phase, {"by": {}})
                    out["sequential"][phase]["by"][k] = r[phase]["by"][k]
                    out["sequential"][phase].setdefault("publish_rate", {})[k] = \
                        r[phase]["publish_rate"]
    out["load_end"] = open("/proc/loadavg").read().split()[:3]
    print(f"load average at end: {' '.join(out['load_end'])}")
    with open(os.path.join(OUT, "compare.json"), "w") as f:
        json.dump(out, f, indent=1)
N = out["N"]
modes = [m for m in ("together", "sequential") if m in out]
with open(os.path.join(OUT, "compare.dat"), "w") as f:
    f.write("# subscriber " + " ".join(f"{m}_rate {m}_cpu_per_M {m}_hwm_mib {m}_burst_pct"
                                     for m in modes) + "\n")
    for k in ALL:
        cols = []
        for m in modes:
            s, b = out[m]["sustained"]["by"][k], out[m]["burst"]["by"][k]
            cols += [f"{s['rate']:.0f}", f"{s['cpu_per_M']:.2f}", f"{s['hwm_mib']:.1f}",
                     f"{b['share'] * 100:.1f}"]
        f.write(k + " " + " ".join(cols) + "\n")
if shutil.which("gnuplot"):
    dat = os.path.join(OUT, "compare.dat")

    def panel(title, col):
        cols = ", ".join(f'"{dat}" using {1 + col + 4 * i}:xtic(1) title "{m}"'
                         for i, m in enumerate(modes))
        return f'set title "{title}"\nplot {cols}\n'
    subprocess.run(["gnuplot"], input=f"""
set terminal pngcairo size 1100,750 noenhanced
set output "{OUT}/compare.png"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8
set key top center horizontal
set offsets graph 0, graph 0, graph 0.2, graph 0
set yrange [0:*]
set multiplot layout 2,2 title "oeed vs Node-RED vs mosquitto_sub: {N} + {BURST} messages, 1000 machines, QoS 0"
""" + panel("sustained msg/s received/processed", 1) + panel("CPU s per million messages", 2)
      + panel("peak RSS (VmHWM, MiB)", 3)
      + "set yrange [0:130]\n" + panel("% of the 200k burst handled (in DB / received)", 4) + "unset multiplot\n",
      text=True, check=True)
    print(f"plot: {OUT}/compare.png")
