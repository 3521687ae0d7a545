"""The database alone refuses what the application also checks."""

import asyncio
import uuid

import asyncpg
import pytest

from services.booking.db.bootstrap import prepare_database
from services.settings import Settings


@pytest.fixture
async def database(sandbox):
    await prepare_database(Settings(database_url=sandbox.database_url))
    conn = await asyncpg.connect(sandbox.database_url)
    yield sandbox.database_url
    await conn.close()


async def _user(conn, role="HOST") -> uuid.UUID:
    user_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO users (id, name, email, role) VALUES ($1, 'n', $2, $3)",
        user_id, f"{user_id.hex}@example.com", role,
    )
    return user_id


async def test_two_transactions_cannot_both_confirm_overlapping_bookings(database):
    setup = await asyncpg.connect(database)
    host, user = await _user(setup), await _user(setup, "USER")
    await setup.close()
    first, second = await asyncpg.connect(database), await asyncpg.connect(database)
    insert = (
        "INSERT INTO bookings (id, host_id, user_id, period, status)"
        " VALUES ($1, $2, $3, tstzrange($4::text::timestamptz, $5::text::timestamptz, '[)'), 'CONFIRMED')"
    )
    tx1, tx2 = first.transaction(), second.transaction()
    await tx1.start()
    await tx2.start()
    await first.execute(insert, uuid.uuid4(), host, user, "2031-01-01T10:00Z", "2031-01-01T10:30Z")
    # the second writer waits on the first's uncommitted row, then is refused
    racing = asyncio.ensure_future(
        second.execute(insert, uuid.uuid4(), host, user, "2031-01-01T10:15Z", "2031-01-01T10:45Z")
    )
    await asyncio.sleep(0.3)
    assert not racing.done()
    await tx1.commit()
    with pytest.raises(asyncpg.ExclusionViolationError):
        await racing
    await tx2.rollback()
    # touching is not overlapping, and a cancelled booking does not block
    await second.execute(insert, uuid.uuid4(), host, user, "2031-01-01T10:30Z", "2031-01-01T11:00Z")
    await second.execute(
        insert.replace("'CONFIRMED'", "'CANCELLED'"), uuid.uuid4(), host, user,
        "2031-01-01T10:00Z", "2031-01-01T10:30Z",
    )
    await first.close()
    await second.close()


async def test_email_unique_ignoring_case(database):
    conn = await asyncpg.connect(database)
    await conn.execute("INSERT INTO users (id, name, email, role) VALUES ($1, 'a', 'Same@Example.com', 'USER')", uuid.uuid4())
    with pytest.raises(asyncpg.UniqueViolationError):
        await conn.execute("INSERT INTO users (id, name, email, role) VALUES ($1, 'b', 'same@example.COM', 'USER')", uuid.uuid4())
    await conn.close()


async def test_windows_of_one_host_cannot_overlap(database):
    conn = await asyncpg.connect(database)
    host = await _user(conn)
    insert = (
        "INSERT INTO availability_windows (id, host_id, period, slot_minutes)"
        " VALUES ($1, $2, tstzrange($3::text::timestamptz, $4::text::timestamptz, '[)'), 30)"
    )
    await conn.execute(insert, uuid.uuid4(), host, "2031-01-01T09:00Z", "2031-01-01T10:00Z")
    with pytest.raises(asyncpg.ExclusionViolationError):
        await conn.execute(insert, uuid.uuid4(), host, "2031-01-01T09:30Z", "2031-01-01T11:00Z")
    await conn.close()
