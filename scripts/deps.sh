#!/usr/bin/env bash
# Installs what oeed needs from Debian 12 (bookworm) packages only. Safe to run again: only
# missing packages are installed.
#   deps.sh          everything the tests need (scripts/test.sh): build, servers, tools
#   deps.sh --demo   only what scripts/demo.sh needs: build, mosquitto, InfluxDB, curl
# nodejs and npm run the Eclipse Tahu edge nodes of tests/test_sparkplug.py, which installs
# npm sparkplug-client into the build directory on first use (from npm's cache when offline).
# Servers it installs (mosquitto, InfluxDB, VictoriaMetrics) are left disabled and stopped:
# Debian's packages would enable them at boot and start them (InfluxDB on port 8086 of every
# interface, without authentication), while the tests and the demo start their own on
# loopback ports. It says which ones it disabled and how to enable them. Servers that were
# installed before are not touched. A busy apt (the daily apt job after a fresh boot) is
# waited for, up to 30 minutes, and it says so.
set -euo pipefail
BUILD_PKGS=(
  build-essential meson ninja-build pkg-config
  libyaml-dev libcjson-dev libpaho-mqtt-dev libcurl4-openssl-dev zlib1g-dev libssl-dev
  libprotobuf-c-dev protobuf-c-compiler tzdata python3
)
DEMO_PKGS=(mosquitto influxdb curl)
TEST_PKGS=(
  clang-format mosquitto mosquitto-clients influxdb victoria-metrics
  openssl curl time gnuplot-nox man-db groff-base systemd chromium clang libclang-rt-14-dev
  nodejs npm
)
# package -> its services
declare -A SERVICES=([mosquitto]=mosquitto [influxdb]=influxdb [victoria-metrics]=victoria-metrics)

case "${1:-}" in
  --demo) PKGS=("${BUILD_PKGS[@]}" "${DEMO_PKGS[@]}") ;;
  "") PKGS=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}") ;;
  *) echo "usage: $0 [--demo]" >&2; exit 1 ;;
esac
missing=()
for p in "${PKGS[@]}"; do
  # a node with its own npm (NodeSource's nodejs bundles it; Debian's npm conflicts with it)
  case "$p" in nodejs | npm) command -v node >/dev/null && command -v npm >/dev/null && continue ;; esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -gt 0 ] || exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
# apt_wait CMD...: runs an apt-get command; while another apt or dpkg holds the lock, waits
apt_wait() {
  local out waited=0
  while :; do
    if out=$($SUDO env DEBIAN_FRONTEND=noninteractive "$@" 2>&1); then
      return 0
    fi
    if ! grep -qiE 'could not (get|open) lock|unable to acquire|is held by process' <<<"$out" || [ $waited -ge 1800 ]; then
      printf '%s\n' "$out" | tail -20 >&2
      return 1
    fi
    [ $waited -eq 0 ] && echo "apt is busy (another apt or dpkg is running, e.g. the daily apt job after boot): waiting for it, up to 30 min..."
    sleep 10
    waited=$((waited + 10))
  done
}

new_servers=()
for p in "${missing[@]}"; do
  [ -n "${SERVICES[$p]:-}" ] && new_servers+=("$p")
done
# Keep the new servers from starting during the install: invoke-rc.d and deb-systemd-invoke
# ask policy-rc.d (101: action not allowed). Only when none is in place already.
POLICY=/usr/sbin/policy-rc.d
placed_policy=""
if [ ${#new_servers[@]} -gt 0 ] && [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\n# scripts/deps.sh of oeed: no service starts while it installs\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod 755 "$POLICY"
  placed_policy=1
fi
remove_policy() { [ -z "$placed_policy" ] || $SUDO rm -f "$POLICY"; }
trap remove_policy EXIT

echo "installing: ${missing[*]}"
apt_wait apt-get -o DPkg::Lock::Timeout=60 update -qq
apt_wait apt-get install -o DPkg::Lock::Timeout=60 -y -qq "${missing[@]}" >/dev/null

for p in "${new_servers[@]}"; do
  unit=${SERVICES[$p]}
  $SUDO deb-systemd-helper disable "$unit.service" >/dev/null 2>&1 || true
  [ ! -e "/etc/init.d/$unit" ] || $SUDO update-rc.d "$unit" disable >/dev/null 2>&1 || true
  if [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now "$unit.service" >/dev/null 2>&1 || true
  elif [ -e "/etc/init.d/$unit" ]; then
    $SUDO "/etc/init.d/$unit" stop >/dev/null 2>&1 || true
  fi
done
if [ ${#new_servers[@]} -gt 0 ]; then
  echo "installed ${new_servers[*]}: their services are disabled and stopped (oeed's demo and tests start"
  echo "their own on loopback ports). To run one as a service: systemctl enable --now NAME"
fi
