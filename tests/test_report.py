"""`oeed report` over a month: oeed-sim records October 2026 (UTC) for three machines with the
ground truth from its own timeline; `oeed replay` and `oeed report` recompute the monthly
availability contract, which must equal the pooled truth run / (run + idle + down). The
report's failures, downtime and checksums are checked against the truth and hashlib, and its
HTML is rendered by headless Chromium to a PNG (decoded here with zlib: not blank) and to a
PDF (at least one page)."""
import hashlib
import os
import re
import shutil
import struct
import subprocess
import tempfile
import zlib

import harness

SIM = os.path.join(harness.BUILD, "sim", "oeed-sim")
MONTH_START_MS = 1790812800000  # 2026-10-01T00:00:00Z
MONTH_END_MS = 1793491200000    # 2026-11-01T00:00:00Z
SIM_ARGS = ["--machines", "3", "--style", "mixed", "--ideal-spread", "--seed", "202610",
            "--start", "2026-10-01T00:00:00Z", "--duration", "31d", "--tail", "3m",
            "--count-interval", "30s", "--fault-every", "45m", "--reject", "0.02"]
MAP = """      RUNNING: running
      IDLE: idle/starved
      BLOCKED: idle/blocked
      STOP: idle/short_stop
      FAULT: down/fault
      JAM: down/jam
      TOOLCHANGE: down/tool_change
      BREAK: planned/break
"""
CONFIG = """site: report-test
state_dir: {state_dir}
log_level: warn
sources:
  - topic: "factory/{{line}}/{{machine}}/state"
    decoder: text
    signal: state
    map:
{map}  - topic: "factory/{{line}}/{{machine}}/count"
    decoder: text
    signal: total
    counts: cumulative
  - topic: "factory/{{line}}/{{machine}}/reject"
    decoder: text
    signal: reject
    counts: cumulative
  - topic: "factory/{{line}}/{{machine}}/data"
    decoder: json
    counts: cumulative
    fields: {{ state: "$.state", total: "$.parts", reject: "$.scrap", timestamp: "$.ts" }}
    map:
{map}machines:
  defaults: {{ ideal_cycle_time: 1s, stale_after: 60s }}
  max: 10
  list:
{machines}report:
  interval: 10m
  windows: [1h]
  periods: [day]
  timezone: UTC
contracts:
  - {{ name: line1-availability, machines: ["m*"], kpi: availability, period: month,
      target: 0.8, minimum: 0.7 }}
outputs:
  - type: file
    path: "-"
"""

_CACHE = {}


def month():
    """The recording, truth and config, made once for all tests."""
    if "dir" not in _CACHE:
        d = tempfile.mkdtemp(prefix="oeed-report-")
        rec, truth_path = os.path.join(d, "october.rec"), os.path.join(d, "truth.json")
        subprocess.run([SIM, "record"] + SIM_ARGS + ["--out", rec, "--truth", truth_path],
                       check=True, capture_output=True, timeout=120)
        import json
        with open(truth_path) as f:
            truth = json.load(f)
        machines = "".join(
            f"    - {{ id: {m['machine']}, ideal_cycle_time: {round(m['ideal_cycle_s'] * 1000)}ms }}\n"
            for m in truth["machines"])
        cfg = os.path.join(d, "oeed.yaml")
        with open(cfg, "w") as f:
            f.write(CONFIG.format(state_dir=os.path.join(d, "state"), map=MAP, machines=machines))
        _CACHE.update(dir=d, rec=rec, truth=truth, cfg=cfg)
    return _CACHE


def report(*extra, expect=0):
    m = month()
    p = harness.run_oeed(["report", "-c", m["cfg"], "--contract", "line1-availability"]
                         + list(extra) + [m["rec"]], timeout=300)
    assert p.returncode == expect, (p.returncode, p.stderr.decode()[-2000:])
    return p.stdout.decode()


def pooled_truth(truth):
    t = truth["total"]
    return t["run_s"] / (t["run_s"] + t["idle_s"] + t["down_s"])


def close_rel(a, b, rel=1e-9):
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)


# ---- PNG decoding (zlib + the five scanline filters of the PNG spec) ----
def png_pixels(path, max_rows=None):
    """Decodes the first max_rows rows (a row is unfiltered from the one above only)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = ihdr
    assert depth == 8 and ctype in (2, 6) and interlace == 0, ihdr
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(min(h, max_rows or h)):
        ft = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ft == 1:
                line[i] = (line[i] + a) & 255
            elif ft == 2:
                line[i] = (line[i] + b) & 255
            elif ft == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ft == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def chromium(*args):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "chromium is not installed (scripts/deps.sh installs Debian's chromium)"
    profile = tempfile.mkdtemp(prefix="oeed-chromium-")
    try:
        p = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu",
                            "--disable-background-networking", "--disable-component-update",
                            "--disable-sync", "--no-first-run", "--user-data-dir=" + profile]
                           + list(args), capture_output=True, timeout=180,
                           stdin=subprocess.DEVNULL)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return p


class Tests:
    def test_replay_and_report_equal_truth(self):
        m = month()
        truth = m["truth"]
        for t in truth["machines"]:
            span = sum(t[k] for k in ("run_s", "idle_s", "down_s", "planned_s", "unknown_s"))
            assert abs(span - 31 * 86400) < 1e-6, (t["machine"], span)
        want = pooled_truth(truth)
        p = harness.run_oeed(["replay", "-c", m["cfg"], m["rec"]], timeout=300)
        assert p.returncode == 0, p.stderr.decode()[-2000:]
        finals = [l for l in p.stdout.decode().splitlines()
                  if l.startswith("contract,contract=line1-availability,") and "final=true" in l]
        assert len(finals) == 1, finals
        fields = dict(kv.split("=", 1) for kv in finals[0].split(" ")[1].split(","))
        assert int(finals[0].split(" ")[2]) == MONTH_END_MS
        assert fields["period_start"] == f"{MONTH_START_MS}i"
        assert close_rel(float(fields["value"]), want), (fields["value"], want)
        assert fields["status"] == '"' + ("on_track" if want >= 0.8 else
                                          "at_risk" if want >= 0.7 else "breached") + '"', fields

        out = report("--period", "2026-10")
        value = float(re.search(r"^Value:\s+([0-9.]+) %", out, re.M).group(1))
        assert abs(value - 100 * want) <= 0.0005 + 1e-9, (value, 100 * want)
        assert re.search(r"^Status:\s+\S+ \(final", out, re.M), out
        # failures: every entry into down of the month (the truth counts the same)
        n = int(re.search(r"^Failures:\s+(\d+)", out, re.M).group(1))
        assert n == truth["total"]["failures"], (n, truth["total"]["failures"])
        # downtime by reason adds up to the down time of the month
        hours = [float(x) for x in re.findall(r"^  \S+\s+([0-9.]+) h\s+[0-9.]+ %$", out, re.M)]
        assert hours and abs(sum(hours) - truth["total"]["down_s"] / 3600) < 0.01 * len(hours)
        # per machine run hours from the month's final machine_kpi = truth
        for t in truth["machines"]:
            row = re.search(r"^  " + t["machine"] + r"\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)", out,
                            re.M)
            assert row, t["machine"]
            assert abs(float(row.group(1)) - t["run_s"] / 3600) < 0.006, (row.group(0), t)
            assert abs(float(row.group(3)) - t["down_s"] / 3600) < 0.006, (row.group(0), t)
        # checksums anyone can recompute
        for path in (m["cfg"], m["rec"]):
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            assert f"{digest}  {path}" in out, (path, digest)

    def test_html_renders_in_chromium(self):
        m = month()
        html = os.path.join(m["dir"], "report.html")
        report("--period", "2026-10", "--html", html)
        with open(html, encoding="utf-8") as f:
            text = f.read()
        assert "<script" not in text and "http://" not in text.replace(
            'xmlns="http://www.w3.org/2000/svg"', "")
        assert text.count("<svg") >= 3 and "@media print" in text
        rows = len(re.findall(r"<td>no \(planned\)</td>|<td>yes</td>", text))
        assert rows == m["truth"]["total"]["failures"], rows
        png = os.path.join(m["dir"], "report.png")
        p = chromium("--screenshot=" + png, "--window-size=1200,2000", "file://" + html)
        assert p.returncode == 0 and os.path.exists(png), p.stderr.decode()[-2000:]
        w, h, bpp, rows = png_pixels(png, max_rows=1000)  # the summary and the charts
        assert (w, h) == (1200, 2000), (w, h)
        colors, dark = set(), 0
        for y in range(0, len(rows), 4):
            row = rows[y]
            for x in range(0, w * bpp, 4 * bpp):
                px = row[x:x + 3]
                colors.add(px)
                dark += sum(px) < 300
        assert len(colors) >= 20, f"only {len(colors)} colours: blank page?"
        assert dark > 500, f"only {dark} dark pixels sampled: no text?"
        pdf = os.path.join(m["dir"], "report.pdf")
        p = chromium("--print-to-pdf=" + pdf, "--no-pdf-header-footer", "file://" + html)
        assert p.returncode == 0 and os.path.exists(pdf), p.stderr.decode()[-2000:]
        with open(pdf, "rb") as f:
            data = f.read()
        assert data.startswith(b"%PDF") and len(data) > 10000, len(data)
        pages = len(re.findall(rb"/Type\s*/Page[^s]", data))
        assert pages > 0, "no pages in the PDF"

    def test_day_label_and_bad_arguments(self):
        # a day contract label on a month contract is rejected with exit 1
        report("--period", "2026-10-05", expect=1)
        report("--period", "2026-13", expect=1)
        m = month()
        p = harness.run_oeed(["report", "-c", m["cfg"], "--contract", "nope", "--period",
                              "2026-10", m["rec"]])
        assert p.returncode == 1 and b"no such contract" in p.stderr, p.stderr
        # a month without data: no records, exit 0, said plainly
        out = report("--period", "2026-12")
        assert "no records for this period" in out, out

    def test_zz_cleanup(self):
        if "dir" in _CACHE:
            shutil.rmtree(_CACHE["dir"], ignore_errors=True)
            _CACHE.clear()


if __name__ == "__main__":
    harness.TestCase.main(Tests)
