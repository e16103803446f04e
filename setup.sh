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
# It names what is missing, with its size, before installing it; safe to run
# again. Options: --no-checkers (or PUBLISHER_NO_CHECKERS=1),
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
    -h|--help) awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; exit 0 ;;
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

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
# What is missing, found before anything is installed: the plan names only that.
missing=()        # system packages publisher needs
checker_apt=()    # system packages of the checkers
if [ "$system" = 1 ]; then
  packages=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fontconfig fonts-noto-cjk
            poppler-utils python3-venv)
  # Java may come from elsewhere (an SDK): then the Debian one is not needed.
  command -v java >/dev/null || packages+=(default-jre-headless)
  for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
  if [ "$checkers" = 1 ]; then
    # As .ci/install-checkers decides.
    wanted=(chromium calibre fonts-dejavu-core)
    command -v node >/dev/null && command -v npm >/dev/null || wanted+=(nodejs npm)
    for p in "${wanted[@]}"; do installed "$p" || checker_apt+=("$p"); done
  fi
fi
js=tests/js/node_modules
js_ready=0
[ -x "$js/.bin/ace-puppeteer" ] && [ "$js/.package-lock.json" -nt tests/js/package-lock.json ] \
  && js_ready=1
# The environment is up to date when it was set up from these very files and imports.
stamp="$venv/.publisher-setup"
want=$(cat pyproject.toml constraints.txt | cksum)
venv_ready=0
[ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] \
  && "$venv/bin/python" -c 'import pip, publisher, invoke' 2>/dev/null && venv_ready=1

# What each group costs on a stock Debian 12 (measured with apt-get and du; less
# where some of it is already there).
has() { local x; for x in "${@:2}"; do [[ " $1 " == *" $x "* ]] && return 0; done; return 1; }
plan=()
has "${missing[*]-}" libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fontconfig \
  poppler-utils python3-venv \
  && plan+=("  Pango, HarfBuzz, fontconfig, poppler, python3-venv (apt-get)      ~10 MB")
has "${missing[*]-}" fonts-noto-cjk \
  && plan+=("  Noto CJK fonts: Chinese, Japanese, Korean in the PDF (apt-get)    ~95 MB")
has "${missing[*]-}" default-jre-headless \
  && plan+=("  a Java runtime, for EPUBCheck (apt-get)                          ~200 MB")
[ "$venv_ready" = 0 ] \
  && plan+=("  Python packages into $venv (pinned by constraints.txt)          ~350 MB")
tools=${#plan[@]}
if [ "$checkers" = 1 ] && [ "$system" = 1 ]; then
  has "${checker_apt[*]-}" chromium \
    && plan+=("  checker: Chromium (apt-get)                                      ~410 MB")
  has "${checker_apt[*]-}" calibre \
    && plan+=("  checker: Calibre (apt-get)                                       ~380 MB")
  [ "$js_ready" = 0 ] || has "${checker_apt[*]-}" nodejs \
    && plan+=("  checkers: DAISY Ace, epub.js, puppeteer-core (npm, tests/js/)    ~130 MB")
fi
if [ ${#plan[@]} -gt 0 ]; then
  echo "setup: publisher will install"
  printf '%s\n' "${plan[@]}"
  [ ${#plan[@]} -gt "$tools" ] \
    && echo "  (the tests run the checkers for real; to skip them: ./setup.sh --no-checkers)"
else
  echo "setup: nothing to install: everything is in place"
fi
[ "$checkers" = 0 ] && echo "  no checkers (--no-checkers): the tests that run them will skip"
[ "$system" = 0 ] && echo "  (--no-system: no system package is installed)"

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

# A virtual environment: the system's python3 stays as the distribution made it.
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import pip' 2>/dev/null; then
  echo "setup: creating the virtual environment $venv ($("$python" --version 2>&1))"
  rm -rf "$venv"
  "$python" -m venv "$venv"
fi
if [ "$venv_ready" = 0 ]; then
  pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
  echo "setup: installing publisher and its locked dependencies into $venv"
  "${pip[@]}" install -c constraints.txt -e ".[dev]"
  echo "$want" > "$stamp"
fi
# The bytecode an installed package ships with: an editable install writes it on
# first import, unless PYTHONDONTWRITEBYTECODE is set (as on some CI machines), when
# every build would compile publisher again (about 0.05 s of each).
"$venv/bin/python" -m compileall -q src tasks.py

if [ "$checkers" = 1 ] && [ "$system" = 1 ]; then
  if [ ${#checker_apt[@]} -gt 0 ] || [ "$js_ready" = 0 ]; then bash .ci/install-checkers; fi
elif [ "$checkers" = 1 ]; then
  echo "setup: --no-system: the checkers are yours to install (Chromium, Calibre, Node.js 20+);" \
       "then run .ci/install-checkers for DAISY Ace and epub.js"
fi
echo "setup: done. Build the article with '$venv/bin/invoke build', test with '$venv/bin/invoke test'"
echo "       (or 'source $venv/bin/activate' once, then 'invoke build', 'publisher --help')."
