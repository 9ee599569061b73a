#!/usr/bin/env bash
# Installs what oeed needs to build, test and run its demo on Debian 12 (bookworm), only from
# Debian's packages. Safe to run again: apt-get skips what is installed.
set -euo pipefail
PKGS=(
  build-essential meson ninja-build pkg-config clang-format
  libyaml-dev libcjson-dev libpaho-mqtt-dev libcurl4-openssl-dev zlib1g-dev
  libprotobuf-c-dev protobuf-c-compiler
  mosquitto mosquitto-clients influxdb victoria-metrics
  openssl curl tzdata python3 time gnuplot-nox
  man-db groff-base systemd
  libssl-dev chromium
  clang libclang-rt-14-dev
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing: ${missing[*]}"
  $SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -o DPkg::Lock::Timeout=300 -y -qq "${missing[@]}" >/dev/null
fi
