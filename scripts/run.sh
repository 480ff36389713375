#!/usr/bin/env bash
# Set everything up and run the app on the embedded default (SQLite, paper venue).
# Frontend on :3000, backend (API, webhooks, health) on :8000.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
ROOT=$PWD
# shellcheck source=scripts/env.sh
. scripts/env.sh
FRONTEND_PORT="${FRONTEND_PORT:-3000}"
BACKEND_PORT="${BACKEND_PORT:-8000}"
# sign-in messages name the page's origin and webhook URLs the backend's: follow the chosen ports
# (an explicit PUBLIC_URL / API_URL in the environment still wins)
export PUBLIC_URL="${PUBLIC_URL:-http://localhost:$FRONTEND_PORT}"
export API_URL="${API_URL:-http://localhost:$BACKEND_PORT}"
echo
echo "==> starting: open http://localhost:$FRONTEND_PORT"
echo "    API and webhooks on http://localhost:$BACKEND_PORT, health at http://localhost:$BACKEND_PORT/health/ready"
exec reflex run --frontend-port "$FRONTEND_PORT" --backend-port "$BACKEND_PORT" "$@"
