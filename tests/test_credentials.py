"""Secrets the service can read: the daemon runs as an unprivileged user (setpriv, uid/gid
65534, no groups, as DynamicUser= gives) with its secrets in a credentials directory only that
uid can read (as LoadCredential= gives), against a real mosquitto with a password file and
anonymous access off, and a real InfluxDB 1.x with auth-enabled. Data arrives (read back with
auth); a wrong or missing password fails with an error that names the broker or the output."""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import OEED, Influx, Mosquitto, stop_pid, wait_until  # noqa: E402

NOBODY = 65534
MQTT_USER, MQTT_PW = "oeed", "mqtt-pw-3k9"
DB_ADMIN, DB_ADMIN_PW = "admin", "admin-pw-7x2"
DB_USER, DB_PW = "oeed", "influx-pw-4q1"

CFG = """\
state_dir: {state}
mqtt:
  url: tcp://127.0.0.1:{mqtt_port}
  client_id: oeed-credentials-test
  username: {mqtt_user}
  password_file: credential:mqtt.secret
sources:
  - topic: "f/{{machine}}/state"
    decoder: text
    signal: state
machines:
  defaults: {{ stale_after: 0 }}
report:
  interval: 1s
outputs:
  - type: influxdb
    name: plant-db
    url: {db_url}
    database: oeed
    username: {db_user}
    password_file: credential:influx.secret
    flush_interval: 100ms
"""


def as_nobody():
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


class Setup:
    def __init__(self, mq, db, mqtt_pw=MQTT_PW, db_pw=DB_PW, mqtt_user=MQTT_USER):
        self.dir = tempfile.mkdtemp(prefix="oeed-credentials-")
        os.chmod(self.dir, 0o755)
        self.state = os.path.join(self.dir, "state")
        os.makedirs(self.state)
        os.chown(self.state, NOBODY, NOBODY)
        # what LoadCredential= gives: a directory and files only the service uid can read
        self.creds = os.path.join(self.dir, "creds")
        os.makedirs(self.creds)
        for name, pw in (("mqtt.secret", mqtt_pw), ("influx.secret", db_pw)):
            p = os.path.join(self.creds, name)
            with open(p, "w") as f:
                f.write(pw + "\n")
            os.chown(p, NOBODY, NOBODY)
            os.chmod(p, 0o400)
        os.chown(self.creds, NOBODY, NOBODY)
        os.chmod(self.creds, 0o500)
        self.config = os.path.join(self.dir, "oeed.yaml")
        with open(self.config, "w") as f:
            f.write(CFG.format(state=self.state, mqtt_port=mq.port, mqtt_user=mqtt_user,
                               db_url=db.url, db_user=DB_USER))
        os.chmod(self.config, 0o644)
        self.log = os.path.join(self.dir, "oeed.log")
        self.env = dict(os.environ, CREDENTIALS_DIRECTORY=self.creds)
        self.proc = None

    def check(self):
        return subprocess.run(as_nobody() + [OEED, "-c", self.config, "--check-config"],
                              capture_output=True, timeout=60, env=self.env)

    def start(self):
        self._logf = open(self.log, "ab")
        self.proc = subprocess.Popen(as_nobody() + [OEED, "-c", self.config],
                                     stdout=subprocess.DEVNULL, stderr=self._logf,
                                     stdin=subprocess.DEVNULL, env=self.env)

    def logtext(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def close(self):
        stop_pid(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


def broker(tmp):
    """mosquitto with a password file and no anonymous access."""
    mq = Mosquitto()
    pwfile = os.path.join(mq.dir, "passwd")
    subprocess.run(["mosquitto_passwd", "-b", "-c", pwfile, MQTT_USER, MQTT_PW], check=True,
                   timeout=30, capture_output=True)
    if os.geteuid() == 0:
        shutil.chown(pwfile, "mosquitto")  # it reads the file after dropping to its user
    mq.extra_conf = (f"listener {mq.port} 127.0.0.1\nallow_anonymous false\n"
                     f"password_file {pwfile}\n")
    return mq


def database():
    db = Influx(auth=True)
    return db


def query(db, q, dbname=None, auth=True):
    """/query with HTTP basic auth as the admin (InfluxDB 1.6 takes u/p from the URL or the
    Authorization header, not from a POST body)."""
    params = {"q": q}
    if dbname:
        params["db"] = dbname
    req = urllib.request.Request(f"{db.url}/query", data=urllib.parse.urlencode(params).encode(),
                                 method="POST")
    if auth:
        tok = base64.b64encode(f"{DB_ADMIN}:{DB_ADMIN_PW}".encode()).decode()
        req.add_header("Authorization", "Basic " + tok)
    with urllib.request.urlopen(req, timeout=30) as r:
        res = json.loads(r.read())
    assert "error" not in res["results"][0], res
    return res


def db_setup(db):
    # with auth on, the first user must be an admin, created without credentials
    query(db, f"CREATE USER {DB_ADMIN} WITH PASSWORD '{DB_ADMIN_PW}' WITH ALL PRIVILEGES",
          auth=False)
    query(db, 'CREATE DATABASE "oeed"')
    query(db, f"CREATE USER {DB_USER} WITH PASSWORD '{DB_PW}'")
    query(db, f'GRANT WRITE ON "oeed" TO {DB_USER}')
    # and anonymous access is refused
    try:
        query(db, "SHOW DATABASES", auth=False)
        raise AssertionError("InfluxDB answered without credentials")
    except urllib.error.HTTPError as e:
        assert e.code == 401, e


def states(db):
    res = query(db, "SELECT * FROM machine_state", dbname="oeed")["results"][0]
    rows = []
    for s in res.get("series", []):
        for v in s["values"]:
            rows.append(dict(zip(s["columns"], v)))
    return rows


def publish(mq, topic, payload, user=MQTT_USER, pw=MQTT_PW):
    return subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(mq.port), "-q", "1",
                           "-u", user, "-P", pw, "-t", topic, "-m", payload],
                          capture_output=True, timeout=10)


def skip_unless_root():
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        print("skip: needs root and setpriv to run the daemon as uid 65534")
        return True
    return False


class Credentials:
    def test_service_user_with_credentials_connects_to_both(self):
        if skip_unless_root():
            return
        with broker(None) as mq, database() as db:
            db_setup(db)
            # the broker and the database really do refuse anonymous access
            r = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(mq.port), "-t",
                                "x", "-m", "x"], capture_output=True, timeout=10)
            assert r.returncode != 0, r
            s = Setup(mq, db)
            try:
                # --check-config as the service user (what ExecStartPre= runs)
                r = s.check()
                assert r.returncode == 0, r.stderr.decode()
                out = (r.stdout + r.stderr).decode()
                assert MQTT_PW not in out and DB_PW not in out
                s.start()
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    assert publish(mq, "f/press-1/state", "running").returncode == 0
                    if any(row.get("machine") == "press-1" for row in states(db)):
                        break
                    time.sleep(0.5)
                rows = [row for row in states(db) if row.get("machine") == "press-1"]
                assert rows and rows[0]["category"] == "running", (rows, s.logtext())
                assert s.proc.poll() is None, s.logtext()
                log = s.logtext()
                assert MQTT_PW not in log and DB_PW not in log, log
                assert "refuses our credentials" not in log and "failed" not in log, log
            finally:
                s.close()

    def test_wrong_passwords_are_named(self):
        if skip_unless_root():
            return
        with broker(None) as mq, database() as db:
            db_setup(db)
            s = Setup(mq, db, mqtt_pw="wrong-mqtt", db_pw="wrong-db")
            try:
                s.start()
                want_mqtt = (f"mqtt: connect to tcp://127.0.0.1:{mq.port} failed: not authorized")
                wait_until(lambda: want_mqtt in s.logtext(), 30, "the MQTT auth error")
                assert s.proc.poll() is None  # it retries, as for any broker outage
                # an output fed by the self-metrics (report.interval 1s) meets the 401
                want_db = ("output plant-db: HTTP 401, the server refuses our credentials "
                           "(check username/password_file or token_file)")
                wait_until(lambda: want_db in s.logtext(), 30, "the InfluxDB auth error")
                log = s.logtext()
                assert "wrong-mqtt" not in log and "wrong-db" not in log, log
            finally:
                s.close()

    def test_unreadable_secret_fails_at_check_and_start(self):
        """A root-owned 0600 secret (the day-one mistake) fails the service user's
        --check-config with the key's place, and the start with exit 1."""
        if skip_unless_root():
            return
        with broker(None) as mq, database() as db:
            s = Setup(mq, db)
            try:
                pw = os.path.join(s.dir, "mqtt.secret")
                with open(pw, "w") as f:
                    f.write(MQTT_PW + "\n")
                os.chmod(pw, 0o600)
                with open(s.config) as f:
                    text = f.read().replace("credential:mqtt.secret", pw)
                with open(s.config, "w") as f:
                    f.write(text)
                r = s.check()
                assert r.returncode == 1, r
                err = r.stderr.decode().splitlines()
                assert err[0] == (f"{s.config}:6:18: mqtt.password_file: cannot read {pw}: "
                                  "Permission denied (oeed runs as uid 65534 gid 65534: make the "
                                  "file readable by that user or group, or use credential:NAME "
                                  "with the unit's LoadCredential=)"), err
                s.start()
                s.proc.wait(timeout=30)
                assert s.proc.returncode == 1, s.logtext()
                assert f"mqtt.password_file: cannot read {pw}: Permission denied" in s.logtext()
            finally:
                s.close()


if __name__ == "__main__":
    harness.TestCase.main(Credentials)
