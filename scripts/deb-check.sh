#!/usr/bin/env bash
# deb-check.sh - the Debian package from a clean tree on a fresh Debian 12, end to end:
#   1. a minbase bookworm chroot gets the committed tree (git archive of REF, default HEAD),
#      its Build-Depends from Debian, and runs `dpkg-buildpackage -us -uc -b` (unit tests
#      included) and lintian on the result;
#   2. a second fresh minbase chroot installs the packages with `apt install ./oeed_*.deb`
#      (dependencies from Debian), runs `oeed --version`, `oeed -c /etc/oeed/oeed.yaml
#      --check-config` and `systemd-analyze verify` on the installed unit, checks that the
#      unit is not enabled, runs the daemon briefly so that it writes its state directory,
#      reinstalls (an edited conffile is kept), then `apt purge oeed oeed-sim` and checks
#      that no file of the packages, their config or their state is left.
# Needs root (debootstrap, chroot, mount) and reaches Debian's mirror. Takes a few minutes
# (docs/packaging.md has the last run). The .debs and logs are left in OUT
# (default build-deb/). Ends with "deb-check: PASS" or "deb-check: FAIL: why", exit 0 or 1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REF=${REF:-HEAD}
OUT=${OUT:-$ROOT/build-deb}
KEEP=${KEEP:-}  # KEEP=1: leave the chroots (under $WORK) for a look
source scripts/chroot.sh
[ "$(id -u)" -eq 0 ] || { echo "deb-check: needs root (debootstrap, chroot)" >&2; exit 1; }
WORK=$(mktemp -d /var/tmp/oeed-deb-check.XXXXXX)
BUILD_ROOT=$WORK/build
INST_ROOT=$WORK/install
cleanup() {
	if [ -z "$KEEP" ]; then
		chroot_remove "$BUILD_ROOT" 2>/dev/null || true
		chroot_remove "$INST_ROOT" 2>/dev/null || true
		# the snapshots and lists; only when both chroots are gone (nothing mounted below)
		[ -e "$BUILD_ROOT" ] || [ -e "$INST_ROOT" ] || rm -rf "$WORK"
	else
		echo "chroots kept in $WORK (umount their proc, sys, dev/pts, dev before deleting)"
	fi
}
trap cleanup EXIT
fail() {
	echo "deb-check: FAIL: $*"
	exit 1
}
step() { echo "== $*"; }
rm -rf "$OUT"
mkdir -p "$OUT"

step "build chroot: fresh bookworm minbase"
chroot_make "$BUILD_ROOT"
mkdir -p "$BUILD_ROOT/build/oeed"
git -C "$ROOT" archive "$REF" | tar -C "$BUILD_ROOT/build/oeed" -xf -
echo "tree: $(git -C "$ROOT" rev-parse --short "$REF") ($(git -C "$ROOT" log -1 --format=%s "$REF" | cut -c1-60))"
step "build chroot: apt-get build-dep ./ (Build-Depends from Debian), lintian"
chroot_run "$BUILD_ROOT" apt-get update -qq
chroot_run "$BUILD_ROOT" sh -c 'cd /build/oeed && apt-get build-dep -y -qq ./' >"$OUT/build-dep.log" 2>&1 ||
	{ tail -20 "$OUT/build-dep.log"; fail "apt-get build-dep"; }
chroot_run "$BUILD_ROOT" apt-get install -y -qq --no-install-recommends lintian >"$OUT/lintian-install.log" 2>&1 ||
	{ tail -20 "$OUT/lintian-install.log"; fail "installing lintian"; }
step "dpkg-buildpackage -us -uc -b"
start=$(date +%s)
chroot_run "$BUILD_ROOT" sh -c 'cd /build/oeed && dpkg-buildpackage -us -uc -b' >"$OUT/build.log" 2>&1 ||
	{ tail -40 "$OUT/build.log"; fail "dpkg-buildpackage"; }
echo "built in $(($(date +%s) - start)) s; unit tests at build time:"
grep -E '^(Ok|Fail|Skipped|Timeout): ' "$OUT/build.log" | sed 's/^/  /'
cp "$BUILD_ROOT"/build/*.deb "$BUILD_ROOT"/build/*.changes "$BUILD_ROOT"/build/*.buildinfo "$OUT/"
ls "$OUT"/*.deb | sed 's|.*/|  |'
step "lintian --pedantic --display-info (the .changes: every binary package)"
chroot_run "$BUILD_ROOT" sh -c 'cd /build && lintian --pedantic --display-info --tag-display-limit 0 *.changes' \
	>"$OUT/lintian.txt" 2>&1 || true
grep -E '^[EWIP]: ' "$OUT/lintian.txt" | sed 's/^/  /' || echo "  (no tags)"
if grep -q '^E: ' "$OUT/lintian.txt"; then fail "lintian reports errors ($OUT/lintian.txt)"; fi
chroot_remove "$BUILD_ROOT"

step "install chroot: fresh bookworm minbase, apt install ./oeed_*.deb ./oeed-sim_*.deb"
chroot_make "$INST_ROOT"
chroot_run "$INST_ROOT" apt-get update -qq
# systemd only for systemd-analyze verify (it is not running in the chroot)
chroot_run "$INST_ROOT" apt-get install -y -qq --no-install-recommends systemd man-db >"$OUT/install.log" 2>&1 ||
	{ tail -20 "$OUT/install.log"; fail "installing systemd"; }
# the file system before the packages, to compare with after the purge
snapshot() {
	chroot_run "$INST_ROOT" find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /tmp \
		-o -path /var/cache -o -path /var/log -o -path /var/lib/apt -o -path /var/lib/dpkg \
		-o -path /root \) -prune -o -print | LC_ALL=C sort
}
snapshot >"$WORK/before.txt"
chroot_run "$INST_ROOT" dpkg-query -W -f='${Package}\n' | LC_ALL=C sort >"$WORK/pkgs-before.txt"
mkdir -p "$INST_ROOT/tmp/debs"
cp "$OUT"/oeed_*.deb "$OUT"/oeed-sim_*.deb "$INST_ROOT/tmp/debs/"
chroot_run "$INST_ROOT" sh -c 'apt-get install -y ./tmp/debs/oeed_*.deb ./tmp/debs/oeed-sim_*.deb' \
	>>"$OUT/install.log" 2>&1 || { tail -20 "$OUT/install.log"; fail "apt install ./oeed_*.deb"; }
grep -E '^(Setting up|Unpacking) oeed' "$OUT/install.log" | sed 's/^/  /'
chroot_run "$INST_ROOT" dpkg -L oeed oeed-sim >"$WORK/files.txt"
echo "  $(wc -l <"$WORK/files.txt") paths in the packages; conffiles: $(chroot_run "$INST_ROOT" dpkg-query -W -f='${Conffiles}' oeed | awk 'NF {print $1}' | tr '\n' ' ')"

step "oeed --version; oeed-sim --help"
chroot_run "$INST_ROOT" oeed --version || fail "oeed --version"
chroot_run "$INST_ROOT" oeed-sim --help >/dev/null 2>&1 || fail "oeed-sim --help"
step "oeed -c /etc/oeed/oeed.yaml --check-config"
chroot_run "$INST_ROOT" oeed -c /etc/oeed/oeed.yaml --check-config >"$OUT/check-config.txt" 2>&1 ||
	{ cat "$OUT/check-config.txt"; fail "--check-config of the installed config"; }
tail -2 "$OUT/check-config.txt" | sed 's/^/  /'
step "systemd-analyze verify /lib/systemd/system/oeed.service"
chroot_run "$INST_ROOT" env SYSTEMD_LOG_COLOR=0 systemd-analyze verify /lib/systemd/system/oeed.service \
	>"$OUT/verify.txt" 2>&1 || { cat "$OUT/verify.txt"; fail "systemd-analyze verify"; }
if grep oeed "$OUT/verify.txt"; then fail "systemd-analyze verify complains about oeed"; fi
echo "  accepted"
step "not enabled, not started after install"
enabled=$(chroot_run "$INST_ROOT" systemctl is-enabled oeed.service 2>&1 || true)
echo "  systemctl is-enabled oeed: $enabled"
[ "$enabled" = disabled ] || fail "oeed.service is '$enabled' after install, expected disabled"
if find "$INST_ROOT/etc/systemd/system" -name 'oeed*' | grep -q .; then fail "an oeed symlink in /etc/systemd/system"; fi

step "run oeed for 2 s with the installed config (broker unreachable): it writes /var/lib/oeed"
# As the unit does (StateDirectory= with DynamicUser=): /var/lib/private/oeed, /var/lib/oeed -> it
# (/var/lib/private is systemd's, shared by every DynamicUser= service: it stays after the purge)
chroot_run "$INST_ROOT" sh -c '
	mkdir -p -m 0700 /var/lib/private && mkdir -p /var/lib/private/oeed && ln -s private/oeed /var/lib/oeed
	sed -e "s#tcp://127.0.0.1:1883#tcp://127.0.0.1:1#" -e "s#enabled: false#enabled: true#" \
		/etc/oeed/oeed.yaml >/tmp/run.yaml
	oeed -c /tmp/run.yaml >/tmp/run.log 2>&1 &
	pid=$!
	sleep 2
	kill $pid
	wait $pid
	echo "  oeed exited $? after SIGTERM"
	find /var/lib/oeed/ | sed "s/^/  /" | head -12'
[ -e "$INST_ROOT/var/lib/private/oeed/checkpoint" ] || fail "oeed wrote no checkpoint in /var/lib/oeed"

step "reinstall: an edited /etc/oeed/oeed.yaml is kept"
echo "# edited by the plant" >>"$INST_ROOT/etc/oeed/oeed.yaml"
chroot_run "$INST_ROOT" sh -c 'apt-get install -y --reinstall ./tmp/debs/oeed_*.deb' >>"$OUT/install.log" 2>&1 ||
	fail "reinstall"
grep -q '^# edited by the plant$' "$INST_ROOT/etc/oeed/oeed.yaml" || fail "the edited conffile was replaced"
echo "  kept"

step "apt purge oeed oeed-sim; apt autoremove --purge"
chroot_run "$INST_ROOT" apt-get purge -y oeed oeed-sim >"$OUT/purge.log" 2>&1 || { cat "$OUT/purge.log"; fail "apt purge"; }
chroot_run "$INST_ROOT" apt-get autoremove --purge -y >>"$OUT/purge.log" 2>&1 || fail "apt autoremove"
grep -E '^(Purging|Removing) oeed' "$OUT/purge.log" | sed 's/^/  /'
left=()
while read -r path; do
	# dpkg -L puts a blank line between two packages
	[ -z "$path" ] || [ "$path" = "/." ] && continue
	if [ -e "$INST_ROOT$path" ] || [ -L "$INST_ROOT$path" ]; then
		# a directory that was there before (/usr/bin; /lib/systemd/system through the /lib
		# link of merged /usr) stays
		if [ -d "$INST_ROOT$path" ]; then
			real=$(chroot_run "$INST_ROOT" readlink -f "$path")
			grep -qx "$real" "$WORK/before.txt" && continue
		fi
		left+=("$path")
	fi
done < <(cat "$WORK/files.txt"; printf '%s\n' /etc/oeed /var/lib/oeed /var/lib/private/oeed)
snapshot >"$WORK/after.txt"
# one collation for sort and comm: comm exits 1 on input it thinks unsorted (the last
# run stopped here, with no verdict, under set -e)
new=$(LC_ALL=C comm -13 "$WORK/before.txt" "$WORK/after.txt")
if [ -n "$new" ]; then
	echo "  $(wc -l <<<"$new") paths are new since before the install, none of them oeed's: of the"
	echo "  packages apt pulled in and autoremove keeps (recommended by others):"
	chroot_run "$INST_ROOT" dpkg-query -W -f='${Package}\n' | LC_ALL=C sort >"$WORK/pkgs-after.txt"
	LC_ALL=C comm -13 "$WORK/pkgs-before.txt" "$WORK/pkgs-after.txt" | tr '\n' ' ' | sed 's/^/    /'
	echo
fi
if grep -q oeed <<<"$new"; then left+=($(grep oeed <<<"$new")); fi
[ ${#left[@]} -eq 0 ] || fail "left after purge: ${left[*]}"
echo "  nothing of oeed left"
echo "deb-check: PASS"
