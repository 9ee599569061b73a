"""The live daemon's log on stderr: journald priority prefixes ("<4>") exactly when
JOURNAL_STREAM names the dev:ino of its stderr, "oeed: LEVEL: " otherwise; and a flood of
undecodable payloads gives a bounded number of lines, with the suppressed ones counted, while
the daemon keeps working."""
import os
import re
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

CONFIG = """state_dir: @STATE_DIR@
log_level: info
mqtt: {{ url: "{url}", client_id: logging-test }}
sources:
  - topic: "f/{{line}}/{{machine}}/state"
    decoder: text
    signal: state
    map: {{ RUN: running, STOP: down/fault }}
  - topic: "f/{{line}}/{{machine}}/data"
    decoder: json
    fields: {{ total: "$.parts" }}
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
BAD_TOPIC = "f/l1/bad/data"
FLOOD = 1000
RATE_INTERVAL_S = 10.0  # the daemon's limiter for decode errors: a window of 10 s

for _v in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"):
    os.environ.pop(_v, None)

PLAIN = re.compile(r"oeed: (error|warn|info|debug): \S")
JOURNAL = re.compile(r"<[0-7]>\S")


def daemon(mq, journal_stream=None, journal_of_other_file=False):
    d = harness.Oeed("")
    d.out_path = os.path.join(d.dir, "out.lp")
    d.config_text = CONFIG.format(url=mq.url, out=d.out_path).replace(
        "@STATE_DIR@", os.path.join(d.dir, "state"))
    if journal_stream:
        # the harness appends stderr to d.log: create it now to know its device and inode
        target = d.log
        if journal_of_other_file:
            target = os.path.join(d.dir, "other")
        open(target, "ab").close()
        st = os.stat(target)
        d.env = {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
    return d


def self_metric(d, field):
    """The latest value of an integer field of the `oeed` self-metrics line, or None."""
    try:
        with open(d.out_path) as f:
            text = f.read()
    except OSError:
        return None
    vals = re.findall(r"^oeed,\S* (?:\S*,)?" + field + r"=(\d+)i", text, re.M)
    return int(vals[-1]) if vals else None


def wait_metric(d, field, value, timeout=30):
    harness.wait_until(lambda: self_metric(d, field) == value, timeout,
                       f"{field}={value} (last {self_metric(d, field)})")


def log_lines(d):
    return [ln for ln in d.logtext().splitlines() if ln]


def stop_ok(d):
    d.proc.send_signal(signal.SIGTERM)
    assert d.proc.wait(timeout=20) == 0, d.logtext()


class Logging:
    def test_journal_prefix_and_rate_limit(self):
        with harness.Mosquitto() as mq:
            d = daemon(mq, journal_stream=True)
            try:
                d.start()
                harness.wait_until(lambda: "connected" in d.logtext(), 20, "mqtt connected")
                t_flood = time.monotonic()
                mq.publish_lines(BAD_TOPIC, ["not json"] * FLOOD)
                wait_metric(d, "decode_errors", FLOOD)
                lines = log_lines(d)
                assert lines and all(JOURNAL.match(ln) for ln in lines), lines
                assert any(ln.startswith("<6>") for ln in lines), lines  # info
                bad = [ln for ln in lines if "bad" in ln and "data" in ln]
                assert 1 <= len(bad) <= 10, f"{len(bad)} lines for {FLOOD} bad payloads"
                assert all(ln.startswith("<4>") for ln in bad), bad  # warnings
                assert not any("suppressed" in ln for ln in bad)
                assert time.monotonic() - t_flood < RATE_INTERVAL_S, "flood too slow to test"

                # The next bad payload after the limiter's window reports what it held back.
                time.sleep(max(0.0, t_flood + RATE_INTERVAL_S + 0.5 - time.monotonic()))
                mq.publish(BAD_TOPIC, "still not json")
                wait_metric(d, "decode_errors", FLOOD + 1)
                harness.wait_until(lambda: len(log_lines(d)) > len(lines), 10, "a log line")
                new = [ln for ln in log_lines(d)[len(lines):] if "bad" in ln]
                want = f"({FLOOD - len(bad)} similar messages suppressed)"
                assert len(new) == 1 and new[0].startswith("<4>") and new[0].endswith(want), \
                    (new, want)

                # still working: a good message becomes a state line
                assert d.proc.poll() is None
                mq.publish("f/l1/m1/state", "RUN")
                harness.wait_until(lambda: "machine_state,machine=m1," in open(d.out_path).read(),
                                   15, "machine_state of m1")
                stop_ok(d)
            finally:
                d.stop()
                shutil.rmtree(d.dir, ignore_errors=True)

    def test_plain_prefix_without_journal(self):
        """No JOURNAL_STREAM, and one that names another file (stderr redirected elsewhere,
        as when an operator runs `oeed 2>file` from a unit's shell): plain prefixes."""
        for other in (False, True):
            with harness.Mosquitto() as mq:
                d = daemon(mq, journal_stream=other, journal_of_other_file=other)
                try:
                    d.start()
                    harness.wait_until(lambda: "connected" in d.logtext(), 20, "mqtt connected")
                    mq.publish(BAD_TOPIC, "not json")
                    wait_metric(d, "decode_errors", 1)
                    harness.wait_until(lambda: any("bad" in ln for ln in log_lines(d)), 10,
                                       "the decode error logged")
                    stop_ok(d)
                    lines = log_lines(d)
                    assert all(PLAIN.match(ln) for ln in lines), (other, lines)
                    assert any(ln.startswith("oeed: info: ") for ln in lines), lines
                    assert any(ln.startswith("oeed: warn: ") and "bad" in ln for ln in lines)
                finally:
                    d.stop()
                    shutil.rmtree(d.dir, ignore_errors=True)


if __name__ == "__main__":
    harness.TestCase.main(Logging)
