"""Integration tests for daemon/mqtt.c through tests/mqtt-driver against a real mosquitto:
text messages, persistent sessions (3.1.1 and MQTT 5 session expiry) with clean-session
controls, a broker crash mid-stream, TLS with client certificates and host name checking, a
wrong password, a 1 MiB payload, queue-full drops, the first connect failing, and replacing
the subscription set."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILD, Mosquitto, TestCase, free_port, stop_pid, wait_until  # noqa: E402

DRIVER = os.path.join(BUILD, "tests", "mqtt-driver")


class Driver:
    """One mqtt-driver process with its stdout and stderr in files."""

    def __init__(self, *args):
        self.dir = tempfile.mkdtemp(prefix="oeed-mqtt-driver-")
        self.out_path = os.path.join(self.dir, "out")
        self.err_path = os.path.join(self.dir, "err")
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen([DRIVER] + list(args), stdout=self._out, stderr=self._err,
                                     stdin=subprocess.DEVNULL)

    def out_bytes(self):
        with open(self.out_path, "rb") as f:
            return f.read()

    def lines(self):
        return self.out_bytes().decode("utf-8", "replace").splitlines()

    def err(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait(self, timeout=30):
        self.proc.wait(timeout=timeout)
        return self.proc.returncode

    def stop(self):
        stop_pid(self.proc)

    def stats(self):
        m = re.search(r"^stats (.*)$", self.err(), re.M)
        if not m:
            raise AssertionError("no stats line in stderr:\n" + self.err())
        return {k: v.strip('"') for k, v in re.findall(r'(\w+)=("[^"]*"|\S+)', m.group(1))}

    def close(self):
        self.stop()
        self._out.close()
        self._err.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def retained(port, topic, extra=()):
    """The retained message on topic (or '' after 2 s)."""
    r = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", topic,
                        "-C", "1", "-W", "2"] + list(extra), capture_output=True, timeout=10)
    return r.stdout.decode().strip()


def wait_online(port, topic, extra=(), timeout=20):
    """The driver publishes "online" (retained) after subscribing on the same connection; the
    broker handles one connection's packets in order, so "online" means subscribed."""
    wait_until(lambda: retained(port, topic, extra) == "online", timeout, f"online on {topic}")


def wait_lines(drv, n, timeout=20):
    wait_until(lambda: len(drv.lines()) >= n, timeout,
               f"{n} lines from the driver (stderr: {drv.err()[-2000:]})")


def make_certs(d, server_san):
    """A CA, a server certificate for server_san, and a client certificate, with openssl."""
    def run(*argv):
        subprocess.run(argv, check=True, capture_output=True, timeout=60, cwd=d)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("openssl", "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt",
        "-subj", "/CN=oeed test CA", "-days", "2")
    for name, ext in (("server", f"subjectAltName={server_san}\n"),
                      ("client", "extendedKeyUsage=clientAuth\n")):
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write(ext)
        run("openssl", "req", *ec, "-keyout", name + ".key", "-out", name + ".csr",
            "-subj", "/CN=oeed-" + name)
        run("openssl", "x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", name + ".crt", "-days", "2", "-extfile", name + ".ext")
    # mosquitto started as root reads them after dropping to its own user: test keys only.
    os.chmod(d, 0o755)
    for name in os.listdir(d):
        os.chmod(os.path.join(d, name), 0o644)
    return {k: os.path.join(d, k) for k in ("ca.crt", "server.crt", "server.key", "client.crt",
                                              "client.key")}


def tls_broker(certs):
    """mosquitto with a plain listener (for publishing) and a TLS listener needing a client
    certificate; returns (broker, tls_port)."""
    tls_port = free_port()
    port = free_port()
    conf = (f"listener {port} 127.0.0.1\nallow_anonymous true\n"
            f"listener {tls_port} 127.0.0.1\ncafile {certs['ca.crt']}\n"
            f"certfile {certs['server.crt']}\nkeyfile {certs['server.key']}\n"
            "require_certificate true\n")
    return Mosquitto(port=port, extra_conf=conf), tls_port


class MqttTests:
    def test_text_messages(self):
        with Mosquitto() as mq, Driver(f"url={mq.url}", "client_id=text", "sub=m/+/state",
                                       "status=st/text", "count=3", "duration_ms=20000") as drv:
            wait_online(mq.port, "st/text")
            mq.publish("m/a/state", "RUNNING")
            mq.publish("other/topic", "not subscribed")
            mq.publish("m/b/state", "IDLE now", qos=0)
            mq.publish("m/a/state", "DOWN")
            assert drv.wait() == 0, drv.err()
            assert drv.lines() == ["m/a/state RUNNING", "m/b/state IDLE now", "m/a/state DOWN"], \
                drv.lines()
            st = drv.stats()
            assert st["received"] == "3" and st["queue_dropped"] == "0", st
            assert st["connects"] == "1", st
            # A clean stop says so on the status topic (the will covers crashes).
            assert retained(mq.port, "st/text") == "offline"

    def _session(self, protocol, clean, expect):
        cid = f"sess-{protocol}-{clean}"
        args = ["client_id=" + cid, f"protocol={protocol}", f"clean={clean}", "qos=1",
                "sub=s/#", "status=st/" + cid]
        with Mosquitto() as mq:
            with Driver(f"url={mq.url}", *args, "duration_ms=20000") as drv:
                wait_online(mq.port, "st/" + cid)
                mq.publish("s/1", "before")
                wait_lines(drv, 1)
                drv.stop()
                assert retained(mq.port, "st/" + cid) == "offline"
            # Published while the driver is away: only a persistent session keeps them.
            for i in range(5):
                mq.publish(f"s/{i}", f"away-{i}", qos=1)
            with Driver(f"url={mq.url}", *args, "duration_ms=4000", "count=5") as drv:
                drv.wait()
                want = [f"s/{i} away-{i}" for i in range(5)] if expect else []
                assert drv.lines() == want, (drv.lines(), drv.err())

    def test_persistent_session_qos1(self):
        self._session(4, 0, True)

    def test_clean_session_loses_offline_messages(self):
        self._session(4, 1, False)

    def test_mqtt5_session_expiry(self):
        self._session(5, 0, True)

    def test_mqtt5_clean_start_loses_offline_messages(self):
        self._session(5, 1, False)

    def test_broker_killed_and_restarted(self):
        with Mosquitto() as mq, Driver(f"url={mq.url}", "client_id=crash", "clean=0", "qos=1",
                                       "sub=c/#", "status=st/crash",
                                       "duration_ms=60000") as drv:
            wait_online(mq.port, "st/crash")
            for i in range(3):
                mq.publish("c/x", f"before-{i}")
            wait_lines(drv, 3)
            # SIGKILL: mosquitto saves its store only on exit or autosave (every 30 min by
            # default), so the session is gone and only resubscribing brings messages back.
            mq.kill()
            mq.start()
            n = [0]

            def probe():
                n[0] += 1
                mq.publish("c/probe", f"p{n[0]}")
                time.sleep(0.3)
                return any(line.startswith("c/probe ") for line in drv.lines())
            wait_until(probe, 30, "the driver to reconnect and resubscribe")
            for i in range(3):
                mq.publish("c/x", f"after-{i}")
            wait_until(lambda: "c/x after-2" in drv.lines(), 20, "messages after the restart")
            lines = [x for x in drv.lines() if not x.startswith("c/probe ")]
            assert lines == [f"c/x before-{i}" for i in range(3)] + \
                [f"c/x after-{i}" for i in range(3)], lines
            drv.stop()
            st = drv.stats()
            assert int(st["connects"]) >= 2 and int(st["disconnects"]) >= 1, st
            assert "connection to " + mq.url + " lost" in drv.err(), drv.err()

    def test_tls_client_certificate(self):
        d = tempfile.mkdtemp(prefix="oeed-tls-")
        try:
            certs = make_certs(d, "IP:127.0.0.1")
            mq, tls_port = tls_broker(certs)
            with mq:
                url = f"ssl://127.0.0.1:{tls_port}"
                with Driver(f"url={url}", "client_id=tls", "sub=t/#", "status=st/tls",
                            "ca=" + certs["ca.crt"], "cert=" + certs["client.crt"],
                            "key=" + certs["client.key"], "verify=1", "count=1",
                            "duration_ms=20000") as drv:
                    wait_online(mq.port, "st/tls")
                    mq.publish("t/1", "over tls")
                    assert drv.wait() == 0
                    assert drv.lines() == ["t/1 over tls"], drv.err()
                # Without a client certificate the broker refuses the handshake.
                with Driver(f"url={url}", "client_id=tls-nocert", "sub=t/#",
                            "ca=" + certs["ca.crt"], "verify=1", "duration_ms=3000") as drv:
                    drv.wait()
                    assert drv.stats()["connects"] == "0", drv.err()
                    assert f"connect to {url} failed" in drv.err(), drv.err()
                    # paho says only "failed"; oeed's own handshake names the cause
                    assert "the broker refuses the client certificate" in drv.err() or \
                        "the TLS handshake fails" in drv.err(), drv.err()
                # a CA that did not sign the server's certificate
                os.mkdir(os.path.join(d, "other"))
                other = make_certs(os.path.join(d, "other"), "IP:127.0.0.1")
                with Driver(f"url={url}", "client_id=tls-wrongca", "sub=t/#",
                            "ca=" + other["ca.crt"], "cert=" + certs["client.crt"],
                            "key=" + certs["client.key"], "verify=1",
                            "duration_ms=3000") as drv:
                    drv.wait()
                    assert drv.stats()["connects"] == "0", drv.err()
                    assert "the server certificate is not signed by a CA in tls.ca_file" in \
                        drv.err(), drv.err()
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_tls_hostname_mismatch(self):
        d = tempfile.mkdtemp(prefix="oeed-tls-")
        try:
            certs = make_certs(d, "DNS:wrong.example")
            mq, tls_port = tls_broker(certs)
            with mq:
                url = f"ssl://127.0.0.1:{tls_port}"
                common = [f"url={url}", "sub=t/#", "ca=" + certs["ca.crt"],
                          "cert=" + certs["client.crt"], "key=" + certs["client.key"]]
                with Driver(*common, "client_id=tls-v1", "verify=1",
                            "duration_ms=3000") as drv:
                    drv.wait()
                    st = drv.stats()
                    assert st["connects"] == "0", (st, drv.err())
                    assert f"connect to {url} failed" in drv.err(), drv.err()
                    assert ("the server certificate does not name the host in mqtt.url "
                            "(tls.verify checks it): IP address mismatch") in drv.err(), \
                        drv.err()
                # The same certificate without the host name check connects: the name was
                # the only thing wrong.
                with Driver(*common, "client_id=tls-v0", "verify=0", "status=st/v0",
                            "duration_ms=20000", "count=1") as drv:
                    wait_online(mq.port, "st/v0")
                    mq.publish("t/1", "unverified")
                    assert drv.wait() == 0
                    assert drv.lines() == ["t/1 unverified"], drv.err()
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_wrong_password(self):
        secret = "Right-Pa55"
        wrong = "Wr0ng-s3cret"
        port = free_port()
        d = tempfile.mkdtemp(prefix="oeed-pw-")
        try:
            pwfile = os.path.join(d, "passwd")
            subprocess.run(["mosquitto_passwd", "-c", "-b", pwfile, "oeed", secret], check=True,
                           timeout=30, capture_output=True)
            os.chmod(pwfile, 0o644)  # mosquitto reads it as its own user
            os.chmod(d, 0o755)
            client_pw = os.path.join(d, "client.secret")
            with open(client_pw, "w") as f:
                f.write(wrong + "\n")
            conf = (f"listener {port} 127.0.0.1\nallow_anonymous false\n"
                    f"password_file {pwfile}\n")
            creds = ["-u", "oeed", "-P", wrong]
            with Mosquitto(port=port, extra_conf=conf) as mq, \
                    Driver(f"url={mq.url}", "client_id=pw", "user=oeed",
                           "password_file=" + client_pw, "sub=p/#", "status=st/pw",
                           "count=1", "duration_ms=60000") as drv:
                wait_until(lambda: "failed" in drv.err(), 15, "a connect error")
                err = drv.err()
                assert f"mqtt: connect to {mq.url} failed: not authorized" in err, err
                assert wrong not in err and secret not in err
                time.sleep(2.5)
                assert drv.proc.poll() is None, "the driver gave up"
                attempts = mq.logtext().count("as pw ")
                # paho keeps retrying: accept the password it sends and it gets in.
                subprocess.run(["mosquitto_passwd", "-b", pwfile, "oeed", wrong], check=True,
                               timeout=30, capture_output=True)
                mq.proc.send_signal(signal.SIGHUP)
                wait_online(mq.port, "st/pw", creds, timeout=30)
                assert mq.logtext().count("as pw ") > attempts
                subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(mq.port), "-q", "1",
                                "-t", "p/1", "-m", "in"] + creds, check=True, timeout=10)
                assert drv.wait() == 0
                assert drv.lines() == ["p/1 in"]
                assert wrong not in drv.err()
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_wrong_password_mqtt5(self):
        """A refused MQTT 5 connect names the CONNACK reason code (paho's own text for it
        is "Unknown error code 135")."""
        port = free_port()
        d = tempfile.mkdtemp(prefix="oeed-pw5-")
        try:
            pwfile = os.path.join(d, "passwd")
            subprocess.run(["mosquitto_passwd", "-c", "-b", pwfile, "oeed", "Right-Pa55"],
                           check=True, timeout=30, capture_output=True)
            os.chmod(pwfile, 0o644)
            os.chmod(d, 0o755)
            client_pw = os.path.join(d, "client.secret")
            with open(client_pw, "w") as f:
                f.write("Wr0ng-s3cret\n")
            conf = (f"listener {port} 127.0.0.1\nallow_anonymous false\n"
                    f"password_file {pwfile}\n")
            with Mosquitto(port=port, extra_conf=conf) as mq, \
                    Driver(f"url={mq.url}", "client_id=pw5", "user=oeed", "protocol=5",
                           "password_file=" + client_pw, "sub=p/#", "count=1",
                           "duration_ms=5000") as drv:
                wait_until(lambda: "failed" in drv.err(), 15, "a connect error")
                err = drv.err()
                assert re.search(rf"mqtt: connect to {re.escape(mq.url)} failed: "
                                 r"(Not authorized|Bad user name or password)", err), err
                assert "Unknown error" not in err, err
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_large_payload(self):
        mib = bytes(65 + i % 26 for i in range(1 << 20))
        with Mosquitto() as mq, Driver(f"url={mq.url}", "client_id=big", "sub=b/#",
                                       "status=st/big", "count=2",
                                       "duration_ms=30000") as drv:
            wait_online(mq.port, "st/big")
            mq.publish("b/over", mib + b"Z")  # one byte over the limit: counted, not queued
            mq.publish("b/mib", mib)
            mq.publish("b/end", "end")
            assert drv.wait() == 0, drv.err()
            assert drv.out_bytes() == b"b/mib " + mib + b"\nb/end end\n"
            st = drv.stats()
            assert st["received"] == "3" and st["too_large"] == "1", st

    def test_queue_full_waits_then_drops_counted(self):
        """A full queue makes paho's thread wait for room, 1 s per message at most; the
        consumer here sleeps 4 s first, so a few messages are dropped (counted and logged)
        after their wait, and everything after them is delivered once room appears."""
        with Mosquitto() as mq, Driver(f"url={mq.url}", "client_id=q", "sub=q/#", "queue=4",
                                       "status=st/q", "drain_delay_ms=4000",
                                       "duration_ms=9000") as drv:
            wait_online(mq.port, "st/q")
            mq.publish_lines("q/x", [f"m{i}" for i in range(20)])
            assert drv.wait() == 0, drv.err()
            st = drv.stats()
            lines = drv.lines()
            dropped = int(st["queue_dropped"])
            assert st["received"] == "20", st
            # the 4 s drain delay less the start-up: each drop took a 1 s wait
            assert 1 <= dropped <= 4, st
            assert int(st["queue_waits"]) >= dropped + 1, st
            # the first four queued, the next `dropped` lost, all later ones delivered
            assert lines == ([f"q/x m{i}" for i in range(4)] +
                             [f"q/x m{i}" for i in range(4 + dropped, 20)]), (lines, st)
            assert st["queue_high_water"] == "4", st
            assert "receive queue full" in drv.err()

    def test_first_connect_fails_then_broker_appears(self):
        port = free_port()
        url = f"tcp://127.0.0.1:{port}"
        with Driver(f"url={url}", "client_id=late", "sub=l/#", "status=st/late", "count=1",
                    "duration_ms=60000") as drv:
            wait_until(lambda: f"mqtt: connect to {url} failed" in drv.err(), 15,
                       "a connect error")
            with Mosquitto(port=port) as mq:
                wait_online(port, "st/late", timeout=30)
                mq.publish("l/1", "late")
                assert drv.wait() == 0
                assert drv.lines() == ["l/1 late"], drv.err()

    def test_replace_subscriptions(self):
        with Mosquitto() as mq, Driver(f"url={mq.url}", "client_id=re", "sub=a/#",
                                       "sub=keep/#", "status=st/re", "resub=keep/#",
                                       "resub=b/#", "resub_at_ms=3000",
                                       "duration_ms=30000") as drv:
            wait_online(mq.port, "st/re")
            mq.publish("a/1", "a-before")
            wait_lines(drv, 1)
            wait_until(lambda: "subscriptions replaced: 0" in drv.err(), 10, "the replacement")
            # The broker handles the UNSUBSCRIBE and SUBSCRIBE before our later publishes only
            # once they arrived: probe until b/# is live.
            wait_until(lambda: (mq.publish("b/probe", "p"), time.sleep(0.2),
                                "b/probe p" in drv.lines())[-1], 15, "b/# subscribed")
            mq.publish("a/2", "a-after")
            mq.publish("keep/1", "kept")
            mq.publish("b/1", "b-after")
            wait_until(lambda: "b/1 b-after" in drv.lines(), 10, "b/1")
            lines = [x for x in drv.lines() if x != "b/probe p"]
            assert lines == ["a/1 a-before", "keep/1 kept", "b/1 b-after"], lines


if __name__ == "__main__":
    TestCase.main(MqttTests)
