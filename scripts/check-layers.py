#!/usr/bin/env python3
"""Fails when a file under daemon/ includes a header from a layer it must not depend on.

The layers (docs/architecture.md): each folder may include its own headers and those of the
folders listed for it below; anything else is a violation, printed as FILE:LINE. System and
library headers (<...>) are not checked, except that core/ must not include the headers of
the I/O libraries and system calls either (calendar.c reads the time zone file once, at
calendar_new, with open(2): the one documented exception)."""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DAEMON = os.path.join(ROOT, "daemon")

# folder -> folders whose headers it may include (its own always)
ALLOWED = {
    "util": set(),
    "config": {"util", "ingest:topic.h", "ingest:plugin.h"},  # validates templates, decoders
    "core": {"util:util.h", "config"},  # pure: no log, no clock, no secrets
    "ingest": {"util:util.h", "config", "core"},
    "emit": {"util", "config", "core"},
    "pipeline": {"util:util.h", "util:log.h", "config", "core", "ingest", "emit"},
    "output": {"util", "config"},
    "io": {"util", "config"},
    "app": {"util", "config", "core", "ingest", "emit", "pipeline", "output", "io"},
}
# library headers that mean I/O: never in core/
CORE_FORBIDDEN_SYSTEM = re.compile(
    r"(MQTTAsync|curl/|yaml\.h|sys/socket|sys/epoll|pthread|stdio_ext)")


def headers():
    owner = {}
    for folder in ALLOWED:
        d = os.path.join(DAEMON, folder)
        for f in os.listdir(d):
            if f.endswith(".h"):
                owner[f] = folder
    return owner


def allowed(folder, target_folder, header):
    if target_folder == folder:
        return True
    rules = ALLOWED[folder]
    return target_folder in rules or f"{target_folder}:{header}" in rules


def main():
    owner = headers()
    bad = []
    checked = 0
    for folder in ALLOWED:
        d = os.path.join(DAEMON, folder)
        for f in sorted(os.listdir(d)):
            if not f.endswith((".c", ".h")):
                continue
            checked += 1
            path = os.path.join(d, f)
            with open(path, encoding="utf-8") as fh:
                for n, line in enumerate(fh, 1):
                    m = re.match(r'\s*#\s*include\s*"([^"]+)"', line)
                    if m:
                        h = os.path.basename(m.group(1))
                        t = owner.get(h)
                        if t and not allowed(folder, t, h):
                            bad.append(f"daemon/{folder}/{f}:{n}: {folder}/ must not include "
                                       f"{t}/{h}")
                        continue
                    m = re.match(r"\s*#\s*include\s*<([^>]+)>", line)
                    if m and folder == "core" and CORE_FORBIDDEN_SYSTEM.search(m.group(1)):
                        bad.append(f"daemon/{folder}/{f}:{n}: core/ must not include "
                                   f"<{m.group(1)}> (I/O)")
    # every folder under daemon/ has its rule
    for entry in os.listdir(DAEMON):
        if os.path.isdir(os.path.join(DAEMON, entry)) and entry not in ALLOWED:
            bad.append(f"daemon/{entry}/: a folder without a layer rule in {__file__}")
    for b in bad:
        print(b)
    print(f"check-layers: {checked} files, {len(bad)} violations")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
