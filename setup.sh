#!/usr/bin/env bash
# Sets up publisher on a fresh Debian/Ubuntu machine: the system libraries
# WeasyPrint needs (Pango), Java for EPUBCheck, poppler for PDF inspection, then
# the Python package with its dev tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"

packages=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fontconfig
          default-jre-headless poppler-utils)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Java may come from elsewhere (an SDK): then the Debian one is not needed.
if command -v java >/dev/null; then
  missing=("${missing[@]/default-jre-headless}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null; then
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "setup: installing system packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: please install: ${missing[*]} (Pango >= 1.44, Java 11+, poppler-utils)" >&2
    exit 1
  fi
fi

python3 -m pip install -q --root-user-action=ignore -e ".[dev]"
echo "setup: done. Build with 'invoke build', test with 'invoke test'."
