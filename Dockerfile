# Production image: the app in production mode on one port (pages, websocket, API, webhooks).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    REFLEX_USE_SYSTEM_BUN=1 REFLEX_TELEMETRY_ENABLED=false \
    PATH=/app/.tools/node_modules/.bin:$PATH

RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm curl \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
RUN mkdir -p .tools && npm install --no-audit --no-fund --prefix .tools bun@1.4.5

COPY . .
# Build the front end at image build time; API_URL/PUBLIC_URL must be the public origin.
ARG PUBLIC_URL=http://localhost:8000
RUN APP_ENV=development APP_MASTER_KEYS='{"1":"'$(python -c "import base64,os;print(base64.b64encode(os.urandom(32)).decode())")'"}' \
    API_URL=$PUBLIC_URL PUBLIC_URL=$PUBLIC_URL reflex export --frontend-only --no-zip --env prod

EXPOSE 8000
# Migrations on start (replicas take turns through an advisory lock), then the production
# server (granian; GRANIAN_WORKERS workers, sharing state through Redis).
CMD ["sh", "-c", "python -m trading_app.cli migrate && exec reflex run --env prod --backend-port 8000"]
