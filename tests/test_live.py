"""Live ingest (issue 3) end to end: the daemon subscribed to a real mosquitto, decoding text,
JSON and hand-encoded Sparkplug B payloads into machine_state / machine_kpi lines; broker
restarts (SIGTERM, and SIGKILL with mosquitto saving on every change) and daemon restarts
with a persistent session, losing and doubling nothing; TLS with client certificates and a
wrong password; live output equal to `oeed replay` of the live recording with oeed-sim
publishing; bad input of every kind counted, logged with a rate limit, and survived."""
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (BUILD, SOURCE, Mosquitto, Oeed, TestCase, free_port,  # noqa: E402
                     run_oeed, wait_until)

SIM = os.path.join(BUILD, "sim", "oeed-sim")

# ---- a tiny protobuf encoder for Sparkplug B (field numbers: notes/protocols.md) ----


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_varint(field, n):
    return varint(field << 3) + varint(n)


def pb_bytes(field, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(field << 3 | 2) + varint(len(data)) + data


# Sparkplug DataType codes
INT32, INT64, UINT64, STRING = 3, 4, 8, 12


def metric(name=None, alias=None, datatype=None, value=None, ts=None):
    m = b""
    if name is not None:
        m += pb_bytes(1, name)
    if alias is not None:
        m += pb_varint(2, alias)
    if ts is not None:
        m += pb_varint(3, ts)
    if datatype is not None:
        m += pb_varint(4, datatype)
    if isinstance(value, str):
        m += pb_bytes(15, value)               # string_value
    elif datatype in (INT64, UINT64):
        m += pb_varint(11, value & (2**64 - 1))  # long_value
    elif value is not None:
        m += pb_varint(10, value & (2**32 - 1))  # int_value
    return m


def payload(metrics, ts=None, seq=None):
    p = b""
    if ts is not None:
        p += pb_varint(1, ts)
    for m in metrics:
        p += pb_bytes(2, m)
    if seq is not None:
        p += pb_varint(3, seq)
    return p


# ---- line protocol, read back ----

parse_line = harness.parse_line  # the shared parser


class Out:
    """The daemon's file output."""

    def __init__(self, path):
        self.path = path

    def lines(self):
        try:
            with open(self.path, "rb") as f:
                return f.read().decode("utf-8", "replace").splitlines()
        except FileNotFoundError:
            return []

    def parsed(self, measurement=None):
        out = []
        for line in self.lines():
            p = parse_line(line)
            if measurement is None or p[0] == measurement:
                out.append(p)
        return out

    def states(self, machine):
        return [(t["category"], f["state"], f["reason"], f.get("prev_duration_s"), ts)
                for _, t, f, ts in self.parsed("machine_state") if t["machine"] == machine]

    def kpi(self, machine, window):
        """The last machine_kpi fields of machine and window (None if none yet)."""
        last = None
        for _, t, f, ts in self.parsed("machine_kpi"):
            if t["machine"] == machine and t["window"] == window:
                last = f
        return last

    def self_metrics(self):
        last = None
        for _, t, f, ts in self.parsed("oeed"):
            last = f
        return last


def now_ms():
    return int(time.time() * 1000)


def retained(port, topic, extra=()):
    r = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", topic,
                        "-C", "1", "-W", "2"] + list(extra), capture_output=True, timeout=10)
    return r.stdout.decode().strip()


def wait_online(port, topic, extra=(), timeout=30):
    """oeed publishes "online" (retained) after subscribing, on the same connection."""
    wait_until(lambda: retained(port, topic, extra) == "online", timeout, f"online on {topic}")


MAP = "{ RUN: running, STOP: down/fault, BRK: planned/break, WAIT: idle/starved }"


def config(url, client_id, out, extra_mqtt="", extra_top="", extra_sources="", interval="1s",
           clean="false", max_machines=100):
    return f"""site: live
state_dir: "@STATE_DIR@"
log_level: info
{extra_top}
mqtt:
  url: {url}
  client_id: {client_id}
  qos: 1
  clean_session: {clean}
  status_topic: st/{client_id}
  reconnect_min: 1s
  reconnect_max: 2s
{extra_mqtt}
sources:
  - topic: "f/{{line}}/{{machine}}/state"
    decoder: text
    signal: state
    map: {MAP}
  - topic: "f/{{line}}/{{machine}}/count"
    decoder: text
    signal: total
  - topic: "j/{{machine}}/data"
    decoder: json
    fields: {{ state: "$.state", total: "$.parts", reject: "$.scrap", timestamp: "$.ts" }}
    map: {MAP}
  - topic: "spBv1.0/plant1/#"
    decoder: sparkplug_b
    fields: {{ state: "Machine/State", total: "Counts/Total" }}
    map: {{ "1": running, "2": idle, "3": down/fault }}
{extra_sources}
machines:
  defaults: {{ ideal_cycle_time: 1s, stale_after: 0 }}
  max: {max_machines}
report:
  interval: {interval}
  windows: [1h]
  periods: [day]
  timezone: UTC
outputs:
  - type: file
    path: {out}
"""


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"line {i}:\n live:   {x}\n replay: {y}"
    return f"lengths {len(a)} and {len(b)}"


def rec_line(rx_ns, topic, data):
    """One line of oeed's recording format (interface.md)."""
    if isinstance(data, str):
        data = data.encode()
    return (f"{rx_ns} {urllib.parse.quote(topic, safe='/')} "
            f"{base64.b64encode(data).decode()}\n")


def replay(cfg_path, recs):
    r = run_oeed(["replay", "-c", cfg_path] + list(recs), timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode().splitlines(), r.stderr.decode()


class TwoPortBroker(Mosquitto):
    """mosquitto with a listener for the test's publishers (self.port) and one for oeed
    (self.oeed_port) that can be left out on a restart, so that messages published then
    are certainly queued in oeed's persistent session. save_always: mosquitto saves its
    store after every change (autosave_on_changes with an interval of 1), which makes a
    SIGKILL lose nothing that was stored."""

    def __init__(self, save_always=False):
        super().__init__()
        self.oeed_port = free_port()
        self.save_always = save_always
        self.oeed_listener = True

    def start(self):
        conf = f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
        if self.oeed_listener:
            conf += f"listener {self.oeed_port} 127.0.0.1\n"
        if self.save_always:
            conf += "autosave_interval 1\nautosave_on_changes true\n"
        self.extra_conf = conf
        if os.geteuid() == 0:
            # mosquitto started as root drops to its own user before saving its store
            # (mosquitto.db): without this every save fails with "Permission denied" and a
            # restart forgets all sessions.
            shutil.chown(self.dir, "mosquitto")
        super().start()

    @property
    def oeed_url(self):
        return f"tcp://127.0.0.1:{self.oeed_port}"


class Daemon(Oeed):
    """Oeed with its file output and a few waits."""

    def __init__(self, mq_url, client_id, **kw):
        self.client_id = client_id
        super().__init__("")
        self.out = Out(os.path.join(self.dir, "out.lp"))
        self.config_text = config(mq_url, client_id, self.out.path, **kw).replace(
            "@STATE_DIR@", os.path.join(self.dir, "state"))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_for(self, pred, what, timeout=20):
        def check():
            if not self.alive():
                raise AssertionError("oeed exited:\n" + self.logtext())
            return pred()
        wait_until(check, timeout, f"{what} (log: {self.logtext()[-1500:]})")

    def wait_messages(self, n, timeout=20):
        """Until the self-metric line says n messages (it comes every report tick)."""
        self.wait_for(lambda: (self.out.self_metrics() or {}).get("messages", -1) >= n,
                      f"{n} messages", timeout)
        m = self.out.self_metrics()["messages"]
        assert m == n, f"messages={m}, expected {n}"
        return self.out.self_metrics()


class LiveTests:
    def test_a_text_json_sparkplug(self):
        with Mosquitto() as mq, Daemon(mq.url, "pay") as d:
            wait_online(mq.port, "st/pay")
            # text: one topic per signal, the event time is the receive time
            mq.publish("f/l1/t1/state", "RUN")
            mq.publish("f/l1/t1/count", "1000")   # baseline
            mq.publish("f/l1/t1/count", "1007")
            mq.publish("f/l1/t1/state", "STOP")
            mq.publish("f/l1/t1/count", "1010")
            mq.publish("f/l1/t1/state", "BRK")
            # JSON with event times ten minutes ago
            t0 = now_ms() - 600000
            for doc in ({"state": "RUN", "parts": 500, "scrap": 5, "ts": t0},
                        {"parts": 520, "scrap": 6, "ts": t0 + 60000},
                        {"state": "STOP", "parts": 530, "scrap": 8, "ts": t0 + 120000},
                        {"state": "RUN", "ts": t0 + 300000}):
                mq.publish("j/j1/data", json.dumps(doc))
            # Sparkplug B: node birth (bdSeq), device birth with aliases, data by alias
            mq.publish("spBv1.0/plant1/NBIRTH/edge1", payload(
                [metric("bdSeq", datatype=UINT64, value=0)], ts=t0, seq=0))
            mq.publish("spBv1.0/plant1/DBIRTH/edge1/spm1", payload(
                [metric("Machine/State", 1, INT32, 1), metric("Counts/Total", 2, UINT64, 2000),
                 metric("Other/Thing", 3, STRING, "x")], ts=t0, seq=1))
            mq.publish("spBv1.0/plant1/DDATA/edge1/spm1", payload(
                [metric(alias=1, datatype=INT32, value=3), metric(alias=2, value=2004,
                                                                  datatype=UINT64)],
                ts=t0 + 60000, seq=2))
            mq.publish("spBv1.0/plant1/DDATA/edge1/spm1", payload(
                [metric(alias=1, datatype=INT32, value=1, ts=t0 + 90000),
                 metric(alias=2, value=2009, datatype=UINT64)],
                ts=t0 + 100000, seq=3))
            st = d.wait_messages(14)
            assert st["decode_errors"] == 0 and st["unmatched"] == 0, st
            assert st["unmapped"] == 0 and st["machines"] == 3, st

            t1 = d.out.states("t1")
            assert [s[:3] for s in t1] == [("running", "RUN", ""), ("down", "STOP", "fault"),
                                           ("planned", "BRK", "break")], t1
            j1 = d.out.states("j1")
            assert [s[:3] for s in j1] == [("running", "RUN", ""), ("down", "STOP", "fault"),
                                           ("running", "RUN", "")], j1
            assert [s[4] for s in j1] == [t0, t0 + 120000, t0 + 300000], j1
            assert [s[3] for s in j1[1:]] == [120.0, 180.0], j1
            sp = d.out.states("spm1")
            assert [s[:3] for s in sp] == [("running", "1", ""), ("down", "3", "fault"),
                                           ("running", "1", "")], sp
            assert [s[4] for s in sp] == [t0, t0 + 60000, t0 + 90000], sp
            assert [s[3] for s in sp[1:]] == [60.0, 30.0], sp
            assert all(t["site"] == "live" for _, t, _, _ in d.out.parsed("machine_state"))
            assert {t.get("line") for _, t, _, _ in d.out.parsed("machine_state")
                    if t["machine"] == "t1"} == {"l1"}

            # counts after the baseline, in the rolling hour
            def kpis_done():
                k = [d.out.kpi(m, "1h") for m in ("t1", "j1", "spm1")]
                return all(k) and k[0]["total_count"] == 10
            d.wait_for(kpis_done, "KPI lines with the last counts")
            k = d.out.kpi("t1", "1h")
            assert k["failures"] == 1, k
            k = d.out.kpi("j1", "1h")
            assert (k["total_count"], k["reject_count"], k["good_count"]) == (30, 3, 27), k
            assert k["down_s"] == 180 and k["failures"] == 1 and k["quality"] == 0.9, k
            k = d.out.kpi("spm1", "1h")
            assert k["total_count"] == 9 and k["down_s"] == 30 and k["failures"] == 1, k

            # a device death makes it unknown at the payload time
            mq.publish("spBv1.0/plant1/DDEATH/edge1/spm1", payload([], ts=t0 + 200000, seq=4))
            d.wait_for(lambda: len(d.out.states("spm1")) == 4, "the DDEATH")
            assert d.out.states("spm1")[3][0] == "unknown", d.out.states("spm1")
            assert d.out.states("spm1")[3][4] == t0 + 200000, d.out.states("spm1")
            assert d.alive()

    # ---- restarts with a persistent session: nothing lost, nothing counted twice ----

    STATES = ["RUN", "STOP", "RUN", "WAIT", "RUN", "BRK"]  # neighbours always differ

    def _batch(self, seq, base, machines, n):
        """n JSON messages per machine, event times 60 s apart from base: appended to seq as
        (topic, payload, ts); returns them grouped by topic for publishing."""
        by_topic = {}
        for m in machines:
            k = sum(1 for t, _, _ in seq if t == f"j/{m}/data")
            for i in range(k, k + n):
                ts = base + i * 60000
                doc = json.dumps({"state": self.STATES[i % len(self.STATES)],
                                  "parts": 100 + 3 * i, "ts": ts})
                seq.append((f"j/{m}/data", doc, ts))
                by_topic.setdefault(f"j/{m}/data", []).append(doc)
        return by_topic

    def _broker_restart(self, kill):
        machines = ["r1", "r2"]
        # 2 h ago, 60 s apart: the arrival gaps (seconds) never exceed the event gaps, so no
        # event is late and the event times alone decide every machine_state line
        base = now_ms() - 2 * 3600 * 1000
        seq = []
        with TwoPortBroker(save_always=kill) as mq:
            with Daemon(mq.oeed_url, "rs") as d:
                wait_online(mq.port, "st/rs")
                for topic, docs in self._batch(seq, base, machines, 8).items():
                    mq.publish_lines(topic, docs)
                d.wait_messages(len(seq))
                # down: oeed cannot reach the broker, which queues what comes in the meantime
                if kill:
                    time.sleep(1.0)
                    mq.kill()
                else:
                    mq.stop()
                d.wait_for(lambda: "lost; reconnecting" in d.logtext(), "the lost connection")
                mq.oeed_listener = False
                mq.start()
                for topic, docs in self._batch(seq, base, machines, 8).items():
                    mq.publish_lines(topic, docs)
                if kill:
                    time.sleep(1.0)  # the store is saved in the broker's next loop turn
                    mq.kill()
                else:
                    mq.stop()
                mq.oeed_listener = True
                mq.start()
                d.wait_messages(len(seq), timeout=30)
                # and after the reconnect, live again
                for topic, docs in self._batch(seq, base, machines, 4).items():
                    mq.publish_lines(topic, docs)
                st = d.wait_messages(len(seq))
                assert st["late"] == 0 and st["decode_errors"] == 0, st
                d.stop()
                live = sorted(x for x in d.out.lines() if x.startswith("machine_state"))
                assert d.logtext().count("mqtt: connected to") == 2, d.logtext()
                # the expected figures: replay of what was published, received at event time
                rec = os.path.join(d.dir, "expected.rec")
                with open(rec, "w") as f:
                    for topic, doc, ts in sorted(seq, key=lambda x: x[2]):
                        f.write(rec_line(ts * 1000000, topic, doc))
                want, _ = replay(d.config, [rec])
                want = sorted(x for x in want if x.startswith("machine_state"))
                assert len(want) == 40, want
                assert live == want, (live, want)

    def test_b1_broker_sigterm_restart(self):
        self._broker_restart(kill=False)

    def test_b2_broker_sigkill_restart_saving_every_change(self):
        self._broker_restart(kill=True)

    def test_b3_broker_sigkill_without_saving_loses_the_queue(self):
        """The control for b2: with mosquitto's default (save on exit only) a SIGKILL loses
        the session and what it queued; oeed resubscribes and goes on with new messages."""
        base = now_ms() - 2 * 3600 * 1000
        seq = []
        with TwoPortBroker() as mq, Daemon(mq.oeed_url, "rk") as d:
            wait_online(mq.port, "st/rk")
            mq.oeed_listener = False
            mq.stop()
            mq.start()
            for topic, docs in self._batch(seq, base, ["k1"], 5).items():
                mq.publish_lines(topic, docs)
            mq.kill()
            mq.oeed_listener = True
            mq.start()
            d.wait_for(lambda: d.logtext().count("mqtt: connected to") == 2, "the reconnect")
            lost = len(seq)
            for topic, docs in self._batch(seq, base, ["k1"], 2).items():
                n = [0]

                def probe():  # until the new subscription is in place
                    mq.publish(topic, docs[0])
                    n[0] += 1
                    time.sleep(0.3)
                    return (d.out.self_metrics() or {}).get("messages", 0) > 0
                d.wait_for(probe, "the resubscription")
                mq.publish(topic, docs[1])
            st = d.wait_messages(n[0] + 1)
            states = d.out.states("k1")
            assert [s[4] for s in states] == [base + lost * 60000, base + (lost + 1) * 60000], \
                states
            # repeated probes are late (the machine's clock moved on) and change nothing
            assert st["messages"] == n[0] + 1, st

    def test_c_daemon_stopped_and_started(self):
        """oeed stops (SIGTERM) while the machines go on publishing; the broker keeps the
        QoS 1 messages in oeed's session and delivers them after the restart, once each."""
        with Mosquitto() as mq, Daemon(mq.url, "cs") as d:
            pub = {"o1": [], "o2": []}
            counts = {"o1": 0, "o2": 0}

            def step(n):
                for m in ("o1", "o2"):
                    for _ in range(n):
                        k = len(pub[m])
                        state = self.STATES[k % len(self.STATES)]
                        pub[m].append(state)
                        counts[m] += 5 + k
                        mq.publish_lines(f"f/l1/{m}/state", [state])
                        mq.publish_lines(f"f/l1/{m}/count", [str(1000 + counts[m])])
            wait_online(mq.port, "st/cs")
            step(3)
            d.wait_messages(12)
            d.stop()
            assert retained(mq.port, "st/cs") == "offline"
            step(4)   # published while oeed is away: queued by the broker
            d.start()
            d.wait_messages(16)  # the new process counts from 0
            wait_online(mq.port, "st/cs")
            step(2)
            st = d.wait_messages(24)
            assert st["decode_errors"] == 0 and st["late"] == 0, st
            assert "checkpoint restored: 2 machines" in d.logtext(), d.logtext()
            for m in ("o1", "o2"):
                states = d.out.states(m)
                seen = [s[1] for s in states if s[0] != "unknown"]
                assert seen == pub[m], (m, seen, pub[m])
                # the restart makes each machine unknown until it reports again
                assert [s[0] for s in states].count("unknown") == 1, states
            # counts: the counters go on across oeed's own restart (stale_after: 0, so a
            # daemon that stayed up would not have taken a new baseline; docs/kpi.md "Counts"):
            # o1/o2 counters: 1005 (baseline),+6,+7 | stop | +8,+9,+10,+11 | +12,+13
            want = 6 + 7 + 8 + 9 + 10 + 11 + 12 + 13
            d.wait_for(lambda: all(d.out.kpi(m, "1h")["total_count"] == want
                                   for m in ("o1", "o2")),
                       f"total_count {want}")

    # ---- TLS and passwords ----

    def test_d1_tls_client_certificate(self):
        from test_mqtt import make_certs  # H6's openssl CA, server and client certificates
        d_certs = tempfile.mkdtemp(prefix="oeed-live-tls-")
        try:
            certs = make_certs(d_certs, "IP:127.0.0.1")
            port, tls_port = free_port(), free_port()
            conf = (f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                    f"listener {tls_port} 127.0.0.1\ncafile {certs['ca.crt']}\n"
                    f"certfile {certs['server.crt']}\nkeyfile {certs['server.key']}\n"
                    "require_certificate true\n")
            tls = (f"  tls: {{ ca_file: {certs['ca.crt']}, cert_file: {certs['client.crt']}, "
                   f"key_file: {certs['client.key']} }}\n")
            with Mosquitto(port=port, extra_conf=conf) as mq, \
                    Daemon(f"ssl://127.0.0.1:{tls_port}", "tls", extra_mqtt=tls) as d:
                wait_online(mq.port, "st/tls")
                assert f"connected to ssl://127.0.0.1:{tls_port}" in d.logtext()
                mq.publish("f/l1/s1/state", "RUN")
                mq.publish("f/l1/s1/state", "STOP")
                d.wait_messages(2)
                assert [s[:3] for s in d.out.states("s1")] == [
                    ("running", "RUN", ""), ("down", "STOP", "fault")]
                assert "New client connected" in mq.logtext() and " as tls " in mq.logtext()
        finally:
            shutil.rmtree(d_certs, ignore_errors=True)

    def test_d2_wrong_password_then_fixed(self):
        right, wrong = "Right-Pa55", "Wr0ng-s3cret"
        port = free_port()
        d_pw = tempfile.mkdtemp(prefix="oeed-live-pw-")
        try:
            pwfile = os.path.join(d_pw, "passwd")
            subprocess.run(["mosquitto_passwd", "-c", "-b", pwfile, "oeed", right], check=True,
                           timeout=30, capture_output=True)
            os.chmod(pwfile, 0o644)  # mosquitto reads it as its own user
            os.chmod(d_pw, 0o755)
            secret = os.path.join(d_pw, "client.secret")
            with open(secret, "w") as f:
                f.write(wrong + "\n")
            conf = (f"listener {port} 127.0.0.1\nallow_anonymous false\n"
                    f"password_file {pwfile}\n")
            mqtt = f"  username: oeed\n  password_file: {secret}\n"
            with Mosquitto(port=port, extra_conf=conf) as mq, \
                    Daemon(mq.url, "pw", extra_mqtt=mqtt) as d:
                want = f"oeed: error: mqtt: connect to {mq.url} failed: not authorized"
                d.wait_for(lambda: want in d.logtext(), "the connect error")
                # it keeps trying (mosquitto names no client id for a refused login)
                d.wait_for(lambda: mq.logtext().count("disconnected, not authorised") >= 3,
                           "three refused attempts")
                assert d.alive()
                assert wrong not in d.logtext() and right not in d.logtext()
                # fix the broker's user database: the next attempt gets in
                subprocess.run(["mosquitto_passwd", "-b", pwfile, "oeed", wrong], check=True,
                               timeout=30, capture_output=True)
                mq.proc.send_signal(signal.SIGHUP)
                wait_online(mq.port, "st/pw", ["-u", "oeed", "-P", wrong])
                subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1",
                                "-t", "f/l1/p1/state", "-m", "RUN", "-u", "oeed", "-P", wrong],
                               check=True, timeout=10)
                d.wait_messages(1)
                assert [s[:3] for s in d.out.states("p1")] == [("running", "RUN", "")]
        finally:
            shutil.rmtree(d_pw, ignore_errors=True)

    # ---- live equals replay of the live recording ----

    def live_and_replay(self, publish, mqtt_extra=""):
        """demo.yaml with recording on, report every 1 s; publish(mq) feeds it; then the live
        file output and `oeed replay` of the recording, both cut to what both can know, and
        the last self-metrics line."""
        with open(os.path.join(SOURCE, "config", "demo.yaml")) as f:
            demo = f.read()
        with Mosquitto() as mq:
            cfg = (demo.replace("state_dir: /tmp/oeed-demo", 'state_dir: "@STATE_DIR@"\nrecord: true')
                   .replace("url: tcp://127.0.0.1:1883", f"url: {mq.url}")
                   .replace("clean_session: true",
                            "clean_session: false\n  status_topic: st/sim" + mqtt_extra)
                   .replace("interval: 10s", "interval: 1s"))
            d = Oeed(cfg)
            out = Out(os.path.join(d.dir, "out.lp"))
            d.config_text = d.config_text.replace('path: "-"', f"path: {out.path}")
            with d:
                wait_online(mq.port, "st/sim")
                publish(mq, d, out)
                time.sleep(2.5)
                d.stop()
                live = out.lines()
                assert d.logtext().count("mqtt: connected") == 1, d.logtext()
                want, err = replay(d.config, [os.path.join(d.dir, "state", "recordings")])
        m = re.search(r"replay: (\d+) messages", err)
        assert m, err
        n_msgs = int(m.group(1))
        selfm = [parse_line(x)[2] for x in live if x.startswith("oeed,")]
        assert selfm[-1]["messages"] == n_msgs, (selfm[-1], n_msgs)
        # replay's last report tick: one interval boundary after the last message
        # and live reports ticks before the first message, which replay cannot know of
        tick = max(parse_line(x)[3] for x in want if x.startswith("contract"))
        first = parse_line(want[0])[3]
        live_cmp = [x for x in live
                    if not x.startswith("oeed,") and first <= parse_line(x)[3] <= tick]
        want_cmp = [x for x in want if parse_line(x)[3] <= tick]
        return live_cmp, want_cmp, selfm[-1], n_msgs

    def test_e_live_equals_replay_of_recording(self):
        def publish(mq, d, out):
            # 12 machines, text and JSON, 20x faster than real time (so without payload
            # timestamps): state changes, counters, micro-stops within seconds
            sim = subprocess.run(
                [SIM, "live", "--url", mq.url, "--machines", "12", "--rate", "300",
                 "--speed", "20", "--no-ts", "--stagger", "2s", "--duration", "12s",
                 "--stop-every", "1m", "--fault-every", "3m", "--idle-every", "3m",
                 "--qos", "1", "--client-id", "sim", "--seed", "7"],
                capture_output=True, timeout=60)
            assert sim.returncode == 0, sim.stderr.decode()
        live_cmp, want_cmp, _, n_msgs = self.live_and_replay(publish)
        assert n_msgs > 500, n_msgs
        states = [x for x in want_cmp if x.startswith("machine_state")]
        assert len(states) > 30, len(states)
        assert len({parse_line(x)[1]["category"] for x in states}) >= 3, states
        assert live_cmp == want_cmp, first_difference(live_cmp, want_cmp)

    def test_e2_burst_into_a_small_queue_is_slowed_not_cut(self):
        """A QoS 1 flood into a 16-message receive queue: paho's thread waits for room
        (backpressure to the broker) instead of dropping, every message reaches the engine,
        and report ticks wait for the queue, so live still equals the replay."""
        n = 60000

        def publish(mq, d, out):
            sim = subprocess.run(
                [SIM, "flood", "--url", mq.url, "--machines", "50", "--messages", str(n),
                 "--qos", "1", "--client-id", "sim", "--seed", "3"],
                capture_output=True, timeout=120)
            assert sim.returncode == 0, sim.stderr.decode()
            wait_until(lambda: (out.self_metrics() or {}).get("messages", 0) >= n, 60,
                       f"{n} messages (log: {d.logtext()[-1500:]})")
        live_cmp, want_cmp, selfm, n_msgs = self.live_and_replay(publish, "\n  queue_len: 16")
        assert n_msgs == n, n_msgs
        assert selfm["dropped_messages"] == 0, selfm
        # the queue did fill (else this test shows nothing): the receive thread waited
        assert selfm["queue_waits"] > 0, selfm
        assert len([x for x in want_cmp if x.startswith("machine_kpi")]) > 100
        assert live_cmp == want_cmp, first_difference(live_cmp, want_cmp)

    # ---- bad input never stops the daemon ----

    def test_f_bad_input(self):
        junk = """  - topic: "junk/{machine}/x"
    decoder: text
    signal: state
"""
        with Mosquitto() as mq, Daemon(mq.url, "bad", extra_sources=junk, max_machines=4) as d:
            wait_online(mq.port, "st/bad")
            # the junk source leaves its subscription in the persistent session when the
            # daemon restarts without it: its topics then match no source
            d.stop()
            d.config_text = d.config_text.replace(junk, "")
            d.start()
            wait_online(mq.port, "st/bad")
            t0 = now_ms() - 60000
            for m in ("b1", "b2"):
                mq.publish(f"j/{m}/data", json.dumps({"state": "RUN", "parts": 10, "ts": t0}))
            bad = [
                ("j/b1/data", '{"state":"STOP","parts":1'),              # truncated
                ("j/b1/data", "[" * 200000),                               # huge, deep
                ("j/b1/data", '{"state":"STOP","x":"' + "y" * 500000),    # huge, truncated
                ("j/b1/data", '{"state":{"a":1},"parts":"many"}'),        # wrong type
                ("j/b1/data", '{"parts":-5}'),                            # negative count
                ("j/b1/data", b'{"state":"\xff\xfe"}'),                   # invalid UTF-8
                ("f/l1/b1/state", b"\xc3\x28RUN"),                        # invalid UTF-8
                ("f/l1/b1/count", "12x"),                                  # not a number
                ("f/l1/b1/state", b"R" * (1 << 20)),                      # 1 MiB: too long
                ("spBv1.0/plant1/DDATA/edge9/spx", b"\xff\xff\xff\xff\xff"),  # not protobuf
            ]
            for topic, data in bad:
                # bytes go through stdin (-s): no argument length limit
                mq.publish(topic, data if isinstance(data, bytes) else data.encode())
            mq.publish("f/l1/b1/state", b"R" * ((1 << 20) + 1))         # over paho's limit
            mq.publish("spBv1.0/plant1/DDATA/edge9/spx", payload(        # alias, no birth
                [metric(alias=7, datatype=INT32, value=1)], ts=t0, seq=5))
            mq.publish("junk/b1/x", "RUN")                               # no source
            # a flood of 1000 bad messages
            mq.publish_lines("j/b2/data", ['{"state":' for _ in range(1000)])
            for i in range(5):                  # machines.max is 4: extra2..4 are dropped
                mq.publish(f"f/l1/extra{i}/state", "RUN")
            # good messages after all that are processed as ever
            for m in ("b1", "b2"):
                mq.publish(f"j/{m}/data", json.dumps({"state": "STOP", "parts": 25,
                                                      "ts": t0 + 5000}))
            # the one over the limit never reaches the ingest: dropped_messages, not messages;
            # the rebirth request oeed sends edge9 (data without a birth) comes back to it
            # on spBv1.0/plant1/# (MQTT 3.1.1 has no "no local"): one message more
            st = d.wait_messages(2 + len(bad) + 2 + 1000 + 5 + 2 + 1)
            assert "requesting a rebirth on spBv1.0/plant1/NCMD/edge9" in d.logtext()
            assert d.alive()
            assert st["decode_errors"] == len(bad) + 1000, st  # each bad one once
            assert st["unmatched"] == 1 and st["dropped_messages"] == 1, st
            assert st["machines"] == 4 and st["machines_dropped"] == 3, st
            assert st["unmapped"] == 0 and st["late"] == 0, st
            # the Sparkplug alias without a birth is a protocol notice, counted
            assert st["protocol_notices"] >= 1, st
            for m in ("b1", "b2"):
                assert [s[:4] for s in d.out.states(m)] == [
                    ("running", "RUN", "", None), ("down", "STOP", "fault", 5.0)], \
                    d.out.states(m)
                d.wait_for(lambda: d.out.kpi(m, "1h")["total_count"] == 15, "the counts")
            assert d.out.states("spx") == [] and d.out.states("extra4") == []
            # rate-limited logging: 5 lines per kind and 10 s, plus a count of the rest
            log = d.logtext().split("checkpoint restored", 1)[1].splitlines()
            warn = [x for x in log if x.startswith("oeed: warn:")]
            assert 5 <= len(warn) <= 20, "\n".join(warn)
            assert len([x for x in warn if "decoder" in x]) <= 5, "\n".join(warn)
            assert "matches no source" in d.logtext()
            assert "1048577 bytes is over the 1048576 byte limit" in d.logtext()

    def test_f_late_events_land_at_their_own_time(self):
        """Issue 14: a JSON device's stop and recovery sent together 1 s after the recovery,
        and a Sparkplug DDATA with is_historical metrics stamped 2 s and 1 s before arrival,
        both after report ticks accounted that time: each lands at its own timestamp, so the
        1 s stop is 1 s of down time (not 1 ms), counted reordered, not late."""
        with Mosquitto() as mq, Daemon(mq.url, "late") as d:
            wait_online(mq.port, "st/late")
            t0 = now_ms()
            mq.publish("j/jl/data", json.dumps({"state": "RUN", "ts": t0}))
            mq.publish("spBv1.0/plant1/NBIRTH/edge9", payload(
                [metric("bdSeq", datatype=UINT64, value=0)], ts=t0, seq=0))
            mq.publish("spBv1.0/plant1/DBIRTH/edge9/sph", payload(
                [metric("Machine/State", 1, INT32, 1)], ts=t0, seq=1))
            time.sleep(4.5)  # 1 s report ticks account the running time up to now
            t = now_ms()
            mq.publish("j/jl/data", json.dumps({"state": "STOP", "ts": t - 2007}))
            mq.publish("j/jl/data", json.dumps({"state": "RUN", "ts": t - 1007}))

            def historical(value, ts):
                return metric(alias=1, datatype=INT32, value=value, ts=ts) + pb_varint(5, 1)
            mq.publish("spBv1.0/plant1/DDATA/edge9/sph", payload(
                [historical(3, t - 2000), historical(1, t - 1000)], ts=t, seq=2))
            st = d.wait_messages(6)

            def both():
                k = [d.out.kpi(m, "1h") for m in ("jl", "sph")]
                return all(k) and all(x.get("failures") == 1 for x in k)
            d.wait_for(both, "KPI lines with the stops")
            for m in ("jl", "sph"):
                k = d.out.kpi(m, "1h")
                assert k["down_s"] == 1.0 and k["mttr_s"] == 1.0, (m, k)
            assert [s[4] for s in d.out.states("jl")] == [t0, t - 2007, t - 1007]
            assert [s[:3] for s in d.out.states("sph")][1:] == [("down", "3", "fault"),
                                                               ("running", "1", "")]
            assert [s[4] for s in d.out.states("sph")][1:] == [t - 2000, t - 1000]
            st = d.out.self_metrics()
            assert st["late"] == 0 and st["reordered"] >= 4, st


if __name__ == "__main__":
    TestCase.main(LiveTests)
