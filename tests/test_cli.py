"""The command line of interface.md: exit codes, --check-config, replay's basic contract."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import run_oeed  # noqa: E402

CFG = """\
site: "plant 1"
state_dir: /tmp
sources:
  - topic: "f/{line}/{machine}/state"
    decoder: text
    signal: state
    map: { RUN: running, STOP: down/fault }
machines:
  defaults: { stale_after: 0 }
  max: 10
report:
  interval: 10s
  windows: [1h]
  periods: [day]
outputs:
  - type: file
    path: "-"
"""


def write(text, suffix=".yaml"):
    f = tempfile.NamedTemporaryFile("w", suffix=suffix, delete=False)
    f.write(text)
    f.close()
    return f.name


def rec_line(ns, topic, payload):
    import base64
    import urllib.parse
    return f"{ns} {urllib.parse.quote(topic, safe='/{}')} {base64.b64encode(payload.encode()).decode()}\n"


class Cli:
    def test_version_and_help(self):
        r = run_oeed(["--version"])
        assert r.returncode == 0 and r.stdout.startswith(b"oeed "), r
        r = run_oeed(["--help"])
        assert r.returncode == 0 and b"replay -c FILE REC" in r.stdout

    def test_bad_usage_exit_1(self):
        r = run_oeed(["--bogus"])
        assert r.returncode == 1, r
        r = run_oeed(["replay", "-c", write(CFG)])
        assert r.returncode == 1 and b"no recordings given" in r.stderr, r

    def test_check_config_ok(self):
        path = write(CFG)
        r = run_oeed(["-c", path, "--check-config"])
        assert r.returncode == 0, r.stderr
        out = r.stdout.decode()
        assert "# config OK" in out
        assert "bytes per machine, 10 machines max" in out
        # the effective config shows defaults that were not written
        assert "max_clock_skew: 5m" in out, out

    def test_check_config_error_names_place(self):
        path = write(CFG.replace("interval: 10s", "interval: 10x"))
        r = run_oeed(["-c", path, "--check-config"])
        assert r.returncode == 1, r
        err = r.stderr.decode()
        assert err.startswith(f"{path}:12:13: report.interval: bad duration '10x'"), err

    def test_missing_config_file(self):
        r = run_oeed(["-c", "/nonexistent/oeed.yaml", "--check-config"])
        assert r.returncode == 1
        assert b"/nonexistent/oeed.yaml" in r.stderr

    def test_replay_missing_recording_exit_2(self):
        r = run_oeed(["replay", "-c", write(CFG), "/nonexistent.rec"])
        assert r.returncode == 2, r

    def test_replay_values(self):
        t0 = 1793599200000  # 2026-11-02T06:00:00Z
        ns = lambda s: (t0 + int(s * 1000)) * 1000000
        rec = write("".join([
            rec_line(ns(0), "f/l1/press 1/state", "RUN"),
            rec_line(ns(600), "f/l1/press 1/state", "STOP"),
            rec_line(ns(660), "f/l1/press 1/state", "GARBAGE"),  # unmapped: counted, skipped
            rec_line(ns(900), "f/l1/press 1/state", "RUN"),
            rec_line(ns(901), "other/topic", "x"),             # matches no source
            rec_line(ns(3600), "f/l1/press 1/state", "RUN"),
        ]), ".rec")
        r = run_oeed(["replay", "-c", write(CFG), rec])
        assert r.returncode == 0, r.stderr
        lines = r.stdout.decode().splitlines()
        states = [l for l in lines if l.startswith("machine_state")]
        assert len(states) == 3, states
        assert states[1] == ('machine_state,machine=press\\ 1,site=plant\\ 1,line=l1,category=down '
                             'state="STOP",reason="fault",prev_duration_s=600 ' + str(t0 + 600000)), states[1]
        day = [l for l in lines if "window=day" in l and l.endswith(" " + str(t0 + 3600000))][0]
        assert " run_s=3300," in day, day
        assert ",down_s=300," in day, day
        assert ",failures=1i," in day, day
        assert "availability=0.916666667" in day, day
        assert b"1 unmatched, 1 unmapped" in r.stderr, r.stderr


if __name__ == "__main__":
    harness.TestCase.main(Cli)
