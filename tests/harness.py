"""Test harness: starts real servers (mosquitto, InfluxDB 1.x, VictoriaMetrics) and the
freshly built oeed on free loopback ports, waits until each answers, and stops each by its PID.
Python standard library only. Every server is a context manager:

    with Mosquitto() as mq, Influx() as db:
        ...mq.port, db.url...

Environment: OEED (daemon binary), OEED_SOURCE (repo root), OEED_BUILD (build dir).
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

OEED = os.environ.get("OEED", "build/daemon/oeed")
SOURCE = os.environ.get("OEED_SOURCE", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("OEED_BUILD", os.path.join(SOURCE, "build"))


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except Exception as e:  # not up yet
            last = e
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last error: {last})")


def stop_pid(proc, timeout=10.0):
    """SIGTERM, wait, then SIGKILL: by PID, never by name."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Server:
    name = "server"

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix=f"oeed-{self.name}-")
        self.proc = None
        self.log = os.path.join(self.dir, "server.log")

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _spawn(self, argv):
        self._logf = open(self.log, "ab")
        self.proc = subprocess.Popen(argv, stdout=self._logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    def stop(self):
        stop_pid(self.proc)
        self.proc = None

    def kill(self):
        """SIGKILL: a crash, for fault tests."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def logtext(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


class Mosquitto(Server):
    """mosquitto 2.x on 127.0.0.1:port, anonymous, persistence in its own directory so that a
    restart keeps persistent sessions and queued QoS 1 messages."""
    name = "mosquitto"

    def __init__(self, port=None, extra_conf=""):
        super().__init__()
        self.port = port or free_port()
        self.extra_conf = extra_conf

    def start(self):
        conf = os.path.join(self.dir, "mosquitto.conf")
        with open(conf, "w") as f:
            if "listener" not in self.extra_conf:
                f.write(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n")
            f.write(f"persistence true\npersistence_location {self.dir}/\n")
            f.write("max_queued_messages 1000000\n")
            f.write(self.extra_conf)
        if os.geteuid() == 0:
            # mosquitto started as root drops to its own user: let it write its persistence
            try:
                shutil.chown(self.dir, "mosquitto")
            except (LookupError, OSError):
                pass
        self._spawn(["mosquitto", "-c", conf])
        wait_until(self._ready, 15, "mosquitto")

    def _ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError("mosquitto exited:\n" + self.logtext())
        with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
            return True

    @property
    def url(self):
        return f"tcp://127.0.0.1:{self.port}"

    def publish(self, topic, payload, qos=1, retain=False):
        argv = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-q", str(qos),
                "-t", topic]
        if retain:
            argv.append("-r")
        if isinstance(payload, bytes):
            argv += ["-s"]
            subprocess.run(argv, input=payload, check=True, timeout=10)
        else:
            argv += ["-m", payload]
            subprocess.run(argv, check=True, timeout=10)

    def publish_lines(self, topic, lines, qos=1):
        """One message per line through a single mosquitto_pub connection."""
        argv = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-q", str(qos),
                "-t", topic, "-l"]
        subprocess.run(argv, input=("\n".join(lines) + "\n").encode(), check=True, timeout=120)


class Influx(Server):
    """InfluxDB 1.x (Debian's influxd) with its own directories and ports."""
    name = "influxdb"

    def __init__(self, port=None, auth=False):
        super().__init__()
        self.port = port or free_port()
        self.rpc_port = free_port()
        self.auth = auth

    def start(self):
        conf = os.path.join(self.dir, "influxdb.conf")
        with open(conf, "w") as f:
            f.write(f"""reporting-disabled = true
bind-address = "127.0.0.1:{self.rpc_port}"
[meta]
  dir = "{self.dir}/meta"
[data]
  dir = "{self.dir}/data"
  wal-dir = "{self.dir}/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
  auth-enabled = {"true" if self.auth else "false"}
[monitor]
  store-enabled = false
""")
        self._spawn(["influxd", "-config", conf])
        wait_until(self._ready, 60, "influxd")

    def _ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError("influxd exited:\n" + self.logtext())
        with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as r:
            return r.status == 204

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def query(self, q, db=None, user=None, password=None, method="GET"):
        params = {"q": q}
        if db:
            params["db"] = db
        if user:
            params["u"] = user
            params["p"] = password
        data = urllib.parse.urlencode(params)
        if method == "POST":
            req = urllib.request.Request(f"{self.url}/query", data=data.encode(), method="POST")
        else:
            req = urllib.request.Request(f"{self.url}/query?{data}")
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def create_db(self, name):
        self.query(f'CREATE DATABASE "{name}"', method="POST")

    def rows(self, q, db):
        """Rows of the first series of a SELECT as dicts (column -> value)."""
        res = self.query(q, db=db)["results"][0]
        out = []
        for s in res.get("series", []):
            cols = s["columns"]
            for v in s["values"]:
                d = dict(zip(cols, v))
                d.update(s.get("tags", {}))
                out.append(d)
        return out


class Victoria(Server):
    """VictoriaMetrics single node (Debian's victoria-metrics)."""
    name = "victoria-metrics"

    def __init__(self, port=None, args=()):
        super().__init__()
        self.port = port or free_port()
        self.args = list(args)

    def start(self):
        """Starts (or restarts, on the same port and data) the node."""
        self._spawn(["victoria-metrics", f"-httpListenAddr=127.0.0.1:{self.port}",
                     f"-storageDataPath={self.dir}/data", "-retentionPeriod=100y",
                     "-search.latencyOffset=0s", "-loggerLevel=ERROR"] + self.args)
        wait_until(self._ready, 60, "victoria-metrics")

    def _ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError("victoria-metrics exited:\n" + self.logtext())
        with urllib.request.urlopen(f"{self.url}/health", timeout=1) as r:
            return r.status == 200

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def export(self, match='{__name__=~".+"}'):
        """All series matching, as a list of dicts {metric, values, timestamps}."""
        urllib.request.urlopen(
            urllib.request.Request(f"{self.url}/internal/force_flush"), timeout=30).read()
        data = urllib.parse.urlencode({"match[]": match}).encode()
        with urllib.request.urlopen(urllib.request.Request(
                f"{self.url}/api/v1/export", data=data), timeout=30) as r:
            return [json.loads(line) for line in r.read().decode().splitlines() if line]


class Vmagent(Server):
    """vmagent (Debian's victoria-metrics package): accepts line protocol on /write and
    replicates it to every storage node, buffering on disk for a node that is down."""
    name = "vmagent"

    def __init__(self, nodes, port=None):
        super().__init__()
        self.port = port or free_port()
        self.nodes = nodes

    def start(self):
        self._spawn(["vmagent", f"-httpListenAddr=127.0.0.1:{self.port}",
                     f"-remoteWrite.tmpDataPath={self.dir}/buffer", "-remoteWrite.flushInterval=200ms",
                     "-loggerLevel=ERROR"]
                    + [f"-remoteWrite.url={n.url}/api/v1/write" for n in self.nodes])
        wait_until(self._ready, 60, "vmagent")

    def _ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError("vmagent exited:\n" + self.logtext())
        with urllib.request.urlopen(f"{self.url}/health", timeout=1) as r:
            return r.status == 200

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"


class Oeed(Server):
    """The freshly built daemon with a config written to its own directory."""
    name = "oeed"

    def __init__(self, config_text, args=(), env=None):
        super().__init__()
        self.config_text = config_text.replace("@STATE_DIR@", os.path.join(self.dir, "state"))
        self.args = list(args)
        self.env = env
        self.config = os.path.join(self.dir, "oeed.yaml")
        self.stdout_path = os.path.join(self.dir, "stdout")

    def start(self):
        os.makedirs(os.path.join(self.dir, "state"), exist_ok=True)
        with open(self.config, "w") as f:
            f.write(self.config_text)
        self._out = open(self.stdout_path, "ab")
        self._logf = open(self.log, "ab")
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        self.proc = subprocess.Popen([OEED, "-c", self.config] + self.args, stdout=self._out,
                                     stderr=self._logf, stdin=subprocess.DEVNULL, env=env)

    def stdout(self):
        with open(self.stdout_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


def run_oeed(args, input=None, timeout=300, check=False):
    """Runs the oeed binary to completion (replay, --check-config); returns CompletedProcess."""
    return subprocess.run([OEED] + list(args), input=input, capture_output=True,
                          timeout=timeout, check=check)


# ---- InfluxDB line protocol, as interface.md writes it: measurement[,tag=v...] fields ts.
def _split_unescaped(s, sep):
    """Splits at `sep` outside double quotes, honouring backslash escapes."""
    parts, cur, i, quoted = [], [], 0, False
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            cur.append(s[i:i + 2])
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif c == sep and not quoted:
            parts.append("".join(cur))
            cur = []
            i += 1
            continue
        cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


def _unescape(s):
    return re.sub(r"\\(.)", r"\1", s)


def _field_value(v):
    if v.startswith('"'):
        assert v.endswith('"') and len(v) >= 2, v
        return _unescape(v[1:-1])
    if v in ("true", "t", "T", "True", "TRUE"):
        return True
    if v in ("false", "f", "F", "False", "FALSE"):
        return False
    if v.endswith("i"):
        return int(v[:-1])
    return float(v)


def parse_line(line):
    """One line -> (measurement, {tag: value}, {field: value}, timestamp)."""
    head, fields, ts = _split_unescaped(line, " ")
    key = _split_unescaped(head, ",")
    tags = {}
    for kv in key[1:]:
        k, v = _split_unescaped(kv, "=")
        tags[_unescape(k)] = _unescape(v)
    out = {}
    for kv in _split_unescaped(fields, ","):
        kv_parts = _split_unescaped(kv, "=")
        k, v = kv_parts[0], "=".join(kv_parts[1:])
        out[_unescape(k)] = _field_value(v)
    return _unescape(key[0]), tags, out, int(ts)


class TestCase:
    """Tiny runner: methods named test_* run in order; prints one line per test and exits 1
    when any failed. Usage: `if __name__ == "__main__": TestCase.main(MyTests)`."""

    @staticmethod
    def main(cls):
        import sys
        import traceback
        names = [n for n in sorted(vars(cls)) if n.startswith("test_")]
        only = sys.argv[1:]
        failed = 0
        for n in names:
            if only and n not in only:
                continue
            t0 = time.monotonic()
            try:
                getattr(cls(), n)()
                print(f"ok   {n} ({time.monotonic() - t0:.1f}s)", flush=True)
            except Exception:
                failed += 1
                print(f"FAIL {n} ({time.monotonic() - t0:.1f}s)", flush=True)
                traceback.print_exc()
        print(f"{len(names) - failed if not only else len(only) - failed} passed, {failed} failed")
        sys.exit(1 if failed else 0)
