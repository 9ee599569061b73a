# chroot.sh - sourced by scripts/deb-check.sh and scripts/cross-arm64.sh: a fresh Debian 12
# (bookworm) minbase chroot made with debootstrap, and running commands in it with /proc,
# /sys and /dev/pts mounted. Needs root. The debootstrap result is kept as a tarball
# (CHROOT_CACHE, default /var/tmp/oeed-chroot) so a second run unpacks it instead of
# downloading again; every run starts from that untouched minbase.
# The mirror is the one this machine's apt uses (MIRROR= overrides it).

CHROOT_CACHE=${CHROOT_CACHE:-/var/tmp/oeed-chroot}

host_mirror() {
	local m
	m=$(awk '/^URIs:/ && !/security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null)
	[ -n "$m" ] || m=$(awk '$1 == "deb" && $3 ~ /^bookworm$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
	printf '%s\n' "$m"
}

# chroot_make DIR: DIR becomes a fresh bookworm minbase with apt sources for main and updates
chroot_make() {
	local dir=$1 mirror=${MIRROR:-$(host_mirror)} tarball="$CHROOT_CACHE/bookworm-minbase.tar"
	if [ -z "$mirror" ]; then
		echo "no Debian mirror found in /etc/apt; set MIRROR=" >&2
		return 1
	fi
	command -v debootstrap >/dev/null || apt-get install -y -qq -o DPkg::Lock::Timeout=600 debootstrap >/dev/null
	if [ ! -s "$tarball" ]; then
		echo "debootstrap --variant=minbase bookworm (once; cached in $tarball)"
		rm -rf "$dir.boot"
		debootstrap --variant=minbase bookworm "$dir.boot" "$mirror" >"$dir.debootstrap.log" 2>&1 || {
			tail -20 "$dir.debootstrap.log" >&2
			return 1
		}
		mkdir -p "$CHROOT_CACHE"
		tar -C "$dir.boot" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
		rm -rf "$dir.boot" "$dir.debootstrap.log"
	fi
	mkdir -p "$dir"
	tar -C "$dir" -xf "$tarball"
	printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' "$mirror" "$mirror" \
		>"$dir/etc/apt/sources.list"
	cp /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null || true
	# no daemon starts inside the chroot (policy-rc.d is what invoke-rc.d asks)
	printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
	chmod 755 "$dir/usr/sbin/policy-rc.d"
	mount -t proc proc "$dir/proc"
	mount -t sysfs sysfs "$dir/sys"
	mount --bind /dev "$dir/dev"
	mount --bind /dev/pts "$dir/dev/pts"
}

# chroot_run DIR CMD...: CMD in DIR as root, noninteractive apt
chroot_run() {
	local dir=$1
	shift
	chroot "$dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
		DEBIAN_FRONTEND=noninteractive "$@"
}

# chroot_remove DIR: unmounts what chroot_make mounted and deletes DIR
chroot_remove() {
	local dir=$1 m
	for m in dev/pts dev sys proc; do
		mountpoint -q "$dir/$m" && umount "$dir/$m"
	done
	for m in dev/pts dev sys proc; do
		if mountpoint -q "$dir/$m"; then
			echo "chroot_remove: $dir/$m still mounted, $dir kept" >&2
			return 1
		fi
	done
	rm -rf --one-file-system "$dir"
}
