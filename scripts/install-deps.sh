#!/bin/sh
# install-deps.sh: install the Debian 12 packages refx needs to build,
# test and demo.  Only packages that are missing are installed, so a
# second run costs one dpkg query.  Nothing is fetched from anywhere but
# the configured Debian archive.
set -eu

PKGS="
build-essential
pkg-config
libmicrohttpd-dev
libgnutls28-dev
libcurl4-openssl-dev
libssl-dev
libsodium-dev
libsqlite3-dev
libjansson-dev
libinih-dev
libcsv-dev
libcmocka-dev
sqlite3
openssl
gnutls-bin
curl
jq
"

# Only for `make bench` (`install-deps.sh bench`): nginx is the reference
# server refxd is measured against; `make check` does not need it.
BENCH_PKGS="
nginx-light
"
if [ "${1:-}" = bench ]; then
	PKGS="$PKGS $BENCH_PKGS"
fi

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing" >&2
	echo "install-deps: run as root (or: sudo $0)" >&2
	exit 1
fi

echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
