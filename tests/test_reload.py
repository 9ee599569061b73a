"""Reload (SIGHUP) under a QoS 1 flood: the matrix an operator runs before trusting
`systemctl reload oeed` in production (docs/operations.md, "Reloading").

Every case starts a fresh mosquitto and a fresh oeed with the config an operator writes:
no `mqtt.client_id` (the default `oeed-<host name>` applies), `clean_session` left at its
default (false, a persistent session), `qos: 1`, a `status_topic` (as config/oeed.yaml has;
its retained "online" tells the test that oeed has subscribed), `record: true` in a temp
`state_dir`, one file output in the temp dir, `report.interval: 1s`. Then MACHINES
`mosquitto_pub -q 1 -l` clients publish MESSAGES messages in all (default 50,000 over 10
machines, topic `r/<machine>/n`, paced to RATE messages/s in all, default 40,000: fast enough
that oeed's receive queue is not empty when a reload comes), each the JSON increment
`{"n":1,"s":SEQ}` read by a source with `counts: increments`: every message adds exactly one
part to its machine, and SEQ numbers the machine's messages so that the recording shows which
one was lost or doubled. During the
flood (while messages are still on their way to oeed; the test fails itself if they are not)
the test rewrites the config and sends SIGHUP three times, when about 20 %, 45 % and 70 % of
the messages are recorded (or 4 s after the previous one when the recording stands still):

  0  no SIGHUP at all (the control: shows the counting itself is sound)
  a  the same file, unchanged, three times
  b  the file output's path changes each time (out0 -> out1 -> out2 -> out3)
  c  the mqtt section changes each time (keepalive 31s, 32s, 33s)
  d  both at once
  e  an output path in a directory that does not exist, then a good one, then the same again
  f  mqtt.password_file unreadable (a directory when run as root, else a mode 000 file), then
     the good one again, then the same again; the broker requires that user and password

After each case (once the recording is complete and the output's `messages` has caught up
with it or stood still for 3 s):
  - oeed is alive after every SIGHUP and after the flood, and SIGTERM stops it with exit 0;
  - the recording (state_dir/recordings/*.log) holds every published message exactly once
    (per machine the multiset of SEQ equals 0..n-1);
  - the output: the latest `machine_kpi` of the 1h window of each machine, over all the files
    the output was written to, has total_count equal to the machine's published messages
    (a duplicate delivery would make it larger, a lost one smaller); the latest `oeed` point's
    `messages` equals the total published;
  - oeed connected to the broker as the documented default client id `oeed-<host name>`
    (the broker's log);
  - what docs/operations.md promises about what a reload rebuilds: an unchanged mqtt section
    (cases a, b, e) does not restart the MQTT client (the broker sees one connection), an
    unchanged outputs section (a, c) does not reopen the outputs (oeed's log says none was
    reopened), and a changed one is applied (c, d: the broker sees keepalive 33 s last).

It prints per case what it measured (published, recorded, lost, doubled, counted, messages,
the reload log lines) so that a failure can be read from the test log.

Each case takes 5-9 s: about 40 s in all on the 2-core VM, with or without ASan.

Environment: RELOAD_MESSAGES (default 50000), RELOAD_MACHINES (default 10), RELOAD_RATE
(messages/s, default 40000), RELOAD_HUPS (SIGHUPs per case, default 3; 1 looks at one reload
alone), RELOAD_KEEP=DIR copies each failed case's oeed directory (config, log, state with the
recordings, outputs) there. Names of tests as arguments run only those.
"""
import base64
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Mosquitto, Oeed, TestCase, free_port, parse_line, wait_until  # noqa: E402

MESSAGES = int(os.environ.get("RELOAD_MESSAGES", "50000"))
MACHINES = int(os.environ.get("RELOAD_MACHINES", "10"))
HUPS = int(os.environ.get("RELOAD_HUPS", "3"))  # fewer to look at one reload alone
RATE = float(os.environ.get("RELOAD_RATE", "40000"))
KEEP = os.environ.get("RELOAD_KEEP")
HUP_AT = (0.20, 0.45, 0.70)  # share of the messages recorded when each SIGHUP is sent
HUP_WAIT_S = 4.0  # ... or after this long without reaching it (e.g. MQTT is down)
USER, PASSWORD = "oeed", "s3cret-reload"
STATUS_TOPIC = "oeed/status"


def machine(k):
    return f"m{k:02d}"


def per_machine():
    """Messages published for each machine: MESSAGES split as evenly as possible."""
    return [MESSAGES // MACHINES + (1 if k < MESSAGES % MACHINES else 0) for k in range(MACHINES)]


def feed(pubs, counts):
    """Writes machine k's messages {"n":1,"s":0..counts[k]-1} to pubs[k]'s stdin, paced so
    that all together make RATE messages per second, then closes the pipes (the clients
    then finish their acknowledged QoS 1 exchanges and exit)."""
    per_s = RATE / len(pubs)
    done = [0] * len(pubs)
    t0 = time.monotonic()
    try:
        while any(d < c for d, c in zip(done, counts)):
            due = int((time.monotonic() - t0) * per_s) + 1
            for k, p in enumerate(pubs):
                upto = min(counts[k], due)
                if upto > done[k]:
                    p.stdin.write("".join(f'{{"n":1,"s":{i}}}\n'
                                          for i in range(done[k], upto)).encode())
                    p.stdin.flush()
                    done[k] = upto
            time.sleep(0.01)
    except (BrokenPipeError, OSError):
        pass  # a client died: its exit status says so
    finally:
        for p in pubs:
            try:
                p.stdin.close()
            except OSError:
                pass


def config(state_dir, mq_url, out_path, keepalive=None, password_file=None):
    # status_topic: its retained "online" says the subscriptions are in place (mqtt.c)
    mqtt = [f'url: "{mq_url}"', "qos: 1", f"status_topic: {STATUS_TOPIC}",
            "reconnect_min: 200ms", "reconnect_max: 2s"]
    if keepalive:
        mqtt.append(f"keepalive: {keepalive}")
    if password_file:
        mqtt += [f"username: {USER}", f'password_file: "{password_file}"']
    mqtt_text = "\n".join("  " + x for x in mqtt)
    return f"""state_dir: "{state_dir}"
log_level: info
record: true
mqtt:
{mqtt_text}
sources:
  - topic: "r/{{machine}}/n"
    decoder: json
    counts: increments
    fields: {{ total: "$.n" }}
machines:
  defaults: {{ stale_after: 0 }}
  max: {MACHINES + 10}
report:
  interval: 1s
  windows: [1h]
  periods: []
outputs:
  - type: file
    path: "{out_path}"
"""


def read_recordings(state_dir):
    """{machine: [seq, ...]} of every recorded message, and the number of lines."""
    seqs, n = {}, 0
    for path in sorted(glob.glob(os.path.join(state_dir, "recordings", "*.log"))):
        with open(path, "rb") as f:
            for line in f.read().decode("utf-8", "replace").splitlines():
                if not line or line.startswith("#"):
                    continue
                n += 1
                parts = line.split(" ")
                topic = parts[1]
                try:
                    s = json.loads(base64.b64decode(parts[2]))["s"]
                except (ValueError, KeyError, IndexError):
                    s = None
                seqs.setdefault(topic.split("/")[1] if topic.count("/") == 2 else topic,
                                []).append(s)
    return seqs, n


def count_recorded(state_dir):
    """Lines in the recordings, counted cheaply (while draining)."""
    n = 0
    for path in glob.glob(os.path.join(state_dir, "recordings", "*.log")):
        try:
            with open(path, "rb") as f:
                n += f.read().count(b"\n")
        except OSError:
            pass
    return n


def recording_bytes(state_dir):
    total = 0
    for path in glob.glob(os.path.join(state_dir, "recordings", "*.log")):
        try:
            total += os.path.getsize(path)
        except OSError:
            pass
    return total


def latest_output(paths):
    """From all the files the output wrote (in the order they were used): per machine the
    latest 1h machine_kpi fields, and the latest `oeed` fields."""
    kpi, kpi_key, selfm, self_key = {}, {}, None, None
    for i, p in enumerate(paths):
        try:
            with open(p, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            continue
        for j, line in enumerate(lines):
            if not line:
                continue
            m, tags, fields, ts = parse_line(line)
            key = (i, ts, j)
            if m == "machine_kpi" and tags.get("window") == "1h":
                mach = tags["machine"]
                if mach not in kpi_key or key > kpi_key[mach]:
                    kpi[mach], kpi_key[mach] = fields, key
            elif m == "oeed":
                if self_key is None or key > self_key:
                    selfm, self_key = fields, key
    return kpi, selfm


class Case:
    """One row of the matrix: broker, daemon, flood, three reloads, the counts."""

    def __init__(self, name, steps, auth=False):
        self.name = name
        self.steps = steps  # three dicts of config() keyword changes, or None for the control
        self.auth = auth
        self.problems = []

    def fail(self, msg):
        self.problems.append(msg)
        print(f"  [{self.name}] PROBLEM: {msg}", flush=True)

    def run(self):
        tmp = tempfile.mkdtemp(prefix="oeed-reload-")
        try:
            self._run(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if self.problems:
            raise AssertionError(f"case {self.name}: " + "; ".join(self.problems))

    def _broker(self, tmp):
        if not self.auth:
            return Mosquitto()
        port = free_port()
        mq = Mosquitto(port=port)
        passwd = os.path.join(mq.dir, "passwd")
        subprocess.run(["mosquitto_passwd", "-b", "-c", passwd, USER, PASSWORD], check=True,
                       capture_output=True, timeout=10)
        if os.geteuid() == 0:
            try:
                shutil.chown(passwd, "mosquitto")
            except (LookupError, OSError):
                pass
        os.chmod(passwd, 0o600)
        mq.extra_conf = (f"listener {port} 127.0.0.1\nallow_anonymous false\n"
                         f"password_file {passwd}\n")
        return mq

    def _run(self, tmp):
        counts = per_machine()
        o = Oeed("")  # its config is written below, once the broker's port is known
        try:
            with self._broker(tmp) as mq:
                self._case(tmp, mq, o, counts)
        finally:
            o.stop()
            shutil.rmtree(o.dir, ignore_errors=True)

    def _case(self, tmp, mq, o, counts):
        state = os.path.join(o.dir, "state")
        good_pw = os.path.join(o.dir, "oeed.pass")
        with open(good_pw, "w") as f:
            f.write(PASSWORD + "\n")
        # unreadable: root reads any mode, so then a directory (fopen works, fread fails)
        bad_pw = os.path.join(o.dir, "unreadable.pass")
        if os.geteuid() == 0:
            os.mkdir(bad_pw)
        else:
            with open(bad_pw, "w") as f:
                f.write(PASSWORD + "\n")
            os.chmod(bad_pw, 0)
        paths = {"good_pw": good_pw, "bad_pw": bad_pw,
                 "bad_out": os.path.join(o.dir, "no-such-dir", "out.lp")}
        outputs = [os.path.join(o.dir, "out0.lp")]  # every file the output was given
        kw = {"out_path": outputs[0]}
        if self.auth:
            kw["password_file"] = good_pw
        o.config_text = config(state, mq.url, **kw)
        o.start()
        sub = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(mq.port), "-t", STATUS_TOPIC,
               "-C", "1", "-W", "1"] + (["-u", USER, "-P", PASSWORD] if self.auth else [])

        def online():
            if o.proc.poll() is not None:
                return True
            r = subprocess.run(sub, capture_output=True, timeout=10)
            return r.stdout.decode().strip() == "online"
        wait_until(online, 30, f"oeed's retained 'online' on {STATUS_TOPIC}")
        if o.proc.poll() is not None:
            self.fail(f"oeed exited at start with {o.proc.returncode}:\n{o.logtext()}")
            return

        # the flood: one QoS 1 client per machine, fed on stdin at RATE messages/s in all
        pubs = []
        for k in range(MACHINES):
            argv = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(mq.port), "-q", "1",
                    "-t", f"r/{machine(k)}/n", "-l"]
            if self.auth:
                argv += ["-u", USER, "-P", PASSWORD]
            pubs.append(subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                         stderr=open(os.path.join(tmp, f"pub{k}.err"), "wb")))
        feeder = threading.Thread(target=feed, args=(pubs, counts), daemon=True)
        feeder.start()
        t0 = time.monotonic()
        hups = [0]  # SIGHUPs sent so far
        death = []  # (seconds since the flood began, SIGHUPs sent by then) when oeed died

        def watch():
            while o.proc.poll() is None and not stop_watch.is_set():
                time.sleep(0.01)
            if o.proc.poll() is not None:
                death.append((time.monotonic() - t0, hups[0]))
        stop_watch = threading.Event()
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        # bytes of one recorded line (rx ns, topic, base64 of the payload, newline), roughly
        line_bytes = 20 + len("r/m00/n") + 1 + 4 * ((len('{"n":1,"s":1234}') + 2) // 3) + 1

        for step_no, step in enumerate((self.steps or [])[:HUPS]):
            target = HUP_AT[step_no] * MESSAGES * line_bytes
            deadline = time.monotonic() + HUP_WAIT_S
            while recording_bytes(state) < target and time.monotonic() < deadline \
                    and o.proc.poll() is None:
                time.sleep(0.02)
            for k2, v in step.items():
                if k2 == "out_path":
                    v = paths.get(v, os.path.join(o.dir, v))
                    if v != outputs[-1] and v != paths["bad_out"]:
                        outputs.append(v)
                elif k2 == "password_file":
                    v = paths[v]
                kw[k2] = v
            with open(o.config, "w") as f:
                f.write(config(state, mq.url, **kw))
            recorded_now = count_recorded(state)
            publishing = feeder.is_alive() or any(p.poll() is None for p in pubs)
            if o.proc.poll() is not None:
                break
            o.proc.send_signal(signal.SIGHUP)
            hups[0] += 1
            print(f"  [{self.name}] SIGHUP {step_no + 1} at {time.monotonic() - t0:.2f}s: "
                  f"{', '.join(f'{a}={b}' for a, b in step.items()) or 'unchanged'}; "
                  f"{recorded_now} of {sum(counts)} recorded, publishers "
                  f"{'still publishing' if publishing else 'done'}", flush=True)
            if recorded_now >= sum(counts):
                self.fail(f"SIGHUP {step_no + 1} came after the flood had reached oeed "
                          "(the test did not overlap: raise RELOAD_MESSAGES)")
            time.sleep(0.05)
            if o.proc.poll() is not None:
                break

        feeder.join()
        for k, p in enumerate(pubs):
            try:
                rc = p.wait(timeout=120)
            except subprocess.TimeoutExpired:
                p.kill()
                rc = p.wait()
            if rc != 0:
                with open(os.path.join(tmp, f"pub{k}.err"), "rb") as f:
                    err = f.read().decode("utf-8", "replace").strip()
                self.fail(f"mosquitto_pub for {machine(k)} exited {rc}: {err}")
        t_pub = time.monotonic() - t0
        published = sum(counts)

        # drain: until every message is recorded, or the count stands still for 5 s
        last, since = -1, time.monotonic()
        while o.proc.poll() is None:
            n = recording_bytes(state)
            if n != last:
                last, since = n, time.monotonic()
            elif time.monotonic() - since > 5:
                break
            if n >= published * line_bytes * 0.9 and count_recorded(state) >= published:
                break
            time.sleep(0.2)
        t_drain = time.monotonic() - t0
        # then until the output's `messages` has caught up with the recording, or stands still
        # for 3 s (a report every second)
        last, since = None, time.monotonic()
        deadline = since + 60
        while o.proc.poll() is None and time.monotonic() < deadline:
            selfm = latest_output(outputs)[1]
            m = selfm.get("messages") if selfm else None
            if m is not None and m >= count_recorded(state):
                break
            if m != last:
                last, since = m, time.monotonic()
            elif time.monotonic() - since > 3:
                break
            time.sleep(0.3)
        time.sleep(1.2)  # one more report: the machine_kpi lines of the same tick
        t_out = time.monotonic() - t0

        alive = o.proc.poll() is None
        stop_watch.set()
        watcher.join()
        if not alive:
            rc = o.proc.returncode
            why = f"signal {-rc} ({signal.Signals(-rc).name})" if rc < 0 else f"exit {rc}"
            when = (f" at {death[0][0]:.2f}s, after SIGHUP {death[0][1]}" if death and death[0][1]
                    else f" at {death[0][0]:.2f}s, before any SIGHUP" if death else "")
            self.fail(f"oeed died during the case{when}: {why}")
        else:
            o.proc.send_signal(signal.SIGTERM)
            try:
                rc = o.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                o.proc.kill()
                rc = o.proc.wait()
                self.fail("oeed did not stop within 30 s of SIGTERM")
            if rc != 0:
                self.fail(f"oeed exited {rc} on SIGTERM (0 expected)")

        # (1) the recording
        seqs, recorded = read_recordings(state)
        lost = doubled = holes = 0
        detail = []
        for k in range(MACHINES):
            got = seqs.get(machine(k), [])
            seen = {}
            for s in got:
                seen[s] = seen.get(s, 0) + 1
            miss = sum(1 for i in range(counts[k]) if i not in seen)
            dup = sum(c - 1 for c in seen.values() if c > 1)
            # missing below the machine's highest recorded SEQ: lost while oeed was alive
            # (the rest may just not have arrived before it died)
            top = max((x for x in seen if x is not None), default=-1)
            hole = sum(1 for i in range(min(top, counts[k])) if i not in seen)
            lost += miss
            doubled += dup
            holes += hole
            if miss or dup:
                detail.append(f"{machine(k)}: {len(got)} recorded, {miss} missing "
                              f"({hole} of them below its highest recorded SEQ {top}), "
                              f"{dup} doubled")
        # (2) the output
        kpi, selfm = latest_output(outputs)
        counted = {k: (kpi.get(machine(k)) or {}).get("total_count") for k in range(MACHINES)}
        total_counted = sum(v or 0 for v in counted.values())
        messages = selfm.get("messages") if selfm else None
        log = o.logtext()
        reload_lines = [ln for ln in log.splitlines()
                        if ln.startswith("oeed:") and "reload" in ln]
        # what oeed says it rebuilt (display only: the wording is oeed's) ...
        restarts = sum("MQTT client restarted" in ln for ln in reload_lines)
        reopens = sum("outputs reopened" in ln and "applied" not in ln for ln in reload_lines)
        # ... and what the broker saw: every connection of oeed's client, with its keepalive
        connects = re.findall(r"New client connected from \S+ as (\S+) \(p\d+, c\d+, k(\d+)",
                              mq.logtext())
        connects = [(cid, int(k)) for cid, k in connects if cid.startswith("oeed-")]
        print(f"  [{self.name}] published {published} (publishers done by {t_pub:.1f}s, "
              f"recorded by {t_drain:.1f}s, output settled by {t_out:.1f}s); recorded {recorded} "
              f"({lost} missing, {holes} of them below a later recorded message, "
              f"{doubled} doubled); "
              f"output total_count {total_counted}, oeed messages {messages}; "
              f"oeed's MQTT connections {len(connects)} "
              f"({', '.join(f'{c} k{k}' for c, k in connects)}), logged MQTT restarts "
              f"{restarts}, output reopens {reopens}; "
              f"oeed {'alive' if alive else 'DEAD'}", flush=True)
        for ln in reload_lines:
            print(f"  [{self.name}]   log: {ln}")
        for d in detail:
            print(f"  [{self.name}]   {d}")

        if recorded != published or lost or doubled:
            self.fail(f"recording: {recorded} lines for {published} published "
                      f"({lost} missing, {holes} of them below a later recorded message, "
                      f"{doubled} doubled)")
        wrong = [f"{machine(k)} {counted[k]} != {counts[k]}" for k in range(MACHINES)
                 if counted[k] != counts[k]]
        if wrong:
            self.fail(f"output total_count (1h window) {total_counted} for {published} "
                      f"published: {', '.join(wrong[:5])}{' ...' if len(wrong) > 5 else ''}")
        if messages != published:
            self.fail(f"self-metric messages {messages} != {published} published")
        want_id = "oeed-" + socket.gethostname()[:63]
        if not connects:
            self.fail("the broker's log shows no connection of an oeed-* client")
        elif any(cid != want_id for cid, _ in connects):
            self.fail(f"client ids {sorted(set(c for c, _ in connects))}, not the documented "
                      f"default {want_id}")
        if self.final_keepalive and connects and connects[-1][1] != self.final_keepalive:
            self.fail(f"oeed's last connection has keepalive {connects[-1][1]}s, not the "
                      f"{self.final_keepalive}s of the last reload: the mqtt change was not "
                      "applied")
        self.check_rebuilds(len(connects), restarts, reopens)
        if not alive:
            # a sanitizer's report from its first line, else the log's tail
            lines = log.splitlines()
            first = next((i for i, ln in enumerate(lines)
                          if "Sanitizer" in ln or "runtime error" in ln), None)
            shown = lines[first:first + 40] if first is not None else lines[-40:]
            what = "from the sanitizer's report" if first is not None else "tail"
            print(f"  [{self.name}] oeed log ({what}):\n" + "\n".join(shown), flush=True)
        if self.problems and KEEP:
            dst = os.path.join(KEEP, self.name)
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(o.dir, dst, symlinks=True,
                            ignore=shutil.ignore_patterns("unreadable.pass"))
            print(f"  [{self.name}] evidence kept in {dst}")

    final_keepalive = None  # the keepalive (s) the broker must see last, when the case sets one

    def check_rebuilds(self, connects, restarts, reopens):
        pass


class Unchanged(Case):
    """The mqtt and outputs sections stay as they were: neither may be rebuilt."""

    def __init__(self, name, steps, mqtt_same=True, outputs_same=True, **kw):
        super().__init__(name, steps, **kw)
        self.mqtt_same, self.outputs_same = mqtt_same, outputs_same

    def check_rebuilds(self, connects, restarts, reopens):
        if self.mqtt_same and (connects > 1 or restarts):
            self.fail(f"the mqtt section did not change, yet the MQTT client was restarted "
                      f"(the broker saw {connects} connections, oeed logged {restarts} "
                      "restarts; operations.md: only when mqtt:, record: or state_dir: "
                      "changed)")
        if self.outputs_same and reopens:
            self.fail(f"the outputs section did not change, yet the outputs were reopened "
                      f"{reopens} times")


class ReloadTests:
    def test_0_control_no_reload(self):
        # the counting method alone: the same flood with no SIGHUP
        Unchanged("0-no-reload", []).run()

    def test_a_same_file(self):
        Unchanged("a-same", [{}, {}, {}]).run()

    def test_b_output_path_changes(self):
        Unchanged("b-output", [{"out_path": "out1.lp"}, {"out_path": "out2.lp"},
                               {"out_path": "out3.lp"}], outputs_same=False).run()

    def test_c_mqtt_changes(self):
        c = Unchanged("c-mqtt", [{"keepalive": "31s"}, {"keepalive": "32s"},
                                 {"keepalive": "33s"}], mqtt_same=False)
        c.final_keepalive = 33
        c.run()

    def test_d_output_and_mqtt_change(self):
        c = Case("d-both", [{"out_path": "out1.lp", "keepalive": "31s"},
                            {"out_path": "out2.lp", "keepalive": "32s"},
                            {"out_path": "out3.lp", "keepalive": "33s"}])
        c.final_keepalive = 33
        c.run()

    def test_e_bad_output_path_then_good(self):
        Unchanged("e-bad-output", [{"out_path": "bad_out"}, {"out_path": "out1.lp"}, {}],
                  outputs_same=False).run()

    def test_f_unreadable_password_file_then_good(self):
        Case("f-bad-password", [{"password_file": "bad_pw"}, {"password_file": "good_pw"}, {}],
             auth=True).run()


if __name__ == "__main__":
    TestCase.main(ReloadTests)
