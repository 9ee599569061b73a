#!/usr/bin/env python3
"""The config key tables in docs/config.md and docs/oeed.yaml.5 come from the schema
(daemon/config/config.c). Each table stands between marker comments naming its section
("keys: mqtt"); this script replaces every marked block with the schema's (default), or with
--check fails, naming the section, when a doc's block differs from the schema's or a section
is missing from a doc.

  scripts/config-docs.py [--check] [--schema BUILD/tests/oeed-config-schema]
"""
import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = [("docs/config.md", False), ("docs/oeed.yaml.5", True)]


def blocks(text, man):
    start = r'^\.\\" keys: (\S+)$' if man else r"^<!-- keys: (\S+)[^\n]*-->$"
    end = r'^\.\\" /keys$' if man else r"^<!-- /keys -->$"
    found = {}
    for m in re.finditer(start + r"\n.*?" + end.lstrip("^"), text, re.S | re.M):
        found[m.group(1)] = (m.start(), m.end(), m.group(0))
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--schema", default=os.path.join(ROOT, "build/tests/oeed-config-schema"))
    a = ap.parse_args()
    bad = 0
    for path, man in DOCS:
        gen = subprocess.run([a.schema] + (["--man"] if man else []), check=True,
                             capture_output=True, text=True).stdout
        want = blocks(gen, man)
        full = os.path.join(ROOT, path)
        text = open(full, encoding="utf-8").read()
        have = blocks(text, man)
        for name in want:
            if name not in have:
                print(f"{path}: no table for section '{name}' (add a marked block)")
                bad += 1
        for name in have:
            if name not in want:
                print(f"{path}: table '{name}' names no section of the schema")
                bad += 1
        out = text
        for name, (s, e, body) in sorted(have.items(), key=lambda kv: -kv[1][0]):
            if name in want and body != want[name][2]:
                if a.check:
                    print(f"{path}: table '{name}' differs from the schema "
                          f"(run scripts/config-docs.py)")
                    bad += 1
                out = out[:s] + want[name][2] + out[e:]
        if not a.check and out != text:
            open(full, "w", encoding="utf-8").write(out)
            print(f"{path}: updated")
    if a.check:
        print(f"config-docs: {'OK' if not bad else str(bad) + ' problem(s)'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
