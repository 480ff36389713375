"""Settings: validated, production refuses unsafe defaults, development writes its own key."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from dotenv import dotenv_values

from trading_app.settings import Settings, SettingsError, new_master_key, write_development_env

GOOD_KEYS = json.dumps({"1": new_master_key()})
PG = "postgresql://app@db:5432/trading"


def make(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("APP_", "DATABASE_URL", "CORS_", "REDIS_URL", "TELEGRAM_", "PAPER_")):
            monkeypatch.delenv(key)


def test_development_defaults_are_embedded() -> None:
    s = make()
    assert s.app_env == "development"
    assert s.is_sqlite and s.database_url.endswith("/.data/trading_app.db")
    # a hidden directory, made on demand: `reflex run` does not watch it, so SQLite's -wal/-shm
    # files changing on every commit never hot-reload the backend in the middle of a trade
    folder = Path(s.database_url.removeprefix("sqlite:///")).parent
    assert folder.name.startswith(".") and folder.is_dir()
    assert s.async_database_url.startswith("sqlite+aiosqlite:///")
    assert s.redis_url is None
    assert s.paper_price_source == "https://indexer.dydx.trade"
    assert s.telegram_api_base_url == "https://api.telegram.org/bot"


def test_postgres_urls_use_psycopg3() -> None:
    s = make(database_url="postgres://u@h/db")
    assert s.database_url == "postgresql+psycopg://u@h/db"
    assert s.async_database_url == s.database_url


def test_telegram_base_url_must_end_with_bot() -> None:
    with pytest.raises(ValueError, match="/bot"):
        make(telegram_api_base_url="http://127.0.0.1:8081/")
    assert make(telegram_api_base_url="http://127.0.0.1:8081/bot/").telegram_api_base_url.endswith("/bot")


def test_safe_production_configuration_starts() -> None:
    s = make(app_env="production", app_master_keys=GOOD_KEYS, database_url=PG,
             cors_allowed_origins="https://trade.example.com")
    assert s.cors_allowed_origins == ["https://trade.example.com"]
    assert s.primary_key_id() == 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"app_master_keys": None}, "APP_MASTER_KEYS is missing"),
        ({"app_keys_development_only": True}, "generated for development"),
        ({"database_url": "sqlite:///x.db"}, "SQLite"),
        ({"cors_allowed_origins": "*"}, "wildcard"),
    ],
)
def test_production_refuses_unsafe_defaults(overrides: dict, message: str) -> None:
    values = dict(app_env="production", app_master_keys=GOOD_KEYS, database_url=PG,
                  cors_allowed_origins="https://trade.example.com")
    values.update(overrides)
    with pytest.raises(SettingsError, match=message):
        make(**values)


def test_production_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///prod.db")
    with pytest.raises(SettingsError, match="SQLite"):
        Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "keys",
    [
        "not json",
        json.dumps({"1": base64.b64encode(b"short").decode()}),
        json.dumps({"0": new_master_key()}),
        json.dumps({"1": base64.b64encode(bytes(32)).decode()}),  # all zero: no entropy
    ],
)
def test_malformed_master_keys_are_refused(keys: str) -> None:
    with pytest.raises(SettingsError):
        make(app_master_keys=keys).master_keys()


def test_primary_key_must_exist() -> None:
    with pytest.raises(SettingsError, match="APP_PRIMARY_KEY_ID"):
        make(app_master_keys=GOOD_KEYS, app_primary_key_id=7).primary_key_id()


def test_first_development_run_writes_env_once(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    assert write_development_env(env) is True
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    values = dotenv_values(env)
    keys = json.loads(values["APP_MASTER_KEYS"])
    assert len(base64.b64decode(keys["1"])) == 32
    assert values["APP_KEYS_DEVELOPMENT_ONLY"] == "true"
    first = env.read_text()
    assert write_development_env(env) is False
    assert env.read_text() == first
    # and such a key is refused in production
    with pytest.raises(SettingsError, match="development"):
        Settings(_env_file=env, app_env="production", database_url=PG,  # type: ignore[call-arg]
                 cors_allowed_origins="https://x.example")


def test_lists_come_comma_separated_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8,172.16.0.0/12")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.cors_allowed_origins == ["https://a.example", "https://b.example"]
    assert s.trusted_proxies == ["10.0.0.0/8", "172.16.0.0/12"]
    monkeypatch.setenv("TRUSTED_PROXIES", '["127.0.0.1"]')
    assert Settings(_env_file=None).trusted_proxies == ["127.0.0.1"]  # type: ignore[call-arg]


def test_cors_defaults_to_the_public_origin_never_a_wildcard() -> None:
    # cookies ride on cross-origin requests to the backend: `*` would let any site read the answers
    s = make()
    assert s.cors_allowed_origins == ["http://localhost:3000"]
    assert s.browser_origins() == ("http://localhost:3000",)
    s = make(public_url="https://Trade.Example.com/app/", api_url="https://trade.example.com")
    assert s.cors_allowed_origins == ["https://trade.example.com"]
    # listed origins come on top of the public one, which the app's own pages always need
    s = make(public_url="https://trade.example.com", cors_allowed_origins="https://ops.example.com/")
    assert s.browser_origins() == ("https://trade.example.com", "https://ops.example.com")
    assert make(cors_allowed_origins="*").browser_origins() == ("*",)  # an explicit development choice
    # production no longer needs the list when PUBLIC_URL is the only origin
    s = make(app_env="production", app_master_keys=GOOD_KEYS, database_url=PG, public_url="https://t.example")
    assert s.browser_origins() == ("https://t.example",)


def test_ops_settings_default_to_text_logs_and_nothing_exposed(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LOG_FORMAT", "LOG_LEVEL", "METRICS_TOKEN", "SENTRY_DSN"):
        monkeypatch.delenv(name, raising=False)
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (s.log_format, s.log_level, s.metrics_token, s.sentry_dsn) == ("text", "INFO", None, None)
    monkeypatch.setenv("LOG_FORMAT", "JSON")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("METRICS_TOKEN", "t0ken")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (s.log_format, s.log_level) == ("json", "DEBUG")
    assert s.metrics_token is not None and "t0ken" not in repr(s)  # a secret: never printed
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="log_format"):
        Settings(_env_file=None)  # type: ignore[call-arg]
