"""Operator commands: `python -m trading_app.cli <command>`."""

from __future__ import annotations

import argparse
import asyncio
import sys


def _rotate() -> int:
    from trading_app.db.engine import dispose_engines
    from trading_app.services.security.secrets import rotate_all

    async def run() -> int:
        try:
            return await rotate_all()
        finally:
            await dispose_engines()

    count = asyncio.run(run())
    print(f"re-encrypted {count} values under the primary key")
    return 0


def _reflex_migrate() -> int:
    import subprocess

    return subprocess.run([sys.executable, "-m", "reflex", "db", "migrate"], check=False).returncode


def _migrate() -> int:
    """`reflex db migrate`, serialized across replicas by a PostgreSQL advisory lock."""
    from trading_app.settings import get_settings

    settings = get_settings()
    if settings.is_sqlite:
        return _reflex_migrate()
    import psycopg

    dsn = settings.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn, autocommit=True) as conn:
        # every replica runs this on start; the lock makes them migrate one after another
        conn.execute("SELECT pg_advisory_lock(872301)")
        try:
            return _reflex_migrate()
        finally:
            conn.execute("SELECT pg_advisory_unlock(872301)")


def _audit(user: str | None, days: int) -> int:
    """Print every breach of the money invariants; 1 when there is one, 2 when a venue is unreadable."""
    from datetime import timedelta

    from trading_app.db.engine import dispose_engines
    from trading_app.services.accounts.users import InvalidAddress, normalize_address
    from trading_app.services.accounts.venues import venue_for
    from trading_app.services.ops.audit import accounts_to_audit, audit_account
    from trading_app.venues.errors import VenueError

    try:
        wanted = normalize_address(user) if user else None
    except InvalidAddress:
        print(f"not an Ethereum address: {user!r}", file=sys.stderr)
        return 2

    async def run() -> int:
        window, broken, unreadable = timedelta(days=days), 0, 0
        try:
            accounts = await accounts_to_audit(wanted, window)
            for address, network in accounts:
                try:
                    venue = await venue_for(address, network)
                    found = await audit_account(address, network, venue, window=window)
                except VenueError as e:
                    print(f"{address} {network}: venue unreadable: {type(e).__name__}: {e}")
                    unreadable += 1
                    continue
                for breach in found:
                    print(f"{address} {network}: {breach}")
                broken += len(found)
            print(f"{len(accounts)} account(s) audited, {broken} breach(es), {unreadable} unreadable")
            return 1 if broken else 2 if unreadable else 0
        finally:
            await dispose_engines()

    return asyncio.run(run())


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m trading_app.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("generate-key", help="print a new base64 master key")
    sub.add_parser("init-env", help="write .env with a development key if it is missing")
    sub.add_parser("rotate-keys", help="re-encrypt every secret under APP_PRIMARY_KEY_ID")
    sub.add_parser("check-settings", help="validate the configuration and exit")
    sub.add_parser("migrate", help="apply migrations (one replica at a time)")
    audit = sub.add_parser("audit", help="check the money invariants of every account (read-only); "
                                        "exit 1 when one is broken")
    audit.add_argument("--user", help="only this trader (0x address)")
    audit.add_argument("--days", type=int, default=7, help="closed positions checked this far back")
    args = parser.parse_args(argv)

    from trading_app import settings as settings_module

    if args.command == "generate-key":
        print(settings_module.new_master_key())
        return 0
    if args.command == "init-env":
        if not settings_module.write_development_env():
            print(f"{settings_module.ENV_FILE} already exists; left as it is")
        return 0
    try:
        settings_module.get_settings().primary_key_id()
    except settings_module.SettingsError as e:
        print(f"configuration error: {e}", file=sys.stderr)
        return 2
    if args.command == "check-settings":
        print("settings ok")
        return 0
    if args.command == "migrate":
        return _migrate()
    if args.command == "audit":
        return _audit(args.user, args.days)
    return _rotate()


if __name__ == "__main__":
    sys.exit(main())
