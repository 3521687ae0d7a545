"""Alembic environment, async: runs revisions over asyncpg. The URL comes from the
`sqlalchemy.url` option when a caller sets it, else from BOOKING_DATABASE_URL.

The revisions are written by hand (autogenerate does not see exclusion constraints),
so there is no table metadata to compare against: the schema is the migrations."""

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.settings import get_settings, with_driver

# Two processes starting at once must not both run the same revision.
MIGRATION_LOCK = 0x626F6F6B  # "book"


def _url() -> str:
    configured = context.config.get_main_option("sqlalchemy.url")
    return with_driver(configured or get_settings().database_url, "postgresql+asyncpg")


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        context.run_migrations()


async def _online() -> None:
    engine = create_async_engine(_url())
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=None, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_online())
