"""The systemd notify protocol of the live daemon, seen from a real AF_UNIX datagram socket the
test binds in place of systemd's: READY=1, WATCHDOG=1 at half of WATCHDOG_USEC, STATUS=,
RELOADING=1/READY=1 on SIGHUP, STOPPING=1 and exit 0 on SIGTERM; WATCHDOG_PID honoured; the
abstract namespace (NOTIFY_SOCKET=@name)."""
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

CONFIG = """state_dir: @STATE_DIR@
log_level: info
mqtt: {{ url: "{url}", client_id: notify-test }}
sources:
  - topic: "f/{{line}}/{{machine}}/state"
    decoder: text
    signal: state
    map: {{ RUN: running, STOP: down/fault }}
machines:
  defaults: {{ stale_after: 0 }}
  max: 10
report:
  interval: 1s
  windows: [1m]
  periods: []
outputs:
  - type: file
    path: {out}
"""
WATCHDOG_USEC = 2000000

# systemd's variables must come from this test alone, not from whatever runs the test
for _v in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"):
    os.environ.pop(_v, None)


class NotifySocket:
    """What systemd does for Type=notify: a datagram socket, each datagram a set of KEY=VALUE
    lines; SO_PASSCRED tells which process sent each one (NotifyAccess=main needs the main
    pid). `abstract`: bound in the abstract namespace instead of at a path."""

    def __init__(self, abstract=False):
        self.dir = tempfile.mkdtemp(prefix="oeed-notify-")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        if abstract:
            name = f"oeed-notify-test-{os.getpid()}-{time.monotonic_ns()}"
            self.sock.bind("\0" + name)
            self.env_value = "@" + name
        else:
            path = os.path.join(self.dir, "notify")
            self.sock.bind(path)
            self.env_value = path
        self.msgs = []  # (monotonic time, sender pid, {key: value})

    def poll(self, seconds):
        """Collects datagrams for `seconds`."""
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            self.sock.settimeout(left)
            try:
                data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
            except socket.timeout:
                return
            pid = None
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", cdata[:12])[0]
            kv = {}
            for line in data.decode().split("\n"):
                if line:
                    k, _, v = line.partition("=")
                    kv[k] = v
            self.msgs.append((time.monotonic(), pid, kv))

    def wait_for(self, key, value=None, timeout=15.0, after=0):
        """Index of the first message from index `after` on that has key (= value)."""
        end = time.monotonic() + timeout
        while True:
            for i in range(after, len(self.msgs)):
                kv = self.msgs[i][2]
                if key in kv and (value is None or kv[key] == value):
                    return i
            if time.monotonic() >= end:
                raise AssertionError(f"no {key}={value} within {timeout}s; got "
                                     f"{[m[2] for m in self.msgs]}")
            self.poll(0.1)

    def count(self, key, since, until):
        return sum(1 for t, _, kv in self.msgs if key in kv and since <= t < until)

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def daemon(mq, ns, env_extra=None, wrap_pid=False):
    """An Oeed (not yet started) that reports to `ns`. The config's output is a file in its
    directory."""
    d = harness.Oeed("")
    out = os.path.join(d.dir, "out.lp")
    d.config_text = CONFIG.format(url=mq.url, out=out).replace(
        "@STATE_DIR@", os.path.join(d.dir, "state"))
    d.out_path = out
    d.env = {"NOTIFY_SOCKET": ns.env_value, "WATCHDOG_USEC": str(WATCHDOG_USEC)}
    d.env.update(env_extra or {})
    return d


class Notify:
    def test_ready_watchdog_status_reload_stop(self):
        with harness.Mosquitto() as mq:
            ns = NotifySocket()
            d = daemon(mq, ns)
            try:
                d.start()
                i_ready = ns.wait_for("READY", "1")
                assert ns.msgs[i_ready][1] == d.proc.pid, "READY=1 not from the main pid"
                # STATUS= carries the one-line summary, refreshed every report.interval (1s)
                ns.wait_for("STATUS", after=i_ready + 1)
                # Pings: WATCHDOG_USEC 2 s -> every 1 s. Over 5 s that is 5; the tolerance of
                # +-1 covers where the window falls between two pings and the main loop's
                # 100 ms tick, which may delay each ping by up to 0.1 s.
                t0 = time.monotonic()
                ns.poll(5.0)
                pings = ns.count("WATCHDOG", t0, t0 + 5.0)
                assert 4 <= pings <= 6, f"{pings} watchdog pings in 5 s"
                ping_times = [t for t, _, kv in ns.msgs if kv.get("WATCHDOG") == "1"]
                gaps = [b - a for a, b in zip(ping_times, ping_times[1:])]
                assert gaps and all(0.95 <= g <= 1.5 for g in gaps), gaps
                assert all(pid == d.proc.pid for _, pid, _ in ns.msgs)

                # a message shows up in the summary (its wording may change; the counts of
                # machines and messages are what an operator reads there)
                mq.publish("f/l1/m1/state", "RUN")

                def counted(st):
                    return (re.search(r"(^|\D)1 machines?\b", st) and
                            re.search(r"(^|\D)1 messages?\b", st) and "\n" not in st)

                end = time.monotonic() + 15
                while not any(counted(kv.get("STATUS", "")) for _, _, kv in ns.msgs):
                    assert time.monotonic() < end, [m[2] for m in ns.msgs[-5:]]
                    ns.poll(0.2)

                n = len(ns.msgs)
                d.proc.send_signal(signal.SIGHUP)
                i_rel = ns.wait_for("RELOADING", "1", after=n)
                i_ready2 = ns.wait_for("READY", "1", after=i_rel)
                assert i_ready2 > i_rel
                assert d.proc.poll() is None

                # a config that fails validation: rejected, the daemon goes on (READY=1 again,
                # the watchdog keeps coming)
                with open(d.config, "w") as f:
                    f.write(d.config_text.replace("interval: 1s", "interval: 1x"))
                n = len(ns.msgs)
                d.proc.send_signal(signal.SIGHUP)
                i_rel = ns.wait_for("RELOADING", "1", after=n)
                i_ready3 = ns.wait_for("READY", "1", after=i_rel)
                ns.wait_for("WATCHDOG", "1", after=i_ready3)
                assert d.proc.poll() is None
                assert "bad duration '1x'" in d.logtext(), d.logtext()

                n = len(ns.msgs)
                d.proc.send_signal(signal.SIGTERM)
                ns.wait_for("STOPPING", "1", after=n)
                assert d.proc.wait(timeout=20) == 0
                assert "reload" in d.logtext(), d.logtext()
            finally:
                d.stop()
                ns.close()
                shutil.rmtree(d.dir, ignore_errors=True)

    def test_watchdog_pid_of_another_process(self):
        """WATCHDOG_PID names another process: the watchdog is not ours, no pings."""
        with harness.Mosquitto() as mq:
            ns = NotifySocket()
            d = daemon(mq, ns, {"WATCHDOG_PID": str(os.getpid())})
            try:
                d.start()
                ns.wait_for("READY", "1")
                ns.poll(3.5)  # > 3 ping intervals
                assert ns.count("WATCHDOG", 0, float("inf")) == 0, [m[2] for m in ns.msgs]
                # it still reports while it runs
                assert any("STATUS" in kv for _, _, kv in ns.msgs)
                d.proc.send_signal(signal.SIGTERM)
                assert d.proc.wait(timeout=20) == 0
            finally:
                d.stop()
                ns.close()
                shutil.rmtree(d.dir, ignore_errors=True)

    def test_watchdog_pid_of_itself(self):
        """WATCHDOG_PID equal to the daemon's own pid (set through `exec`, which keeps the pid):
        the pings come."""
        with harness.Mosquitto() as mq:
            ns = NotifySocket()
            d = daemon(mq, ns)
            try:
                os.makedirs(os.path.join(d.dir, "state"), exist_ok=True)
                with open(d.config, "w") as f:
                    f.write(d.config_text)
                env = dict(os.environ, **d.env)
                with open(d.log, "ab") as err:
                    script = 'WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$0" -c "$1"'
                    d.proc = subprocess.Popen(
                        ["sh", "-c", script, harness.OEED, d.config], env=env,
                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
                ns.wait_for("READY", "1")
                # the exec kept the pid, so the daemon did see its own pid there
                with open(f"/proc/{d.proc.pid}/environ", "rb") as f:
                    env_seen = f.read().split(b"\0")
                assert f"WATCHDOG_PID={d.proc.pid}".encode() in env_seen
                t0 = time.monotonic()
                ns.poll(3.0)
                pings = ns.count("WATCHDOG", t0, t0 + 3.0)
                assert 2 <= pings <= 4, pings  # one a second, see the first test
                d.proc.send_signal(signal.SIGTERM)
                assert d.proc.wait(timeout=20) == 0
            finally:
                d.stop()
                ns.close()
                shutil.rmtree(d.dir, ignore_errors=True)

    def test_abstract_namespace(self):
        with harness.Mosquitto() as mq:
            ns = NotifySocket(abstract=True)
            d = daemon(mq, ns)
            try:
                d.start()
                i = ns.wait_for("READY", "1")
                assert ns.msgs[i][1] == d.proc.pid
                ns.wait_for("WATCHDOG", "1")
                ns.wait_for("STATUS", after=i + 1)
                n = len(ns.msgs)
                d.proc.send_signal(signal.SIGTERM)
                ns.wait_for("STOPPING", "1", after=n)
                assert d.proc.wait(timeout=20) == 0
            finally:
                d.stop()
                ns.close()
                shutil.rmtree(d.dir, ignore_errors=True)


if __name__ == "__main__":
    harness.TestCase.main(Notify)
