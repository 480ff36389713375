"""One validated settings object, read from the environment and `.env`.

In development the first run writes `.env` with a freshly generated master key
(and says so). In production, unsafe defaults refuse to start with a message that
says what to change.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sys
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_FILE = PROJECT_ROOT / ".env"
# A hidden directory: the dev server's hot reload ignores it (SQLite's -wal/-shm files, written on
# every commit, would otherwise restart the backend mid-trade)
DATA_DIR = PROJECT_ROOT / ".data"
DEFAULT_SQLITE_URL = f"sqlite:///{DATA_DIR / 'trading_app.db'}"
PUBLIC_MAINNET_INDEXER = "https://indexer.dydx.trade"
PUBLIC_TELEGRAM_BOT_API = "https://api.telegram.org/bot"


class SettingsError(RuntimeError):
    """The configuration is unsafe or invalid; the message says how to fix it."""


class Settings(BaseSettings):
    """Application settings. Field names map to upper-case environment variables."""

    model_config = SettingsConfigDict(env_file=ENV_FILE, env_file_encoding="utf-8", extra="ignore")

    app_env: Literal["development", "production"] = "development"
    database_url: str = DEFAULT_SQLITE_URL
    redis_url: str | None = None
    # {"<key id 1..255>": "<base64 of 32 bytes>"}; the primary key encrypts new values
    app_master_keys: SecretStr | None = None
    app_primary_key_id: int | None = None
    # set by the generated development .env: such keys are refused in production
    app_keys_development_only: bool = False
    telegram_api_base_url: str = PUBLIC_TELEGRAM_BOT_API
    paper_price_source: str = PUBLIC_MAINNET_INDEXER
    dydx_testnet_node_url: str | None = None
    dydx_testnet_indexer_url: str | None = None
    dydx_mainnet_node_url: str | None = None
    dydx_mainnet_indexer_url: str | None = None
    # where traders open the app (SIWE domain and uri come from here)
    public_url: str = "http://localhost:3000"
    # where the backend answers (webhook URLs); the same as public_url in production
    api_url: str = "http://localhost:8000"
    # the EIP-155 chain sign-in messages name; wallets on another chain are asked to switch
    siwe_chain_id: int = 1
    # comma-separated in the environment (NoDecode: not parsed as JSON first); unset: PUBLIC_URL's
    # origin only (cookies ride on these requests, so never a wildcard by default)
    cors_allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # per worker process: workers x (pool + overflow) must stay under PostgreSQL's max_connections
    db_pool_size: int = 5
    db_max_overflow: int = 5
    # executions running at once per worker; 0: sized to the pool (twice pool + overflow), so a
    # burst waits in the dispatcher's queue instead of timing out on the pool
    execution_concurrency: int = Field(default=0, ge=0, le=256)
    # accepted alerts waiting for a slot per worker; past this they stay ACCEPTED for the sweep
    execution_queue_limit: int = Field(default=10_000, ge=1)
    session_ttl_hours: int = 24 * 7
    # a session unused this long is over (an open dashboard uses it every 15 s): 12 h covers a
    # trading day away from the screen, not a laptop left signed in for a week
    session_idle_minutes: int = Field(default=12 * 60, gt=0)
    monitor_interval_seconds: float = Field(default=3.0, gt=0)
    # the fast trigger watch between full ticks (0 turns it off: fills then wait for a full tick)
    monitor_watch_seconds: float = Field(default=0.5, ge=0)
    # dYdX accounts follow the indexer's websocket (v4_subaccounts): an account is read from REST when
    # its stream says something changed, after a gap, or every this many seconds (the safety net);
    # 0 turns the stream off (REST every tick)
    monitor_stream_safety_seconds: float = Field(default=300.0, ge=0)
    # how long one markets read (oracle prices) is reused: the paper venue and the trigger watch
    price_cache_seconds: float = Field(default=0.4, ge=0, le=60)
    webhook_max_lag_seconds: int = 300
    webhook_per_minute_cap: int = 120
    webhook_dedupe_window_seconds: int = 600
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # operations (README "Operations"): log lines as text (development) or JSON lines
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Bearer token for GET /metrics; unset: /metrics answers 404 (never world-readable)
    metrics_token: SecretStr | None = None
    # error reports to Sentry when set; secrets are scrubbed before anything leaves
    sentry_dsn: SecretStr | None = None

    @field_validator("database_url")
    @classmethod
    def _driver(cls, value: str) -> str:
        # psycopg 3 is the only PostgreSQL driver we ship
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value

    @field_validator("telegram_api_base_url")
    @classmethod
    def _bot_suffix(cls, value: str) -> str:
        if not value.rstrip("/").endswith("/bot"):
            raise ValueError("TELEGRAM_API_BASE_URL must end with /bot, e.g. https://host/bot")
        return value.rstrip("/")

    @field_validator("log_format", "log_level", mode="before")
    @classmethod
    def _any_case(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, str):
            return value.upper() if info.field_name == "log_level" else value.lower()
        return value

    @field_validator("cors_allowed_origins", "trusted_proxies", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _cors_defaults_to_the_public_origin(self) -> Settings:
        if not self.cors_allowed_origins:
            self.cors_allowed_origins = [url_origin(self.public_url)]
        return self

    @model_validator(mode="after")
    def _default_database_has_its_directory(self) -> Settings:
        if self.database_url == DEFAULT_SQLITE_URL:
            DATA_DIR.mkdir(exist_ok=True)
        return self

    @model_validator(mode="after")
    def _production_is_safe(self) -> Settings:
        if self.app_env != "production":
            return self
        problems = []
        if not self.master_keys():
            problems.append("APP_MASTER_KEYS is missing: generate one with "
                            "`python -m trading_app.cli generate-key`")
        elif self.app_keys_development_only:
            problems.append("the master key was generated for development "
                            "(APP_KEYS_DEVELOPMENT_ONLY=true): use a production key")
        if self.is_sqlite:
            problems.append("DATABASE_URL points at SQLite: production needs PostgreSQL")
        if any(origin.strip() == "*" for origin in self.cors_allowed_origins):
            problems.append("CORS_ALLOWED_ORIGINS is a wildcard: list your origins")
        if problems:
            raise SettingsError("refusing to start in production: " + "; ".join(problems))
        return self

    def browser_origins(self) -> tuple[str, ...]:
        """The origins allowed to reach the backend from a browser (CORS and Reflex's websocket).

        CORS_ALLOWED_ORIGINS plus PUBLIC_URL's origin (the app's own pages must always connect);
        an explicit development wildcard stays a wildcard.
        """
        origins = [o.strip().rstrip("/") for o in self.cors_allowed_origins if o.strip()]
        if "*" in origins:
            return ("*",)
        public = url_origin(self.public_url)
        return tuple(dict.fromkeys([public, *origins]))

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def async_database_url(self) -> str:
        if self.database_url.startswith("sqlite:"):
            return "sqlite+aiosqlite:" + self.database_url[len("sqlite:") :]
        return self.database_url

    def master_keys(self) -> dict[int, bytes]:
        """Decode the versioned master keys. Raises SettingsError on a malformed value."""
        if self.app_master_keys is None or not self.app_master_keys.get_secret_value():
            return {}
        try:
            raw = json.loads(self.app_master_keys.get_secret_value())
            keys = {int(k): base64.b64decode(v) for k, v in raw.items()}
        except (ValueError, TypeError) as e:
            # from None: the original error may quote part of the key material
            detail = type(e).__name__
            raise SettingsError(f"APP_MASTER_KEYS is not a JSON map of id -> base64: {detail}") from None
        for key_id, key in keys.items():
            if not 1 <= key_id <= 255 or len(key) != 32:
                raise SettingsError("APP_MASTER_KEYS: ids are 1..255 and keys are 32 bytes")
            if len(set(key)) < 8:
                raise SettingsError(f"APP_MASTER_KEYS: key {key_id} has too little entropy")
        return keys

    def primary_key_id(self) -> int:
        keys = self.master_keys()
        if not keys:
            raise SettingsError("no master encryption key configured (APP_MASTER_KEYS)")
        key_id = self.app_primary_key_id or max(keys)
        if key_id not in keys:
            raise SettingsError(f"APP_PRIMARY_KEY_ID={key_id} is not in APP_MASTER_KEYS")
        return key_id


def url_origin(url: str) -> str:
    """`scheme://host[:port]` of a URL, as browsers send it in `Origin`."""
    parts = urlsplit(url.strip())
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def new_master_key() -> str:
    """Return a fresh 32-byte key, base64-encoded."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def write_development_env(path: Path = ENV_FILE) -> bool:
    """Create `.env` with a new development master key if it does not exist yet.

    Returns:
        True when the file was written.
    """
    if path.exists():
        return False
    keys = json.dumps({"1": new_master_key()})
    path.write_text(
        "# Written by the first development run. Never use this key in production.\n"
        "APP_ENV=development\n"
        f"APP_MASTER_KEYS='{keys}'\n"
        "APP_PRIMARY_KEY_ID=1\n"
        "APP_KEYS_DEVELOPMENT_ONLY=true\n"
    )
    path.chmod(0o600)
    # for the developer at the terminal, before logging is configured
    print(f"Wrote {path} with a freshly generated development master key.", file=sys.stderr)  # noqa: T201
    return True


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, creating the development `.env` on first use."""
    if os.environ.get("APP_ENV", "development") == "development" and "APP_MASTER_KEYS" not in os.environ:
        write_development_env()
    return Settings()
