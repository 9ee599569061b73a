"""`meson install`: the exact set of installed files, the example config never overwriting an
edited one, the unit's paths matching the build's prefix, and man pages that render cleanly."""
import json
import os
import re
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def build_options():
    r = subprocess.run(["meson", "introspect", "--buildoptions", harness.BUILD],
                       capture_output=True, check=True, timeout=60)
    return {o["name"]: o["value"] for o in json.loads(r.stdout)}


def unit_dir(o):
    """-Dsystemdunitdir= (the Debian package: /lib/systemd/system), else the prefix's."""
    return o.get("systemdunitdir") or os.path.join(o["prefix"], "lib/systemd/system")


def layout():
    """The absolute install paths this build should produce, from its own options (meson joins
    a relative dir onto the prefix and takes an absolute one as it is, like os.path.join)."""
    o = build_options()
    prefix = o["prefix"]
    return {
        "bin": os.path.join(prefix, o["bindir"], "oeed"),
        "sim": os.path.join(prefix, o["bindir"], "oeed-sim"),
        "unit": unit_dir(o) + "/oeed.service",
        "config": os.path.join(prefix, o["sysconfdir"], "oeed/oeed.yaml"),
        "man8": os.path.join(prefix, o["mandir"], "man8/oeed.8"),
        "man5": os.path.join(prefix, o["mandir"], "man5/oeed.yaml.5"),
        "man1": os.path.join(prefix, o["mandir"], "man1/oeed-sim.1"),
    }


def install(destdir, quiet=True):
    argv = ["meson", "install", "-C", harness.BUILD, "--destdir", destdir, "--no-rebuild"]
    if quiet:
        argv.append("--quiet")
    r = subprocess.run(argv, capture_output=True, timeout=300)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    return r.stdout.decode() + r.stderr.decode()


def installed_files(destdir):
    out = set()
    for root, dirs, files in os.walk(destdir):
        for f in files:
            out.add("/" + os.path.relpath(os.path.join(root, f), destdir))
    return out


def in_dest(destdir, path):
    return os.path.join(destdir, path.lstrip("/"))


def render(path):
    """(text, warnings) of `man -l` at a fixed width in the C locale."""
    env = dict(os.environ, MANWIDTH="200", LC_ALL="C", MAN_KEEP_FORMATTING="")
    env.pop("MANPAGER", None)
    env["PAGER"] = "cat"
    r = subprocess.run(["man", "--warnings", "-l", path], capture_output=True, env=env,
                       timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    # strip overstrike bold/underline in case the formatter leaves them
    text = re.sub(r".\x08", "", r.stdout.decode("utf-8", "replace"))
    return text, r.stderr.decode()


def config_md_keys():
    """Every key named in the first column of docs/config.md's key tables ("Top level" on):
    the man page must at least mention each."""
    with open(os.path.join(harness.SOURCE, "docs/config.md")) as f:
        md = f.read()
    md = md[md.index("## Top level"):]
    keys = set()
    for line in md.splitlines():
        m = re.match(r"\|\s*((?:`[^`]+`(?:,\s*)?)+)\s*\|", line)
        if not m:
            continue
        for k in re.findall(r"`([^`]+)`", m.group(1)):
            keys.add(k.split(".")[-1])
    return keys


class Install:
    def test_exact_files_and_paths(self):
        want = layout()
        with tempfile.TemporaryDirectory(prefix="oeed-install-") as d:
            out = install(d)
            assert out.strip() == "", f"--quiet install printed: {out!r}"
            assert installed_files(d) == set(want.values()), (installed_files(d), want)
            for exe in (want["bin"], want["sim"]):
                mode = os.stat(in_dest(d, exe)).st_mode
                assert mode & stat.S_IXUSR and mode & stat.S_IXOTH, (exe, oct(mode))
            assert stat.S_IMODE(os.stat(in_dest(d, want["config"])).st_mode) == 0o644
            with open(in_dest(d, want["config"])) as f, \
                    open(os.path.join(harness.SOURCE, "config/oeed.yaml")) as g:
                assert f.read() == g.read()
            # the unit runs the installed binary with the installed config
            with open(in_dest(d, want["unit"])) as f:
                unit = f.read()
            cfg = want["config"]
            assert f"\nExecStart={want['bin']} -c {cfg}\n" in unit, unit
            assert f"\nExecStartPre={want['bin']} -c {cfg} --check-config\n" in unit, unit
            assert "/usr/bin/oeed" not in unit or want["bin"] == "/usr/bin/oeed", unit

    def test_existing_config_is_kept(self):
        want = layout()
        with tempfile.TemporaryDirectory(prefix="oeed-install-") as d:
            install(d)
            cfg = in_dest(d, want["config"])
            edited = "# edited by the operator\nlog_level: debug\n"
            with open(cfg, "w") as f:
                f.write(edited)
            os.chmod(cfg, 0o600)
            binary = in_dest(d, want["bin"])
            os.remove(binary)  # shows the second install did install the rest again
            install(d, quiet=False)
            with open(cfg) as f:
                assert f.read() == edited
            assert stat.S_IMODE(os.stat(cfg).st_mode) == 0o600
            assert os.path.exists(binary)
            assert installed_files(d) == set(want.values())

    def test_man_pages_render_without_warnings(self):
        want = layout()
        with tempfile.TemporaryDirectory(prefix="oeed-install-") as d:
            install(d)
            text8, warn8 = render(in_dest(d, want["man8"]))
            text5, warn5 = render(in_dest(d, want["man5"]))
            text1, warn1 = render(in_dest(d, want["man1"]))
        assert warn8 == "", warn8
        assert warn5 == "", warn5
        assert warn1 == "", warn1
        for s in ["NAME", "SYNOPSIS", "oeed-sim record --out FILE", "oeed-sim live --url",
                  "--machines N", "oeed(8)"]:
            assert s in text1, f"oeed-sim(1) lacks {s!r}"
        for s in ["NAME", "SYNOPSIS", "EXIT STATUS", "SIGHUP", "SIGTERM", "FILES", "NOTIFY_SOCKET",
                  "WATCHDOG_USEC", "JOURNAL_STREAM", "--check-config", "oeed replay -c FILE",
                  "oeed report -c FILE --contract NAME --period LABEL [--html OUT] REC...",
                  "Type=notify", "/etc/oeed/oeed.yaml", "oeed.yaml(5)"]:
            assert s in text8, f"oeed(8) lacks {s!r}"
        missing = sorted(k for k in config_md_keys() if not re.search(
            r"(?<![\w.])" + re.escape(k) + r"(?![\w])", text5))
        assert not missing, f"oeed.yaml(5) lacks keys of docs/config.md: {missing}"
        assert len(config_md_keys()) > 60, config_md_keys()  # the table parse found the keys
        assert "docs/config.md" in text5


if __name__ == "__main__":
    harness.TestCase.main(Install)
