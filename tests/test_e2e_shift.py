"""End to end over a full shift: oeed-sim records an 8-hour early shift (06:00-14:00 UTC) of
machines in the text and JSON styles, with a planned break, faults, idle time, micro-stops and
rejects, and writes the ground truth from its own timeline. `oeed replay` recomputes the
shift; its final machine_kpi record of the shift must equal the truth: times to the
millisecond, counts exactly, ratios to 1e-9. Replays are deterministic, also when the
recording is split into two files."""
import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.parse

import harness

SIM = os.path.join(harness.BUILD, "sim", "oeed-sim")
SHIFT_START = "2024-01-15T06:00:00Z"
SHIFT_START_MS = 1705298400000
SHIFT_END_MS = SHIFT_START_MS + 8 * 3600 * 1000
MACHINES = 8
# Shift 06:00-14:00 plus 3 minutes so that replay closes the shift; machines come up within
# the first 90 s (unknown before); a 30-minute break; faults, idle, micro-stops, rejects.
SIM_ARGS = ["--machines", str(MACHINES), "--style", "mixed", "--ideal-spread",
            "--seed", "20240115", "--start", SHIFT_START, "--duration", "8h", "--tail", "3m",
            "--stagger", "90s", "--break", "10:00-10:30", "--fault-every", "30m",
            "--stop-every", "4m", "--reject", "0.03"]
RAW_CATEGORY = {"RUNNING": "run_s", "IDLE": "idle_s", "BLOCKED": "idle_s", "STOP": "idle_s",
                "FAULT": "down_s", "JAM": "down_s", "TOOLCHANGE": "down_s", "BREAK": "planned_s"}
MAP = """      RUNNING: running
      IDLE: idle/starved
      BLOCKED: idle/blocked
      STOP: idle/short_stop
      FAULT: down/fault
      JAM: down/jam
      TOOLCHANGE: down/tool_change
      BREAK: planned/break
"""

CONFIG = """site: e2e
state_dir: {state_dir}
log_level: warn
sources:
  - topic: "factory/{{line}}/{{machine}}/state"
    decoder: text
    signal: state
    map:
{map}  - topic: "factory/{{line}}/{{machine}}/count"
    decoder: text
    signal: total
    counts: cumulative
  - topic: "factory/{{line}}/{{machine}}/reject"
    decoder: text
    signal: reject
    counts: cumulative
  - topic: "factory/{{line}}/{{machine}}/data"
    decoder: json
    counts: cumulative
    fields: {{ state: "$.state", total: "$.parts", reject: "$.scrap", timestamp: "$.ts" }}
    map:
{map}machines:
  defaults: {{ ideal_cycle_time: 1s, stale_after: 60s }}
  max: 100
  list:
{machines}report:
  interval: 10s
  windows: [15m]
  periods: [shift, day]
  timezone: UTC
  shifts:
    - {{ name: early, start: "06:00" }}
    - {{ name: late, start: "14:00" }}
    - {{ name: night, start: "22:00" }}
contracts:
  - {{ name: all-availability, machines: ["m*"], kpi: availability, period: shift,
      target: 0.9, minimum: 0.8 }}
outputs:
  - type: file
    path: "-"
"""


# The line-protocol parser is shared: harness.parse_line.
parse_line = harness.parse_line


def parse_output(text, prefix="", needle=""):
    """Parses the lines that start with `prefix` and contain `needle` (the parser is slow
    Python; a shift of output has hundreds of thousands of lines)."""
    return [parse_line(line) for line in text.splitlines()
            if line.strip() and line.startswith(prefix) and needle in line]


def close_rel(a, b, rel=1e-9):
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)


class E2EShift:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="oeed-e2e-shift-")
        self.rec = os.path.join(self.dir, "shift.rec")
        self.truth_path = os.path.join(self.dir, "truth.json")
        subprocess.run([SIM, "record"] + SIM_ARGS + ["--out", self.rec, "--truth", self.truth_path],
                       check=True, capture_output=True, timeout=120)
        with open(self.truth_path) as f:
            self.truth = json.load(f)
        machines = "".join(
            f"    - {{ id: {m['machine']}, ideal_cycle_time: {round(m['ideal_cycle_s'] * 1000)}ms }}\n"
            for m in self.truth["machines"])
        self.config = os.path.join(self.dir, "oeed.yaml")
        with open(self.config, "w") as f:
            f.write(CONFIG.format(state_dir=os.path.join(self.dir, "state"), map=MAP,
                                  machines=machines))
        os.makedirs(os.path.join(self.dir, "state"), exist_ok=True)

    def __del__(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def replay(self, *recs):
        p = harness.run_oeed(["replay", "-c", self.config] + list(recs), timeout=300)
        assert p.returncode == 0, f"replay exited {p.returncode}: {p.stderr.decode()[-2000:]}"
        return p.stdout

    def final_shift_records(self, out):
        recs = {}
        for meas, tags, fields, ts in parse_output(out.decode(), "machine_kpi,", "final=true"):
            if meas != "machine_kpi" or tags.get("window") != "shift":
                continue
            if fields.get("final") is not True or fields.get("window_start") != SHIFT_START_MS:
                continue
            assert tags["machine"] not in recs, f"two final shift records for {tags['machine']}"
            assert ts == SHIFT_END_MS, f"final shift record stamped {ts}, not the shift end"
            recs[tags["machine"]] = fields
        return recs


class Tests:
    def test_final_shift_kpis_equal_truth(self):
        e = E2EShift()
        truth = e.truth
        # The scenario covers what it claims to: both styles, all categories, rejects.
        assert {m["style"] for m in truth["machines"]} == {"text", "json"}
        tot = truth["total"]
        for k in ("run_s", "idle_s", "down_s", "planned_s", "unknown_s"):
            assert tot[k] > 0, f"scenario has no {k}"
        assert tot["failures"] > 0 and tot["reject_count"] > 0
        for m in truth["machines"]:
            span = sum(m[k] for k in ("run_s", "idle_s", "down_s", "planned_s", "unknown_s"))
            assert abs(span - 8 * 3600) < 1e-6, (m["machine"], span)

        recs = e.final_shift_records(e.replay(e.rec))
        assert sorted(recs) == sorted(m["machine"] for m in truth["machines"]), sorted(recs)
        errors = []
        for m in truth["machines"]:
            got = recs[m["machine"]]

            def want(field, value, kind):
                if field not in got:
                    errors.append(f"{m['machine']}: {field} missing")
                    return
                g = got[field]
                ok = (abs(g - value) <= 0.002 if kind == "time" else
                      g == value if kind == "count" else close_rel(g, value))
                if not ok:
                    errors.append(f"{m['machine']}: {field} = {g}, truth {value}")

            for k in ("run_s", "idle_s", "down_s", "planned_s", "unknown_s"):
                want(k, m[k], "time")
            for k in ("failures", "total_count", "good_count", "reject_count"):
                want(k, m[k], "count")
            ppt = m["run_s"] + m["idle_s"] + m["down_s"]
            want("availability", m["run_s"] / ppt, "ratio")
            want("quality", m["good_count"] / m["total_count"], "ratio")
            want("performance", m["ideal_cycle_s"] * m["total_count"] / m["run_s"], "ratio")
        assert not errors, "\n".join(errors)

    def test_final_contract_pools_truth(self):
        e = E2EShift()
        tot = e.truth["total"]
        finals = [(tags, f) for meas, tags, f, ts in parse_output(e.replay(e.rec).decode(),
                                                               "contract,", "final=true")
                  if meas == "contract" and tags.get("contract") == "all-availability"
                  and f.get("final") is True and f.get("period_start") == SHIFT_START_MS]
        assert len(finals) == 1, finals
        want = tot["run_s"] / (tot["run_s"] + tot["idle_s"] + tot["down_s"])
        assert close_rel(finals[0][1]["value"], want), (finals[0][1]["value"], want)

    def test_replay_is_deterministic(self):
        e = E2EShift()
        a = e.replay(e.rec)
        b = e.replay(e.rec)
        assert len(a) > 0
        assert a == b, "two replays of the same recording differ"

    def test_split_recording_gives_same_output(self):
        e = E2EShift()
        with open(e.rec, "rb") as f:
            lines = f.readlines()
        half = len(lines) // 2
        parts = [os.path.join(e.dir, "part1.rec"), os.path.join(e.dir, "part2.rec")]
        with open(parts[0], "wb") as f:
            f.writelines(lines[:half])
        with open(parts[1], "wb") as f:
            f.writelines(lines[half:])
        whole = e.replay(e.rec)
        split = e.replay(*parts)
        assert whole == split, "replaying the recording in two files changes the output"

    def test_truth_follows_from_recording(self):
        """The simulator's truth (from its timeline) agrees with what it recorded: each state
        holds until the next, counts are counter increases after the baseline."""
        e = E2EShift()
        start, end = e.truth["start_ms"], e.truth["end_ms"]
        ms = {}

        def add(d, key, a, b):
            a, b = max(a, start), min(b, end)
            if b > a:
                d[key] = d.get(key, 0) + b - a

        with open(e.rec) as f:
            for line in f:
                ns, topic, payload = line.split()
                t = int(ns) // 1000000
                topic = urllib.parse.unquote(topic)
                payload = base64.b64decode(payload).decode()
                _, _, machine, kind = topic.split("/")
                d = ms.setdefault(machine, {"first": t, "state": None, "failures": 0,
                                            "total": None, "reject": None,
                                            "total_count": 0, "reject_count": 0})

                def state(raw):
                    if d["state"] == raw:
                        return
                    if d["state"] is not None:
                        add(d, RAW_CATEGORY[d["state"]], d["since"], t)
                    if (RAW_CATEGORY[raw] == "down_s" and start <= t < end and
                            (d["state"] is None or RAW_CATEGORY[d["state"]] != "down_s")):
                        d["failures"] += 1
                    d["state"], d["since"] = raw, t

                def count(key, v):
                    if d[key] is not None and start <= t < end:
                        d[key + "_count"] += v - d[key]
                    d[key] = v

                if kind == "state":
                    state(payload)
                elif kind == "count":
                    count("total", int(payload))
                elif kind == "reject":
                    count("reject", int(payload))
                else:
                    j = json.loads(payload)
                    assert j["ts"] == t, (j, t)
                    state(j["state"])
                    count("total", j["parts"])
                    count("reject", j["scrap"])
        for m in e.truth["machines"]:
            d = ms[m["machine"]]
            add(d, RAW_CATEGORY[d["state"]], d["since"], end)
            add(d, "unknown_s", start, d["first"])
            for k in ("run_s", "idle_s", "down_s", "planned_s", "unknown_s"):
                assert d.get(k, 0) == round(m[k] * 1000), (m["machine"], k, d.get(k), m[k])
            assert d["failures"] == m["failures"], m["machine"]
            assert d["total_count"] == m["total_count"], m["machine"]
            assert d["reject_count"] == m["reject_count"], m["machine"]

    def test_simulator_is_deterministic(self):
        e = E2EShift()
        again = os.path.join(e.dir, "again.rec")
        subprocess.run([SIM, "record"] + SIM_ARGS + ["--out", again],
                       check=True, capture_output=True, timeout=120)
        with open(e.rec, "rb") as a, open(again, "rb") as b:
            assert a.read() == b.read(), "the same seed gave a different recording"

    def test_line_parser(self):
        m, t, f, ts = parse_line(
            'machine_state,machine=a\\ b,category=down state="FA\\"ULT",reason="x y",'
            'prev_duration_s=1.5 1700000000000')
        assert (m, t, ts) == ("machine_state", {"machine": "a b", "category": "down"},
                              1700000000000)
        assert f == {"state": 'FA"ULT', "reason": "x y", "prev_duration_s": 1.5}
        _, _, f, _ = parse_line("machine_kpi,machine=m final=true,failures=3i 1")
        assert f == {"final": True, "failures": 3}


if __name__ == "__main__":
    harness.TestCase.main(Tests)
