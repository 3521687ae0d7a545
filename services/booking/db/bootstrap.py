"""Make the database ready: create it when missing, then apply migrations."""

import asyncio
import logging
from importlib.resources import files
from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config

from services.settings import Settings, with_driver

log = logging.getLogger(__name__)
PROJECT_ROOT = Path(__file__).resolve().parents[3]


def migrations_location() -> Path:
    """The Alembic environment: the copy an installed package carries (setup.py puts
    it there), else migrations/ of the checkout this module runs from."""
    packaged = files(__package__) / "migrations"
    if packaged.is_dir():
        return Path(str(packaged))
    return PROJECT_ROOT / "migrations"


async def create_database_if_missing(database_url: str) -> None:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(("postgresql", parts.netloc, "/postgres", parts.query, ""))
    conn = await asyncpg.connect(maintenance)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
                log.info("created database", extra={"database": name})
            except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                pass  # another process won the race (caught mid-way, it is a unique violation)
    finally:
        await conn.close()


def alembic_config(database_url: str) -> Config:
    """Built here rather than read from alembic.ini, which an installed package lacks."""
    config = Config()
    # ConfigParser interpolates %, which URL-encoded passwords contain.
    config.set_main_option("script_location", str(migrations_location()).replace("%", "%%"))
    config.set_main_option("sqlalchemy.url", with_driver(database_url, "postgresql+asyncpg").replace("%", "%%"))
    return config


async def prepare_database(settings: Settings) -> None:
    await create_database_if_missing(settings.database_url)
    # env.py runs its own event loop, so Alembic goes to a thread.
    await asyncio.to_thread(command.upgrade, alembic_config(settings.database_url), "head")


def main() -> None:
    """`booking-migrate`: create the database and apply migrations, then exit."""
    from services.settings import get_settings

    asyncio.run(prepare_database(get_settings()))


if __name__ == "__main__":
    main()
