#!/usr/bin/env bash
# wine-root.sh — a Debian trixie root with Wine 10, for running
# camwire-recv.exe in tests. Prints the root's path on stdout.
#
# Bookworm's Wine 8 cannot start Go 1.26 Windows binaries ("fatal error:
# bcryptprimitives.dll not found": the runtime needs ProcessPrng); trixie
# ships Wine 10. The root is made the way ../shared/tools/fresh-machine makes
# its bookworm one: debootstrap --variant=minbase from the mirror this
# machine's own apt sources name, then apt-get install wine inside it, then
# one `wineboot --init` so every run starts from a ready WINEPREFIX
# (/root/.wine in the root). It is cached as a tarball,
# ${CAMWIRE_CACHE:-~/.cache/camwire}/wine-trixie.tar (first run: minutes),
# and unpacked once next to it (wine-trixie/); later runs print that
# directory at once. A stamp file ties the unpacked root to its tarball.
#
# Needs root (debootstrap, chroot). Installs debootstrap via scripts/deps.sh.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "wine-root.sh: needs root (debootstrap, chroot)" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
cache=${CAMWIRE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/camwire}
tarball=$cache/wine-trixie.tar
root=$cache/wine-trixie
mkdir -p "$cache"

# One builder at a time: concurrent test runs wait for the first.
exec 9>"$cache/wine-trixie.lock"
flock 9

build() {
	mirror=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
		| grep -v security | head -1 | sed -E 's/^URIs: *//; s/^deb (\[[^]]*\] )?//; s/ .*//' || true)
	[ -n "$mirror" ] || { echo "wine-root.sh: no Debian mirror in this machine's apt sources" >&2; exit 2; }
	command -v debootstrap >/dev/null || "$here/deps.sh" # it installs debootstrap
	tmp=$(mktemp -d "$cache/wine-build.XXXXXX")
	log=$cache/wine-trixie.log
	mounted=()
	cleanup() {
		for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
		rm -rf --one-file-system "$tmp"
	}
	trap cleanup EXIT
	echo "wine-root.sh: building the trixie + Wine root (once; log in $log)" >&2
	: >"$log"
	step() { "$@" >>"$log" 2>&1 || { echo "wine-root.sh: '$*' failed; its last lines:" >&2; tail -20 "$log" >&2; exit 1; }; }
	step debootstrap --variant=minbase trixie "$tmp" "$mirror"
	mnt() { mkdir -p "$tmp$2"; mount "${@:3}" "$1" "$tmp$2"; mounted+=("$tmp$2"); }
	mnt /proc /proc --bind
	mnt /dev /dev --rbind
	cp /etc/resolv.conf "$tmp/etc/resolv.conf"
	cp /etc/hosts "$tmp/etc/hosts"
	inroot() { chroot "$tmp" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }
	# No documentation or translations: a test root, a third smaller.
	printf '%s\n' 'path-exclude=/usr/share/doc/*' 'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/locale/*' \
		>"$tmp/etc/dpkg/dpkg.cfg.d/01-camwire-nodoc"
	# wine64 is the 64-bit loader camwire-recv.exe (windows/amd64) needs; wine
	# is the /usr/bin/wine front end. No recommends: no fonts, X or sound.
	step inroot apt-get install -y --no-install-recommends wine wine64
	# The prefix, made once here rather than on every run. No Mono or Gecko
	# (the .NET and HTML engines would be downloaded; Go needs neither).
	step inroot env WINEDEBUG=-all WINEDLLOVERRIDES='mscoree,mshtml=' wine wineboot --init
	step inroot wineserver --wait
	# wineboot copies every builtin DLL into the prefix (~700 MB); the
	# copies are byte-identical to wine's own, so hard links halve the root.
	step inroot hardlink -t -p -o /usr/lib/x86_64-linux-gnu/wine /root/.wine
	step inroot apt-get clean
	rm -rf "$tmp"/var/lib/apt/lists/*
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}"; done
	mounted=()
	tar -C "$tmp" -cf "$tarball.new" . && mv "$tarball.new" "$tarball"
	echo "wine-root.sh: $(chroot "$tmp" dpkg-query -W -f='wine ${Version}' wine) root cached in $tarball" >&2
}

[ -s "$tarball" ] || build
stamp=$(stat -c '%s %Y' "$tarball")
if [ ! -f "$root/.camwire-stamp" ] || [ "$(cat "$root/.camwire-stamp")" != "$stamp" ]; then
	rm -rf --one-file-system "$root"
	mkdir -p "$root"
	tar -C "$root" -xf "$tarball"
	echo "$stamp" >"$root/.camwire-stamp"
fi
echo "$root"
