#!/bin/sh
# Installs the example config unless one is there already: an operator's edited config must
# survive `meson install` (meson's install_data would overwrite it).
# Called by meson as an install script: install-config.sh SRC DIR, SRC relative to the source
# root, DIR absolute (prefix and sysconfdir); meson sets DESTDIR, MESON_SOURCE_ROOT and, with
# --quiet, MESON_INSTALL_QUIET.
set -eu
if [ $# -ne 2 ]; then
	echo "usage: $0 SRC DIR" >&2
	exit 1
fi
src="${MESON_SOURCE_ROOT:-.}/$1"
dir="${DESTDIR:-}$2"
dest="$dir/$(basename "$1")"
say() {
	[ -n "${MESON_INSTALL_QUIET:-}" ] || echo "$@"
}
if [ -e "$dest" ] || [ -L "$dest" ]; then
	say "Keeping existing $dest"
	exit 0
fi
mkdir -p "$dir"
cp "$src" "$dest.tmp.$$"
chmod 0644 "$dest.tmp.$$"
mv "$dest.tmp.$$" "$dest"
say "Installing $1 to $dir"
