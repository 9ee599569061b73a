"""The Grafana dashboards in dashboards/ (docs/dashboards.md): the JSON is dashboard JSON that
Grafana's provisioning loads (schemaVersion, panels with gridPos and unique ids, targets with a
refId and the provisioned data source through the `datasource` variable, every $variable
defined), and every panel query runs against a real InfluxDB 1.x and a real VictoriaMetrics
loaded with a known replay and returns data; the key panels (availability per machine for the
current and the last shift, losses by reason, contract status, the state timeline, the closed
shifts' MTBF/MTTR) return the values of the replay's own line protocol.

Grafana itself is not run (not a Debian package). Its macros are substituted the way Grafana
does for these data sources, as in test_output_queries.py: InfluxQL `$timeFilter` -> `time >=
<from>ms and time <= <to>ms`, `$__interval` -> `1h`; PromQL `$__range` -> the range in seconds,
`$__interval` -> `1h`; instant targets are evaluated at the range's end, range targets with
start/end of the range and the interval as step; `$machine` -> m0001, other variables -> the
dashboard's current value. The replay is test_output_queries' (oeed-sim, 4 machines from
2024-01-15T06:00Z, config/demo.yaml) with a cycle signal added (the simulator publishes none),
so that the cycle-time panels have data. Two ranges: 06:00-13:59:59 (in the early shift) and
06:00-14:20 (20 minutes into the late shift, the early shift closed)."""
import base64
import glob
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_output_queries as tq  # noqa: E402
from harness import run_oeed  # noqa: E402

DASH = os.path.join(harness.SOURCE, "dashboards")
T_FROM, T_END = tq.T_FROM, tq.T_TO  # 06:00, 14:00 (the early shift's end)
T_IN = T_END - 1000  # 13:59:59, inside the early shift
T_LATE = T_END + 20 * 60000  # 14:20, the late shift running, the early one closed
MACHINE = "m0001"
INTERVAL = "1h"
UIDS = {"influxdb": "oeed-influxdb", "prometheus": "oeed-victoriametrics"}
GRAFANA_VARS = {"timeFilter", "__interval", "__interval_ms", "__range", "__range_s",
                "__rate_interval", "__from", "__to", "col", "tag_machine", "tag_contract"}


def boards():
    """{relative path: dashboard dict}"""
    out = {}
    for p in sorted(glob.glob(os.path.join(DASH, "*", "*.json"))):
        with open(p) as f:
            out[os.path.relpath(p, DASH)] = json.load(f)
    return out


def board(path):
    return boards()[path]


def panel(d, title):
    (p,) = [p for p in d["panels"] if p["title"] == title]
    return p


def variables(d):
    return {v["name"]: v for v in d["templating"]["list"]}


def substitute(q, d, to):
    vals = {n: v.get("current", {}).get("value") for n, v in variables(d).items()}
    vals["machine"] = MACHINE
    q = (q.replace("$timeFilter", f"time >= {T_FROM}ms and time <= {to}ms")
         .replace("$__interval", INTERVAL).replace("$__rate_interval", INTERVAL)
         .replace("$__range", f"{(to - T_FROM) // 1000}s"))
    for n, v in vals.items():
        if v is not None:
            q = q.replace("${" + n + "}", v).replace("$" + n, v)
    assert "$" not in q, q
    return q


def influx(q, d, to):
    """[(tags, [row dicts])] of an InfluxQL query."""
    params = urllib.parse.urlencode({"q": substitute(q, d, to), "db": "oeed", "epoch": "ms"})
    with urllib.request.urlopen(f"{tq.World.db.url}/query?{params}", timeout=60) as r:
        res = json.loads(r.read())["results"][0]
    assert "error" not in res, (q, res)
    return [(s.get("tags", {}), [dict(zip(s["columns"], v)) for v in s["values"]])
            for s in res.get("series", [])]


def table(got):
    """The rows of all series with their tags, as Grafana's table format shows them."""
    return [dict(r, **t) for t, rs in got for r in rs]


def prom_get(path, params):
    p = urllib.parse.urlencode(params)
    with urllib.request.urlopen(f"{tq.World.vm.url}/api/v1/{path}?{p}", timeout=60) as r:
        data = json.loads(r.read())
    assert data["status"] == "success", data
    return data["data"]["result"]


def prom(t, d, to):
    """Instant targets: {frozenset(labels): value}; range targets: [(labels, [(ms, value)])]."""
    q = substitute(t["expr"], d, to)
    if t.get("instant"):
        res = prom_get("query", {"query": q, "time": to / 1000})
        out = {}
        for s in res:
            key = frozenset(s["metric"].items())
            assert key not in out, (q, s)
            out[key] = float(s["value"][1])
        return out
    step = 600 if "prev_duration_s" in q else 3600
    res = prom_get("query_range", {"query": q, "start": T_FROM / 1000, "end": to / 1000,
                                   "step": step})
    return [(s["metric"], [(int(ts) * 1000, float(v)) for ts, v in s["values"]]) for s in res]


def run_target(d, t, to):
    return influx(t["query"], d, to) if "query" in t else prom(t, d, to)


def by(got, *labels):
    """{tuple of label values: value} of an instant PromQL answer."""
    out = {}
    for k, v in got.items():
        k = dict(k)
        out[tuple(k.get(n, "") for n in labels)] = v
    return out


def latest(meas, to, pred, key):
    """{key(tags): fields} of the latest replay record at or before `to`."""
    out = {}
    for _, t, f, ts in tq.rows(meas, pred):
        if ts <= to:
            k = key(t)
            if k not in out or ts >= out[k][0]:
                out[k] = (ts, f)
    return {k: f for k, (ts, f) in out.items()}


def interim_shift(to):
    return latest("machine_kpi", to, lambda ln: "window=shift," in ln and "final=false" in ln,
                  lambda t: t["machine"])


def stops(machine, lo, hi, lo_open=False):
    """{(category, reason): [durations]} of the machine's stops starting in the range."""
    out = defaultdict(list)
    for _, t, f, ts in tq.rows("machine_stop", lambda ln: f"machine={machine}," in ln):
        if (lo < ts if lo_open else lo <= ts) and ts <= hi:
            out[(t["category"], t.get("reason", ""))].append(f["duration_s"])
    return out


def shift_losses(machine):
    out = defaultdict(float)
    for _, t, f, ts in tq.rows("machine_loss", lambda ln: f"machine={machine}," in ln and
                               "window=shift," in ln and "final=true" in ln):
        if ts <= T_LATE and t["category"] != "running":
            out[(t["category"], t.get("reason", ""))] += f["time_s"]
    return out


close = tq.close


def setup_world(d):
    """test_output_queries' replay with a cycle signal (one cycle per machine every 20 s)."""
    rec = os.path.join(d, "r.rec")
    subprocess.run([tq.SIM, "record", "--out", rec, "--machines", "4", "--duration", "490m",
                    "--tail", "30m"], check=True, capture_output=True, timeout=300)
    rnd = random.Random(16)
    lines = [(int(ln.split(b" ", 1)[0]), ln) for ln in open(rec, "rb").read().splitlines(True)]
    ns = T_FROM * 1000000 + 30 * 10**9
    while ns < T_FROM * 1000000 + 490 * 60 * 10**9:
        for m in range(4):
            payload = base64.b64encode(b"%.3f" % rnd.uniform(0.9, 1.6))
            lines.append((ns + m, b"%d factory/line1/m%04d/cycle %s\n" % (ns + m, m, payload)))
        ns += 20 * 10**9
    lines.sort(key=lambda x: x[0])
    with open(rec, "wb") as f:
        f.write(b"".join(ln for _, ln in lines))
    demo = open(os.path.join(harness.SOURCE, "config", "demo.yaml")).read()
    demo = demo.replace("state_dir: /tmp/oeed-demo", f"state_dir: {d}/state")
    demo = demo.replace("sources:\n", 'sources:\n  - topic: "factory/{line}/{machine}/cycle"\n'
                        "    decoder: text\n    signal: cycle\n", 1)
    cfg = os.path.join(d, "oeed.yaml")
    with open(cfg, "w") as f:
        f.write(demo)
    r = run_oeed(["replay", "-c", cfg, rec])
    assert r.returncode == 0, r.stderr.decode()
    tq.World.text = r.stdout.decode()
    chunks = r.stdout.splitlines(keepends=True)
    for url in (f"{tq.World.db.url}/write?db=oeed&precision=ms",
                f"{tq.World.vm.url}/write?precision=ms"):
        for i in range(0, len(chunks), 20000):
            req = urllib.request.Request(url, data=b"".join(chunks[i:i + 20000]), method="POST")
            with urllib.request.urlopen(req, timeout=120) as resp:
                assert resp.status == 204, resp.status
    urllib.request.urlopen(f"{tq.World.vm.url}/internal/force_flush", timeout=30).read()


class Dashboards:
    def test_json_is_dashboard_json(self):
        bs = boards()
        assert sorted(bs) == ["influxdb/machine-drilldown.json", "influxdb/plant-overview.json",
                              "victoriametrics/machine-drilldown.json",
                              "victoriametrics/plant-overview.json"], sorted(bs)
        uids = set()
        for path, d in bs.items():
            kind = "influxdb" if path.startswith("influxdb/") else "prometheus"
            assert isinstance(d.get("schemaVersion"), int) and d["schemaVersion"] >= 36, path
            assert d["uid"] not in uids and len(d["uid"]) <= 40, path
            uids.add(d["uid"])
            assert d["title"] and d["time"]["from"] and d["panels"], path
            vs = variables(d)
            ds = vs["datasource"]
            assert ds["type"] == "datasource" and ds["query"] == kind, (path, ds)
            assert ds["current"]["value"] == UIDS[kind], (path, ds)
            ids = [p["id"] for p in d["panels"]]
            assert len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids), path
            for p in d["panels"]:
                g = p["gridPos"]
                assert all(isinstance(g[k], int) for k in "xywh"), (path, p["title"])
                assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0, (path, p["title"])
                assert p["datasource"] == {"type": kind, "uid": "${datasource}"}, p["title"]
                assert p["targets"], p["title"]
                refs = [t["refId"] for t in p["targets"]]
                assert len(refs) == len(set(refs)) and all(refs), p["title"]
                for t in p["targets"]:
                    assert t["datasource"] == p["datasource"], (p["title"], t)
                    q = t["query"] if kind == "influxdb" else t["expr"]
                    assert ("query" in t) == (kind == "influxdb") and q.strip(), t
                    used = set(re.findall(r"\$\{?(\w+)", " ".join(
                        (q, p["title"], t.get("alias", ""), t.get("legendFormat", "")))))
                    missing = used - set(vs) - GRAFANA_VARS
                    assert not missing, (path, p["title"], missing)
            # no two panels overlap
            cells = set()
            for p in d["panels"]:
                g = p["gridPos"]
                for x in range(g["x"], g["x"] + g["w"]):
                    for y in range(g["y"], g["y"] + g["h"]):
                        assert (x, y) not in cells, (path, p["title"])
                        cells.add((x, y))
            for v in vs.values():
                if v["type"] == "query":
                    assert v["datasource"] == {"type": kind, "uid": "${datasource}"}, v

    def test_provisioning_names_the_uids(self):
        prov = os.path.join(DASH, "provisioning")
        ds = open(os.path.join(prov, "datasources.yaml")).read()
        for kind, uid in UIDS.items():
            assert re.search(rf"uid: {uid}\n\s+type: {kind}\n", ds), (uid, ds)
        db = open(os.path.join(prov, "dashboards.yaml")).read()
        assert "apiVersion: 1" in db and "type: file" in db and "path:" in db, db

    def test_every_target_answers_with_data(self):
        checked = 0
        for path, d in boards().items():
            for p in d["panels"]:
                for t in p["targets"]:
                    got = run_target(d, t, T_LATE)
                    if isinstance(got, dict):
                        ok = bool(got)
                    elif got and isinstance(got[0][0], dict) and "query" not in t:
                        ok = any(v for _, v in got)
                    else:
                        ok = any(any(any(x is not None for k, x in r.items() if k != "time")
                                     for r in rs) for _, rs in got)
                    assert ok, (path, p["title"], t["refId"], got)
                    checked += 1
        assert checked >= 40, checked

    def test_machine_variable_lists_the_machines(self):
        want = {f"m{i:04d}" for i in range(4)}
        q = variables(board("influxdb/machine-drilldown.json"))["machine"]["query"]
        res = tq.World.db.query(q, db="oeed")["results"][0]
        assert {v[1] for v in res["series"][0]["values"]} == want, res
        q = variables(board("victoriametrics/machine-drilldown.json"))["machine"]["query"]
        m = re.fullmatch(r"label_values\((\w+), (\w+)\)", q["query"])
        with urllib.request.urlopen(f"{tq.World.vm.url}/api/v1/label/{m[2]}/values?" +
                                    urllib.parse.urlencode({"match[]": m[1]}), timeout=30) as r:
            assert set(json.loads(r.read())["data"]) == want

    def test_availability_and_oee_current_shift(self):
        for to, shift in ((T_IN, "early"), (T_LATE, "late")):
            want = interim_shift(to)
            assert len(want) == 4, want
            for kpi in ("availability", "oee"):
                title = f"{'Availability' if kpi == 'availability' else 'OEE'}, current shift"
                d = board("influxdb/plant-overview.json")
                got = influx(panel(d, title)["targets"][0]["query"], d, to)
                assert {t["machine"] for t, _ in got} == set(want), got
                for t, rs in got:
                    assert close(rs[0]["last"], want[t["machine"]][kpi]), (to, kpi, t, rs)
                d = board("victoriametrics/plant-overview.json")
                got = prom(panel(d, title)["targets"][0], d, to)
                assert {k[1] for k in by(got, "shift", "machine")} == set(want), got
                for (s, m), v in by(got, "shift", "machine").items():
                    assert s == shift and close(v, want[m][kpi]), (to, kpi, s, m, v)
        # the drill-down's stat of the same
        want = interim_shift(T_LATE)[MACHINE]
        d = board("influxdb/machine-drilldown.json")
        ((_, rs),) = influx(panel(d, "Current shift")["targets"][0]["query"], d, T_LATE)
        for k in ("availability", "performance", "quality", "oee"):
            assert close(rs[0][k], want[k]), (k, rs, want)
        d = board("victoriametrics/machine-drilldown.json")
        for t in panel(d, "Current shift")["targets"]:
            (v,) = prom(t, d, T_LATE).values()
            assert close(v, want[t["legendFormat"]]), (t, v, want)

    def test_availability_and_oee_last_closed_shift(self):
        fin = tq.shift_finals()  # the early shift's finals, stamped 14:00
        assert len(fin) == 4, fin
        for to in (T_END, T_LATE):
            for kpi, title in (("availability", "Availability, last closed shift"),
                               ("oee", "OEE, last closed shift")):
                d = board("influxdb/plant-overview.json")
                got = influx(panel(d, title)["targets"][0]["query"], d, to)
                assert {t["machine"] for t, _ in got} == set(fin), got
                for t, rs in got:
                    assert close(rs[0]["last"], fin[t["machine"]][kpi]), (t, rs)
                d = board("victoriametrics/plant-overview.json")
                got = by(prom(panel(d, title)["targets"][0], d, to), "shift", "machine")
                assert {m for _, m in got} == set(fin) and len(got) == 4, got
                for (s, m), v in got.items():
                    assert s == "early" and close(v, fin[m][kpi]), (to, s, m, v)

    def test_losses_by_reason(self):
        title = "Losses by reason (stops that started in the range)"
        want = stops(MACHINE, T_FROM, T_LATE)
        assert {c for c, _ in want} >= {"idle", "down", "planned"}, want
        d = board("influxdb/machine-drilldown.json")
        rs = table(influx(panel(d, title)["targets"][0]["query"], d, T_LATE))
        assert {(r["category"], r["reason"]) for r in rs} == set(want), rs
        for r in rs:
            w = want[(r["category"], r["reason"])]
            assert close(r["time_s"], sum(w)) and r["stops"] == len(w), (r, w)
        # PromQL's range (from, to] is open at its start
        want = stops(MACHINE, T_FROM, T_LATE, lo_open=True)
        d = board("victoriametrics/machine-drilldown.json")
        res = prom(panel(d, title)["targets"][0], d, T_LATE)
        got = by(res, "category", "reason")
        assert set(got) == set(want), (got, want)
        for k, v in got.items():
            assert close(v, sum(want[k])), (k, v, want[k])
        # the per-reason downtime equals the sum of that reason's stops in the recording
        down = {r: sum(v) for (c, r), v in want.items() if c == "down"}
        assert set(down) >= {"fault", "jam"}, down
        # Pareto order: the answer is sorted, longest first
        vals = [float(s["value"][1]) for s in prom_get("query", {"query": substitute(
            panel(d, title)["targets"][0]["expr"], d, T_LATE), "time": T_LATE / 1000})]
        assert vals == sorted(vals, reverse=True), vals

    def test_losses_by_reason_closed_shifts(self):
        title = "Losses by reason, closed shifts"
        want = shift_losses(MACHINE)
        assert ("down", "fault") in want and ("planned", "break") in want, want
        d = board("influxdb/machine-drilldown.json")
        rs = table(influx(panel(d, title)["targets"][0]["query"], d, T_LATE))
        assert {(r["category"], r["reason"]) for r in rs} == set(want), (rs, want)
        for r in rs:
            assert close(r["time_s"], want[(r["category"], r["reason"])]), r
        d = board("victoriametrics/machine-drilldown.json")
        got = by(prom(panel(d, title)["targets"][0], d, T_LATE), "category", "reason")
        assert set(got) == set(want), (got, want)
        for k, v in got.items():
            assert close(v, want[k]), (k, v, want[k])

    def test_repair_time_per_reason(self):
        title = "Repair time per reason"
        want = {r: v for (c, r), v in stops(MACHINE, T_FROM, T_LATE, lo_open=True).items()
                if c == "down"}
        d = board("influxdb/machine-drilldown.json")
        rs = table(influx(panel(d, title)["targets"][0]["query"], d, T_LATE))
        assert {r["reason"] for r in rs} == set(want), rs
        for r in rs:
            w = want[r["reason"]]
            assert r["stops"] == len(w) and close(r["mttr_s"], sum(w) / len(w)), (r, w)
            assert close(r["longest_s"], max(w)), (r, w)
        d = board("victoriametrics/machine-drilldown.json")
        count, mean = (by(prom(t, d, T_LATE), "reason") for t in panel(d, title)["targets"])
        assert set(count) == set(mean) == {(r,) for r in want}, (count, mean)
        for (r,), w in ((k, want[k[0]]) for k in count):
            assert count[(r,)] == len(w) and close(mean[(r,)], sum(w) / len(w)), (r, w)

    def test_closed_shifts_mtbf_mttr(self):
        fin = tq.shift_finals()[MACHINE]
        assert fin["failures"] > 0 and "mtbf_s" in fin, fin
        d = board("influxdb/machine-drilldown.json")
        got = influx(panel(d, "Closed shifts")["targets"][0]["query"], d, T_LATE)
        assert [t for t, _ in got] == [{"shift": "early"}], got
        for k in ("availability", "oee", "failures", "mtbf_s", "mttr_s"):
            assert close(got[0][1][0][k], fin[k]), (k, got, fin)
        d = board("victoriametrics/machine-drilldown.json")
        for t, k in zip(panel(d, "Closed shifts")["targets"],
                        ("availability", "oee", "failures", "mtbf_s", "mttr_s")):
            got = by(prom(t, d, T_LATE), "shift")
            assert list(got) == [("early",)] and close(got[("early",)], fin[k]), (k, got, fin)

    def test_cycle_times_and_rolling_mtbf(self):
        recs = {ts: f for _, t, f, ts in tq.rows(
            "machine_kpi", lambda ln: f"machine={MACHINE}," in ln and "window=1h " in ln)}
        for path in ("influxdb/machine-drilldown.json", "victoriametrics/machine-drilldown.json"):
            d = board(path)
            assert variables(d)["rolling"]["current"]["value"] == "1h"
            for title, names in (("Cycle times ($rolling window)",
                                  ("avg", "p50", "p95", "min", "max")),
                                 ("MTBF and MTTR ($rolling window)", ("mtbf_s", "mttr_s"))):
                seen = 0
                for t in panel(d, title)["targets"]:
                    got = run_target(d, t, T_LATE)
                    if "query" in t:
                        # GROUP BY time(1h): the last record in each hour bucket
                        for row in got[0][1]:
                            for n in names:
                                key = n if n.endswith("_s") else f"cycle_{n}_s"
                                inb = [ts for ts in recs if row["time"] <= ts <
                                       row["time"] + 3600000 and ts <= T_LATE and key in recs[ts]]
                                if inb:  # last() is the last record with the field
                                    assert close(row[n], recs[max(inb)][key]), (row, n)
                                    seen += 1
                                else:
                                    assert row[n] is None, (row, n)
                    else:
                        ((_, pts),) = got
                        key = t["legendFormat"]
                        key = key if key.endswith("_s") else f"cycle_{key}_s"
                        for ts, v in pts:
                            # the latest sample of that metric (a window without a
                            # failure has no mtbf_s)
                            last = recs[max(r for r in recs if r <= ts and key in recs[r])]
                            assert close(v, last[key]), (ts, v, key, last.get(key))
                            seen += 1
                assert seen >= 8, (path, title, seen)

    def test_contract_status(self):
        recs = sorted((ts, t, f) for _, t, f, ts in tq.rows("contract"))
        for to in (T_IN, T_LATE):
            last = [r for r in recs if r[0] <= to][-1]
            assert [r for r in recs if r[0] == last[0]] == [last]
            d = board("influxdb/plant-overview.json")
            got = influx(panel(d, "Contract status")["targets"][0]["query"], d, to)
            assert got == [({"contract": "demo-availability"},
                            [{"time": got[0][1][0]["time"], "last": last[2]["status_code"]}])], got
            d = board("victoriametrics/plant-overview.json")
            got = by(prom(panel(d, "Contract status")["targets"][0], d, to), "contract", "shift")
            assert got == {("demo-availability", last[1]["shift"]): last[2]["status_code"]}, got
        # over time: the last status in each hour bucket
        d = board("influxdb/plant-overview.json")
        ((_, rs),) = influx(panel(d, "Contract status over time")["targets"][0]["query"], d,
                            T_LATE)
        for row in rs:
            inb = [f["status_code"] for ts, _, f in recs
                   if row["time"] <= ts < row["time"] + 3600000 and ts <= T_LATE]
            assert row["last"] == inb[-1], (row, inb[-3:])
        assert len(rs) == 9, rs
        d = board("victoriametrics/plant-overview.json")
        got = prom(panel(d, "Contract status over time")["targets"][0], d, T_LATE)
        # steps at the hours (07:00 .. 14:00): the early shift's series; the late one starts
        # after 14:00
        assert "early" in {m["shift"] for m, _ in got}, got
        n = 0
        for m, pts in got:
            for ts, v in pts:
                inb = [f["status_code"] for rts, t, f in recs
                       if ts - 3600000 < rts <= ts and t["shift"] == m["shift"]]
                assert int(v) == inb[-1], (m, ts, v, inb[-3:])
                n += 1
        assert n >= 8, got
        # the closed periods' verdicts
        finals = [(t, f) for ts, t, f in recs if f["final"] and ts <= T_LATE]
        assert len(finals) == 1 and finals[0][1]["status"] == "breached", finals
        t, f = finals[0]
        d = board("influxdb/plant-overview.json")
        ((tags, rs),) = influx(panel(d, "Closed contract periods")["targets"][0]["query"], d,
                               T_LATE)
        assert tags == {"contract": "demo-availability", "shift": "early"}, tags
        assert rs[0]["status_code"] == 5 and close(rs[0]["value"], f["value"]), rs
        assert close(rs[0]["coverage"], f["coverage"]) and rs[0]["machines"] == 4, rs
        d = board("victoriametrics/plant-overview.json")
        got = by(prom(panel(d, "Closed contract periods")["targets"][0], d, T_LATE),
                 "contract", "shift")
        assert got == {("demo-availability", "early"): 5}, got

    def test_state_timeline(self):
        codes = {"running": 0, "idle": 1, "down": 2, "planned": 3, "unknown": 4}
        ev = defaultdict(list)
        for _, t, f, ts in tq.rows("machine_state"):
            ev[t["machine"]].append((ts, t["category"], f.get("reason"), "prev_duration_s" in f))
        d = board("influxdb/plant-overview.json")
        got = influx(panel(d, "Machine states")["targets"][0]["query"], d, T_LATE)
        assert {t["machine"] for t, _ in got} == set(ev) and len(ev) == 4, got
        for t, rs in got:
            inside = [e for e in ev[t["machine"]] if T_FROM <= e[0] <= T_LATE]
            assert [(r["time"], r["category"], r["reason"]) for r in rs] == \
                [e[:3] for e in inside], t
        d = board("influxdb/machine-drilldown.json")
        ((_, rs),) = influx(panel(d, f"States of $machine")["targets"][0]["query"], d, T_LATE)
        assert [r["category"] for r in rs] == [e[1] for e in ev[MACHINE]
                                               if T_FROM <= e[0] <= T_LATE]
        for path, title in (("victoriametrics/plant-overview.json", "Machine states"),
                            ("victoriametrics/machine-drilldown.json", "States of $machine")):
            d = board(path)
            got = prom(panel(d, title)["targets"][0], d, T_LATE)
            assert {m["machine"] for m, _ in got} == (set(ev) if "plant" in path else {MACHINE})
            n = 0
            for m, pts in got:
                for ts, v in pts:
                    last = [e for e in ev[m["machine"]] if e[0] <= ts and e[3]][-1]
                    assert int(v) == codes[last[1]], (m, ts, v, last)
                    n += 1
                assert len({v for _, v in pts}) >= 2, (m, pts)
            assert n >= 45 * len(got), n


def main():
    with tempfile.TemporaryDirectory(prefix="oeed-dash-") as d, harness.Influx() as db, \
            harness.Victoria() as vm:
        tq.World.db, tq.World.vm = db, vm
        db.create_db("oeed")
        setup_world(d)
        harness.TestCase.main(Dashboards)


if __name__ == "__main__":
    main()
