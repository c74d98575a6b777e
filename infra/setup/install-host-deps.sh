#!/usr/bin/env bash
# Installs the Debian packages listed in infra/setup/apt/*.txt, quietly and
# only when something is missing, so repeated `make` runs cost nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."

mapfile -t wanted < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' infra/setup/apt/*.txt | tr -d ' \t' | sort -u)
missing=()
for pkg in "${wanted[@]}"; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
