"""One test body, two stores: every test here that takes `store` runs on the memory store
(tests/support/memory_store.py) and on PostgreSQL (PostgresBookingStore with its
write-behind, in a transaction of the test's own, rolled back at the end)."""

import asyncpg
import pytest

from services.booking.db import SERVER_SETTINGS
from services.booking.db.booking_store import PostgresBookingStore
from services.booking.db.bootstrap import prepare_database
from services.booking.db.write_behind import WriteBehind
from services.settings import Settings
from tests.support.memory_store import MemoryStore

_migrated: set[str] = set()


@pytest.fixture(params=["memory", "postgres"])
def store_kind(request) -> tuple[str, str | None]:
    """Which store, and for PostgreSQL the database (the run's sandbox, asked for only then)."""
    if request.param == "memory":
        return "memory", None
    return "postgres", request.getfixturevalue("sandbox").database_url


@pytest.fixture
async def store(store_kind):
    kind, database_url = store_kind
    if kind == "memory":
        yield MemoryStore()
        return
    if database_url not in _migrated:
        await prepare_database(Settings(database_url=database_url))
        _migrated.add(database_url)
    conn = await asyncpg.connect(database_url, server_settings=SERVER_SETTINGS)
    transaction = conn.transaction()
    await transaction.start()
    try:
        yield PostgresBookingStore(conn, WriteBehind())
    finally:
        await transaction.rollback()
        await conn.close()
