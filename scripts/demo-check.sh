#!/usr/bin/env bash
# demo-check.sh - the demo on a machine where it installs its servers leaves none of them
# enabled or running: a fresh Debian 12 minbase chroot gets the committed tree, runs
# `DEMO_SECONDS=10 scripts/demo.sh` (which installs mosquitto and InfluxDB through
# scripts/deps.sh --demo), then checks that neither service is enabled (systemd wants/ links,
# sysv rc links) and that no process of the chroot is left (so nothing listens).
# The chroot's own policy-rc.d is removed first: the demo has to keep the servers from
# starting itself. Needs root; takes a few minutes. Ends with "demo-check: PASS" or
# "demo-check: FAIL: why".
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REF=${REF:-HEAD}
source scripts/chroot.sh
[ "$(id -u)" -eq 0 ] || { echo "demo-check: needs root" >&2; exit 1; }
WORK=$(mktemp -d /var/tmp/oeed-demo-check.XXXXXX)
CH=$WORK/root
# chroot_pids: processes whose root directory is the chroot
chroot_pids() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" = "$CH" ] && echo "${p#/proc/}"
	done
	return 0
}
cleanup() {
	local pids
	pids=$(chroot_pids)
	[ -z "$pids" ] || kill $pids 2>/dev/null || true
	chroot_remove "$CH" 2>/dev/null || true
	rmdir "$WORK" 2>/dev/null || true
}
trap cleanup EXIT
fail() {
	echo "demo-check: FAIL: $*"
	exit 1
}
chroot_make "$CH"
rm -f "$CH/usr/sbin/policy-rc.d"
mkdir -p "$CH/build/oeed"
git -C "$ROOT" archive "$REF" | tar -C "$CH/build/oeed" -xf -
echo "== DEMO_SECONDS=10 scripts/demo.sh in a fresh bookworm minbase (tree $(git -C "$ROOT" rev-parse --short "$REF"))"
chroot_run "$CH" sh -c 'cd /build/oeed && DEMO_SECONDS=10 bash scripts/demo.sh' >"$WORK/demo.log" 2>&1 ||
	{ tail -30 "$WORK/demo.log"; fail "the demo failed"; }
grep -E '^(installing|installed|apt is busy|mosquitto on|demo finished)' "$WORK/demo.log" | cut -c1-150 | sed 's/^/  /'
for p in mosquitto influxdb; do
	chroot_run "$CH" dpkg-query -W -f='  ${Package} ${Version} installed\n' "$p" || fail "$p was not installed"
done
echo "== enabled at boot?"
links=$(cd "$CH/etc" && find systemd/system rc?.d -name '*mosquitto*' -o -name '*influx*' 2>/dev/null | grep -v '^systemd/system/[^/]*\.service$' || true)
links=$(grep -E '\.wants/|rc.\.d/S' <<<"$links" || true)
[ -z "$links" ] || fail "enabled: $links"
echo "  neither is enabled (no .wants/ link, no rc?.d/S link)"
echo "== running or listening?"
left=$(chroot_pids)
if [ -n "$left" ]; then
	ps -o pid,args -p $(tr '\n' ',' <<<"$left" | sed 's/,$//') || true
	fail "processes left in the chroot"
fi
echo "  no process left in the chroot"
echo "demo-check: PASS"
