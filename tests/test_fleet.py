"""Fleet: three gateways own disjoint machines of one plant (line2 is split across gw-a and
gw-b by topic filters), receive a simulated day through one mosquitto, and write through
vmagent to two VictoriaMetrics nodes (replication), one of which is killed for a while. Then
every state change is in each node exactly once, and `oeed report --from` on either node gives
the pooled contract that one oeed replaying the three gateways' recordings together computes.
The same against InfluxDB (one node, killed for a while: the gateways' spools carry it)."""
import atexit
import base64
import glob
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

import harness

SIM = os.path.join(harness.BUILD, "sim", "oeed-sim")
DAY_START_MS = 1705276800000  # 2024-01-15T00:00:00Z
DAY_END_MS = DAY_START_MS + 86400000
SIM_ARGS = ["--machines", "9", "--per-line", "3", "--style", "json", "--seed", "2020",
            "--start", "2024-01-15T00:00:00Z", "--duration", "1d", "--tail", "3m",
            "--count-interval", "30s", "--fault-every", "50m"]
# The wiring: which cell each machine's topic is under. line2 is split: m0003 on gw-a.
CELL = {"m0003": "a", "m0004": "b", "m0005": "b"}
GATEWAYS = {
    "gw-a": ["factory/line1/+/{machine}/data", "factory/line2/a/{machine}/data"],
    "gw-b": ["factory/line2/b/{machine}/data"],
    "gw-c": ["factory/line3/+/{machine}/data"],
}
MACHINES = {"gw-a": 4, "gw-b": 2, "gw-c": 3}
MAP = "{ RUNNING: running, IDLE: idle/starved, BLOCKED: idle/blocked, STOP: idle/short_stop, " \
      "FAULT: down/fault, JAM: down/jam, TOOLCHANGE: down/tool_change, BREAK: planned/break }"
SOURCE = """  - topic: "{topic}"
    decoder: json
    counts: cumulative
    fields: {{ state: "$.state", total: "$.parts", reject: "$.scrap", timestamp: "$.ts" }}
    map: {map}
"""
CONFIG = """site: plant-1
instance: {instance}
instance_tag: true
state_dir: "@STATE_DIR@"
log_level: warn
record: true
mqtt:
  url: {mqtt}
  client_id: {instance}
  clean_session: false
  status_topic: fleet/{instance}/status
sources:
{sources}machines:
  defaults: {{ ideal_cycle_time: 1s, stale_after: 60s, max_lateness: 1m }}
  max: 20
report:
  interval: 1s
  windows: []
  periods: [day]
  timezone: UTC
contracts:
  - {{ name: plant-availability, machines: ["m*"], kpi: availability, period: day,
      target: 0.8, minimum: 0.7 }}
  - {{ name: line2-uptime, machines: [m0003, m0004, m0005], kpi: uptime, period: day,
      target: 0.95, minimum: 0.9 }}
outputs:
{outputs}"""
OUT_VM = """  - type: influxdb
    url: {url}
    api: v1
    flush_interval: 200ms
    connect_timeout: 1s
    timeout: 2s
    database: fleet
"""
OUT_INFLUX = OUT_VM + "    create_database: true\n"


def cell_topic(topic):
    """factory/LINE/M/data -> factory/LINE/CELL/M/data."""
    _, line, machine, leaf = topic.split("/")
    return f"factory/{line}/{CELL.get(machine, 'x')}/{machine}/{leaf}"


_CACHE = {}


def owner(topic):
    """The gateway whose topic filters take a (cell) topic."""
    _, line, cell, _, _ = topic.split("/")
    for g, filters in GATEWAYS.items():
        for f in filters:
            fl = f.split("/")
            if fl[1] == line and fl[2] in ("+", cell):
                return g
    raise AssertionError(topic)


def recording():
    """The simulated day as three recordings, one per gateway (its machines' messages, topics
    as wired), and per topic the payloads in order for publishing."""
    if "rec" not in _CACHE:
        d = tempfile.mkdtemp(prefix="oeed-fleet-")
        atexit.register(shutil.rmtree, d, True)
        rec = os.path.join(d, "day.rec")
        subprocess.run([SIM, "record"] + SIM_ARGS + ["--out", rec], check=True,
                       capture_output=True, timeout=120)
        by_topic, per_gw = {}, {g: [] for g in GATEWAYS}
        with open(rec) as f:
            for line in f:
                ns, topic, payload = line.split()
                t = cell_topic(topic)
                by_topic.setdefault(t, []).append(base64.b64decode(payload).decode())
                per_gw[owner(t)].append(f"{ns} {t} {payload}\n")
        paths = []
        for g, lines in per_gw.items():
            paths.append(os.path.join(d, f"{g}.rec"))
            with open(paths[-1], "w") as f:
                f.writelines(lines)
        _CACHE.update(dir=d, rec=rec, by_topic=by_topic, gw_recs=paths)
    return _CACHE


def gateway_config(instance, mqtt, outputs):
    sources = "".join(SOURCE.format(topic=t, map=MAP) for t in GATEWAYS[instance])
    return CONFIG.format(instance=instance, mqtt=mqtt, sources=sources, outputs=outputs)


def wait_online(mq, instance):
    subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(mq.port), "-C", "1", "-W", "20",
                    "-t", f"fleet/{instance}/status"],
                   check=True, capture_output=True, timeout=30)


def publish_day(mq):
    """Each machine's messages in order through one connection per machine, all in parallel."""
    procs = []
    for topic, docs in recording()["by_topic"].items():
        p = subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(mq.port), "-q", "1",
                              "-t", topic, "-l"], stdin=subprocess.PIPE)
        p.stdin.write(("\n".join(docs) + "\n").encode())
        p.stdin.close()
        procs.append(p)
    for p in procs:
        assert p.wait(timeout=120) == 0


def merged_recording(paths, path):
    """The gateways' recordings as one daemon would have received them: by receive time."""
    lines = []
    for p in paths:
        with open(p) as fh:
            lines += [l for l in fh if l.strip()]
    lines.sort(key=lambda l: int(l.split(" ", 1)[0]))
    with open(path, "w") as f:
        f.writelines(lines)
    return len(lines)


def recorded(gws):
    """Messages the gateways recorded (received)."""
    n = 0
    for g in gws:
        for f in glob.glob(os.path.join(g.dir, "state", "recordings", "*")):
            with open(f) as fh:
                n += sum(1 for l in fh if l.strip())
    return n


def single_replay(mqtt, path):
    """One oeed seeing every machine: a config with all three gateways' sources."""
    d = os.path.dirname(path)
    sources = "".join(SOURCE.format(topic=t, map=MAP) for g in GATEWAYS for t in GATEWAYS[g])
    cfg = CONFIG.format(instance="single", mqtt=mqtt, sources=sources,
                        outputs='  - type: file\n    path: "-"\n').replace(
        '"@STATE_DIR@"', os.path.join(d, "state")).replace("record: true", "record: false").replace(
        # finals do not depend on the ticks; fewer interim records to parse
        "interval: 1s", "interval: 1h")
    cfg_path = os.path.join(d, "single.yaml")
    with open(cfg_path, "w") as f:
        f.write(cfg)
    p = harness.run_oeed(["replay", "-c", cfg_path, path], timeout=120)
    assert p.returncode == 0, p.stderr.decode()[-2000:]
    states, finals = set(), {}
    for line in p.stdout.decode().splitlines():
        m, tags, fields, ts = harness.parse_line(line)
        if m == "machine_state":
            states.add((tags["machine"], tags["category"], ts))
        elif m == "contract" and fields["final"] and fields["period_start"] == DAY_START_MS:
            finals[tags["contract"]] = fields
    assert len(finals) == 2, [l for l in p.stdout.decode().splitlines() if "contract," in l][-6:]
    return cfg_path, states, finals


def report_from(cfg, contract, url, db=None):
    args = ["report", "-c", cfg, "--contract", contract, "--period", "2024-01-15", "--from", url]
    if db:
        args += ["--db", db]
    p = harness.run_oeed(args, timeout=60)
    assert p.returncode == 0, (p.returncode, p.stdout.decode(), p.stderr.decode())
    out = p.stdout.decode()
    exact = [l.split()[1] for l in out.splitlines() if l.startswith("Exact:")]
    assert exact, out
    return out, exact[0]


def vm_finals(node):
    """(machine, instance) of the final day records a node holds."""
    return {(s["metric"]["machine"], s["metric"]["instance"])
            for s in node.export('{__name__="machine_kpi_final",window="day"}')
            for v, t in zip(s["values"], s["timestamps"]) if v == 1 and t == DAY_END_MS}


def vm_states(node):
    """Every state change a node holds, with its multiplicity."""
    seen = {}
    for s in node.export('{__name__="machine_state_state"}'):
        for t in s["timestamps"]:
            k = (s["metric"]["machine"], s["metric"]["category"], t)
            seen[k] = seen.get(k, 0) + 1
    return seen


def influx_rows(db, q):
    """Rows of a SELECT with epoch-ms times, as dicts."""
    url = f"{db.url}/query?" + urllib.parse.urlencode({"db": "fleet", "epoch": "ms", "q": q})
    with urllib.request.urlopen(url, timeout=30) as r:
        res = json.loads(r.read())["results"][0]
    return [dict(zip(s["columns"], v)) for s in res.get("series", []) for v in s["values"]]


def check_states(seen, states, rec):
    """Every state change up to the end of the recordings is in the store exactly once, as the
    single replay has it. After their end the clocks differ: a live gateway's goes on with the
    wall clock (machines turn unknown stale_after their last message), a replay's stops."""
    last = max(int(l.split(" ", 1)[0]) for l in open(rec["rec"])) // 1000000
    assert max(seen.values()) == 1, [k for k, n in seen.items() if n > 1][:5]
    seen = {k for k in seen if k[2] <= last}
    want = {k for k in states if k[2] <= last}
    assert len(want) > 1000, len(want)
    assert seen == want, (len(seen), len(want), sorted(seen ^ want)[:5])


def gateways_stop(gws):
    for g in gws:
        g.stop()


class FleetTests:
    def check_contracts(self, cfg, finals, url, db=None):
        for name, n in (("plant-availability", 9), ("line2-uptime", 3)):
            out, exact = report_from(cfg, name, url, db)
            assert f"Machines:  {n} pooled, from" in out, out
            assert exact == f"{finals[name]['value']:.9f}", (name, exact, finals[name], out)
            assert "Claimed by more than one" not in out, out
            for g in ("gw-a", "gw-c") if n == 9 else ("gw-a", "gw-b"):
                assert f"  {g} " in out, out
        return out

    def test_victoria_replicated(self):
        rec = recording()
        dedup = ["-dedup.minScrapeInterval=1ms"]
        with harness.Mosquitto() as mq, harness.Victoria(args=dedup) as v1, \
                harness.Victoria(args=dedup) as v2, harness.Vmagent([v1, v2]) as va:
            gws = [harness.Oeed(gateway_config(g, mq.url, OUT_VM.format(url=va.url)))
                   for g in GATEWAYS]
            try:
                for g in gws:
                    g.start()
                for g in GATEWAYS:
                    wait_online(mq, g)
                v2.kill()  # storage node 2 is down while the day arrives
                down_since = time.monotonic()
                publish_day(mq)
                harness.wait_until(lambda: len(vm_finals(v1)) == 9, 60, "9 day finals on node 1")
                time.sleep(max(0, 5 - (time.monotonic() - down_since)))
                v2.start()  # same port, same data: vmagent delivers what it buffered
                harness.wait_until(lambda: len(vm_finals(v2)) == 9, 60, "9 day finals on node 2")
            finally:
                gateways_stop(gws)
            assert vm_finals(v1) == {(m, g) for g, n in MACHINES.items() for m in
                                     self.owned(g)}, vm_finals(v1)
            total = sum(len(d) for d in rec["by_topic"].values())
            assert recorded(gws) == total, (recorded(gws), total)
            merged = os.path.join(rec["dir"], "merged.rec")
            assert merged_recording(rec["gw_recs"], merged) == total
            cfg, states, finals = single_replay(mq.url, merged)
            time.sleep(1.5)  # vmagent's last flush of the gateways' stop lines
            for node in (v1, v2):
                check_states(vm_states(node), states, rec)
            out = self.check_contracts(cfg, finals, v2.url)
            self.check_contracts(cfg, finals, v1.url)
            print(out)

    def test_influx_single(self):
        rec = recording()
        with harness.Mosquitto() as mq, harness.Influx() as db:
            gws = [harness.Oeed(gateway_config(g, mq.url, OUT_INFLUX.format(url=db.url)))
                   for g in GATEWAYS]
            try:
                for g in gws:
                    g.start()
                for g in GATEWAYS:
                    wait_online(mq, g)
                harness.wait_until(lambda: "fleet" in json.dumps(db.query("SHOW DATABASES")),
                                   30, "the fleet database")
                db.kill()  # down while the day arrives: the gateways spool
                publish_day(mq)
                time.sleep(4)
                db.start()
                harness.wait_until(lambda: len(influx_rows(db,
                    "SELECT run_s FROM machine_kpi WHERE \"window\" = 'day' AND final = true "
                    f"AND time = {DAY_END_MS}ms")) == 9, 90, "9 day finals in InfluxDB")
            finally:
                gateways_stop(gws)
            merged = os.path.join(rec["dir"], "merged.rec")
            merged_recording(rec["gw_recs"], merged)
            cfg, states, finals = single_replay(mq.url, merged)
            rows = influx_rows(db, "SELECT machine, category, \"state\" FROM machine_state")
            got = {}
            for r in rows:
                k = (r["machine"], r["category"], r["time"])
                got[k] = got.get(k, 0) + 1
            check_states(got, states, rec)
            # the outage was real: every gateway had to retry or spool
            outage = influx_rows(db, "SELECT max(lines_retried) AS r, max(lines_spooled) AS s "
                                     "FROM oeed GROUP BY instance")
            assert len(outage) == 3 and all(r["r"] > 0 or r["s"] > 0 for r in outage), outage
            print(self.check_contracts(cfg, finals, db.url, "fleet"))

    def test_claimed_twice(self):
        """gw-x subscribes gw-b's cell as well: m0004 and m0005 have two owners."""
        recording()
        with harness.Mosquitto() as mq, harness.Influx() as db:
            GATEWAYS["gw-x"] = GATEWAYS["gw-b"]
            try:
                gws = [harness.Oeed(gateway_config(g, mq.url, OUT_INFLUX.format(url=db.url)))
                       for g in ("gw-b", "gw-x")]
            finally:
                del GATEWAYS["gw-x"]
            try:
                for g in gws:
                    g.start()
                for g in ("gw-b", "gw-x"):
                    wait_online(mq, g)
                publish_day(mq)
                q = ("SELECT count(run_s) FROM machine_kpi WHERE \"window\" = 'day' AND "
                     f"final = true AND time = {DAY_END_MS}ms GROUP BY machine")
                harness.wait_until(lambda: len(influx_rows(db, q)) == 2 and all(
                    r["count"] == 2 for r in influx_rows(db, q)), 60, "both claims in InfluxDB")
            finally:
                gateways_stop(gws)
            p = harness.run_oeed(["report", "-c", gws[0].config, "--contract", "line2-uptime",
                                  "--period", "2024-01-15", "--from", db.url, "--db", "fleet"])
            out = p.stdout.decode()
            assert p.returncode == 3, (p.returncode, out, p.stderr.decode())
            assert "Machines:  0 pooled, from 2 instances" in out, out
            for m in ("m0004", "m0005"):
                for g in ("gw-b", "gw-x"):
                    assert re.search(rf"^  {m} +{g}$", out, re.M), out

    @staticmethod
    def owned(g):
        lines = {"gw-a": ("m0000", "m0001", "m0002", "m0003"), "gw-b": ("m0004", "m0005"),
                 "gw-c": ("m0006", "m0007", "m0008")}
        return lines[g]


if __name__ == "__main__":
    harness.TestCase.main(FleetTests)
