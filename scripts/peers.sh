#!/usr/bin/env bash
# peers.sh builds the servers camwire's scale-out tests talk to, once, into
# ~/.cache/camwire/peers/ (or $CAMWIRE_CACHE/peers). Idempotent: a peer whose
# binary is already there is not rebuilt, so make test stays fast after the
# first run. Neither has a Debian package; both come from the Go module proxy
# at a pinned version.
#
#   mediamtx  RTSP server: pulls a camwire camera as a source, takes -publish
#   weed      SeaweedFS: a real S3-compatible server for -upload
#
# Usage: scripts/peers.sh [-check] [mediamtx|weed]...   (no argument: all)
# Prints each binary's path on stdout; build times go to stderr. With
# -check nothing is built: a peer not built yet is an error (tests use it
# to skip with a reason outside make).
set -euo pipefail

MEDIAMTX_VERSION=v1.20.1
SEAWEEDFS_VERSION=v0.0.0-20261109003541-7506e5f91cd6

cache=${CAMWIRE_CACHE:-$HOME/.cache/camwire}/peers
mkdir -p "$cache"

GO=${GO:-go}
# The module copy being built; removed however the script ends.
work=
trap '[ -n "$work" ] && rm -rf "$work"' EXIT

# module_dir downloads module $1@$2 into the module cache and prints its directory.
module_dir() {
	GOFLAGS=-mod=mod "$GO" mod download -json "$1@$2" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

# build_mediamtx: `go run` of the module fails because two generated files are
# absent from the module zip: internal/core/VERSION (written by go generate
# from git) and internal/servers/hls/hls.min.js (downloaded from npm by
# go generate). We copy the module out of the read-only cache, write both and
# build. hls.min.js is only the browser player of MediaMTX's HLS page, which
# the tests do not use, so it is a stub that says so.
build_mediamtx() {
	local bin=$cache/mediamtx-$MEDIAMTX_VERSION
	[ -x "$bin" ] && { echo "$bin"; return; }
	[ -n "$check" ] && { echo "peers.sh: mediamtx $MEDIAMTX_VERSION not built (make peers, or scripts/peers.sh mediamtx)" >&2; exit 1; }
	local start=$SECONDS src
	src=$(module_dir github.com/bluenviron/mediamtx "$MEDIAMTX_VERSION")
	[ -n "$src" ] || { echo "peers.sh: go mod download of mediamtx $MEDIAMTX_VERSION gave no directory" >&2; exit 1; }
	work=$(mktemp -d "$cache/mediamtx-src.XXXXXX")
	cp -r "$src/." "$work/"
	chmod -R u+w "$work"
	printf %s "$MEDIAMTX_VERSION" >"$work/internal/core/VERSION"
	echo "/* hls.js is not bundled in camwire's test build of MediaMTX: the HLS player page is unused */" \
		>"$work/internal/servers/hls/hls.min.js"
	(cd "$work" && CGO_ENABLED=0 nice -n 10 "$GO" build -trimpath -o "$bin.tmp" .)
	mv "$bin.tmp" "$bin"
	rm -rf "$work"
	work=
	echo "peers.sh: built mediamtx $MEDIAMTX_VERSION in $((SECONDS - start)) s" >&2
	echo "$bin"
}

# build_weed builds SeaweedFS's `weed` command. The module proxy serves only a
# pseudo-version of it; the module builds as is.
build_weed() {
	local bin=$cache/weed-$SEAWEEDFS_VERSION
	[ -x "$bin" ] && { echo "$bin"; return; }
	[ -n "$check" ] && { echo "peers.sh: SeaweedFS weed $SEAWEEDFS_VERSION not built (make peers, or scripts/peers.sh weed)" >&2; exit 1; }
	local start=$SECONDS src
	src=$(module_dir github.com/seaweedfs/seaweedfs "$SEAWEEDFS_VERSION")
	[ -n "$src" ] || { echo "peers.sh: go mod download of seaweedfs $SEAWEEDFS_VERSION gave no directory" >&2; exit 1; }
	work=$(mktemp -d "$cache/weed-src.XXXXXX")
	cp -r "$src/." "$work/"
	chmod -R u+w "$work"
	(cd "$work" && CGO_ENABLED=0 nice -n 10 "$GO" build -trimpath -o "$bin.tmp" ./weed)
	mv "$bin.tmp" "$bin"
	rm -rf "$work"
	work=
	echo "peers.sh: built weed (seaweedfs $SEAWEEDFS_VERSION) in $((SECONDS - start)) s" >&2
	echo "$bin"
}

check=
if [ "${1:-}" = -check ]; then check=1; shift; fi
if [ -z "$check" ]; then
	# One build at a time: a second make test waits for the first's
	# build instead of starting another on the same cores.
	exec 9>"$cache/.lock"
	flock 9
fi
peers=("$@")
[ ${#peers[@]} -eq 0 ] && peers=(mediamtx weed)
for p in "${peers[@]}"; do
	case $p in
	mediamtx) build_mediamtx ;;
	weed) build_weed ;;
	*) echo "peers.sh: unknown peer $p (want mediamtx or weed)" >&2; exit 2 ;;
	esac
done
