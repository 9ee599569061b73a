"""The query cookbook of docs/output.md runs against a real InfluxDB 1.x and a real
VictoriaMetrics loaded with a known replay (oeed-sim record -> oeed replay -> the line protocol
written to both), and returns what the replay's own output says.

The queries are read from output.md itself (the indented blocks under each "### " heading of
"## Query cookbook", in order; one starting with SELECT is InfluxQL, any other PromQL), so the
page cannot drift from what is tested. Grafana's macros are substituted the way Grafana does
for these data sources: `$timeFilter` -> `time >= <from>ms AND time <= <to>ms`, `$__interval`
-> the test's interval (`1h`), `$__range` -> the range in seconds (`28800s`), `$machine` -> a
machine id. The range is the first shift of the recording, 06:00-14:00 UTC; PromQL instant
queries are evaluated at its end (14:00, where the shift's final records are stamped)."""
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import parse_line, run_oeed  # noqa: E402

SIM = os.path.join(harness.BUILD, "sim", "oeed-sim")
OUTPUT_MD = os.path.join(harness.SOURCE, "docs", "output.md")
T_FROM = 1705298400000  # 2024-01-15T06:00:00Z, oeed-sim's default start
T_TO = T_FROM + 8 * 3600000  # the early shift's end
MACHINE = "m0001"
INTERVAL = "1h"


def macros(q, to=T_TO):
    return (q.replace("$timeFilter", f"time >= {T_FROM}ms AND time <= {to}ms")
            .replace("$__interval", INTERVAL)
            .replace("$__range", f"{(to - T_FROM) // 1000}s")
            .replace("$machine", MACHINE))


def cookbook():
    """{heading: [query, ...]} from output.md's "## Query cookbook"."""
    md = open(OUTPUT_MD).read()
    body = md[md.index("## Query cookbook"):]
    out = {}
    for head, text in re.findall(r"^### ([^\n]+)\n(.*?)(?=^### |\Z)", body, re.S | re.M):
        out[head.strip()] = [ln[4:] for ln in text.splitlines() if ln.startswith("    ")]
    return out


class World:
    """One replay, loaded into both servers, for all tests."""
    lines = None
    db = vm = None


def setup_world(d):
    rec = os.path.join(d, "r.rec")
    subprocess.run([SIM, "record", "--out", rec, "--machines", "4", "--duration", "490m",
                    "--tail", "30m"], check=True, capture_output=True, timeout=300)
    demo = open(os.path.join(harness.SOURCE, "config", "demo.yaml")).read()
    cfg = os.path.join(d, "oeed.yaml")
    with open(cfg, "w") as f:
        f.write(demo.replace("state_dir: /tmp/oeed-demo", f"state_dir: {d}/state"))
    r = run_oeed(["replay", "-c", cfg, rec])
    assert r.returncode == 0, r.stderr.decode()
    World.text = r.stdout.decode()
    body = r.stdout
    chunks = body.splitlines(keepends=True)
    for url in (f"{World.db.url}/write?db=oeed&precision=ms",
                f"{World.vm.url}/write?precision=ms"):
        for i in range(0, len(chunks), 20000):
            req = urllib.request.Request(url, data=b"".join(chunks[i:i + 20000]), method="POST")
            with urllib.request.urlopen(req, timeout=120) as resp:
                assert resp.status == 204, resp.status
    urllib.request.urlopen(f"{World.vm.url}/internal/force_flush", timeout=30).read()


def rows(meas, pred=lambda ln: True):
    """Parsed lines of one measurement from the replay (prefiltered on the raw text)."""
    out = []
    for ln in World.text.splitlines():
        if ln.startswith(meas + ",") and pred(ln):
            out.append(parse_line(ln))
    return out


def influx(q, to=T_TO):
    """{tuple of tag values: [row dicts]} of an InfluxQL query."""
    res = World.db.query(macros(q, to), db="oeed")["results"][0]
    assert "error" not in res, (q, res)
    out = {}
    for s in res.get("series", []):
        key = tuple(sorted(s.get("tags", {}).items()))
        out[key] = [dict(zip(s["columns"], v)) for v in s["values"]]
    return out


def prom(q, t=T_TO):
    p = urllib.parse.urlencode({"query": macros(q), "time": t / 1000})
    with urllib.request.urlopen(f"{World.vm.url}/api/v1/query?{p}", timeout=60) as r:
        data = json.loads(r.read())
    assert data["status"] == "success", data
    return data["data"]["result"]


def prom_range(q, start, end, step):
    p = urllib.parse.urlencode({"query": macros(q), "start": start / 1000, "end": end / 1000,
                                "step": step})
    with urllib.request.urlopen(f"{World.vm.url}/api/v1/query_range?{p}", timeout=60) as r:
        data = json.loads(r.read())
    assert data["status"] == "success", data
    return data["data"]["result"]


def close(a, b):
    return abs(a - b) <= 1e-9 * max(1.0, abs(b))


def shift_finals():
    return {t["machine"]: f for _, t, f, ts in rows(
        "machine_kpi", lambda ln: "window=shift," in ln and "final=true" in ln) if ts == T_TO}


def stops_in_range(category="down"):
    out = defaultdict(list)
    for _, t, f, ts in rows("machine_stop", lambda ln: f"category={category}," in ln):
        if T_FROM <= ts <= T_TO:
            out[t.get("reason", "")].append(f["duration_s"])
    return out


class Cookbook:
    def test_the_cookbook_is_read(self):
        cb = cookbook()
        assert len(cb) >= 6, cb.keys()
        assert sum(len(v) for v in cb.values()) >= 12, cb

    def test_availability_last_shift(self):
        qs = cookbook()["Availability per machine for the last shift"]
        want = shift_finals()
        assert len(want) == 4, want
        got = influx(qs[0])
        assert {dict(k)["machine"]: v[0]["last"] for k, v in got.items()}.keys() == want.keys()
        for k, v in got.items():
            assert close(v[0]["last"], want[dict(k)["machine"]]["availability"]), (k, v)
        res = prom(qs[1])
        assert len(res) == 4, res
        for s in res:
            assert s["metric"]["shift"] == "early", s
            assert close(float(s["value"][1]), want[s["metric"]["machine"]]["availability"]), s

    def test_availability_pooled_per_line(self):
        qs = cookbook()["Availability pooled per line"]
        fin = shift_finals()
        want = sum(f["run_s"] for f in fin.values()) / sum(f["ppt_s"] for f in fin.values())
        got = influx(qs[0])
        assert list(got) == [(("line", "line1"),)], got
        assert close(list(got.values())[0][0]["sum_sum"], want), (got, want)
        res = prom(qs[1])
        assert len(res) == 1 and res[0]["metric"] == {"line": "line1"}, res
        assert close(float(res[0]["value"][1]), want), (res, want)

    def test_downtime_pareto(self):
        qs = cookbook()["Downtime Pareto by reason"]
        loss = defaultdict(float)
        for _, t, f, ts in rows("machine_loss", lambda ln: "window=shift," in ln and
                                "final=true" in ln and "category=down," in ln):
            if ts == T_TO:
                loss[t["reason"]] += f["time_s"]
        assert set(loss) >= {"fault", "jam"}, loss
        # the shift's losses are its part of the machine_stop points (clipped to the shift)
        clipped = defaultdict(float)
        for _, t, f, ts in rows("machine_stop", lambda ln: "category=down," in ln):
            a, b = max(ts, T_FROM), min(ts + round(f["duration_s"] * 1000), T_TO)
            if b > a:
                clipped[t["reason"]] += (b - a) / 1000
        for r in loss:
            assert close(loss[r], clipped[r]), (r, loss[r], clipped[r])
        got = influx(qs[0])
        assert {dict(k)["reason"]: v[0]["sum"] for k, v in got.items()}.keys() == loss.keys()
        for k, v in got.items():
            assert close(v[0]["sum"], loss[dict(k)["reason"]]), (k, v)
        res = prom(qs[1])
        assert [float(s["value"][1]) for s in res] == sorted(
            (float(s["value"][1]) for s in res), reverse=True), res
        assert {s["metric"]["reason"]: float(s["value"][1]) for s in res}.keys() == loss.keys()
        for s in res:
            assert close(float(s["value"][1]), loss[s["metric"]["reason"]]), s
        # over the range: the sum of each reason's stops
        stops = stops_in_range()
        got = influx(qs[2])
        assert {dict(k)["reason"] for k in got} == set(stops), (got, stops)
        for k, v in got.items():
            assert close(v[0]["sum"], sum(stops[dict(k)["reason"]])), (k, v)
        res = prom(qs[3])
        assert {s["metric"]["reason"] for s in res} == set(stops), res
        for s in res:
            assert close(float(s["value"][1]), sum(stops[s["metric"]["reason"]])), s

    def test_mttr_per_reason(self):
        qs = cookbook()["MTTR per reason"]
        stops = stops_in_range()
        got = influx(qs[0])
        assert {dict(k)["reason"] for k in got} == set(stops)
        for k, v in got.items():
            d = stops[dict(k)["reason"]]
            assert close(v[0]["mean"], sum(d) / len(d)) and v[0]["count"] == len(d), (k, v)
        res = prom(qs[1])
        assert {s["metric"]["reason"] for s in res} == set(stops), res
        for s in res:
            d = stops[s["metric"]["reason"]]
            assert close(float(s["value"][1]), sum(d) / len(d)), s

    def test_contract_status(self):
        qs = cookbook()["Contract status over the month"]
        recs = sorted((ts, f["status_code"], f["status"]) for _, t, f, ts in rows("contract"))
        codes = {"no_data": 0, "met": 1, "on_track": 2, "at_risk": 3, "below_minimum": 4,
                 "breached": 5}
        assert all(codes[s] == c for _, c, s in recs), recs[:5]
        # Through the shift's end: while the final waits for late events (max_lateness) the
        # closed shift gets no interim records, so the record at 14:00 is the final.
        to = T_TO
        got = list(influx(qs[0], to).values())[0]
        # buckets [h, h+1h) from 06:00; the final at 14:00 opens the ninth
        hours = [T_FROM + i * 3600000 for i in range(9)]
        want = []
        for h in hours:
            inb = [c for ts, c, _ in recs if h <= ts < h + 3600000 and ts <= to]
            want.append(inb[-1] if inb else None)
        assert [row["last"] for row in got] == want, (got, want)
        assert None not in want[1:], want
        res = prom_range(qs[1], T_FROM + 3600000, T_TO - 1000, 3600)
        assert len(res) == 1, res
        for ts, v in res[0]["values"]:
            t = int(ts) * 1000
            last = [c for rts, c, _ in recs if t - 3600000 < rts <= t][-1]
            assert int(float(v)) == last, (t, v, last)

    def test_state_timeline(self):
        qs = cookbook()["The timeline of a machine's states"]
        ev = [(ts, t["category"], f["reason"], f["state"], "prev_duration_s" in f)
              for _, t, f, ts in rows("machine_state", lambda ln: f"machine={MACHINE}," in ln)]
        inside = [e for e in ev if T_FROM <= e[0] <= T_TO]
        got = list(influx(qs[0]).values())[0]
        assert len(got) == len(inside) > 20, (len(got), len(inside))
        for row, e in zip(got, inside):
            assert (row["category"], row["reason"], row["state"]) == e[1:4], (row, e)
        codes = {"running": 0, "idle": 1, "down": 2, "planned": 3, "unknown": 4}
        res = prom_range(qs[1], T_FROM + 600000, T_TO, 600)
        assert len(res) == 1, res
        checked = 0
        for ts, v in res[0]["values"]:
            t = int(ts) * 1000
            last = [e for e in ev if e[0] <= t and e[4]][-1]
            assert int(float(v)) == codes[last[1]], (t, v, last)
            checked += 1
        assert checked >= 40, checked
        assert len({v for _, v in res[0]["values"]}) >= 2, res  # the states do change


def main():
    with tempfile.TemporaryDirectory(prefix="oeed-dash-") as d, harness.Influx() as db, \
            harness.Victoria() as vm:
        World.db, World.vm = db, vm
        db.create_db("oeed")
        setup_world(d)
        harness.TestCase.main(Cookbook)


if __name__ == "__main__":
    main()
