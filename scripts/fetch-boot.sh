#!/usr/bin/env bash
# fetch-boot.sh downloads (once, cached in ${CAMWIRE_CACHE:-~/.cache/camwire}),
# verifies and unpacks Debian's arm64 kernel and the Raspberry Pi firmware,
# through a private apt configuration built from this machine's own apt
# sources. CAMWIRE_DEBS=DIR uses a directory of .debs instead (offline).
# Prints where the parts are. `make image` does this itself.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./cmd/camwire-image fetch
