#!/usr/bin/env bash
# Install everything the app needs: virtualenv, pinned requirements, bun (from the npm
# registry), the development .env and the database schema. Safe to run again.
# Usage: scripts/setup.sh [--test]   (--test also installs the test requirements and Chromium)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

pick_python() {
  for candidate in python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "Python 3.11 or newer is required" >&2; return 1
}

if [ ! -x .venv/bin/python ]; then
  PY=$(pick_python)
  echo "==> creating .venv with $PY"
  "$PY" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate

req=requirements.txt
[ $want_test = 1 ] && req=requirements-test.txt
stamp=".venv/.installed-$(sha256sum requirements.txt requirements-test.txt | sha256sum | cut -c1-16)-$want_test"
if [ ! -f "$stamp" ]; then
  echo "==> installing $req"
  python -m pip install --quiet --upgrade pip
  python -m pip install --quiet -r "$req"
  touch "$stamp"
fi

if ! command -v node >/dev/null 2>&1; then
  echo "Node.js 20+ is required (bun is installed from the npm registry with npm)" >&2; exit 1
fi
if [ ! -x .tools/node_modules/.bin/bun ]; then
  echo "==> installing bun from the npm registry into .tools/"
  mkdir -p .tools
  npm install --silent --no-audit --no-fund --prefix .tools bun@1.4.5 >/dev/null
fi

if [ $want_test = 1 ] && [ ! -x /usr/bin/chromium ]; then
  echo "==> installing Debian's chromium for the browser tests"
  SUDO=""; [ "$(id -u)" != 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

# shellcheck source=scripts/env.sh
. "$ROOT/scripts/env.sh"
if [ $want_test = 0 ]; then
  python -m trading_app.cli init-env
  echo "==> applying database migrations"
  reflex db migrate >/dev/null
fi
echo "==> setup complete"
