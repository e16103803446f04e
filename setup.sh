#!/usr/bin/env bash
# Sets up publisher for work on this repository, on a stock Debian 12+ or Ubuntu
# 24.04+ machine with nothing but its own python3 (which PEP 668 marks as
# externally managed: nothing is installed into it, and --break-system-packages is
# never used). It installs, with apt-get (sudo when not root):
#   - what WeasyPrint needs (Pango, HarfBuzz, fontconfig), poppler, python3-venv,
#     Noto CJK fonts and a Java runtime for EPUBCheck;
#   - a virtual environment in .venv with publisher, its locked dependencies
#     (constraints.txt) and the dev tools;
#   - unless --no-checkers: the reading systems and checkers the tests run for real
#     (Chromium, Calibre, DAISY Ace, epub.js: .ci/install-checkers).
# Safe to run again. Options: --no-checkers (or PUBLISHER_NO_CHECKERS=1),
# --no-system (install no system package: you did, e.g. with Homebrew),
# PYTHON=/path/to/python3.11+ (default: python3), PUBLISHER_VENV=DIR (default: .venv).
set -euo pipefail
cd "$(dirname "$0")"

checkers=1; system=1
[ "${PUBLISHER_NO_CHECKERS:-}" = "1" ] && checkers=0
for arg in "$@"; do
  case "$arg" in
    --no-checkers) checkers=0 ;;
    --no-system) system=0 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup: unknown option $arg (use --no-checkers, --no-system or --help)" >&2; exit 2 ;;
  esac
done
python=${PYTHON:-python3}
venv=${PUBLISHER_VENV:-.venv}

if ! command -v "$python" >/dev/null; then
  echo "setup: $python not found: install Python 3.11 or newer (or set PYTHON=...)" >&2
  exit 1
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup: $("$python" --version 2>&1) is too old: publisher needs Python 3.11 or newer (set PYTHON=...)" >&2
  exit 1
fi

# What each group costs on a stock Debian 12 (measured with apt-get; less where
# some of it is already there).
cat <<EOF
setup: publisher will install
  system packages (apt-get):
    Pango, HarfBuzz, fontconfig, poppler, python3-venv     ~10 MB
    Noto CJK fonts (Chinese, Japanese, Korean in the PDF)   ~95 MB
    a Java runtime, for EPUBCheck (skipped if java exists) ~200 MB
  Python packages into $venv (pinned by constraints.txt)   ~300 MB
EOF
if [ "$checkers" = 1 ]; then
  cat <<EOF
  checkers the tests run for real (skip: ./setup.sh --no-checkers):
    Chromium                                               ~410 MB
    Calibre                                                ~380 MB
    DAISY Ace, epub.js, puppeteer-core (npm, tests/js/)    ~130 MB
EOF
else
  echo "  no checkers (--no-checkers): the tests that run them will skip"
fi
[ "$system" = 0 ] && echo "  (--no-system: no system package is installed)"

if [ "$system" = 1 ]; then
  packages=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fontconfig fonts-noto-cjk
            poppler-utils python3-venv)
  # Java may come from elsewhere (an SDK): then the Debian one is not needed.
  command -v java >/dev/null || packages+=(default-jre-headless)
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if ! command -v apt-get >/dev/null; then
      echo "setup: no apt-get here. Install Pango 1.44+, poppler and Java 11+ yourself" \
           "(macOS: brew install pango poppler openjdk), then run ./setup.sh --no-system" >&2
      exit 1
    fi
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
      command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
      sudo="sudo"
    fi
    echo "setup: installing system packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
fi

# A virtual environment: the system's python3 stays as the distribution made it.
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import pip' 2>/dev/null; then
  echo "setup: creating the virtual environment $venv ($("$python" --version 2>&1))"
  rm -rf "$venv"
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
echo "setup: installing publisher and its locked dependencies into $venv"
"${pip[@]}" install -c constraints.txt -e ".[dev]"
# The bytecode an installed package ships with: an editable install writes it on
# first import, unless PYTHONDONTWRITEBYTECODE is set (as on some CI machines), when
# every build would compile publisher again (about 0.05 s of each).
"$venv/bin/python" -m compileall -q src tasks.py

if [ "$checkers" = 1 ] && [ "$system" = 1 ]; then
  bash .ci/install-checkers
elif [ "$checkers" = 1 ]; then
  echo "setup: --no-system: the checkers are yours to install (Chromium, Calibre, Node.js 20+);" \
       "then run .ci/install-checkers for DAISY Ace and epub.js"
fi
echo "setup: done. Build the article with '$venv/bin/invoke build', test with '$venv/bin/invoke test'"
echo "       (or 'source $venv/bin/activate' once, then 'invoke build', 'publisher --help')."
