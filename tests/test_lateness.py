"""Issue 14's differential test: late and reordered events land at their own time.

Random streams (from a seed) of several machines with state changes, cumulative counters and
cycles over 34 hours of event time (shifts and days), delivered shuffled within max_lateness,
and for one machine some events beyond it. The reference is `oeed replay` of the same events
sorted by event time (received at their own times). Every period final of the shuffled
stream, fed through the live path (real mosquitto) and through `oeed replay` of its
recording, equals the reference for every machine without a beyond-lateness event; those
events are counted `late`, and `oeed replay --by-event-time` of the recording gives the
reference's finals for every machine.

OEED_LATENESS_SEED picks another stream (default 14). Known open, seen with seeds 1 to 16:
seeds 1 and 12 give finals of a machine without any beyond-lateness event that differ from the
reference (160 to 240 s of a day and a shift accounted in another category), seed 5 gives
--by-event-time a cycle too few in one shift of the beyond-lateness machine; the other 13
pass. Failures of the same kinds showed on the engine before the in-order fast paths
(b724fec^) with an earlier version of this generator (seeds 2 and 3)."""
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Mosquitto, Oeed, TestCase, parse_line, run_oeed, wait_until  # noqa: E402
from test_live import rec_line, wait_online  # noqa: E402

SEED = int(os.environ.get("OEED_LATENESS_SEED", "14"))
LATENESS_MS = 600000  # max_lateness 10m
START_MS = 1709528400000  # 2024-03-04T05:00:00Z: an hour before the early shift
SPAN_MS = 34 * 3600000
MACHINES = ["m0", "m1", "m2", "m3"]
BEYOND = "m3"  # the one machine with events beyond max_lateness
STATES = ["RUN", "STOP", "WAIT", "BRK"]


def config(url, out, record=True, interval="1s"):
    return f"""site: lateness
state_dir: "@STATE_DIR@"
record: {"true" if record else "false"}
log_level: info
mqtt:
  url: {url}
  client_id: lat
  qos: 1
  clean_session: false
  status_topic: st/lat
sources:
  - topic: "d/{{machine}}"
    decoder: json
    counts: cumulative
    fields: {{ state: "$.s", total: "$.n", reject: "$.r", cycle: "$.c", timestamp: "$.ts" }}
    map: {{ RUN: running, STOP: down/fault, BRK: planned/break, WAIT: idle/starved }}
machines:
  defaults: {{ ideal_cycle_time: 20s, stale_after: 0, microstop_below: 45s,
              max_lateness: 10m }}
  max: 20
report:
  interval: {interval}
  windows: [15m]
  periods: [shift, day]
  timezone: UTC
  shifts:
    - {{ name: early, start: "06:00" }}
    - {{ name: late, start: "14:00" }}
    - {{ name: night, start: "22:00" }}
outputs:
  - type: file
    path: {out}
"""


def events(rng):
    """[(ts, machine, kind, payload dict)] of every machine, in no particular order. Each
    machine's event times are distinct (two changes in one millisecond are moved apart in
    receive order, which no sorting can reproduce)."""
    out = []
    for m in MACHINES:
        used = set()

        def at(t):
            while t in used:
                t += 1
            used.add(t)
            return t
        t, state = START_MS + rng.randrange(1000, 60000), None
        while t < START_MS + SPAN_MS:
            s = rng.choice([x for x in STATES if x != state] if rng.random() < 0.85 else STATES)
            out.append((at(t), m, "state", {"s": s}))
            state = s
            # at least 31 s apart: the history holds one state event per 30 s of
            # max_lateness (docs/kpi.md "Time"); some stops shorter than microstop_below
            t += rng.choice([rng.randrange(31000, 60000), rng.randrange(60000, 900000)])
        t, n, r = START_MS + rng.randrange(1000, 60000), rng.randrange(0, 10000), 0
        while t < START_MS + SPAN_MS:
            out.append((at(t), m, "count", {"n": n, "r": r}))
            n += rng.randrange(0, 12)
            r += rng.randrange(0, 2)
            t += rng.randrange(200000, 280000)  # < 8 samples in max_lateness and more
        t = START_MS + rng.randrange(1000, 60000)
        while t < START_MS + SPAN_MS:
            out.append((at(t), m, "cycle", {"c": round(rng.uniform(8, 60), 3)}))
            t += rng.randrange(30000, 240000)
    return out


def deliver(evs, rng):
    """The delivery order: most events on time, 30 % held back by up to half of
    max_lateness, and on BEYOND a few by 1.3 to 1.8 times max_lateness (less than 8 counter
    samples, so that the recording still holds what --by-event-time needs). Returns the
    ordered events and the number of values beyond."""
    keyed = []
    for ev in sorted(evs):
        ts, m = ev[0], ev[1]
        if m == BEYOND and rng.random() < 0.01 and START_MS + 3600000 < ts:
            delay = int(LATENESS_MS * rng.uniform(1.3, 1.8))
        elif rng.random() < 0.3:
            delay = rng.randrange(0, LATENESS_MS // 2)
        else:
            delay = 0
        keyed.append((ts + delay, ts, ev))
    keyed.sort(key=lambda k: (k[0], k[1]))
    order = [k[2] for k in keyed]
    # what counts is how far behind its machine's clock (the latest event time delivered
    # before it) each event comes: none near the bound, where a few milliseconds of wall
    # time in the live run could tip it
    latest, beyond = {}, 0
    for ts, m, kind, _ in order:
        behind = latest.get(m, ts) - ts
        assert abs(behind - LATENESS_MS) > 10000, f"{m} at {ts}: {behind} ms behind"
        if behind > LATENESS_MS:
            assert m == BEYOND, (m, ts, behind)
            beyond += 2 if kind == "count" else 1  # `late` counts values: total and reject
        latest[m] = max(latest.get(m, ts), ts)
    return order, beyond


def topic(ev):
    return f"d/{ev[1]}"


def message(ev):
    return json.dumps(dict(ev[3], ts=ev[0]))


def finals(lines):
    """{(machine, window, start): fields} of the final machine_kpi records."""
    out = {}
    for line in lines:
        meas, tags, fields, ts = parse_line(line)
        if meas == "machine_kpi" and fields.get("final") is True:
            key = (tags["machine"], tags["window"], fields["window_start"])
            assert key not in out, f"two finals for {key}"
            out[key] = (ts, fields)
    return out


def replay(cfg, recs, *extra):
    r = run_oeed(["replay", "-c", cfg] + list(extra) + list(recs), timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    m = re.search(r"(\d+) late, (\d+) reordered", r.stderr.decode())
    assert m, r.stderr.decode()
    return r.stdout.decode().splitlines(), int(m.group(1)), int(m.group(2))


def differences(got, want, machines):
    """Where got's finals of `machines` differ from want's (a list, empty when equal)."""
    diff = []
    for key, (ts, f) in sorted(got.items()):
        if key[0] not in machines:
            continue
        if key not in want:
            diff.append(f"{key}: not in the reference")
        elif want[key] != (ts, f):
            w = want[key][1]
            fs = {k: (f.get(k), w.get(k)) for k in set(f) | set(w) if f.get(k) != w.get(k)}
            diff.append(f"{key}: {fs}")
    return diff


class LatenessTests(TestCase):
    def prepare(self):
        rng = random.Random(SEED)
        self.evs = events(rng)
        self.order, self.beyond = deliver(self.evs, rng)
        self.dir = tempfile.mkdtemp(prefix="oeed-lateness-")
        self.cfg = os.path.join(self.dir, "replay.yaml")
        with open(self.cfg, "w") as f:
            # a tick an hour: the reference's recording spans 34 hours of receive time
            f.write(config("tcp://127.0.0.1:1", "/dev/null", record=False, interval="1h")
                    .replace("@STATE_DIR@", os.path.join(self.dir, "state")))
        # the reference: every event received at its own time, in event-time order
        self.sorted_rec = os.path.join(self.dir, "sorted.rec")
        with open(self.sorted_rec, "w") as f:
            for ev in sorted(self.evs):
                f.write(rec_line(ev[0] * 1000000, topic(ev), message(ev)))
        ref, late, reordered = replay(self.cfg, [self.sorted_rec])
        assert late == 0 and reordered == 0, (late, reordered)
        self.ref = finals(ref)
        n_ref = {m: sum(1 for k in self.ref if k[0] == m) for m in MACHINES}
        # 34 h from 05:00 to 15:00 next day: the night shift's end, 4 shifts and 4 March are
        # final (5 March and its late shift are still open at the end)
        assert all(n == 6 for n in n_ref.values()), n_ref
        assert self.beyond >= 3, self.beyond
        self.strict = [m for m in MACHINES if m != BEYOND]

    def shuffled_rec(self, spread_ms):
        """The shuffled stream as a recording, received spread_ms apart from now on."""
        path = os.path.join(self.dir, "shuffled.rec")
        rx = int(time.time() * 1000) * 1000000
        with open(path, "w") as f:
            for ev in self.order:
                f.write(rec_line(rx, topic(ev), message(ev)))
                rx += spread_ms * 1000000
        return path

    def check(self, got, late, what):
        diff = differences(got, self.ref, self.strict)
        assert not diff, f"{what}: {len(diff)} finals differ:\n" + "\n".join(diff[:10])
        # every final of a strict machine whose end is max_lateness behind its last event
        for m in self.strict:
            last = max(ev[0] for ev in self.evs if ev[1] == m)
            want = {k for k, (ts, f) in self.ref.items()
                    if k[0] == m and ts + LATENESS_MS < last}
            have = {k for k in got if k[0] == m}
            assert want <= have, f"{what}: {m} misses finals {sorted(want - have)}"
        assert late == self.beyond, f"{what}: late={late}, {self.beyond} events beyond"

    def test_a_replay_of_the_shuffled_stream(self):
        self.prepare()
        try:
            self.replay_of_the_shuffled_stream()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def test_b_live_through_mosquitto(self):
        self.prepare()
        try:
            self.live_through_mosquitto()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def replay_of_the_shuffled_stream(self):
        rec = self.shuffled_rec(1)
        got, late, reordered = replay(self.cfg, [rec])
        assert reordered > len(self.evs) // 10, reordered
        self.check(finals(got), late, "replay")
        # the beyond-lateness machine differs somewhere (else the test shows nothing) ...
        beyond = differences(finals(got), self.ref, [BEYOND])
        assert beyond, "no final of the machine with late events differs"
        # ... and --by-event-time of the same recording gives the reference for every one
        got_et, late_et, _ = replay(self.cfg, [rec], "--by-event-time")
        assert late_et == 0, late_et
        diff = differences(finals(got_et), self.ref, MACHINES)
        assert not diff, "--by-event-time:\n" + "\n".join(diff[:10])
        assert set(finals(got_et)) == set(self.ref)

    def live_through_mosquitto(self):
        with Mosquitto() as mq:
            d = Oeed("")
            out = os.path.join(d.dir, "out.lp")
            d.config_text = config(mq.url, out).replace(
                "@STATE_DIR@", os.path.join(d.dir, "state"))
            with d:
                wait_online(mq.port, "st/lat")
                # one connection per machine keeps each machine's delivery order (QoS 1);
                # machines are independent, so their interleaving does not matter
                for m in MACHINES:
                    mq.publish_lines(f"d/{m}", [message(ev) for ev in self.order
                                                if ev[1] == m])
                n = len(self.evs)

                def fed():
                    with open(out) as f:
                        selfm = [parse_line(x)[2] for x in f if x.startswith("oeed,")]
                    return selfm and selfm[-1]["messages"] >= n
                wait_until(fed, 60, f"{n} messages through the daemon")
                time.sleep(1.5)
                d.stop()
                with open(out) as f:
                    live = f.read().splitlines()
                selfm = [parse_line(x)[2] for x in live if x.startswith("oeed,")][-1]
                rec = os.path.join(d.dir, "state", "recordings")
                got, late, _ = replay(d.config, [rec])
                got_et, late_et, _ = replay(d.config, [rec], "--by-event-time")
        assert selfm["messages"] == n and selfm["decode_errors"] == 0, selfm
        self.check(finals(live), selfm["late"], "live")
        # the live path equals the replay of its recording, final for final
        live_f, rep_f = finals(live), finals(got)
        assert {k: v for k, v in rep_f.items() if k in live_f} == live_f
        assert late == selfm["late"]
        assert late_et == 0, late_et
        diff = differences(finals(got_et), self.ref, MACHINES)
        assert not diff, "--by-event-time of the live recording:\n" + "\n".join(diff[:10])


if __name__ == "__main__":
    TestCase.main(LatenessTests)
