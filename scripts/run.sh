#!/usr/bin/env bash
# Set everything up and run the app on the embedded default (SQLite, paper venue).
# Frontend on :3000, backend (API, webhooks, health) on :8000.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
ROOT=$PWD
# shellcheck source=scripts/env.sh
. scripts/env.sh
echo
echo "==> starting: open http://localhost:3000 (API and webhooks on http://localhost:8000, health at /health/ready)"
exec reflex run --frontend-port "${FRONTEND_PORT:-3000}" --backend-port "${BACKEND_PORT:-8000}" "$@"
