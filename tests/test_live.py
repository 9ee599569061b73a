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
from harness import (BUILD, Mosquitto, Oeed, TestCase, free_port, run_oeed,  # noqa: E402
                     stop_pid, wait_until)

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

LP_RE = re.compile(r'((?:[^ \\"]|\\.|"(?:[^"\\]|\\.)*")+)')


def parse_line(line):
    """(measurement, tags, fields, ts) of one line-protocol line: enough for what oeed writes
    (escaped spaces and commas in names, quoted strings)."""
    parts = LP_RE.findall(line)
    assert len(parts) == 3, line
    key, fields_s, ts = parts
    items = re.findall(r'((?:[^,\\]|\\.)+)', key)
    tags = {}
    for it in items[1:]:
        k, v = re.match(r'((?:[^=\\]|\\.)+)=(.*)', it).groups()
        tags[k] = v.replace("\\ ", " ").replace("\\,", ",").replace("\\=", "=")
    fields = {}
    for it in re.findall(r'((?:[^,"\\]|\\.|"(?:[^"\\]|\\.)*")+)', fields_s):
        k, v = it.split("=", 1)
        if v.startswith('"'):
            v = v[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        elif v.endswith("i"):
            v = int(v[:-1])
        elif v in ("true", "false"):
            v = v == "true"
        else:
            v = float(v)
        fields[k] = v
    return items[0], tags, fields, int(ts)


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


if __name__ == "__main__":
    TestCase.main(LiveTests)
