#!/usr/bin/env bash
# cross-arm64.sh - the Debian package cross-built for arm64 (edge gateways are mostly ARM),
# with its unit tests run under qemu-user, in a fresh Debian 12 minbase chroot (so the
# machine's own dpkg gets no foreign architecture):
#   dpkg --add-architecture arm64; crossbuild-essential-arm64, qemu-user-static and the
#   Build-Depends for arm64 (`apt-get build-dep -a arm64 ./`: the multiarch -dev packages);
#   `dpkg-buildpackage -a arm64 -us -uc -b`, whose dh_auto_test runs `meson test --suite unit`
#   through qemu-aarch64-static (debian/rules adds it as meson's exe_wrapper); then the built
#   oeed runs `--version` and `--check-config` under qemu.
# Needs root and Debian's mirror; takes several minutes on 2 cores (docs/packaging.md has the
# last run). The .debs and logs go to OUT (default build-deb-arm64/). Ends with
# "cross-arm64: PASS" or "cross-arm64: FAIL: why".
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REF=${REF:-HEAD}
OUT=${OUT:-$ROOT/build-deb-arm64}
source scripts/chroot.sh
[ "$(id -u)" -eq 0 ] || { echo "cross-arm64: needs root (debootstrap, chroot)" >&2; exit 1; }
WORK=$(mktemp -d /var/tmp/oeed-cross.XXXXXX)
CH=$WORK/root
cleanup() {
	chroot_remove "$CH" 2>/dev/null || true
	rmdir "$WORK" 2>/dev/null || true
}
trap cleanup EXIT
fail() {
	echo "cross-arm64: FAIL: $*"
	exit 1
}
step() { echo "== $*"; }
rm -rf "$OUT"
mkdir -p "$OUT"

step "chroot: fresh bookworm minbase, dpkg --add-architecture arm64"
chroot_make "$CH"
mkdir -p "$CH/build/oeed"
git -C "$ROOT" archive "$REF" | tar -C "$CH/build/oeed" -xf -
echo "tree: $(git -C "$ROOT" rev-parse --short "$REF")"
chroot_run "$CH" dpkg --add-architecture arm64
chroot_run "$CH" apt-get update -qq
step "crossbuild-essential-arm64 qemu-user-static; apt-get build-dep -a arm64 ./"
chroot_run "$CH" apt-get install -y -qq --no-install-recommends crossbuild-essential-arm64 \
	qemu-user-static file >"$OUT/deps.log" 2>&1 || { tail -20 "$OUT/deps.log"; fail "crossbuild-essential-arm64"; }
chroot_run "$CH" sh -c 'cd /build/oeed && apt-get build-dep -y -qq -a arm64 ./' >>"$OUT/deps.log" 2>&1 ||
	{ tail -20 "$OUT/deps.log"; fail "apt-get build-dep -a arm64"; }
chroot_run "$CH" sh -c "dpkg-query -W -f='\${Package}:\${Architecture} ' 'lib*-dev' | tr ' ' '\n' | grep ':arm64' | tr '\n' ' '" |
	sed 's/^/  arm64 -dev packages: /'
echo
step "dpkg-buildpackage -a arm64 -us -uc -b (unit tests under qemu-aarch64-static)"
start=$(date +%s)
chroot_run "$CH" sh -c 'cd /build/oeed && dpkg-buildpackage -a arm64 -us -uc -b' >"$OUT/build.log" 2>&1 ||
	{ tail -60 "$OUT/build.log"; fail "dpkg-buildpackage -a arm64"; }
echo "built in $(($(date +%s) - start)) s"
grep -E 'exe_wrapper|Exe wrapper|Host machine cpu' "$OUT/build.log" | sed 's/^/  /' | head -4
grep -E '^ *[0-9]+/[0-9]+ oeed:unit' "$OUT/build.log" | sed 's/^/  /'
grep -E '^(Ok|Fail|Skipped|Timeout): ' "$OUT/build.log" | sed 's/^/  /'
ran=$(grep -cE '^ *[0-9]+/[0-9]+ oeed:unit .* OK ' "$OUT/build.log" || true)
[ "$ran" -gt 0 ] || fail "no unit test ran under qemu"
if grep -qE '^(Fail|Skipped|Timeout): +[1-9]' "$OUT/build.log"; then fail "unit tests under qemu"; fi
cp "$CH"/build/*.deb "$CH"/build/*.changes "$OUT/"
ls "$OUT"/*.deb | sed 's|.*/|  |'
step "the arm64 binary under qemu"
chroot_run "$CH" sh -c 'cd /build/oeed && file obj-aarch64-linux-gnu/daemon/oeed | cut -d, -f1-2' | sed 's/^/  /'
chroot_run "$CH" sh -c 'cd /build/oeed && qemu-aarch64-static obj-aarch64-linux-gnu/daemon/oeed --version' ||
	fail "oeed --version under qemu"
chroot_run "$CH" sh -c 'cd /build/oeed && qemu-aarch64-static obj-aarch64-linux-gnu/daemon/oeed -c config/oeed.yaml --check-config | tail -1' ||
	fail "oeed --check-config under qemu"
dpkg-deb -I "$OUT"/oeed_*_arm64.deb | grep -E '^ (Architecture|Depends):' | sed 's/^/  /'
echo "cross-arm64: PASS"
