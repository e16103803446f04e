#!/usr/bin/env bash
# Sets up publisher on a fresh Debian/Ubuntu machine: the system libraries
# WeasyPrint needs (Pango), Java for EPUBCheck, poppler for PDF inspection, then
# the Python package with its dev tools, then the checkers the tests run
# (.ci/install-checkers). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"

packages=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fontconfig fonts-noto-cjk
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
# The bytecode an installed package ships with: an editable install writes it on
# first import, unless PYTHONDONTWRITEBYTECODE is set (as on some CI machines), when
# every build would compile publisher again (about 0.05 s of each).
python3 -m compileall -q src tasks.py

# The real reading systems and checkers that `invoke check` and the tests run:
# Chromium, Calibre, DAISY Ace and epub.js (no browser download). Skip with
# PUBLISHER_NO_CHECKERS=1 for a build-only machine; those tests then skip.
if [ "${PUBLISHER_NO_CHECKERS:-}" != "1" ]; then
  bash .ci/install-checkers
fi
echo "setup: done. Build with 'invoke build', test with 'invoke test'."
