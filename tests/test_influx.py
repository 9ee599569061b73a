"""Integration tests of the influxdb output (daemon/output_influx.c) through
oeed-output-driver: real InfluxDB 1.x and VictoriaMetrics round trips, outages, restarts, the
spool bound, and each awkward answer from tests/fake_http.py."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILD, Influx, TestCase, Victoria, free_port  # noqa: E402
from fake_http import FakeInflux  # noqa: E402

DRIVER = os.environ.get("OEED_OUTPUT_DRIVER", os.path.join(BUILD, "tests", "oeed-output-driver"))
T0 = 1700000000000  # ms; deterministic point timestamps


def run_driver(args, lines=(), timeout=120, chunks=None):
    """Runs the driver; `lines` are written at once, or `chunks` is a list of (delay, lines)
    streamed with sleeps. Returns the stats dict."""
    p = subprocess.Popen([DRIVER] + list(args), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    err = []
    t = threading.Thread(target=lambda: err.append(p.stderr.read()), daemon=True)
    t.start()
    try:
        if chunks is None:
            p.stdin.write("".join(line + "\n" for line in lines).encode())
        else:
            for delay, part in chunks:
                time.sleep(delay)
                p.stdin.write("".join(line + "\n" for line in part).encode())
                p.stdin.flush()
        p.stdin.close()
        out = p.stdout.read()
        p.wait(timeout=timeout)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    t.join()
    if p.returncode != 0:
        raise AssertionError(f"driver exited {p.returncode}: {err[0].decode()[-2000:]}")
    return json.loads(out)


def eq(a, b, what=""):
    if a != b:
        raise AssertionError(f"{what}: {a!r} != {b!r}")


class Base:
    def __init__(self):
        self.state = tempfile.mkdtemp(prefix="oeed-influx-test-")

    def __del__(self):
        shutil.rmtree(self.state, ignore_errors=True)

    def v1(self, url, db="oeed", **kw):
        args = [f"url={url}", "api=1", f"database={db}", f"state_dir={self.state}",
                "log_level=warn"]
        return args + [f"{k}={v}" for k, v in kw.items()]

    def v2(self, url, **kw):
        tok = os.path.join(self.state, "token")
        with open(tok, "w") as f:
            f.write("s3cret\n")
        args = [f"url={url}", "api=2", "org=acme", "bucket=oeed", f"token_file={tok}",
                f"state_dir={self.state}", "log_level=warn"]
        return args + [f"{k}={v}" for k, v in kw.items()]


def tag_escape(s):
    return s.replace(",", "\\,").replace(" ", "\\ ").replace("=", "\\=")


def str_escape(s):
    return s.replace("\\", "\\\\").replace('"', '\\"')


# Tag values a factory might produce, and what they must read back as. A newline cannot be
# carried: the encoder replaces it by a space, so does the test.
ODD = ["plain", "with space", "com,ma", "equ=als", 'quo"te', "back\\slash", "ünï©ødé 机器",
       "new\nline".replace("\n", " ")]


def odd_lines():
    out = []
    for i, v in enumerate(ODD):
        out.append(f"machine_state,machine={tag_escape(v)},site=s\\ 1 "
                   f'state="{str_escape(v)}",n={i}i,x={i + 0.5} {T0 + i}')
    return out


class InfluxTests(Base):
    def roundtrip_v1(self, gzip):
        with Influx() as db:
            db.create_db("oeed")
            st = run_driver(self.v1(db.url, gzip=gzip), odd_lines())
            eq(st["lines_written"], len(ODD), "written")
            eq(st["lines_dropped"], 0, "dropped")
            rows = db.rows("SELECT * FROM machine_state", "oeed")
            eq(len(rows), len(ODD), "rows")
            for i, (row, v) in enumerate(zip(rows, ODD)):
                eq(row["machine"], v, "tag")
                eq(row["site"], "s 1", "site")
                eq(row["state"], v, "string field")
                eq(row["n"], i, "int field")
                eq(row["x"], i + 0.5, "float field")

    def test_a1_roundtrip_influx_v1_gzip(self):
        self.roundtrip_v1(1)

    def test_a2_roundtrip_influx_v1_plain(self):
        self.roundtrip_v1(0)

    def test_a3_roundtrip_victoria_v1_v2(self):
        with Victoria() as vm:
            lines = [f"machine_kpi,machine={tag_escape(v)},api=API n={i}i,x={i + 0.5} {T0 + i}"
                     for i, v in enumerate(ODD)]
            for api, gz in (("v1", 1), ("v2", 0), ("v2g", 1)):
                mine = [l.replace("API", api) for l in lines]
                args = self.v1(vm.url, gzip=gz, name=api) if api == "v1" else \
                    self.v2(vm.url, gzip=gz, name=api)
                st = run_driver(args, mine)
                eq(st["lines_written"], len(ODD), f"{api} written")
            series = vm.export('{__name__="machine_kpi_x"}')
            got = {(s["metric"]["api"], s["metric"]["machine"]): (s["values"], s["timestamps"])
                   for s in series}
            for api in ("v1", "v2", "v2g"):
                for i, v in enumerate(ODD):
                    eq(got.get((api, v)), ([i + 0.5], [T0 + i]), f"{api} {v!r}")

    def test_b1_outage_influxd(self):
        """influxd stops for ~3 s while 20,000 lines stream at 4,000 lines/s."""
        with Influx() as db:
            db.create_db("oeed")
            sent = [f"m,k=a v={i}i {T0 + i}" for i in range(20000)]
            chunks = [(0.05, sent[i:i + 200]) for i in range(0, len(sent), 200)]

            def outage():
                time.sleep(1.0)
                db.stop()
                time.sleep(3.0)
                db.start()
            t = threading.Thread(target=outage)
            t.start()
            st = run_driver(self.v1(db.url, batch_lines=500, flush_interval_ms=200,
                                    close_timeout_ms=60000), chunks=chunks)
            t.join()
            eq(st["lines_written"], 20000, "written")
            eq(st["lines_dropped"], 0, "dropped")
            if st["lines_retried"] == 0 or st["lines_spooled"] == 0:
                raise AssertionError(f"the outage was not seen: {st}")
            rows = db.rows("SELECT v FROM m", "oeed")
            eq(len(rows), 20000, "rows")
            eq([r["v"] for r in rows], list(range(20000)), "values by timestamp")

    def test_b2_outage_order_fake(self):
        """503s for 2 s: every line arrives exactly once and in the order sent."""
        with FakeInflux() as fake:
            fake.script = [{"status": 503}] * 4
            sent = [f"m v={i}i {T0 + i}" for i in range(3000)]
            chunks = [(0.02, sent[i:i + 100]) for i in range(0, len(sent), 100)]
            st = run_driver(self.v1(fake.url, batch_lines=100, flush_interval_ms=100,
                                    close_timeout_ms=60000), chunks=chunks)
            eq(fake.accepted_lines(), sent, "lines in order, once")
            eq(st["lines_written"], 3000, "written")

    def test_c_restart_while_down(self):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        sent = [f"m v={i}i {T0 + i}" for i in range(5000)]
        st = run_driver(self.v1(url, batch_lines=1000, close_timeout_ms=1500,
                                connect_timeout_ms=200), sent)
        eq(st["lines_written"], 0, "nothing written while down")
        eq(st["spool_left_lines"], 5000, "all spooled")
        with Influx(port=port) as db:
            db.create_db("oeed")
            st = run_driver(self.v1(url, close_timeout_ms=30000), [])
            eq(st["lines_written"], 5000, "written after restart")
            eq(st["spool_left_lines"], 0, "spool empty")
            rows = db.rows("SELECT v FROM m", "oeed")
            eq([r["v"] for r in rows], list(range(5000)), "values")

    def test_d_spool_max(self):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        sent = [f"m v={i}i {T0 + i}" for i in range(10000)]  # ~30 bytes a line, 300 KB
        st = run_driver(self.v1(url, batch_lines=100, spool_max=65536, close_timeout_ms=1000,
                                connect_timeout_ms=200), sent)
        left, dropped = st["spool_left_lines"], st["lines_dropped"]
        if not dropped or not left:
            raise AssertionError(f"expected drops and a kept tail: {st}")
        eq(left + dropped, 10000, "kept + dropped")
        if st["spool_bytes"] > 65536:
            raise AssertionError(f"spool over its bound: {st}")
        with FakeInflux(port=port) as fake:
            st2 = run_driver(self.v1(url, close_timeout_ms=30000), [])
            # The newest lines were kept, the oldest dropped.
            eq(fake.accepted_lines(), sent[10000 - left:], "kept lines are the newest")
            eq(st2["lines_written"], left, "written")

    def test_e1_partial_write(self):
        with FakeInflux() as fake:
            fake.script = [{"status": 400, "body":
                            '{"error":"partial write: field type conflict dropped=2"}'}]
            st = run_driver(self.v1(fake.url), [f"m v={i}i {T0 + i}" for i in range(10)])
            eq(len(fake.requests), 1, "no retry of a partial write")
            eq(st["lines_dropped"], 2, "dropped")
            eq(st["lines_written"], 8, "written")

    def test_e2_v2_bisect(self):
        with FakeInflux() as fake:
            fake.bad_marker = "BAD"
            sent = [f"m v={i}i {T0 + i}" for i in range(16)]
            sent[3] = "BAD line 3"
            sent[12] = "BAD line 12"
            st = run_driver(self.v2(fake.url), sent)
            good = [l for l in sent if "BAD" not in l]
            eq(fake.accepted_lines(), good, "good lines in order")
            eq(st["lines_dropped"], 2, "dropped")
            eq(st["lines_written"], 14, "written")
            eq(fake.requests[0]["auth"], "Token s3cret", "token header")
            if "/api/v2/write?org=acme&bucket=oeed&precision=ms" not in fake.requests[0]["path"]:
                raise AssertionError(fake.requests[0]["path"])

    def test_e3_413_split(self):
        with FakeInflux() as fake:
            fake.max_lines = 10
            sent = [f"m v={i}i {T0 + i}" for i in range(40)]
            st = run_driver(self.v1(fake.url, batch_lines=40), sent)
            eq(fake.accepted_lines(), sent, "all lines in order")
            ok = [len(r["lines"]) for r in fake.requests if r["status"] == 204]
            eq(ok, [10, 10, 10, 10], "accepted request sizes")
            eq(st["lines_written"], 40, "written")

    def test_e4_429_retry_after(self):
        with FakeInflux() as fake:
            fake.script = [{"status": 429, "headers": {"Retry-After": "2"}}]
            run_driver(self.v1(fake.url), ["m v=1i 1"])
            eq(len(fake.requests), 2, "requests")
            gap = fake.requests[1]["t"] - fake.requests[0]["t"]
            if not 1.95 <= gap < 3.0:
                raise AssertionError(f"Retry-After: 2 honoured as {gap:.2f}s")

    def test_e5_503_backoff(self):
        with FakeInflux() as fake:
            fake.script = [{"status": 503}, {"status": 503}]
            st = run_driver(self.v1(fake.url), ["m v=1i 1"])
            eq(len(fake.requests), 3, "requests")
            g1 = fake.requests[1]["t"] - fake.requests[0]["t"]
            g2 = fake.requests[2]["t"] - fake.requests[1]["t"]
            # 0.5 s then 1 s, each +-20 % jitter.
            if not (0.38 <= g1 <= 0.7 and 0.78 <= g2 <= 1.3):
                raise AssertionError(f"backoff gaps {g1:.2f}s {g2:.2f}s")
            eq(st["lines_written"], 1, "written")
            eq(st["lines_retried"], 2, "retried")

    def test_e6_stall_timeout(self):
        with FakeInflux() as fake:
            fake.script = [{"status": 204, "stall": 3}]
            sent = [f"m v={i}i {T0 + i}" for i in range(5)]
            st = run_driver(self.v1(fake.url, timeout_ms=500), sent)
            eq(fake.requests[0]["status"], "stalled", "first request stalled")
            eq(fake.accepted_lines(), sent, "delivered by the retry")
            eq(st["lines_written"], 5, "written")
            if "timed out" not in st["last_error"]:
                raise AssertionError(st["last_error"])

    def test_f_resend_idempotent(self):
        with Influx() as db:
            db.create_db("oeed")
            sent = [f"m,k=a v={i}i,s=\"x{i}\" {T0 + i}" for i in range(1000)]
            run_driver(self.v1(db.url), sent)
            before = db.rows("SELECT * FROM m", "oeed")
            st = run_driver(self.v1(db.url), sent)
            eq(st["lines_written"], 1000, "re-sent")
            after = db.rows("SELECT * FROM m", "oeed")
            eq(len(before), 1000, "rows")
            eq(after, before, "same data after a re-send")


if __name__ == "__main__":
    TestCase.main(InfluxTests)
