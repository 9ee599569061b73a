"""The installed systemd unit: `systemd-analyze verify` accepts it (syntax, executables, the
man pages it names) and `systemd-analyze security --offline=true` rates its exposure at most
2.0. Needs no running systemd."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_install import build_options, in_dest, install, layout  # noqa: E402

MAX_EXPOSURE = 2.0


class Unit:
    """A destdir install and a copy of its unit that runs the binary installed in the destdir
    (verify checks that ExecStart= names an executable, and /usr/local/bin/oeed does not
    exist on a build machine)."""

    def __init__(self):
        self.want = layout()
        self.tmp = tempfile.mkdtemp(prefix="oeed-systemd-")
        self.n_written = 0
        self.dest = os.path.join(self.tmp, "dest")
        try:
            install(self.dest)
            with open(in_dest(self.dest, self.want["unit"])) as f:
                self.text = f.read()
        except BaseException:
            self.close()
            raise
        self.manpath = in_dest(self.dest, os.path.join(build_options()["prefix"],
                                                      build_options()["mandir"]))

    def write(self, text, name="oeed.service"):
        self.n_written += 1
        d = os.path.join(self.tmp, "units", str(self.n_written))
        os.makedirs(d)
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def runnable(self):
        return self.text.replace(self.want["bin"] + " ", in_dest(self.dest, self.want["bin"]) + " ")

    def verify(self, path):
        # MANPATH: verify runs `man` for each Documentation=man:... and fails when it is missing
        env = dict(os.environ, MANPATH=self.manpath, SYSTEMD_LOG_COLOR="0")
        r = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, env=env,
                           timeout=120)
        out = (r.stdout + r.stderr).decode()
        # messages about other units (the system's own) are not ours to judge
        ours = [ln for ln in out.splitlines() if "oeed" in ln]
        return r.returncode, ours

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


class Systemd:
    def test_unit_has_the_service_settings(self):
        u = Unit()
        try:
            for line in ["Type=notify", "NotifyAccess=main", "DynamicUser=yes",
                         "StateDirectory=oeed", "ConfigurationDirectory=oeed",
                         "Documentation=man:oeed(8) man:oeed.yaml(5)",
                         "ExecReload=/bin/kill -HUP $MAINPID"]:
                assert "\n" + line + "\n" in u.text, line
            m = re.search(r"\nWatchdogSec=(\d+)s\n", u.text)
            assert m and int(m.group(1)) >= 10, "WatchdogSec missing or too short for a ping loop"
            assert f"\nExecStart={u.want['bin']} -c {u.want['config']}\n" in u.text
        finally:
            u.close()

    def test_verify_accepts_installed_unit(self):
        u = Unit()
        try:
            path = u.write(u.runnable())
            rc, ours = u.verify(path)
            assert rc == 0 and not ours, f"rc {rc}: {ours}"
        finally:
            u.close()

    def test_verify_catches_what_it_should(self):
        """The check above can fail: a missing binary, a missing man page and a bad setting are
        each reported."""
        u = Unit()
        try:
            rc, ours = u.verify(u.write(u.text.replace(
                u.want["bin"] + " ", "/nonexistent/oeed ")))
            assert rc != 0 and any("/nonexistent/oeed" in ln for ln in ours), (rc, ours)
            rc, ours = u.verify(u.write(u.runnable().replace("man:oeed(8)", "man:oeed-nope(8)")))
            assert rc != 0 and any("oeed-nope" in ln for ln in ours), (rc, ours)
            rc, ours = u.verify(u.write(u.runnable().replace("Type=notify", "Type=notiffy")))
            assert any("notiffy" in ln for ln in ours), (rc, ours)
        finally:
            u.close()

    def test_security_exposure(self):
        u = Unit()
        try:
            path = u.write(u.runnable())
            r = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager",
                                path], capture_output=True, timeout=120,
                               env=dict(os.environ, SYSTEMD_LOG_COLOR="0"))
            out = r.stdout.decode("utf-8", "replace")
            m = re.search(r"Overall exposure level for oeed\.service: (\d+\.\d+)", out)
            assert m, out + r.stderr.decode()
            exposure = float(m.group(1))
            assert exposure <= MAX_EXPOSURE, f"exposure {exposure} > {MAX_EXPOSURE}:\n{out}"
            # and the score reacts to the unit: without the hardening it is far worse
            bare = "\n".join(ln for ln in u.runnable().splitlines()
                             if not re.match(r"(Protect|Private|Restrict|SystemCall|Capability|"
                                             r"NoNewPrivileges|DynamicUser|MemoryDeny|Lock)", ln))
            r = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager",
                                u.write(bare)], capture_output=True, timeout=120)
            m2 = re.search(r"Overall exposure level for oeed\.service: (\d+\.\d+)",
                           r.stdout.decode("utf-8", "replace"))
            assert m2 and float(m2.group(1)) > 5.0, r.stdout.decode("utf-8", "replace")[-300:]
        finally:
            u.close()


if __name__ == "__main__":
    harness.TestCase.main(Systemd)
