#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages the service tests need (tests/system-packages.txt): with
# apt-get as root, else through sudo. Where neither can (no root, no sudo, another distribution)
# it says so and ends well: each test that needs a missing program is then skipped, naming it and
# the command that installs it. With SNAKEHEP_REQUIRE_SERVICES=1 (CI) a failed install fails.
set -euo pipefail
list="$(dirname "$0")/system-packages.txt"
required=${SNAKEHEP_REQUIRE_SERVICES:-0}

cannot() {
    echo "install-system-packages: $1" >&2
    echo "install-system-packages: the tests that need these programs will be skipped, each naming it" >&2
    [ "$required" != 1 ] || exit 1
    exit 0
}

packages=$(sed -e 's/#.*//' "$list" | awk 'NF > 1 { for (i = 2; i <= NF; i++) print $i }' | sort -u)
command -v dpkg-query >/dev/null && command -v apt-get >/dev/null \
    || cannot "not a Debian or Ubuntu system: install the programs of $list by hand"

missing=()
for package in $packages; do
    [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$package" 2>/dev/null)" = "ii " ] || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-system-packages: all installed" >&2
    exit 0
fi

if [ "$(id -u)" = 0 ]; then
    as_root=()
elif command -v sudo >/dev/null && { [ -t 0 ] || sudo -n true 2>/dev/null; }; then
    as_root=(sudo)
else
    cannot "neither root nor sudo here; missing: ${missing[*]} (sudo apt-get install -y ${missing[*]})"
fi
echo "install-system-packages: ${as_root[*]:+${as_root[*]} }apt-get install -y ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { "${as_root[@]}" apt-get update -qq && "${as_root[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null; }; then
    cannot "apt-get could not install: ${missing[*]}"
fi
