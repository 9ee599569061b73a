"""The daemon's state across crashes, restarts and reloads (issue 6), against a real mosquitto
and the freshly built oeed:

- SIGKILL in the middle of a shift, restart: the shift's final figures equal those of an
  uninterrupted run, except that the time from the crash to the next message is unknown; the
  messages received after the last checkpoint come back from the recording, those published
  while oeed was down from the broker's persistent session; none is counted twice or lost.
- A corrupt or truncated checkpoint is reported and skipped; an intact one is restored.
- SIGHUP with an added machine and a changed contract keeps every machine's figures.
- A config that fails validation on SIGHUP is rejected with its file:line:column error and the
  running config is kept.
- Time spent stopped (SIGTERM, restart 3 s later) is unknown, with reason "restart".

Messages are JSON with payload timestamps where the figures must be exact: a machine's clock
follows its payload timestamps (plus the wall time since the message was received), so
timestamps 10 minutes apart published within seconds give figures that do not depend on how
fast the test runs."""
import calendar
import json
import os
import random
import subprocess
import time

import harness
from harness import Mosquitto, Oeed, wait_until

STATUS = "oeed/status"

# ---- the line protocol oeed writes (interface.md) ----


parse_line = harness.parse_line  # the shared parser


def records(text, measurement, **want_tags):
    """[(tags, fields, ts)] of one measurement whose tags include want_tags, in output order."""
    out = []
    for line in text.splitlines():
        if not line.startswith(measurement + ","):
            continue
        meas, tags, fields, ts = parse_line(line)
        if meas == measurement and all(tags.get(k) == v for k, v in want_tags.items()):
            out.append((tags, fields, ts))
    return out


def messages_seen(text):
    """The `messages` self-metric of the last `oeed` line (0 when there is none yet)."""
    r = records(text, "oeed")
    return r[-1][1]["messages"] if r else 0


# ---- running things ----


def retained(mq, topic):
    r = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(mq.port), "-t", topic,
                        "-C", "1", "-W", "2"], capture_output=True, timeout=10)
    return r.stdout.decode().strip()


def wait_status(mq, d, want, timeout=20):
    """oeed publishes "online" (retained) after subscribing on the same connection, so
    "online" means its subscriptions are in place; "offline" is its last will."""
    wait_until(lambda: retained(mq, STATUS) == want, timeout,
               f"'{want}' on {STATUS} (oeed log: {d.logtext()[-2000:]})")


def out_since(d, offset):
    return d.stdout()[offset:]


def ms(y, mo, day, h, mi):
    return calendar.timegm((y, mo, day, h, mi, 0)) * 1000


def shifts_around_now():
    """Two shifts whose boundaries are far from now: one began an hour ago, the next starts in
    three hours, so nothing in a test crosses a shift end."""
    now_min = int(time.time() // 60)
    a = (now_min - 60) % 1440
    b = (a + 240) % 1440
    return (f'    - {{ name: first, start: "{a // 60:02d}:{a % 60:02d}" }}\n'
            f'    - {{ name: second, start: "{b // 60:02d}:{b % 60:02d}" }}\n')


def wall_ms():
    return int(time.time() * 1000)


# ---- 1. SIGKILL in the middle of a shift ----

BASE = ms(2024, 3, 4, 5, 50)       # first message: 10 minutes before the shift
STEP = 600_000                     # payload time between messages of a machine
N = 51                             # 05:50 .. 14:10: the last message closes the shift
SHIFT_S = ms(2024, 3, 4, 6, 0)
SHIFT_E = ms(2024, 3, 4, 14, 0)
K1 = 20   # messages 0..K1 before the checkpoint
K2 = 23   # K1+1..K2: after the checkpoint, before the crash (the recording's tail)
# K2+1..N-1: published while oeed is down (the broker's persistent session)
CAT = {"RUN": "run_s", "IDLE": "idle_s", "FAULT": "down_s", "BREAK": "planned_s"}
TIMES = ("run_s", "idle_s", "down_s", "planned_s", "unknown_s")
COUNTS = ("failures", "total_count", "good_count", "reject_count")
# m1, m2 send increments; m3 a cumulative counter (its first value after unknown is a baseline)
MACHINES = {"m1": "inc", "m2": "inc", "m3": "cum"}
# the states around the crash (message K2, message K2+1)
AROUND_CRASH = {"m1": ("RUN", "RUN"), "m2": ("IDLE", "FAULT"), "m3": ("FAULT", "RUN")}

# checkpoint_interval 5s: long enough that the tail (K1+1..K2) is processed and oeed killed
# before the next checkpoint, so the restart must take the tail from the recording.
CRASH_CONFIG = """site: svc
state_dir: @STATE_DIR@
log_level: info
checkpoint_interval: 5s
record: true
mqtt:
  url: tcp://127.0.0.1:{port}
  client_id: oeed-service-test
  qos: 1
  clean_session: false
  status_topic: oeed/status
sources:
  - topic: "plant/inc/{{machine}}"
    decoder: json
    counts: increments
    fields: {{ state: "$.state", total: "$.parts", reject: "$.scrap", timestamp: "$.ts" }}
    map: {{ RUN: running, IDLE: idle/starved, FAULT: down/fault, BREAK: planned/break }}
  - topic: "plant/cum/{{machine}}"
    decoder: json
    counts: cumulative
    fields: {{ state: "$.state", total: "$.parts", reject: "$.scrap", timestamp: "$.ts" }}
    map: {{ RUN: running, IDLE: idle/starved, FAULT: down/fault, BREAK: planned/break }}
machines:
  defaults: {{ ideal_cycle_time: 1s, stale_after: 0 }}
report:
  interval: 500ms
  windows: []
  periods: [shift]
  timezone: UTC
  shifts:
    - {{ name: early, start: "06:00" }}
    - {{ name: late, start: "14:00" }}
    - {{ name: night, start: "22:00" }}
outputs:
  - type: file
    path: "-"
"""


def scenario():
    """Per machine: [(ts, state, parts, scrap)] for messages 0..N-1, the same every run."""
    rnd = random.Random(20240304)
    seq = {}
    for m in MACHINES:
        msgs = []
        for k in range(N):
            s = rnd.choice(["RUN", "RUN", "RUN", "IDLE", "FAULT", "BREAK"])
            if k in (K2, K2 + 1):
                s = AROUND_CRASH[m][k - K2]
            parts = rnd.randint(200, 600) if s == "RUN" else 0
            scrap = rnd.randint(0, 9) if s == "RUN" else 0
            msgs.append((BASE + k * STEP, s, parts, scrap))
        seq[m] = msgs
    return seq


def payloads(m, msgs, ks):
    """JSON payloads of messages ks; a cumulative machine sends running totals."""
    out = []
    tot = rej = 0
    for k, (t, s, p, r) in enumerate(msgs):
        tot += p
        rej += r
        if k in ks:
            if MACHINES[m] == "cum":
                out.append(json.dumps({"ts": t, "state": s, "parts": 100000 + tot,
                                       "scrap": 500 + rej}))
            else:
                out.append(json.dumps({"ts": t, "state": s, "parts": p, "scrap": r}))
    return out


def publish(mq, seq, ks):
    for m, msgs in seq.items():
        mq.publish_lines(f"plant/{MACHINES[m]}/{m}", payloads(m, msgs, ks))


def expected_shift(m, msgs):
    """The early shift's figures by hand: each state holds until the next message; a count
    belongs to the shift containing its timestamp; entering FAULT is a failure."""
    e = {k: 0.0 for k in TIMES}
    e.update({k: 0 for k in COUNTS})
    for k, (t, s, p, r) in enumerate(msgs):
        if k + 1 < len(msgs):
            e[CAT[s]] += max(0, min(msgs[k + 1][0], SHIFT_E) - max(t, SHIFT_S)) / 1000
        if SHIFT_S <= t < SHIFT_E:
            if s == "FAULT" and (k == 0 or msgs[k - 1][1] != "FAULT"):
                e["failures"] += 1
            if not (MACHINES[m] == "cum" and k == 0):  # a counter's first value: baseline
                e["total_count"] += p
                e["reject_count"] += r
    e["unknown_s"] = (SHIFT_E - SHIFT_S) / 1000 - sum(e[k] for k in TIMES if k != "unknown_s")
    e["good_count"] = e["total_count"] - e["reject_count"]
    return e


def final_shifts(text):
    out = {}
    for tags, f, ts in records(text, "machine_kpi", window="shift"):
        if f["final"] is True and f["window_start"] == SHIFT_S:
            assert tags["machine"] not in out, f"two final shift records for {tags['machine']}"
            assert ts == SHIFT_E, (tags, ts)
            out[tags["machine"]] = f
    return out


def compare(got, want, what):
    errors = []
    for m in sorted(want):
        for k in TIMES:
            if abs(got[m].get(k, 0.0) - want[m][k]) > 0.0015:
                errors.append(f"{what} {m}: {k} = {got[m].get(k)}, expected {want[m][k]}")
        for k in COUNTS:
            if got[m].get(k, 0) != want[m][k]:
                errors.append(f"{what} {m}: {k} = {got[m].get(k)}, expected {want[m][k]}")
    assert not errors, "\n".join(errors)


def checkpoint_id(path):
    try:
        st = os.stat(path)
        return (st.st_ino, st.st_mtime_ns, st.st_size)
    except FileNotFoundError:
        return None


# ---- 2..5: live messages (event time = receive time) ----

LIVE_CONFIG = """site: {site}
state_dir: @STATE_DIR@
log_level: info
checkpoint_interval: 1s
mqtt:
  url: tcp://127.0.0.1:{port}
  client_id: oeed-live-test
  qos: 1
  clean_session: false
  status_topic: oeed/status
sources:
  - topic: "line/{{machine}}"
    decoder: json
    counts: increments
    fields: {{ state: "$.state", total: "$.parts" }}
    map: {{ RUN: running, IDLE: idle/starved, FAULT: down/fault }}
machines:
  defaults: {{ ideal_cycle_time: 1s, stale_after: 10m }}
  list:
    - {{ id: m1 }}
{extra_machines}report:
  interval: 500ms
  windows: []
  periods: [shift]
  timezone: UTC
  shifts:
{shifts}contracts:
  - {{ name: avail, machines: ["m*"], kpi: availability, period: shift, target: {target},
      minimum: 0.5 }}
outputs:
  - type: file
    path: "-"
"""


def live_config(port, shifts, site="svc", target=0.8, extra_machines=""):
    return LIVE_CONFIG.format(site=site, port=port, shifts=shifts, target=target,
                              extra_machines=extra_machines)


def send(mq, machine, state, parts=0):
    mq.publish(f"line/{machine}", json.dumps({"state": state, "parts": parts}))


def wait_state(d, offset, machine, category, timeout=15):
    """Waits for a machine_state record after `offset`; returns (fields, ts)."""
    found = []

    def pred():
        r = records(out_since(d, offset), "machine_state", machine=machine, category=category)
        found[:] = r
        return bool(r)
    wait_until(pred, timeout, f"machine_state {machine} {category} (log: {d.logtext()[-1500:]})")
    return found[0][1], found[0][2]


def shift_records(d, offset, machine):
    return [(f, ts) for _, f, ts in records(out_since(d, offset), "machine_kpi", machine=machine,
                                            window="shift") if f["final"] is False]


def hup(d):
    d.proc.send_signal(1)  # SIGHUP


class Tests:
    def test_1_sigkill_mid_shift_equals_uninterrupted_run_but_the_gap(self):
        seq = scenario()
        # the crash falls inside the shift and the sequence exercises every category
        assert SHIFT_S < seq["m1"][K2 + 1][0] < SHIFT_E
        want_a = {m: expected_shift(m, msgs) for m, msgs in seq.items()}
        for k in ("run_s", "idle_s", "down_s", "planned_s"):
            assert sum(w[k] for w in want_a.values()) > 0, f"scenario has no {k}"

        # Run A: uninterrupted.
        with Mosquitto() as mq, Oeed(CRASH_CONFIG.format(port=mq.port)) as d:
            wait_status(mq, d, "online")
            publish(mq, seq, range(N))
            wait_until(lambda: len(final_shifts(d.stdout())) == 3, 30,
                       f"3 final shift records (log: {d.logtext()[-2000:]})")
            got_a = final_shifts(d.stdout())
        assert sorted(got_a) == sorted(MACHINES), got_a
        compare(got_a, want_a, "run A")

        # Run B: SIGKILL after K2, with K1+1..K2 only in the recording.
        with Mosquitto() as mq, Oeed(CRASH_CONFIG.format(port=mq.port)) as d:
            ckpt = os.path.join(d.dir, "state", "checkpoint")
            wait_status(mq, d, "online")
            publish(mq, seq, range(K1 + 1))
            wait_until(lambda: messages_seen(d.stdout()) >= 3 * (K1 + 1), 20,
                       "the first part processed")
            # a checkpoint written after that: it holds messages 0..K1
            before = checkpoint_id(ckpt)
            wait_until(lambda: checkpoint_id(ckpt) != before, 15, "a checkpoint")
            after_part1 = checkpoint_id(ckpt)
            publish(mq, seq, range(K1 + 1, K2 + 1))
            wait_until(lambda: messages_seen(d.stdout()) >= 3 * (K2 + 1), 20,
                       "the tail processed")
            d.kill()
            assert checkpoint_id(ckpt) == after_part1, (
                "a checkpoint was written after the tail: this run did not test the recording's "
                "tail (machine too slow for checkpoint_interval 5s?)")
            wait_status(mq, d, "offline")  # the last will: the broker saw the crash
            publish(mq, seq, range(K2 + 1, N))  # queued in the persistent session

            offset = len(d.stdout())
            d.start()
            wait_until(lambda: len(final_shifts(out_since(d, offset))) == 3, 30,
                       f"3 final shift records after the restart (log: {d.logtext()[-2000:]})")
            # every message exactly once: the tail from the recording, the rest from the broker
            n_after = 3 * (K2 - K1) + 3 * (N - 1 - K2)
            wait_until(lambda: messages_seen(out_since(d, offset)) >= n_after, 10,
                       f"{n_after} messages after the restart")
            time.sleep(1.5)
            text = out_since(d, offset)
            assert messages_seen(text) == n_after, (messages_seen(text), n_after)
            log = d.logtext()
            assert "checkpoint restored: 3 machines" in log, log[-3000:]
            tail = f"recording tail: {3 * (K2 - K1)} messages after the checkpoint replayed"
            assert tail in log, log[-3000:]
            got_b = final_shifts(d.stdout())
            gaps = {tags["machine"]: ts for tags, f, ts in
                    records(text, "machine_state", category="unknown") if f["reason"] == "restart"}
        assert sorted(gaps) == sorted(MACHINES), gaps

        want_b = {}
        for m, msgs in seq.items():
            t_k2, s_k2, _, _ = msgs[K2]
            t_next, s_next, p_next, r_next = msgs[K2 + 1]
            # unknown from the machine's latest time as restored (the last tail message, plus
            # at most the wall time until a report tick advanced it)
            assert t_k2 <= gaps[m] <= t_k2 + 5000, (m, gaps[m], t_k2)
            gap_s = (t_next - gaps[m]) / 1000
            w = dict(want_a[m])
            w[CAT[s_k2]] -= gap_s
            w["unknown_s"] += gap_s
            if s_k2 == "FAULT" and s_next == "FAULT":
                w["failures"] += 1  # down, unknown, down again: a new failure
            if MACHINES[m] == "cum":
                # the counter goes on across oeed's own restart (stale_after: 0, so a daemon
                # that stayed up would never have taken a new baseline): the parts of the first
                # message after it count (docs/kpi.md, "Counts"); it has some, so this checks it
                assert p_next > 0
            want_b[m] = w
        assert sorted(got_b) == sorted(MACHINES), got_b
        compare(got_b, want_b, "run B")
        # and the difference from run A is the gap and nothing else
        for m in MACHINES:
            assert abs((got_b[m]["unknown_s"] - got_a[m]["unknown_s"]) -
                       (seq[m][K2 + 1][0] - gaps[m]) / 1000) <= 0.0015, m

    def test_2_corrupt_checkpoint_is_reported_and_skipped(self):
        with Mosquitto() as mq, Oeed(live_config(mq.port, shifts_around_now())) as d:
            ckpt = os.path.join(d.dir, "state", "checkpoint")
            wait_status(mq, d, "online")
            send(mq, "m1", "RUN", 3)
            send(mq, "m2", "FAULT")
            wait_state(d, 0, "m1", "running")
            wait_state(d, 0, "m2", "down")
            d.stop()  # writes the checkpoint
            with open(ckpt, "rb") as f:
                good = f.read()
            # "OEEDCKPT", u32 version, u32 crc, u64 body length, body
            assert good[:8] == b"OEEDCKPT", good[:8]
            body_len = int.from_bytes(good[16:24], "little")
            assert len(good) == 24 + body_len, (len(good), body_len)

            flipped = bytearray(good)
            flipped[24 + body_len // 2] ^= 0x40
            cases = [("flipped byte", bytes(flipped), "checksum mismatch"),
                     ("truncated", good[:24 + body_len // 2], "truncated")]
            for what, data, message in cases:
                with open(ckpt, "wb") as f:
                    f.write(data)
                log_off, out_off = len(d.logtext()), len(d.stdout())
                d.start()
                wait_until(lambda: "started:" in d.logtext()[log_off:], 15,
                           f"start with a {what} checkpoint: {d.logtext()[log_off:]}")
                log = d.logtext()[log_off:]
                assert f"checkpoint {ckpt}: {message}" in log, (what, log)
                assert "skipped, starting afresh" in log, (what, log)
                assert "checkpoint restored" not in log, (what, log)
                wait_status(mq, d, "online")
                # it works: a message is processed ...
                send(mq, "m1", "IDLE")
                f, _ = wait_state(d, out_off, "m1", "idle")
                # ... by an engine that restored nothing: no restart gap, m1 had no state
                assert not records(out_since(d, out_off), "machine_state", category="unknown"), \
                    what
                assert "prev_duration_s" not in f, (what, f)
                d.stop()

            # the control: the same checkpoint intact is restored
            with open(ckpt, "wb") as f:
                f.write(good)
            log_off, out_off = len(d.logtext()), len(d.stdout())
            d.start()
            wait_until(lambda: "started:" in d.logtext()[log_off:], 15, "start")
            assert "checkpoint restored: 2 machines" in d.logtext()[log_off:], d.logtext()[log_off:]

            def restarted():
                return sorted(t["machine"] for t, f, _ in records(
                    out_since(d, out_off), "machine_state", category="unknown")
                    if f["reason"] == "restart")
            wait_until(lambda: restarted() == ["m1", "m2"], 10,
                       f"restart gaps of m1 and m2 (got {restarted()})")
            d.stop()

    def test_3_reload_adds_machine_changes_contract_keeps_figures(self):
        shifts = shifts_around_now()
        with Mosquitto() as mq, Oeed(live_config(mq.port, shifts)) as d:
            wait_status(mq, d, "online")
            send(mq, "m1", "RUN", 5)
            send(mq, "m2", "IDLE")
            wait_state(d, 0, "m2", "idle")
            wait_until(lambda: any(f["run_s"] >= 2 for f, _ in shift_records(d, 0, "m1")), 15,
                       "2 s of m1 running")
            log_off = len(d.logtext())
            with open(d.config, "w") as f:
                f.write(live_config(mq.port, shifts, target=0.7,
                                    extra_machines="    - { id: m9, ideal_cycle_time: 2s }\n")
                        .replace("@STATE_DIR@", os.path.join(d.dir, "state")))
            out_off = len(d.stdout())
            hup(d)
            wait_until(lambda: "reload: " in d.logtext()[log_off:] and
                       " applied" in d.logtext()[log_off:], 15,
                       f"reload applied: {d.logtext()[log_off:]}")
            log = d.logtext()[log_off:]
            assert "2 machines kept with all their figures" in log, log
            # neither the outputs nor the MQTT connection changed: neither is reopened
            assert "outputs reopened" not in log and "MQTT client restarted" not in log, log
            before = {m: [(f, ts) for _, f, ts in records(d.stdout()[:out_off], "machine_kpi",
                                                          machine=m, window="shift")]
                      for m in ("m1", "m2")}
            send(mq, "m1", "RUN", 7)
            send(mq, "m9", "RUN", 3)
            wait_state(d, out_off, "m9", "running")
            wait_until(lambda: any(f["total_count"] == 12 and f.get("run_s", 0) > 0
                                   for f, _ in shift_records(d, out_off, "m1")) and
                       shift_records(d, out_off, "m9"), 15, "m1 and m9 after the reload")
            time.sleep(1)
            text = d.stdout()
            contracts_before = records(text[:out_off], "contract", contract="avail")
            contracts_after = records(out_since(d, out_off), "contract", contract="avail")
            after = {m: shift_records(d, out_off, m) for m in ("m1", "m2", "m9")}

        # the last record before SIGHUP and the last one after
        (fb1, tb1), (fa1, ta1) = before["m1"][-1], after["m1"][-1]
        assert ta1 > tb1
        assert fa1["window_start"] == fb1["window_start"]
        # m1 runs throughout: run_s continues from where it was, to the millisecond
        assert abs(fa1["run_s"] - (fb1["run_s"] + (ta1 - tb1) / 1000)) <= 0.0015, (fb1, tb1,
                                                                                   fa1, ta1)
        assert fb1["total_count"] == 5 and fa1["total_count"] == 12, (fb1, fa1)
        assert abs(fa1["performance"] - 1.0 * 12 / fa1["run_s"]) <= 1e-6, fa1
        (fb2, tb2), (fa2, ta2) = before["m2"][-1], after["m2"][-1]
        assert abs(fa2["idle_s"] - (fb2["idle_s"] + (ta2 - tb2) / 1000)) <= 0.0015, (fb2, fa2)
        # the added machine with its own ideal cycle time
        fa9, _ = after["m9"][-1]
        assert fa9["total_count"] == 3, fa9
        assert abs(fa9["performance"] - 2.0 * 3 / fa9["run_s"]) <= 1e-6 * fa9["performance"], fa9
        # the contract: old target before, new target after, pooling all three machines
        assert contracts_before and all(f["target"] == 0.8 for _, f, _ in contracts_before)
        assert contracts_after and contracts_after[-1][1]["target"] == 0.7, contracts_after[-1]
        assert contracts_after[-1][1]["machines"] == 3, contracts_after[-1]

    def test_4_bad_config_on_reload_is_rejected_and_old_kept(self):
        shifts = shifts_around_now()
        with Mosquitto() as mq, Oeed(live_config(mq.port, shifts)) as d:
            wait_status(mq, d, "online")
            send(mq, "m1", "RUN")
            wait_state(d, 0, "m1", "running")
            with open(d.config) as f:
                lines = f.read().splitlines(True)
            assert lines[0] == "site: svc\n" and lines[1].startswith("state_dir: ")
            mqtt_at = lines.index("mqtt:\n")  # 0-based: "mqtt:" is on line mqtt_at + 1
            # an unknown key as the first entry of mqtt: line mqtt_at + 2, column 3
            unknown = "".join(lines[:mqtt_at + 1] + ["  qso: 1\n"] + lines[mqtt_at + 1:])
            # a flow sequence left open on line 1 (which also changes the site): libyaml
            # stops at the ':' of the next key, "state_dir:" on line 2, column 10
            syntax = "".join(["site: [changed\n"] + lines[1:])
            cases = [("unknown key", unknown,
                      f"oeed.yaml:{mqtt_at + 2}:3: mqtt: unknown key 'qso'"),
                     ("syntax error", syntax,
                      "oeed.yaml:2:10: did not find expected ',' or ']' while parsing a flow "
                      "sequence at line 1")]
            for i, (what, text, error) in enumerate(cases):
                with open(d.config, "w") as f:
                    f.write(text)
                log_off, out_off = len(d.logtext()), len(d.stdout())
                hup(d)
                wait_until(lambda: "rejected" in d.logtext()[log_off:], 15,
                           f"{what} rejected: {d.logtext()[log_off:]}")
                log = d.logtext()[log_off:]
                assert os.path.join(d.dir, error) in log, (what, error, log)
                assert "the running config is kept" in log, log
                assert d.proc.poll() is None, f"oeed exited after a {what} on reload"
                # still processing, with the old config (its site tag)
                state = ("IDLE", "idle") if i % 2 == 0 else ("RUN", "running")
                send(mq, "m1", state[0])
                wait_state(d, out_off, "m1", state[1])
                for tags, _, _ in records(out_since(d, out_off), "machine_state"):
                    assert tags["site"] == "svc", tags
            # a good config after the bad ones is applied
            with open(d.config, "w") as f:
                f.write(live_config(mq.port, shifts, site="svc2").replace(
                    "@STATE_DIR@", os.path.join(d.dir, "state")))
            log_off, out_off = len(d.logtext()), len(d.stdout())
            hup(d)
            wait_until(lambda: " applied" in d.logtext()[log_off:], 15, "the good reload")
            send(mq, "m1", "FAULT")
            wait_state(d, out_off, "m1", "down")
            assert records(out_since(d, out_off), "machine_state", machine="m1", category="down",
                           site="svc2")

    def test_5_time_stopped_counts_as_unknown(self):
        with Mosquitto() as mq, Oeed(live_config(mq.port, shifts_around_now())) as d:
            wait_status(mq, d, "online")
            sent_at = wall_ms()
            send(mq, "m1", "RUN")
            _, t_run = wait_state(d, 0, "m1", "running")
            assert sent_at - 50 <= t_run <= wall_ms(), (sent_at, t_run)
            wait_until(lambda: any(f["run_s"] >= 1.5 for f, _ in shift_records(d, 0, "m1")), 15,
                       "1.5 s of m1 running")
            stop_at = wall_ms()
            d.stop()
            stopped_at = wall_ms()
            f0, t0 = shift_records(d, 0, "m1")[-1]  # the last record before the stop
            time.sleep(3)
            out_off = len(d.stdout())
            started_at = wall_ms()
            d.start()
            f_gap, t_gap = wait_state(d, out_off, "m1", "unknown")
            wait_until(lambda: any(ts >= started_at + 1000 for _, ts in
                                   shift_records(d, out_off, "m1")), 15, "records after restart")
            observed_at = wall_ms()
            f1, t1 = shift_records(d, out_off, "m1")[-1]
            d.stop()
        assert f_gap["reason"] == "restart" and f_gap["state"] == "", f_gap
        # at the machine's latest time: where its accounting stood when oeed stopped (at least
        # the last report tick, which the last record before the stop shows)
        assert t_run <= t0 <= t_gap <= stopped_at, (t_run, t0, t_gap, stopped_at)
        assert abs(f_gap["prev_duration_s"] - (t_gap - t_run) / 1000) <= 0.0015, f_gap
        # the shift goes on: running until the gap, unknown since
        assert f1["window_start"] == f0["window_start"]
        assert abs(f1["run_s"] - (f0["run_s"] + (t_gap - t0) / 1000)) <= 0.0015, (f0, f1)
        grown = f1["unknown_s"] - f0["unknown_s"]
        assert abs(grown - (t1 - t_gap) / 1000) <= 0.0015, (grown, t1, t_gap)
        # about the downtime: at least the 3 s stopped, at most until the record was read
        assert started_at - stop_at >= 3000
        assert (started_at - stop_at) / 1000 - 0.6 <= grown <= (observed_at - t_gap) / 1000, \
            (grown, stop_at, started_at, observed_at)


    def test_6_reload_unsubscribes_dropped_topics(self):
        """A persistent session keeps every filter it ever subscribed to: a source removed by
        SIGHUP must be unsubscribed, or messages on it keep arriving after the next start
        (the Telegraf pitfall). Control: the same source removed by a restart instead."""
        extra = """  - topic: "extra/{machine}"
    decoder: text
    signal: state
"""
        def unmatched_after_restart(by_reload):
            with Mosquitto() as mq:
                base = live_config(mq.port, shifts_around_now())
                with_extra = base.replace("machines:\n", extra + "machines:\n", 1)
                d = Oeed(with_extra)
                with d:
                    wait_status(mq, d, "online")
                    # Oeed.start() writes config_text to the config file
                    d.config_text = base.replace("@STATE_DIR@", os.path.join(d.dir, "state"))
                    if by_reload:
                        with open(d.config, "w") as f:
                            f.write(d.config_text)
                        hup(d)
                        wait_until(lambda: "applied" in d.logtext(), 15, "reload applied")
                    d.stop()
                    mq.publish("extra/m5", "RUN")  # queued only if still subscribed
                    off = len(d.stdout())
                    d.start()
                    wait_status(mq, d, "online")
                    send(mq, "m1", "RUN")
                    wait_state(d, off, "m1", "running")
                    wait_until(lambda: records(out_since(d, off), "oeed"), 15, "self-metrics")
                    time.sleep(1)
                    stats = records(out_since(d, off), "oeed")[-1][1]
                    d.stop()
                    return stats["unmatched"], stats["messages"]
        got = unmatched_after_restart(by_reload=False)
        assert got == (1, 2), got
        assert unmatched_after_restart(by_reload=True) == (0, 1)


if __name__ == "__main__":
    harness.TestCase.main(Tests)
