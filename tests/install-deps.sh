#!/bin/sh
# install-deps.sh: installs the Debian packages given as arguments that are
# missing, printing the exact list first. Used by `make deps` (and so by
# `make check` and `make run`). Needs root when something is missing.
set -e

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "install-deps: not a Debian system; install these yourself: $*" >&2
	exit 0
fi
missing=
for p in "$@"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	*"ok installed") ;;
	*) missing="$missing $p" ;;
	esac
done
if [ -z "$missing" ]; then
	exit 0
fi
echo "install-deps: installing the missing packages:$missing"
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: run as root, or install them with: apt-get install$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
