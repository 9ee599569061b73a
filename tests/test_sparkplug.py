"""Sparkplug B host behaviour (issue 15) against edge nodes made with the real Eclipse Tahu
JavaScript client (npm sparkplug-client, installed into the build directory on first use),
a real mosquitto and the daemon: two nodes reusing a device id are never merged, an oeed
restart followed by a node's death makes its devices unknown from the death on, alias-only
nodes are asked for a rebirth after an oeed restart, the primary host's STATE, and historical
(is_historical) metrics of a store-and-forward node landing at their own time."""
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILD, Mosquitto, TestCase, stop_pid, wait_until  # noqa: E402
from test_live import Daemon, now_ms, retained, wait_online  # noqa: E402

TAHU_VERSION = "3.2.4"
TAHU_DIR = os.path.join(BUILD, "tahu")
NODES_JS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tahu_nodes.js")
MAP = '{ "1": running, "2": idle, "3": down/fault }'


def tahu_modules():
    """node_modules with sparkplug-client, installed by npm (from its cache when offline)."""
    mods = os.path.join(TAHU_DIR, "node_modules")
    if not os.path.isdir(os.path.join(mods, "sparkplug-client")):
        os.makedirs(TAHU_DIR, exist_ok=True)
        r = subprocess.run(["npm", "install", "--prefix", TAHU_DIR, "--prefer-offline",
                            "--no-audit", "--no-fund", f"sparkplug-client@{TAHU_VERSION}"],
                           capture_output=True, timeout=300)
        assert r.returncode == 0, "npm install sparkplug-client failed:\n" + r.stderr.decode()
    return mods


class Tahu:
    """tests/tahu_nodes.js: Tahu edge nodes, one MQTT client each, driven through stdin."""

    def __init__(self, url):
        self.url = url
        self.events = []
        self.proc = subprocess.Popen(["node", NODES_JS], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=dict(os.environ, TAHU_MODULES=tahu_modules()))
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.events.append(json.loads(line))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.stdin.close()
        stop_pid(self.proc)

    def count(self, c, ev):
        return len([e for e in self.events if e["c"] == c and e["ev"] == ev])

    def cmd(self, **o):
        sent = self.count(o["c"], "sent")
        self.proc.stdin.write((json.dumps(o) + "\n").encode())
        self.proc.stdin.flush()
        wait_until(lambda: self.count(o["c"], "sent") > sent, 10, f"tahu {o}")

    def start(self, c, group, node, devices, aliases=False):
        births = self.count(c, "birth")
        self.cmd(cmd="start", c=c, url=self.url, group=group, node=node, devices=devices,
                 aliases=aliases)
        wait_until(lambda: self.count(c, "birth") > births, 20, f"births of {node}")

    def data(self, c, dev, state, total):
        self.cmd(cmd="data", c=c, dev=dev, state=state, total=total)


def sp_config(url, client_id, out, mqtt_extra="  status_topic: st/{id}\n", clean="false"):
    return f"""site: sp
state_dir: "@STATE_DIR@"
log_level: info
mqtt:
  url: {url}
  client_id: {client_id}
  qos: 1
  clean_session: {clean}
  reconnect_min: 1s
  reconnect_max: 2s
{mqtt_extra.format(id=client_id)}
sources:
  - topic: "spBv1.0/plantA/#"
    decoder: sparkplug_b
    fields: {{ state: "Machine/State", total: "Counts/Total" }}
    map: {MAP}
  - topic: "spBv1.0/plantB/#"
    decoder: sparkplug_b
    machine: "{{node}}.{{device}}"
    fields: {{ state: "Machine/State", total: "Counts/Total" }}
    map: {MAP}
machines:
  defaults: {{ ideal_cycle_time: 1s, stale_after: 0 }}
report:
  interval: 1s
  windows: [1h]
  periods: [day]
  timezone: UTC
outputs:
  - type: file
    path: {out}
"""


def sp_daemon(mq, client_id, **kw):
    d = Daemon(mq.url, client_id)
    d.config_text = sp_config(mq.url, client_id, d.out.path, **kw).replace(
        "@STATE_DIR@", os.path.join(d.dir, "state"))
    return d


class SparkplugTests:
    def test_e_historical_metrics_land_at_their_own_time(self):
        """A Tahu node stores and forwards: one DDATA carries is_historical states stamped
        2 s and 1 s before it was sent, after report ticks have accounted that time. The stop
        lands at its own time: exactly 1 s down, MTTR 1 s, reordered (not late), and the
        evidence keeps the metrics' timestamps."""
        with Mosquitto() as mq, sp_daemon(mq, "hist") as d, Tahu(mq.url) as tahu:
            wait_online(mq.port, "st/hist")
            tahu.start(0, "plantA", "gw9", ["h1"])
            tahu.data(0, "h1", 1, 0)
            d.wait_for(lambda: d.out.states("h1"), "h1 running")
            time.sleep(3.5)  # report ticks (1 s) account the time as running
            sent = now_ms()
            tahu.cmd(cmd="hist", c=0, dev="h1", points=[[3, 2000], [1, 1000]])
            d.wait_for(lambda: len(d.out.states("h1")) >= 3, "the historical states")
            st = d.out.states("h1")
            assert [s[:2] for s in st] == [("running", "1"), ("down", "3"), ("running", "1")], st
            t_down, t_up = st[1][4], st[2][4]
            assert t_up - t_down == 1000, st
            assert sent - 2000 - 50 <= t_down <= sent - 2000 + 50, (sent, st)

            def one_second_down():
                k = d.out.kpi("h1", "1h")
                return k and k.get("down_s") == 1.0 and k.get("mttr_s") == 1.0
            d.wait_for(one_second_down, "down_s = mttr_s = 1.0")
            m = d.out.self_metrics()
            assert m["late"] == 0 and m["reordered"] >= 1, m

    def test_a_two_nodes_share_a_device_id(self):
        """gw6 and gw7 both have press-01. Under plantA (machine id {device}) gw7's is refused
        with a log line naming both nodes; gw6's counts and states stay its own. Under plantB
        (machine "{node}.{device}") they are two machines with their node tags."""
        with Mosquitto() as mq, sp_daemon(mq, "two") as d, Tahu(mq.url) as tahu:
            # each DBIRTH says total 0: the counts are cumulative from there
            wait_online(mq.port, "st/two")
            for c, (group, node) in enumerate([("plantA", "gw6"), ("plantA", "gw7"),
                                               ("plantB", "gw6"), ("plantB", "gw7")]):
                tahu.start(c, group, node, ["press-01"])
            for c in range(4):
                tahu.data(c, "press-01", 1 if c % 2 == 0 else 3, 20 if c % 2 == 0 else 100000)
            for c in range(4):
                tahu.data(c, "press-01", 1 if c % 2 == 0 else 3, 25 if c % 2 == 0 else 100021)

            def counted():
                k = [d.out.kpi(m, "1h") for m in ("press-01", "gw6.press-01", "gw7.press-01")]
                return all(k) and [x["total_count"] for x in k] == [25, 25, 100021]
            d.wait_for(counted, "the counts of three machines")
            # gw7's press-01 (down) never reached gw6's: one state, running, no resets
            assert [s[:2] for s in d.out.states("press-01")] == [("running", "1")], \
                d.out.states("press-01")
            assert [s[:2] for s in d.out.states("gw7.press-01")] == [("running", "1"),
                                                                    ("down", "3")]
            st = d.out.self_metrics()
            assert st["counter_resets"] == 0 and st["machines"] == 3, st
            tags = {t["machine"]: (t.get("group"), t.get("node"))
                    for _, t, _, _ in d.out.parsed("machine_state")}
            assert tags == {"press-01": ("plantA", "gw6"), "gw6.press-01": ("plantB", "gw6"),
                            "gw7.press-01": ("plantB", "gw7")}, tags
            log = d.logtext()
            assert ("machine_conflict: group plantA node gw7 device press-01: machine id "
                    "'press-01' is already device press-01 of node gw6 (group plantA): "
                    "refused, not merged") in log, log
            assert log.count("machine_conflict") == 1, log

    def test_b_oeed_restart_then_a_node_dies(self):
        """oeed restarts while gw1 runs; gw1's next DDATA (by name) makes oeed ask for a
        rebirth, so it learns gw1's bdSeq; gw1's death then makes m1 unknown at once."""
        with Mosquitto() as mq, sp_daemon(mq, "rst") as d, Tahu(mq.url) as tahu:
            wait_online(mq.port, "st/rst")
            tahu.start(0, "plantA", "gw1", ["m1"])
            tahu.data(0, "m1", 1, 10)
            d.wait_for(lambda: d.out.states("m1"), "m1 running")
            d.stop()
            tahu.data(0, "m1", 1, 12)  # QoS 0 while oeed is away: nobody gets it
            d.start()
            wait_online(mq.port, "st/rst")
            tahu.data(0, "m1", 1, 15)
            wait_until(lambda: tahu.count(0, "rebirth") == 1, 20, "a rebirth request")
            d.wait_for(lambda: "requesting a rebirth on spBv1.0/plantA/NCMD/gw1"
                       in d.logtext(), "the rebirth in the log")
            time.sleep(1)  # the NBIRTH (same bdSeq) reaches oeed
            t_kill = now_ms()
            tahu.cmd(cmd="kill", c=0)
            d.wait_for(lambda: d.out.states("m1")[-1][0] == "unknown", "m1 unknown")
            last = d.out.states("m1")[-1]
            assert t_kill <= last[4] <= t_kill + 3000, (t_kill, last)
            assert "stale_ndeath" not in d.logtext(), d.logtext()
            assert "no_nbirth: group plantA node gw1 device m1: DDATA without an NBIRTH" \
                in d.logtext()
            assert tahu.count(0, "rebirth") == 1  # rate-limited per node

    def test_c_alias_only_node_after_restart(self):
        """A node that sends aliases only: after an oeed restart its DDATA is meaningless
        until a rebirth; oeed asks (the default), and the next DDATA counts again."""
        with Mosquitto() as mq, sp_daemon(mq, "ali") as d, Tahu(mq.url) as tahu:
            wait_online(mq.port, "st/ali")
            tahu.start(0, "plantA", "gw2", ["m2"], aliases=True)
            tahu.data(0, "m2", 1, 100)
            tahu.data(0, "m2", 1, 104)
            d.wait_for(lambda: (d.out.kpi("m2", "1h") or {}).get("total_count") == 104,
                       "104 parts by alias (the DBIRTH said 0)")
            d.stop()
            d.start()
            wait_online(mq.port, "st/ali")
            tahu.data(0, "m2", 3, 110)  # by alias: unknown now, answered with a rebirth
            wait_until(lambda: tahu.count(0, "rebirth") == 1, 20, "a rebirth request")
            time.sleep(1)
            tahu.data(0, "m2", 1, 115)
            d.wait_for(lambda: (d.out.kpi("m2", "1h") or {}).get("total_count") == 115,
                       "the parts after the rebirth")
            # the DBIRTH of the rebirth carries the last values: down (3), then running
            assert [s[:2] for s in d.out.states("m2")][-2:] == [("down", "3"),
                                                              ("running", "1")], \
                d.out.states("m2")
            assert ("unknown_alias: group plantA node gw2 device m2: alias 1 without a DBIRTH "
                    "seen in this session") in d.logtext()

    def test_d_primary_host_state(self):
        """mqtt.sparkplug_host_id: retained STATE birth and will with the same timestamp;
        a STATE offline on its own id is answered with online; a clean stop publishes the
        death with the stop's time; a SIGKILL leaves the will."""
        extra = "  sparkplug_host_id: scada1\n"
        topic = "spBv1.0/STATE/scada1"
        with Mosquitto() as mq, sp_daemon(mq, "host", mqtt_extra=extra, clean="true") as d:
            def state():
                r = retained(mq.port, topic)
                return json.loads(r) if r else None
            wait_until(lambda: (state() or {}).get("online") is True, 20, "STATE online")
            birth = state()
            assert set(birth) == {"online", "timestamp"}, birth
            assert abs(birth["timestamp"] - now_ms()) < 20000, birth
            mq.publish(topic, json.dumps({"online": False, "timestamp": birth["timestamp"]}),
                       retain=True)
            time.sleep(1)
            wait_until(lambda: state() == birth, 10, "STATE online again")
            assert "says offline: publishing online again" in d.logtext()
            t_stop = now_ms()
            d.stop()
            death = state()
            assert death["online"] is False and death["timestamp"] >= t_stop, (death, t_stop)
            d.start()
            wait_until(lambda: (state() or {}).get("online") is True, 20, "STATE online")
            birth2 = state()
            assert birth2["timestamp"] > birth["timestamp"], (birth, birth2)
            d.kill()
            wait_until(lambda: state() == {"online": False,
                                           "timestamp": birth2["timestamp"]}, 20,
                       "the will: offline with the birth's timestamp")


if __name__ == "__main__":
    TestCase.main(SparkplugTests)
