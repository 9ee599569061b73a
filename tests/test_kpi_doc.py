"""docs/kpi.md defines every field and tag the program writes, and docs/output.md (the schema
page) lists them all too: the names come from the program's own output (an `oeed replay` of an
`oeed-sim record` recording, with cycle events added and contracts of several kinds), not from
a hand list, and are compared with the tables of kpi.md's "Fields" section and output.md's
"Measurements" section (the first column of each measurement's table). The `oeed` self-metrics
(not written by a replay) are read from emit.c's emit_self()."""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import parse_line, run_oeed  # noqa: E402

SIM = os.path.join(harness.BUILD, "sim", "oeed-sim")
KPI_MD = os.path.join(harness.SOURCE, "docs", "kpi.md")
OUTPUT_MD = os.path.join(harness.SOURCE, "docs", "output.md")
EMIT_C = os.path.join(harness.SOURCE, "daemon", "emit", "emit.c")
MEASUREMENTS = ("machine_state", "machine_kpi", "contract", "machine_loss", "machine_stop")

# The demo config's sources and machines, plus a cycle source, micro-stops, and contracts
# over a calendar and a rolling period, higher and lower is better, both unknown rules.
CYCLE_SOURCE = """\
  - topic: "factory/{line}/{machine}/cycle"
    decoder: text
    signal: cycle
"""
CONTRACTS = """\
contracts:
  - { name: c-availability, machines: ["m*"], kpi: availability, period: shift,
      target: 0.85, minimum: 0.75, unknown: exclude, planned_reasons: [starved] }
  - { name: c-mttr, machines: m0001, kpi: mttr_s, period: 1h, target: 300, minimum: 900,
      unknown: down }
  - { name: c-cycle, machines: m0000, kpi: cycle_p95_s, period: day, target: 1.2,
      minimum: 2 }
outputs:
  - type: file
    path: "-"
"""


_SEEN = {}


def program_output():
    """{measurement: (fields, tags)} of everything one replay writes (run once)."""
    if not _SEEN:
        _SEEN.update(_replay())
    return _SEEN


def _replay():
    with tempfile.TemporaryDirectory(prefix="oeed-kpidoc-") as d:
        rec = os.path.join(d, "shift.rec")
        subprocess.run([SIM, "record", "--out", rec, "--machines", "2", "--duration", "490m"],
                       check=True, capture_output=True, timeout=300)
        lines = open(rec).read().splitlines(keepends=True)
        assert len(lines) > 1000, len(lines)
        # cycle events of two machines, 1.0-1.3 s each, every 7 s of the recording's span
        first, last = int(lines[0].split()[0]), int(lines[-1].split()[0])
        import base64
        extra = []
        for i, ns in enumerate(range(first + 10**9, last, 7 * 10**9)):
            for m in ("m0000", "m0001"):
                payload = base64.b64encode(f"{1.0 + (i % 4) / 10:.1f}".encode()).decode()
                extra.append(f"{ns} factory/line1/{m}/cycle {payload}\n")
        merged = sorted(lines + extra, key=lambda ln: int(ln.split()[0]))
        with open(rec, "w") as f:
            f.writelines(merged)
        demo = open(os.path.join(harness.SOURCE, "config", "demo.yaml")).read()
        cfg_text = demo[:demo.index("\ncontracts:") + 1] + CONTRACTS
        cfg_text = cfg_text.replace("sources:\n", "sources:\n" + CYCLE_SOURCE, 1)
        cfg_text = cfg_text.replace("stale_after: 60s }", "stale_after: 60s, microstop_below: 30s }")
        cfg_text = cfg_text.replace("state_dir: /tmp/oeed-demo", f"state_dir: {d}/state")
        cfg = os.path.join(d, "oeed.yaml")
        with open(cfg, "w") as f:
            f.write(cfg_text)
        r = run_oeed(["replay", "-c", cfg, rec])
        assert r.returncode == 0, r.stderr.decode()
    seen = {}
    shapes = set()
    for line in r.stdout.decode().splitlines():
        # the names only: one line of each shape (values taken out) is parsed
        shape = re.sub(r'=("(?:[^"\\]|\\.)*"|[^,\s]*)', "=", line)
        if shape in shapes:
            continue
        shapes.add(shape)
        meas, tags, fields, _ = parse_line(line)
        f, t = seen.setdefault(meas, (set(), set()))
        f.update(fields)
        t.update(tags)
    return seen


def documented(path=None, section="Fields"):
    """{measurement: names} from kpi.md's "## Fields" (or another page's section): under each
    "### `measurement`" heading, the backticked names in the first column of its table rows."""
    md = open(path or KPI_MD).read()
    m = re.search(rf"^## {section}\n(.*?)(?=^## |\Z)", md, re.S | re.M)
    assert m, f"{path or KPI_MD} has no '## {section}' section"
    out = {}
    for head, body in re.findall(r"^### `(\w+)`[^\n]*\n(.*?)(?=^### |\Z)", m.group(1), re.S | re.M):
        names = set()
        for row in body.splitlines():
            cell = re.match(r"\|([^|]*)\|", row)
            if cell:
                names.update(re.findall(r"`([\w]+)`", cell.group(1)))
        out[head] = names
    return out


class KpiDoc:
    def test_every_written_name_is_defined(self):
        seen = program_output()
        doc = documented()
        assert set(MEASUREMENTS) <= set(seen), sorted(seen)
        # the output is rich enough to mean something: cycles and both contract kinds are there
        assert {"cycle_p95_s", "availability", "failures"} <= seen["machine_kpi"][0], seen
        assert {"status", "best_case", "worst_case"} <= seen["contract"][0], seen
        problems = []
        for meas, (fields, tags) in sorted(seen.items()):
            if meas not in doc:
                problems.append(f"measurement {meas} has no '### `{meas}`' table in docs/kpi.md")
                continue
            for name in sorted((fields | tags) - doc[meas]):
                problems.append(f"{meas}: '{name}' is written but not defined in docs/kpi.md")
        assert not problems, "\n".join(problems)

    def test_every_defined_name_is_written(self):
        """The other way round: a table row for a name the program never writes is a stale doc
        (the tables say which tags a config adds, e.g. {line}: those are the source's)."""
        seen = program_output()
        doc = documented()
        stale = []
        for meas in MEASUREMENTS:
            fields, tags = seen[meas]
            for name in sorted(doc.get(meas, set()) - fields - tags):
                stale.append(f"{meas}: '{name}' is defined in docs/kpi.md but never written")
        assert not stale, "\n".join(stale)

    def test_output_md_lists_every_name(self):
        """docs/output.md, the schema page: every measurement, tag and field written (and the
        self-metrics of emit_self), and no name that is never written."""
        seen = dict(program_output())
        self_fields = set(re.findall(r"^\tF\((\w+)\);", open(EMIT_C).read(), re.M))
        assert len(self_fields) > 15, self_fields
        seen["oeed"] = (self_fields, {"instance", "site"})
        doc = documented(OUTPUT_MD, "Measurements")
        problems = []
        for meas, (fields, tags) in sorted(seen.items()):
            if meas not in doc:
                problems.append(f"measurement {meas} has no '### `{meas}`' table in output.md")
                continue
            for name in sorted((fields | tags) - doc[meas]):
                problems.append(f"{meas}: '{name}' is written but not in docs/output.md")
            for name in sorted(doc[meas] - fields - tags):
                problems.append(f"{meas}: '{name}' is in docs/output.md but never written")
        for meas in sorted(set(doc) - set(seen)):
            problems.append(f"output.md has a table for {meas}, which is never written")
        assert not problems, "\n".join(problems)

    def test_the_check_can_fail(self):
        """documented() reads the tables: a name removed from a copy of kpi.md is missed."""
        doc = documented()
        assert len(doc.get("machine_kpi", ())) > 25, doc
        global KPI_MD
        saved = KPI_MD
        with tempfile.NamedTemporaryFile("w", suffix=".md", delete=False) as f:
            f.write(re.sub(r"^\| `mttr_s` .*\n", "", open(saved).read(), flags=re.M))
        try:
            KPI_MD = f.name
            assert "mttr_s" not in documented()["machine_kpi"]
        finally:
            KPI_MD = saved
            os.unlink(f.name)


if __name__ == "__main__":
    harness.TestCase.main(KpiDoc)
