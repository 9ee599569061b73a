"""Integration tests of the influxdb output (daemon/output_influx.c, spool.c), part 2: https
(a CA and a server certificate made with openssl, VictoriaMetrics serving TLS), v1 basic auth
against influxd with auth-enabled, the v2 token, 401/403/404 answers, create_database, and
outages seen by the real daemon (influxd stopped mid-stream, and oeed restarted while it is
down), checked against the daemon's own file output of the same run."""
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILD, Influx, Mosquitto, Oeed, TestCase, Victoria, wait_until  # noqa: E402
from fake_http import FakeInflux, _Handler  # noqa: E402

DRIVER = os.environ.get("OEED_OUTPUT_DRIVER", os.path.join(BUILD, "tests", "oeed-output-driver"))
T0 = 1700000000000  # ms; deterministic point timestamps


def run_driver(args, lines=(), timeout=120):
    """Runs the driver with `lines` on stdin; returns (stats dict, stderr text)."""
    p = subprocess.run([DRIVER] + list(args), input="".join(l + "\n" for l in lines).encode(),
                       capture_output=True, timeout=timeout)
    err = p.stderr.decode("utf-8", "replace")
    if p.returncode != 0:
        raise AssertionError(f"driver exited {p.returncode}: {err[-2000:]}")
    return json.loads(p.stdout), err


def eq(a, b, what=""):
    if a != b:
        raise AssertionError(f"{what}: {a!r} != {b!r}")


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def write_file(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True,
                   timeout=60)


def make_ca(d, name):
    """A self-signed CA: d/name.pem, d/name.key."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
            "-subj", f"/CN=oeed test {name}", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    return os.path.join(d, f"{name}.pem")


def make_server_cert(d, ca):
    """A server certificate for the IP address 127.0.0.1 (SAN), signed by CA `ca`."""
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=oeed test server",
            cwd=d)
    write_file(os.path.join(d, "server.ext"), "subjectAltName=IP:127.0.0.1\n"
               "extendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext",
            cwd=d)
    return os.path.join(d, "server.pem"), os.path.join(d, "server.key")


class TlsVictoria(Victoria):
    """VictoriaMetrics serving https with its own -tls flags."""

    def __init__(self, cert, key, ca):
        super().__init__()
        self.cert, self.key, self.ca = cert, key, ca

    def start(self):
        import ssl
        self._ctx = ssl.create_default_context(cafile=self.ca)
        self._spawn(["victoria-metrics", f"-httpListenAddr=127.0.0.1:{self.port}",
                     f"-storageDataPath={self.dir}/data", "-retentionPeriod=100y",
                     "-search.latencyOffset=0s", "-loggerLevel=ERROR", "-tls",
                     f"-tlsCertFile={self.cert}", f"-tlsKeyFile={self.key}"])
        wait_until(self._ready, 60, "victoria-metrics (https)")

    def _ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError("victoria-metrics exited:\n" + self.logtext())
        with urllib.request.urlopen(f"{self.url}/health", timeout=1, context=self._ctx) as r:
            return r.status == 200

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}"

    def values(self, metric):
        """{timestamp: value} of every sample of `metric`."""
        urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=30,
                               context=self._ctx).read()
        data = urllib.parse.urlencode({"match[]": f'{{__name__="{metric}"}}'}).encode()
        with urllib.request.urlopen(urllib.request.Request(f"{self.url}/api/v1/export",
                                                           data=data),
                                    timeout=30, context=self._ctx) as r:
            out = {}
            for line in r.read().decode().splitlines():
                s = json.loads(line)
                out.update(zip(s["timestamps"], s["values"]))
            return out


def influx_post(db, q, user=None, password=None):
    """POST /query with basic auth; returns (status, body)."""
    req = urllib.request.Request(f"{db.url}/query", method="POST",
                                 data=urllib.parse.urlencode({"q": q}).encode())
    if user:
        req.add_header("Authorization", "Basic " + base64.b64encode(
            f"{user}:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def influx_points(db, q, database, user=None, password=None):
    """Every point of a SELECT with GROUP BY *: list of dicts, time in ms, tags merged in."""
    params = {"q": q, "db": database, "epoch": "ms"}
    if user:
        params.update(u=user, p=password)
    with urllib.request.urlopen(f"{db.url}/query?" + urllib.parse.urlencode(params),
                                timeout=30) as r:
        res = json.loads(r.read())["results"][0]
    check("error" not in res, f"query failed: {res}")
    out = []
    for s in res.get("series", []):
        for v in s.get("values", []):
            d = dict(zip(s["columns"], v))
            d.update(s.get("tags", {}))
            out.append(d)
    return out


def count_lines(text, needle):
    return sum(1 for line in text.splitlines() if needle in line)


class TokenFake(FakeInflux):
    """The fake server answering 401 unless the request carries `Authorization: Token TOKEN`
    (the check is made per request, before the script)."""

    def __init__(self, token):
        super().__init__()
        self.token = token

    def start(self):
        from http.server import ThreadingHTTPServer

        fake = self

        class Handler(_Handler):
            def do_POST(self):
                if self.headers.get("Authorization") != f"Token {fake.token}":
                    with fake.lock:
                        fake.script.insert(0, {"status": 401, "body":
                                               '{"code":"unauthorized","message":"unauthorized '
                                               'access"}'})
                super().do_POST()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        self.httpd.fake = self
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()


# ---- the real daemon ----

MACHINES = ["m1", "m2", "m3", "m4"]
STATES = ["RUN", "IDLE", "FAULT"]
STEP_S = 0.05     # real time between two messages of a machine
# Payload time between two messages of a machine: the payload clock runs 400x ahead of the
# wall, so that no event is ever behind time the engine has already accounted, even after
# the ~8 s a restart takes (a machine's clock moves on with the wall clock meanwhile). Such a
# "late" event would be applied at that time instead of its own, and several of them at one
# time collapse into one InfluxDB point (see the report); INFLUX2_STEP_TS=1000 shows it.
STEP_TS = int(os.environ.get("INFLUX2_STEP_TS", "20000"))
# With record: false a clean stop under a steady stream loses the messages oeed acknowledges
# during its MQTT disconnect (up to 2 s, see the report); INFLUX2_RECORD=false shows it.
RECORD = os.environ.get("INFLUX2_RECORD", "true")


def daemon_config(state_dir, mq_port, db_url, file_path):
    return f"""state_dir: "{state_dir}"
log_level: info
max_clock_skew: 7d
checkpoint_interval: 1s
record: {RECORD}
mqtt: {{ url: "tcp://127.0.0.1:{mq_port}", client_id: oeed-influx2, qos: 1,
        clean_session: false, reconnect_min: 100ms, reconnect_max: 1s,
        status_topic: oeed/status }}
sources:
  - topic: "plant/{{machine}}/state"
    decoder: json
    fields: {{ state: "$.state", timestamp: "$.ts" }}
    map: {{ RUN: running, IDLE: idle, FAULT: down/fault }}
machines:
  defaults: {{ stale_after: 0 }}
report:
  interval: 1s
  windows: [1m]
  periods: []
outputs:
  - type: influxdb
    name: db
    url: {db_url}
    api: v1
    database: plant
    batch_lines: 40
    flush_interval: 200ms
    connect_timeout: 500ms
    timeout: 2s
  - type: file
    name: lines
    path: "{file_path}"
"""


class Publisher:
    """A steady stream of state changes: one mosquitto_pub -l per machine, every machine
    changing state every STEP_S with payload timestamps STEP_TS apart."""

    def __init__(self, mq, base_ts):
        self.base = base_ts
        self.events = []  # (machine, ts, state) published
        self.pubs = [subprocess.Popen(
            ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(mq.port), "-q", "1",
             "-t", f"plant/{m}/state", "-l"], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for m in MACHINES]
        self.step = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        next_at = time.monotonic()
        while not self.stopping.is_set():
            for i, (m, p) in enumerate(zip(MACHINES, self.pubs)):
                ts = self.base + self.step * STEP_TS + i * 10
                state = STATES[(self.step + i) % len(STATES)]
                p.stdin.write(json.dumps({"ts": ts, "state": state}).encode() + b"\n")
                p.stdin.flush()
                self.events.append((m, ts, state))
            self.step += 1
            next_at += STEP_S
            time.sleep(max(0.0, next_at - time.monotonic()))

    def stop(self):
        self.stopping.set()
        self.thread.join()
        for p in self.pubs:
            p.stdin.close()
        for p in self.pubs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                raise AssertionError("mosquitto_pub did not finish")


LINE_RE = re.compile(r"^machine_state,(\S+) (.*) (\d+)$")


def file_states(path):
    """(machine, time, state) of every machine_state line of the file output."""
    out = []
    with open(path) as f:
        for line in f.read().splitlines():
            m = LINE_RE.match(line)
            if not m:
                continue
            tags = dict(kv.split("=", 1) for kv in m.group(1).split(","))
            state = re.search(r'(?:^|,)state="([^"]*)"', m.group(2))
            out.append((tags["machine"], int(m.group(3)), state.group(1)))
    return out


def max_self_metric(path, field):
    """The largest value of an integer field of the `oeed` self-metric points in the file."""
    best = 0
    with open(path) as f:
        for line in f.read().splitlines():
            m = re.search(rf"^oeed,.* (?:.*,)?{field}=(\d+)i", line)
            if m:
                best = max(best, int(m.group(1)))
    return best


def db_states(db):
    return [(p["machine"], p["time"], p["state"]) for p in
            influx_points(db, "SELECT state FROM machine_state GROUP BY *", "plant")]


def wait_online(mq):
    """The daemon publishes "online" after subscribing on the same connection."""
    p = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(mq.port),
                        "-t", "oeed/status", "-C", "1", "-W", "20"],
                       capture_output=True, timeout=30)
    eq(p.stdout.decode().strip(), "online", "daemon status")


class Influx2Tests:
    def __init__(self):
        self.state = tempfile.mkdtemp(prefix="oeed-influx2-test-")

    def __del__(self):
        shutil.rmtree(self.state, ignore_errors=True)

    def args(self, url, **kw):
        base = {"url": url, "api": 1, "database": "oeed", "state_dir": self.state,
                "log_level": "info"}
        base.update(kw)
        return [f"{k}={v}" for k, v in base.items()]

    # ---- https ----

    def test_a_https(self):
        certs = os.path.join(self.state, "certs")
        os.makedirs(certs)
        ca = make_ca(certs, "ca")
        other = make_ca(certs, "other")
        cert, key = make_server_cert(certs, "ca")
        with TlsVictoria(cert, key, ca) as vm:
            def lines(tag, n, first):
                return [f"tls,run={tag} v={i}i {T0 + i}" for i in range(first, first + n)]

            # The right CA, verification on: delivered.
            st, _ = run_driver(self.args(vm.url, name="good", ca_file=ca, verify=1),
                               lines("good", 20, 0))
            eq(st["lines_written"], 20, "written with the right CA")
            eq(vm.values("tls_v"), {T0 + i: i for i in range(20)}, "stored over https")

            # Another CA: the handshake fails, retried with backoff, everything spooled.
            st, err = run_driver(self.args(vm.url, name="bad", ca_file=other, verify=1,
                                           close_timeout_ms=2500), lines("bad", 30, 100))
            eq(st["lines_written"], 0, "written with a wrong CA")
            eq(st["lines_dropped"], 0, "dropped with a wrong CA")
            eq(st["spool_left_lines"], 30, "spooled with a wrong CA")
            check(2 <= st["write_errors"] <= 5, f"attempts with backoff in 2.5 s: {st}")
            check("certificate" in st["last_error"], f"last_error: {st['last_error']}")
            check(count_lines(err, "SSL certificate problem") >= 1, f"no TLS log line: {err}")

            # The host name is checked too: the certificate names 127.0.0.1, not localhost.
            st, _ = run_driver(self.args(vm.url.replace("127.0.0.1", "localhost"),
                                         name="host", ca_file=ca, verify=1,
                                         close_timeout_ms=1500), lines("host", 5, 200))
            eq(st["lines_written"], 0, "written to a name the certificate lacks")
            check("localhost" in st["last_error"], f"last_error: {st['last_error']}")

            # verify: false with the wrong CA: the spooled lines and new ones are delivered.
            st, _ = run_driver(self.args(vm.url, name="bad", ca_file=other, verify=0),
                               lines("bad", 10, 130))
            eq(st["lines_written"], 40, "written without verification (30 spooled + 10)")
            eq(st["spool_left_lines"], 0, "spool empty")
            got = vm.values("tls_v")
            eq(sorted(got), sorted([T0 + i for i in range(20)] +
                                   [T0 + i for i in range(100, 140)]), "timestamps stored")
            check(not any(T0 + i in got for i in range(200, 205)), "localhost run stored")

    # ---- v1 basic auth ----

    def test_b_v1_basic_auth(self):
        user, pw = "oeedw", "s3cr:et pw"
        with Influx(auth=True) as db:
            # The first admin user may be created without credentials.
            s, body = influx_post(db, f"CREATE USER {user} WITH PASSWORD '{pw}' "
                                  "WITH ALL PRIVILEGES")
            eq(s, 200, f"create user: {body}")
            s, body = influx_post(db, "CREATE DATABASE oeed", user, pw)
            eq((s, "error" in body), (200, False), f"create database: {body}")
            s, _ = influx_post(db, "SHOW DATABASES")
            eq(s, 401, "auth is really on")
            sent = [f"auth,k=a v={i}i {T0 + i}" for i in range(50)]

            bad = write_file(os.path.join(self.state, "bad_pw"), "wrong\n")
            st, err = run_driver(self.args(db.url, username=user, password_file=bad,
                                           close_timeout_ms=4000), sent[:30])
            eq(st["lines_written"], 0, "written with a wrong password")
            eq(st["lines_dropped"], 0, "dropped with a wrong password")
            eq(st["spool_left_lines"], 30, "spooled with a wrong password")
            # Backoff 0.5, 1, 2 s (+-20 %): 3 to 5 attempts in 4 s, not hundreds.
            check(3 <= st["write_errors"] <= 5, f"attempts with backoff in 4 s: {st}")
            eq(st["lines_retried"], 30 * st["write_errors"], "lines retried per attempt")
            check(st["last_error"].startswith("HTTP 401"), f"last_error: {st['last_error']}")
            # Loud (error level) but rate-limited to 2 lines a minute.
            eq(count_lines(err, "HTTP 401, the server refuses our credentials"), 2,
               f"401 log lines in:\n{err}")

            # The password is the file's one line; its trailing newline is not part of it.
            good = write_file(os.path.join(self.state, "good_pw"), pw + "\n")
            st, err = run_driver(self.args(db.url, username=user, password_file=good),
                                 sent[30:])
            eq(st["lines_written"], 50, "written: 30 spooled + 20")
            eq(st["spool_left_lines"], 0, "spool empty")
            eq(count_lines(err, "HTTP 401"), 0, "no 401 with the right password")
            rows = influx_points(db, "SELECT v FROM auth", "oeed", user, pw)
            eq([(r["time"], r["v"]) for r in rows], [(T0 + i, i) for i in range(50)], "rows")

    # ---- v2 token ----

    def test_c1_v2_token(self):
        org, bucket = "acme corp", "plant/1&x"
        with TokenFake("t0k-en/xyz==") as fake:
            sent = [f"tok v={i}i {T0 + i}" for i in range(12)]
            wrong = write_file(os.path.join(self.state, "wrong_token"), "t0k-en\n")
            st, err = run_driver(self.args(fake.url, api=2, org=org, bucket=bucket,
                                           token_file=wrong, close_timeout_ms=2000), sent[:8])
            eq(fake.accepted_lines(), [], "accepted with a wrong token")
            eq(st["spool_left_lines"], 8, "spooled")
            check(st["last_error"].startswith("HTTP 401"), st["last_error"])
            check(count_lines(err, "HTTP 401") >= 1, f"no 401 log line: {err}")
            eq({r["auth"] for r in fake.requests}, {"Token t0k-en"}, "wrong token sent")

            right = write_file(os.path.join(self.state, "token"), "t0k-en/xyz==\n")
            st, _ = run_driver(self.args(fake.url, api=2, org=org, bucket=bucket,
                                         token_file=right), sent[8:])
            eq(fake.accepted_lines(), sent, "all lines, in order, once")
            eq(st["lines_written"], 12, "written")
            for r in fake.requests:
                u = urllib.parse.urlsplit(r["path"])
                eq(u.path, "/api/v2/write", "path")
                eq(urllib.parse.parse_qs(u.query),
                   {"org": [org], "bucket": [bucket], "precision": ["ms"]}, "query")

    # ---- 403, 404 ----

    def test_c2_403_retried(self):
        with FakeInflux() as fake:
            fake.script = [{"status": 403, "body": '{"error":"forbidden"}'}] * 2
            sent = [f"m v={i}i {T0 + i}" for i in range(7)]
            st, err = run_driver(self.args(fake.url, username="u",
                                           password_file=write_file(
                                               os.path.join(self.state, "pw"), "p")), sent)
            eq([r["status"] for r in fake.requests], [403, 403, 204], "answers")
            eq([r["lines"] for r in fake.requests], [sent] * 3, "the same batch each time")
            eq({r["auth"] for r in fake.requests},
               {"Basic " + base64.b64encode(b"u:p").decode()}, "basic auth header")
            g1 = fake.requests[1]["t"] - fake.requests[0]["t"]
            g2 = fake.requests[2]["t"] - fake.requests[1]["t"]
            check(0.38 <= g1 <= 0.7 and 0.78 <= g2 <= 1.3, f"backoff gaps {g1:.2f} {g2:.2f}")
            eq((st["lines_written"], st["lines_dropped"], st["lines_retried"]), (7, 0, 14),
               "written, dropped, retried")
            eq(count_lines(err, "HTTP 403, the server refuses our credentials"), 2,
               f"403 log lines:\n{err}")

    def test_c3_404_retried(self):
        for api, body, logged in (
                (1, '{"error":"database not found: \\"oeed\\""}', "database not found"),
                (2, '{"code":"not found","message":"bucket \\"oeed\\" not found"}',
                 "bucket or org not found")):
            with FakeInflux() as fake:
                fake.script = [{"status": 404, "body": body}] * 2
                sent = [f"m v={i}i {T0 + i}" for i in range(5)]
                kw = {"api": 2, "org": "o", "bucket": "oeed"} if api == 2 else {}
                st, err = run_driver(self.args(fake.url, name=f"v{api}", **kw), sent)
                eq([r["status"] for r in fake.requests], [404, 404, 204], f"v{api} answers")
                eq(fake.accepted_lines(), sent, f"v{api} delivered after the 404s")
                eq((st["lines_written"], st["lines_dropped"]), (5, 0), f"v{api} stats")
                eq(count_lines(err, f"HTTP 404, {logged}"), 2, f"v{api} 404 log:\n{err}")
                # Without create_database nobody asks to create anything.
                check(all(r["path"].startswith("/write") or r["path"].startswith("/api/v2")
                          for r in fake.requests), "unexpected request")

    def test_c4_create_database(self):
        with Influx() as db:
            sent = [f"cd v={i}i {T0 + i}" for i in range(40)]
            # Without create_database: 404, retried, spooled; the database is not created.
            st, err = run_driver(self.args(db.url, database="made", close_timeout_ms=1500),
                                 sent[:25])
            eq((st["lines_written"], st["spool_left_lines"]), (0, 25), "without create")
            check(count_lines(err, "HTTP 404, database not found") >= 1, err)
            names = influx_points(db, "SHOW DATABASES", "_internal")
            check({"name": "made"} not in names, f"created without create_database: {names}")

            # With create_database: true the 404 makes oeed create it; spool + new arrive.
            st, err = run_driver(self.args(db.url, database="made", create_database=1),
                                 sent[25:])
            eq((st["lines_written"], st["spool_left_lines"]), (40, 0), "with create")
            eq(count_lines(err, 'created database "made"'), 1, err)
            rows = influx_points(db, "SELECT v FROM cd", "made")
            eq([(r["time"], r["v"]) for r in rows], [(T0 + i, i) for i in range(40)], "rows")

    # ---- the real daemon ----

    def run(self, restart):
        tmp = tempfile.mkdtemp(prefix="oeed-influx2-daemon-")
        state_dir = os.path.join(tmp, "state")
        file_path = os.path.join(tmp, "lines.lp")
        oe = oe2 = pub = None
        try:
            with Mosquitto() as mq, Influx() as db:
                db.create_db("plant")
                text = daemon_config(state_dir, mq.port, db.url, file_path)
                oe = Oeed(text)
                oe.start()
                wait_online(mq)
                pub = Publisher(mq, int(time.time() * 1000) - 3 * 3600 * 1000)
                time.sleep(2.5)
                db.stop()
                time.sleep(2.0)
                if restart:
                    # SIGTERM while the database is down: the output gives up after its
                    # close timeout and spools; a second oeed with the same state_dir and
                    # config takes over while the stream goes on.
                    oe.proc.send_signal(signal.SIGTERM)
                    eq(oe.proc.wait(30), 0, "exit status after SIGTERM")
                    spool = os.path.join(state_dir, "spool", "db")
                    check(any(n.endswith(".seg") for n in os.listdir(spool)),
                          "no spool segment after the stop")
                    oe2 = Oeed(text)
                    oe2.start()
                    time.sleep(2.0)
                db.start()
                time.sleep(2.5)
                pub.stop()
                published = pub.events
                pub = None

                run = oe2 or oe
                log = oe.logtext() + (oe2.logtext() if oe2 else "")
                wanted = set(published)

                def settled():
                    f = file_states(file_path)
                    return wanted <= set(f) and len(db_states(db)) == len(f)
                try:
                    wait_until(settled, 60, "every state in the file and in InfluxDB")
                except TimeoutError:
                    f, got = file_states(file_path), db_states(db)
                    raise AssertionError(
                        f"published, not in the file: {sorted(wanted - set(f))[:10]} "
                        f"({len(wanted - set(f))}); file {len(f)}, InfluxDB {len(got)}; "
                        f"file only: {sorted(set(f) - set(got))[:10]}; InfluxDB only: "
                        f"{sorted(set(got) - set(f))[:10]}\nlog:\n{log[-3000:]}")
                run.proc.send_signal(signal.SIGTERM)
                eq(run.proc.wait(30), 0, "exit status after SIGTERM")
                # What the stop wrote went to both outputs too.
                f = file_states(file_path)
                wait_until(lambda: len(db_states(db)) >= len(f), 15, "the last lines")
                got = db_states(db)

                eq(len(f), len(set(f)), "the file output has no duplicate point")
                eq(len(got), len(f), "machine_state points in InfluxDB vs the file")
                eq(sorted(got), sorted(f), "machine_state points")
                check(wanted <= set(got), "published states missing")
                log = oe.logtext() + (oe2.logtext() if oe2 else "")
                check("retrying" in log, f"the outage was not seen:\n{log[-3000:]}")
                check(max_self_metric(file_path, "lines_spooled") > 0, "nothing was spooled")
                if restart:
                    check("spooled lines from before are sent first" in oe2.logtext(),
                          f"the spool was not taken over:\n{oe2.logtext()[-3000:]}")
                # The restart gap: every machine turns unknown (state "") once, and only then.
                eq(sorted(m for m, _, st in got if st == ""), MACHINES if restart else [],
                   "unknown points")
                return len(got), len(published)
        finally:
            if pub:
                pub.stop()
            for o in (oe, oe2):
                if o:
                    o.__exit__(None, None, None)
            shutil.rmtree(tmp, ignore_errors=True)

    def test_d1_daemon_influxd_outage(self):
        n, published = self.run(restart=False)
        check(published >= 4 * 100, f"only {published} messages published")

    def test_d2_daemon_restart_while_down(self):
        n, published = self.run(restart=True)
        check(published >= 4 * 140, f"only {published} messages published")


if __name__ == "__main__":
    TestCase.main(Influx2Tests)
