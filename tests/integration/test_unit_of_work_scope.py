"""The unit of work's own rules, on the real database: nothing is kept unless committed,
held bookings go in with the commit, and the preload comes before any handler."""

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.booking.db.bootstrap import prepare_database
from services.booking.domain.bookings import Booking
from services.booking.domain.ranges import TimeRange
from services.booking.unit_of_work import UnitOfWork
from services.settings import Settings


@pytest.fixture
async def pool(sandbox):
    await prepare_database(Settings(database_url=sandbox.database_url))
    pool = await asyncpg.create_pool(sandbox.database_url, min_size=1, max_size=2)
    yield pool
    await pool.close()


async def add_people(uow: UnitOfWork) -> tuple[uuid.UUID, uuid.UUID]:
    host, user = uuid.uuid4(), uuid.uuid4()
    assert await uow.store.add_user(host, "Hana", f"{host.hex}@example.com", "HOST")
    assert await uow.store.add_user(user, "Uma", f"{user.hex}@example.com", "USER")
    return host, user


async def users(pool: asyncpg.Pool, *ids: uuid.UUID) -> int:
    return await pool.fetchval("SELECT count(*) FROM users WHERE id = ANY($1::uuid[])", list(ids))


async def test_nothing_is_kept_unless_committed(pool):
    async with UnitOfWork(pool, [], []) as uow:
        left = await add_people(uow)
    with pytest.raises(LookupError):
        async with UnitOfWork(pool, [], []) as uow:
            failed = await add_people(uow)
            raise LookupError("a handler failed")
    async with UnitOfWork(pool, [], []) as uow:
        kept = await add_people(uow)
        await uow.commit([])
    assert (await users(pool, *left), await users(pool, *failed), await users(pool, *kept)) == (0, 0, 2)


async def test_held_bookings_go_in_with_the_commit(pool):
    start = datetime(2031, 3, 3, 9, tzinfo=UTC)
    async with UnitOfWork(pool, [], []) as uow:
        host, user = await add_people(uow)
        held = Booking(uuid.uuid4(), host, user, TimeRange(start, start + timedelta(minutes=30)), "CONFIRMED")
        await uow.store.add_booking(held)
        await uow.commit([])
    assert await pool.fetchval("SELECT status FROM bookings WHERE id = $1", held.id) == "CONFIRMED"


async def test_the_preload_comes_before_any_handler(pool):
    async with UnitOfWork(pool, [], []) as uow:
        await uow.preload([])
        assert uow.store is not None
        with pytest.raises(RuntimeError):
            await uow.preload([])
