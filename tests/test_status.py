"""`oeed status` and the mqtt output (issue 16, items 4 and 5), against a real mosquitto:
the states and since-times the status socket reports are those published; --json parses and
text is a sorted table; the socket is 0660 and shows no secret; clients that connect and never
read do not slow ingestion (messages processed with and without them, one run) and are
dropped after status.client_timeout; the mqtt output leaves one retained JSON message per
machine whose KPIs equal the line protocol of the same tick; a broker that stops reading
makes the output drop older messages per machine (counted) and the newest arrives; a topic
oeed subscribes to is refused at config time with file:line:column."""
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Mosquitto, Oeed, TestCase, parse_line, run_oeed,  # noqa: E402
                     wait_until)

SECRET = "s3cret-do-not-show-4711"


def config(mq, state_dir, out, extra_top="", extra_outputs="", interval="1s", max_machines=100,
           windows="[1h]"):
    return f"""state_dir: "{state_dir}"
site: plant-9
log_level: info
{extra_top}
mqtt:
  url: {mq.url}
  client_id: oeed-status-test
  username: oeed
  password_file: "{state_dir}/../mqtt.secret"
  qos: 1
  clean_session: true
sources:
  - topic: "j/{{line}}/{{machine}}/data"
    decoder: json
    fields: {{ state: "$.state", total: "$.parts", timestamp: "$.ts" }}
    map: {{ RUN: running, STOP: down/fault, BRK: planned/break, WAIT: idle/starved }}
machines:
  defaults: {{ ideal_cycle_time: 1s, stale_after: 0 }}
  max: {max_machines}
report:
  interval: {interval}
  windows: {windows}
  periods: [day]
  timezone: UTC
contracts:
  - name: avail-a
    machines: ["a*"]
    kpi: availability
    period: day
    target: 0.9
    minimum: 0.8
outputs:
  - type: file
    path: {out}
{extra_outputs}
"""


class Daemon(Oeed):
    def __init__(self, mq, **kw):
        super().__init__("")
        self.sock = os.path.join(self.dir, "status.sock")
        self.out = os.path.join(self.dir, "out.lp")
        state = os.path.join(self.dir, "state")
        with open(os.path.join(self.dir, "mqtt.secret"), "w") as f:
            f.write(SECRET + "\n")
        kw.setdefault("extra_top", f'status: {{ socket: "{self.sock}" }}')
        self.config_text = config(mq, state, self.out, **kw)

    def status(self, *args, check=True):
        r = run_oeed(["status", "--socket", self.sock] + list(args), timeout=30)
        if check:
            assert r.returncode == 0, r.stderr.decode()
        return r

    def doc(self):
        return json.loads(self.status("--json").stdout)

    def lines(self):
        try:
            with open(self.out, "rb") as f:
                return f.read().decode().splitlines()
        except FileNotFoundError:
            return []


def now_ms():
    return int(time.time() * 1000)


def publish(mq, machine, state, ts, line="l1", parts=None):
    p = {"state": state, "ts": ts}
    if parts is not None:
        p["parts"] = parts
    mq.publish(f"j/{line}/{machine}/data", json.dumps(p))


class StatusTests:
    def test_status_states_and_since(self):
        with Mosquitto() as mq, Daemon(mq) as d:
            wait_until(lambda: os.path.exists(d.sock), 20, "status socket")
            mode = stat.S_IMODE(os.stat(d.sock).st_mode)
            assert mode == 0o660, oct(mode)
            t = now_ms()
            # published in an order that is not the sorted one
            want = {"b2": ("STOP", "down", "fault", t - 5000),
                    "a1": ("RUN", "running", "", t - 7000),
                    "c3": ("BRK", "planned", "break", t - 3000)}
            wait_until(lambda: d.doc()["mqtt"]["connected"], 20, "connected")
            for m, (raw, _, _, ts) in want.items():
                publish(mq, m, raw, ts, parts=10)
            wait_until(lambda: len(d.doc()["machines"]) == 3, 20, "three machines")
            # a later change of a1: since moves
            t2 = now_ms()
            publish(mq, "a1", "WAIT", t2 - 100)
            want["a1"] = ("WAIT", "idle", "starved", t2 - 100)
            wait_until(lambda: [m for m in d.doc()["machines"]
                                if m["machine"] == "a1"][0]["state"] == "WAIT", 20, "a1 WAIT")
            wait_until(lambda: all("1h" in m["kpi"] for m in d.doc()["machines"]), 20,
                       "a tick's KPIs")
            doc = d.doc()
            assert [m["machine"] for m in doc["machines"]] == ["a1", "b2", "c3"], doc
            for m in doc["machines"]:
                raw, cat, reason, ts = want[m["machine"]]
                assert (m["state"], m["category"], m["reason"], m["since"]) == \
                    (raw, cat, reason, ts), m
                assert m["tags"] == {"line": "l1"}, m
            # the machine_state evidence says the same
            states = {}
            for ln in d.lines():
                meas, tags, f, ts = parse_line(ln)
                if meas == "machine_state":
                    states[tags["machine"]] = (f["state"], tags["category"], ts)
            for m in doc["machines"]:
                assert states[m["machine"]] == (m["state"], m["category"], m["since"]), m
            a1 = [m for m in doc["machines"] if m["machine"] == "a1"][0]
            assert a1["contracts"] == [{"contract": "avail-a", "status": a1["contracts"][0]
                                        ["status"]}], a1
            assert [c["contract"] for c in doc["contracts"]] == ["avail-a"]
            assert doc["contracts"][0]["status"] != "no_data", doc["contracts"]
            assert doc["outputs"][0]["type"] == "file" and doc["outputs"][0]["healthy"]
            assert doc["site"] == "plant-9" and doc["messages"] == 4, doc
            # text: a table, machines sorted, since in local time
            text = d.status().stdout.decode()
            rows = [ln.split()[0] for ln in text.splitlines()
                    if re.match(r"^[abc][123] ", ln)]
            assert rows[:3] == ["a1", "b2", "c3"], text
            since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime((t - 5000) // 1000))
            assert re.search(rf"^b2 +down +STOP +fault +{since}", text, re.M), text
            assert "avail-a" in text and "file-1" in text, text
            for out in (text, json.dumps(doc), d.logtext()):
                assert SECRET not in out
            assert "mqtt.secret" not in json.dumps(doc)

    def test_status_errors(self):
        with Mosquitto() as mq, Daemon(mq) as d:
            wait_until(lambda: os.path.exists(d.sock), 20, "status socket")
            r = run_oeed(["status", "--socket", d.sock + ".nope"])
            assert r.returncode == 2 and b"is oeed running?" in r.stderr, r.stderr
            r = run_oeed(["status", "--bogus"])
            assert r.returncode == 1, r.stderr
            # -c: the socket named by the config
            r = run_oeed(["status", "-c", d.config, "--json"], timeout=30)
            assert r.returncode == 0 and json.loads(r.stdout)["site"] == "plant-9", r.stderr
        # stopped: the socket is gone
        assert not os.path.exists(d.sock)

    def test_stuck_clients_do_not_slow_ingestion(self):
        n_machines = 2000
        extra = ('status: { socket: "@SOCK@", clients: 5, client_timeout: 60s }')
        with Mosquitto() as mq:
            d = Daemon(mq, max_machines=n_machines, interval="2s", windows="[1h, 15m]")
            d.config_text = d.config_text.replace(
                f'status: {{ socket: "{d.sock}" }}', extra.replace("@SOCK@", d.sock))
            with d:
                wait_until(lambda: os.path.exists(d.sock), 20, "status socket")
                wait_until(lambda: d.doc()["mqtt"]["connected"], 20, "connected")

                def burst(k):
                    t = now_ms()
                    msgs = [(f"j/l1/m{i % n_machines:04d}/data",
                             json.dumps({"state": "RUN" if (i // n_machines + k) % 2 else "STOP",
                                         "ts": t - 60000 + i // n_machines}))
                            for i in range(20000)]
                    before = d.doc()["messages"]
                    t0 = time.monotonic()
                    feed(mq, msgs)
                    wait_until(lambda: d.doc()["messages"] >= before + 20000, 120,
                               "the burst processed")
                    return time.monotonic() - t0

                burst(0)  # every machine known; after a tick, the document at its full size
                wait_until(lambda: all(len(m["kpi"]) == 3 for m in d.doc()["machines"]), 30,
                           "every machine's KPIs")
                size = len(d.status("--json").stdout)
                assert size > 1 << 20, size  # far more than a socket buffer holds
                free_s = burst(1)
                stuck = []
                for _ in range(4):
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                    s.connect(d.sock)
                    stuck.append(s)  # never read
                time.sleep(0.5)
                st = d.doc()["status_socket"]
                assert st["clients"] == 5, st  # the 4 stuck ones and this one
                stuck_s = burst(2)
                print(f"  20000 messages: {free_s:.2f} s without, {stuck_s:.2f} s with 4 "
                      f"stuck clients (ratio {stuck_s / free_s:.2f}); document {size} bytes")
                assert stuck_s < 2.0 * free_s + 2.0, (free_s, stuck_s)
                for s in stuck:
                    s.close()

    def test_stuck_client_dropped_after_timeout(self):
        with Mosquitto() as mq:
            d = Daemon(mq, max_machines=3000)
            d.config_text = d.config_text.replace(
                f'status: {{ socket: "{d.sock}" }}',
                f'status: {{ socket: "{d.sock}", client_timeout: 1s }}')
            with d:
                wait_until(lambda: os.path.exists(d.sock), 20, "status socket")
                t = now_ms()
                # in steps the daemon keeps up with: a QoS 0 burst that a slow (ASan, loaded)
                # subscriber does not take in time is dropped by the broker
                for k in range(0, 2500, 250):
                    feed(mq, [(f"j/l1/m{i:04d}/data", json.dumps({"state": "RUN", "ts": t}))
                              for i in range(k, k + 250)])
                    wait_until(lambda: len(d.doc()["machines"]) == k + 250, 60,
                               f"{k + 250} machines")
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.connect(d.sock)
                time.sleep(2.5)
                st = d.doc()["status_socket"]
                assert st["dropped"] >= 1 and st["clients"] == 1, st
                # what it got is a cut document, then the end
                s.settimeout(5)
                got = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    got += chunk
                s.close()
                assert 0 < len(got) < len(d.status("--json").stdout), len(got)

    def test_mqtt_output_retained_equals_line_protocol(self):
        mqtt_out = '  - type: mqtt\n    topic: "oeed/{machine}"\n'
        with Mosquitto() as mq, Daemon(mq, extra_outputs=mqtt_out, interval="5s") as d:
            wait_until(lambda: os.path.exists(d.sock), 20, "status socket")
            wait_until(lambda: d.doc()["mqtt"]["connected"], 20, "connected")
            t = now_ms()
            machines = {"a1": "RUN", "b2": "STOP", "c3": "BRK"}
            for i, (m, raw) in enumerate(machines.items()):
                publish(mq, m, raw, t - 20000 + i, parts=0)
                publish(mq, m, raw, t - 10000 + i, parts=7 + i)

            def got():
                return retained_docs(mq.port, "oeed/#", 3)

            wait_until(lambda: len(got()) == 3 and all("1h" in x["kpi"] for x in got().values()),
                       30, "three retained documents with KPIs")
            docs = got()
            assert sorted(docs) == ["oeed/a1", "oeed/b2", "oeed/c3"], docs
            lp = [parse_line(ln) for ln in d.lines()]
            for topic, doc in docs.items():
                m = topic.split("/", 1)[1]
                assert doc["machine"] == m and doc["state"] == machines[m], doc
                ev = [(f["state"], tg["category"], ts) for meas, tg, f, ts in lp
                      if meas == "machine_state" and tg["machine"] == m]
                assert ev[-1] == (doc["state"], doc["category"], doc["since"]), (ev, doc)
                for label, k in doc["kpi"].items():
                    same = [f for meas, tg, f, ts in lp
                            if meas == "machine_kpi" and tg["machine"] == m and
                            tg["window"] == label and ts == k["window_end"]]
                    assert len(same) == 1, (m, label, k["window_end"])
                    want = dict(same[0])
                    got_k = {x: v for x, v in k.items() if x != "window_end"}
                    assert got_k == want, (m, label, got_k, want)
                assert set(doc["kpi"]) == {"1h", "day"}, doc["kpi"].keys()
            assert docs["oeed/a1"]["contracts"][0]["contract"] == "avail-a"
            assert docs["oeed/b2"]["contracts"] == []
            # a state change goes out at once, not at the next tick: right after a tick,
            # change a1 and see it within 1.5 s with that tick's KPIs
            end = docs["oeed/a1"]["kpi"]["1h"]["window_end"]
            wait_until(lambda: got()["oeed/a1"]["kpi"]["1h"]["window_end"] > end, 10,
                       "the next tick")
            end = got()["oeed/a1"]["kpi"]["1h"]["window_end"]
            t0 = time.monotonic()
            publish(mq, "a1", "STOP", now_ms())
            wait_until(lambda: retained_docs(mq.port, "oeed/a1", 1)["oeed/a1"]["state"] ==
                       "STOP", 5, "a1 STOP published")
            assert time.monotonic() - t0 < 2.5, time.monotonic() - t0
            a1 = retained_docs(mq.port, "oeed/a1", 1)["oeed/a1"]
            assert a1["kpi"]["1h"]["window_end"] == end, (a1["kpi"]["1h"], end)
            out = [o for o in d.doc()["outputs"] if o["type"] == "mqtt"][0]
            assert out["name"] == "mqtt-1" and out["healthy"], out
            assert out["messages_published"] >= 6 and out["messages_dropped"] == 0, out
            # oeed does not read its own output: nothing came back as input
            assert d.doc()["messages"] == 7, d.doc()["messages"]

    def test_mqtt_output_slow_broker_drops_oldest_per_machine(self):
        # max_inflight 1: one message per round trip to the broker, far slower than 60
        # machines every second need
        mqtt_out = ('  - type: mqtt\n    topic: "kpi/{machine}"\n    max_inflight: 1\n'
                    '    qos: 1\n')
        with Mosquitto() as mq, Daemon(mq, extra_outputs=mqtt_out, interval="1s") as d:
            wait_until(lambda: os.path.exists(d.sock), 20, "status socket")
            wait_until(lambda: d.doc()["mqtt"]["connected"], 20, "connected")
            t = now_ms()
            feed(mq, [(f"j/l1/m{i:02d}/data", json.dumps({"state": "RUN", "ts": t}))
                      for i in range(60)])
            time.sleep(4)
            out = [o for o in d.doc()["outputs"] if o["type"] == "mqtt"][0]
            assert out["messages_dropped"] > 0, out
            assert out["messages_pending"] <= 60, out
            # the newest state of a machine still arrives
            publish(mq, "m07", "STOP", now_ms())
            wait_until(lambda: retained_docs(mq.port, "kpi/m07").get("kpi/m07", {})
                       .get("state") == "STOP", 30, "m07 STOP")
            docs = retained_docs(mq.port, "kpi/#")
            assert len(docs) == 60, len(docs)
            print(f"  {out['messages_published']} published, {out['messages_dropped']} "
                  f"dropped (older ones of a machine), {out['messages_pending']} waiting")

    def test_no_status_socket_is_not_fatal(self):
        with Mosquitto() as mq:
            d = Daemon(mq, extra_top='status: { socket: "/nonexistent/dir/s.sock" }')
            with d:
                wait_until(lambda: "oeed status` is not available" in d.logtext(), 20,
                           "the log line")
                assert d.proc.poll() is None, d.logtext()


def retained_docs(port, topic, count=None):
    """The retained messages on topic (a filter) as {topic: parsed JSON}; with count, as soon
    as that many came."""
    extra = ["-C", str(count)] if count else []
    r = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", topic,
                        "--retained-only", "-F", "%r %t %p", "-W", "1"] + extra,
                       capture_output=True, timeout=10)
    out = {}
    for ln in r.stdout.decode().splitlines():
        flag, t, p = ln.split(" ", 2)
        assert flag == "1", ln
        out[t] = json.loads(p)
    return out


def _mqtt_str(b):
    return len(b).to_bytes(2, "big") + b


def _packet(kind, body):
    n, rem = len(body), bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        rem.append(b | 0x80 if n else b)
        if not n:
            break
    return bytes([kind]) + bytes(rem) + body


def feed(mq, msgs):
    """Publishes (topic, payload) pairs at QoS 0 over one MQTT 3.1.1 connection, as fast as
    the broker takes them (a minimal client: the Python paho is not a Debian dependency)."""
    s = socket.create_connection(("127.0.0.1", mq.port), timeout=30)
    s.sendall(_packet(0x10, _mqtt_str(b"MQTT") + bytes([4, 2, 0, 60]) +
                      _mqtt_str(f"feed-{os.getpid()}".encode())))
    assert s.recv(4)[:2] == b"\x20\x02"
    buf = bytearray()
    for topic, payload in msgs:
        buf += _packet(0x30, _mqtt_str(topic.encode()) + payload.encode())
        if len(buf) > 1 << 16:
            s.sendall(buf)
            buf.clear()
    buf += _packet(0xE0, b"")  # DISCONNECT
    s.sendall(buf)
    s.close()


if __name__ == "__main__":
    TestCase.main(StatusTests)
