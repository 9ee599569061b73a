"""`oeed --check-config` pre-flight (daemon/app/preflight.c): each config that loads but would
fail at start is an error at its key's file:line:column with exit 1; the cases that would run
but not as meant are warnings with exit 0; --as-service checks the files as uid 65534."""
import os
import shutil
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import OEED, run_oeed  # noqa: E402

SECRET = "pre-flight-s3cret"
NOBODY = 65534


class Case:
    """A temporary directory with a config and the files it names."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="oeed-preflight-")
        os.chmod(self.dir, 0o755)  # the as-service child must reach the files in it
        self.state = self.path("state")
        os.makedirs(self.state)
        os.chmod(self.state, 0o777)

    def path(self, name):
        return os.path.join(self.dir, name)

    def file(self, name, text, mode=0o644):
        p = self.path(name)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)
        return p

    def config(self, body):
        """`body` may use @DIR@ and @STATE@; returns the config's path."""
        text = body.replace("@DIR@", self.dir).replace("@STATE@", self.state)
        return self.file("oeed.yaml", text)

    def check(self, *extra, env=None, prefix=()):
        argv = list(prefix) + [OEED, "-c", self.path("oeed.yaml"), "--check-config"] + list(extra)
        r = subprocess.run(argv, capture_output=True, timeout=60,
                           env=dict(os.environ, **(env or {})))
        return r.returncode, r.stdout.decode(), r.stderr.decode()

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


BASE = """\
state_dir: @STATE@
sources:
  - topic: "f/{machine}/state"
    decoder: text
    signal: state
outputs:
  - type: file
    path: "@DIR@/out.lp"
"""

MQTT_AUTH = """\
state_dir: @STATE@
mqtt:
  url: tcp://127.0.0.1:1883
  username: oeed
  password_file: @PW@
sources:
  - topic: "f/{machine}/state"
    decoder: text
    signal: state
outputs:
  - type: file
    path: "@DIR@/out.lp"
"""

INFLUX = """\
state_dir: @STATE@
sources:
  - topic: "f/{machine}/state"
    decoder: text
    signal: state
outputs:
  - type: influxdb
    name: plant-db
    url: @URL@
    database: oeed
    username: oeed
    password_file: @PW@
"""


def errors(stderr):
    """The error lines (not the warnings, not the summary)."""
    return [ln for ln in stderr.splitlines()
            if not ln.startswith("oeed: ") and ": warning: " not in ln]


def warnings(stderr):
    return [ln for ln in stderr.splitlines() if ": warning: " in ln]


def expect_error(case, rc, out, err, line):
    assert rc == 1, (rc, err)
    assert errors(err) == [line], err
    assert "# config OK" not in out, out
    assert SECRET not in out + err


def as_root():
    return os.geteuid() == 0


class Preflight:
    def test_ok_config_unchanged(self):
        c = Case()
        try:
            c.config(BASE)
            rc, out, err = c.check()
            assert rc == 0 and err == "", (rc, err)
            assert out.endswith("# config OK\n"), out[-200:]
        finally:
            c.close()

    def test_missing_mqtt_password_file(self):
        c = Case()
        try:
            cfg = c.config(MQTT_AUTH.replace("@PW@", "@DIR@/mqtt.secret"))
            rc, out, err = c.check()
            expect_error(c, rc, out, err,
                         f"{cfg}:5:18: mqtt.password_file: cannot read {c.dir}/mqtt.secret: "
                         "No such file or directory")
            assert err.splitlines()[-1] == f"oeed: {cfg}: 1 error, 0 warnings: oeed would not start"
        finally:
            c.close()

    def test_missing_influx_password_file(self):
        c = Case()
        try:
            cfg = c.config(INFLUX.replace("@URL@", "http://127.0.0.1:8086")
                           .replace("@PW@", "@DIR@/influx.secret"))
            rc, out, err = c.check()
            expect_error(c, rc, out, err,
                         f"{cfg}:12:20: outputs[0].password_file: cannot read "
                         f"{c.dir}/influx.secret: No such file or directory")
        finally:
            c.close()

    def test_missing_mqtt_ca_file(self):
        c = Case()
        try:
            cfg = c.config(BASE + "mqtt:\n  url: ssl://127.0.0.1:8883\n  tls:\n"
                           "    ca_file: @DIR@/ca.pem\n")
            rc, out, err = c.check()
            expect_error(c, rc, out, err,
                         f"{cfg}:12:14: mqtt.tls.ca_file: cannot read {c.dir}/ca.pem: "
                         "No such file or directory")
            # and the daemon itself now fails at start naming it, instead of retrying forever
            r = run_oeed(["-c", cfg], timeout=20)
            assert r.returncode == 1, r
            assert (f"mqtt.tls.ca_file: cannot read {c.dir}/ca.pem: No such file or directory"
                    in r.stderr.decode()), r.stderr
        finally:
            c.close()

    def test_tls_key_empty_and_cert_directory(self):
        c = Case()
        try:
            c.file("ca.pem", "-----BEGIN CERTIFICATE-----\n")
            c.file("client.key", "")
            cfg = c.config(BASE + "mqtt:\n  url: ssl://127.0.0.1:8883\n  tls:\n"
                           "    ca_file: @DIR@/ca.pem\n    cert_file: @DIR@\n"
                           "    key_file: @DIR@/client.key\n")
            rc, out, err = c.check()
            assert rc == 1, err
            assert errors(err) == [
                f"{cfg}:13:16: mqtt.tls.cert_file: {c.dir} is a directory (name a file)",
                f"{cfg}:14:15: mqtt.tls.key_file: {c.dir}/client.key is empty"], err
        finally:
            c.close()

    def test_missing_influx_ca_file(self):
        c = Case()
        try:
            c.file("influx.secret", SECRET + "\n")
            cfg = c.config(INFLUX.replace("@URL@", "https://127.0.0.1:8086")
                           .replace("@PW@", "@DIR@/influx.secret") + "    ca_file: @DIR@/db-ca.pem\n")
            rc, out, err = c.check()
            expect_error(c, rc, out, err,
                         f"{cfg}:13:14: outputs[0].ca_file: cannot read {c.dir}/db-ca.pem: "
                         "No such file or directory")
            # at start: exit 2, the output named
            r = run_oeed(["-c", cfg], timeout=20)
            assert r.returncode == 2, r
            assert (f"output plant-db: ca_file: cannot read {c.dir}/db-ca.pem: No such file or "
                    "directory" in r.stderr.decode()), r.stderr
        finally:
            c.close()

    def test_secret_rule(self):
        """Two lines, a NUL byte: the secret reader's one rule, the content never shown."""
        c = Case()
        try:
            pw = c.file("mqtt.secret", SECRET + "\n" + SECRET + "\n", 0o600)
            cfg = c.config(MQTT_AUTH.replace("@PW@", pw))
            rc, out, err = c.check()
            expect_error(c, rc, out, err,
                         f"{cfg}:5:18: mqtt.password_file: {pw} has more than one line (only "
                         "one trailing newline is allowed)")
            with open(pw, "wb") as f:
                f.write(SECRET.encode() + b"\0\n")
            rc, out, err = c.check()
            expect_error(c, rc, out, err,
                         f"{cfg}:5:18: mqtt.password_file: {pw} contains a NUL byte")
            c.file("mqtt.secret", SECRET + "\n", 0o600)
            rc, out, err = c.check()
            assert rc == 0, err
            assert f"password_file: {pw}" in out and SECRET not in out + err
        finally:
            c.close()

    def test_credential(self):
        c = Case()
        try:
            cfg = c.config(MQTT_AUTH.replace("@PW@", "credential:mqtt.secret"))
            env = dict(os.environ)
            env.pop("CREDENTIALS_DIRECTORY", None)
            r = subprocess.run([OEED, "-c", cfg, "--check-config"], capture_output=True,
                               timeout=60, env=env)
            assert r.returncode == 1
            assert errors(r.stderr.decode()) == [
                f"{cfg}:5:18: mqtt.password_file: credential:mqtt.secret: $CREDENTIALS_DIRECTORY "
                "is not set (give the unit LoadCredential=mqtt.secret:/path/to/file and run "
                "under it, or set CREDENTIALS_DIRECTORY to a directory holding mqtt.secret)"], r.stderr
            creds = c.path("creds")
            os.makedirs(creds)
            rc, out, err = c.check(env={"CREDENTIALS_DIRECTORY": creds})
            expect_error(c, rc, out, err,
                         f"{cfg}:5:18: mqtt.password_file: credential:mqtt.secret: cannot read "
                         f"{creds}/mqtt.secret: No such file or directory (no such credential: "
                         "the unit needs LoadCredential=mqtt.secret:/path/to/file)")
            with open(os.path.join(creds, "mqtt.secret"), "w") as f:
                f.write(SECRET + "\n")
            rc, out, err = c.check(env={"CREDENTIALS_DIRECTORY": creds})
            assert rc == 0 and err == "", err
            assert "password_file: credential:mqtt.secret" in out and SECRET not in out
            c.config(MQTT_AUTH.replace("@PW@", "credential:../mqtt.secret"))
            rc, out, err = c.check(env={"CREDENTIALS_DIRECTORY": creds})
            expect_error(c, rc, out, err,
                         f"{cfg}:5:18: mqtt.password_file: bad credential name '../mqtt.secret' "
                         "(use credential:NAME, NAME a file name without '/', as in "
                         "LoadCredential=NAME:/path)")
        finally:
            c.close()

    def test_state_dir(self):
        c = Case()
        try:
            c.file("plain", "x")
            cfg = c.config(BASE.replace("@STATE@", "@DIR@/plain"))
            rc, out, err = c.check()
            expect_error(c, rc, out, err, f"{cfg}:1:12: state_dir: {c.dir}/plain is not a directory")
            cfg = c.config(BASE.replace("@STATE@", "@DIR@/no/such"))
            rc, out, err = c.check()
            expect_error(c, rc, out, err,
                         f"{cfg}:1:12: state_dir: {c.dir}/no/such does not exist and cannot be "
                         f"created in {c.dir}/no: No such file or directory (oeed creates only the "
                         "last level; under the unit use the StateDirectory= /var/lib/oeed)")
            cfg = c.config(BASE.replace("@STATE@", "@DIR@/new"))
            rc, out, err = c.check()  # created by the daemon: fine
            assert rc == 0, err
            assert not os.path.exists(c.path("new")), "the check must not create it"
            # the write probe leaves nothing behind
            c.config(BASE)
            rc, out, err = c.check()
            assert rc == 0 and os.listdir(c.state) == [], os.listdir(c.state)
        finally:
            c.close()

    def test_urls(self):
        c = Case()
        try:
            cfg = c.config(BASE.replace("type: file\n    path: \"@DIR@/out.lp\"",
                                        "type: influxdb\n    url: \"http://ho^st:8086\"\n"
                                        "    database: d"))
            rc, out, err = c.check()
            expect_error(c, rc, out, err,
                         f"{cfg}:8:10: outputs[0].url: bad url 'http://ho^st:8086': Bad hostname "
                         "(use http://HOST:PORT or https://HOST:PORT)")
            cfg = c.config(BASE + "mqtt:\n  url: tcp://[fe80::zz]:1883\n")
            rc, out, err = c.check()
            expect_error(c, rc, out, err,
                         f"{cfg}:10:8: mqtt.url: bad url 'tcp://[fe80::zz]:1883': Bad IPv6 address "
                         "(use tcp://HOST:PORT or ssl://HOST:PORT)")
        finally:
            c.close()

    def test_warnings(self):
        c = Case()
        try:
            cfg = c.config("""\
state_dir: @STATE@
sources:
  - topic: "f/{line}/{machine}/state"
    decoder: text
    signal: state
  - topic: "f/{line}/{machine}/#"
    decoder: json
    fields: { total: "$.n" }
  - topic: "g/{machine}"
    decoder: text
    signal: state
  - topic: "f/+/{machine}"
    decoder: text
    signal: total
machines:
  max: 1
  list:
    - id: press-1
contracts:
  - name: c
    machines: [pres-*, press-1]
    kpi: oee
    period: day
    target: 0.8
    minimum: 0.5
""")
            rc, out, err = c.check()
            assert rc == 0, err
            assert out.endswith("# config OK, 4 warnings (on stderr)\n"), out[-200:]
            assert errors(err) == [], err
            assert warnings(err) == [
                f"{cfg}: warning: outputs: none configured: figures are computed and written "
                "nowhere (add an output, e.g. {type: file, path: \"-\"} or an influxdb one)",
                f"{cfg}:20:5: warning: contracts[0].machines[0]: 'pres-*' matches no machine in "
                "machines.list (1 listed; machines.max leaves no room for others: it matches "
                "nothing)",
                f"{cfg}:6:12: warning: sources[1].topic: 'f/{{line}}/{{machine}}/#' and "
                "sources[0].topic 'f/{line}/{machine}/state' (line 3) can match the same topic, "
                "e.g. 'f/x/x/state': each such message is decoded by both sources (make the "
                "templates distinct, or use one source with fields:)",
                f"{cfg}:12:12: warning: sources[3].topic: 'f/+/{{machine}}' and sources[1].topic "
                "'f/{line}/{machine}/#' (line 6) can match the same topic, e.g. 'f/x/x': each "
                "such message is decoded by both sources (make the templates distinct, or use "
                "one source with fields:)"], err
        finally:
            c.close()

    def test_as_service_permissions(self):
        """As root, --as-service reads the files as uid/gid 65534 without groups: a root-only
        secret passes the plain check but not this one; group-readable through a group the
        unit gives (--as-service=GROUP) passes; a credential is read as the caller (systemd
        reads LoadCredential= sources as root)."""
        if not as_root():
            print("skip: needs root to emulate the service user")
            return
        c = Case()
        try:
            pw = c.file("mqtt.secret", SECRET + "\n", 0o600)
            cfg = c.config(MQTT_AUTH.replace("@PW@", pw))
            rc, out, err = c.check()
            assert rc == 0, err
            rc, out, err = c.check("--as-service")
            expect_error(c, rc, out, err,
                         f"{cfg}:5:18: mqtt.password_file: cannot read {pw}: Permission denied "
                         "(oeed runs as uid 65534 gid 65534: make the file readable by that user "
                         "or group, or use credential:NAME with the unit's LoadCredential=)")
            # the group-readable way: root:GROUP 0640 and the unit's SupplementaryGroups=GROUP
            os.chown(pw, 0, 100)  # "users" on Debian
            os.chmod(pw, 0o640)
            rc, out, err = c.check("--as-service")
            assert rc == 1 and "Permission denied" in err, err
            rc, out, err = c.check("--as-service=100")
            assert rc == 0, err
            # a credential: root-owned 0600 source, read as root
            creds = c.path("creds")
            os.makedirs(creds, mode=0o700)
            with open(os.path.join(creds, "mqtt.secret"), "w") as f:
                f.write(SECRET + "\n")
            os.chmod(os.path.join(creds, "mqtt.secret"), 0o600)
            c.config(MQTT_AUTH.replace("@PW@", "credential:mqtt.secret"))
            rc, out, err = c.check("--as-service", env={"CREDENTIALS_DIRECTORY": creds})
            assert rc == 0, err
            # state_dir the service user cannot write
            os.chmod(c.state, 0o700)
            rc, out, err = c.check("--as-service", env={"CREDENTIALS_DIRECTORY": creds})
            assert rc == 1, err
            assert errors(err) == [
                f"{cfg}:1:12: state_dir: cannot write in {c.state}: Permission denied (oeed keeps "
                "its checkpoint, spools and recordings there: the service user must be able to "
                "create files)"], err
            assert warnings(err) == [
                f"{cfg}:1:12: warning: state_dir: the unit (ProtectSystem=strict) lets oeed write "
                f"only below /var/lib/oeed (StateDirectory=oeed): {c.state} needs "
                f"ReadWritePaths={c.state} in a drop-in"], err
        finally:
            c.close()

    def test_as_service_default_state_dir(self):
        """Run as the unprivileged user itself (as ExecStartPre= is): a default key is named
        with its value."""
        if not as_root() or os.path.exists("/var/lib/oeed") or not shutil.which("setpriv"):
            print("skip: needs root, setpriv and no /var/lib/oeed")
            return
        c = Case()
        try:
            cfg = c.config(BASE.replace("state_dir: @STATE@\n", ""))
            rc, out, err = c.check(prefix=["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
                                           "--clear-groups"])
            expect_error(c, rc, out, err,
                         f"{cfg}: state_dir (default /var/lib/oeed): /var/lib/oeed does not exist "
                         "and cannot be created in /var/lib: Permission denied (oeed creates only "
                         "the last level; under the unit use the StateDirectory= /var/lib/oeed)")
        finally:
            c.close()

    def test_as_service_usage(self):
        r = run_oeed(["--as-service"])
        assert r.returncode == 1 and b"--as-service goes with --check-config" in r.stderr, r
        r = run_oeed(["-c", "/nonexistent.yaml", "--check-config", "--as-service=no-such-group"])
        assert r.returncode == 1 and b"unknown group 'no-such-group'" in r.stderr, r


if __name__ == "__main__":
    harness.TestCase.main(Preflight)
