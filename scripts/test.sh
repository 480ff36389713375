#!/usr/bin/env bash
# Install what the tests need (including Debian's chromium) and run the whole suite.
# PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) must be running: the run fails without them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
ROOT=$PWD
# shellcheck source=scripts/env.sh
. scripts/env.sh
exec python -m pytest "$@"
