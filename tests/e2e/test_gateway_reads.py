"""The gateway's reads on the real database (services/booking/db/reads.py), and the slot
listing they feed against the SQL listing the gateway had before issue 12
(`generate_series` over the windows, kept here only as the reference of the semantics
the listing must keep): on random windows and confirmed bookings around now, over random
ranges, both list the same slots with the same availability."""

import random
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.booking.db import SERVER_SETTINGS
from services.booking.db.reads import Reads
from services.booking.domain.ranges import TimeRange
from services.booking.domain.slots import list_slots

# services/gateway/queries.py before issue 12, with asyncpg's placeholders
SQL_LISTING = """
    WITH host AS (SELECT role FROM users WHERE id = $1),
    windows AS (
        SELECT lower(period) AS start_at, upper(period) AS end_at, make_interval(mins => slot_minutes) AS step
        FROM availability_windows
        WHERE host_id = $1 AND period && tstzrange($2, $3, '[)')
    ),
    slots AS (
        SELECT s AS start_at, s + w.step AS end_at
        FROM windows w, generate_series(w.start_at, w.end_at - w.step, w.step) AS s
        WHERE s >= $2 AND s < $3
    )
    SELECT (SELECT role FROM host) AS role,
           slots.start_at, slots.end_at,
           slots.start_at > now() AND NOT EXISTS (
               SELECT 1 FROM bookings b
               WHERE b.host_id = $1 AND b.status = 'CONFIRMED'
                 AND b.period && tstzrange(slots.start_at, slots.end_at, '[)')
           ) AS available
    FROM (SELECT 1) AS one LEFT JOIN slots ON true
    ORDER BY slots.start_at
"""


@pytest.fixture
async def pool(worker, sandbox):  # the worker has migrated the database
    pool = await asyncpg.create_pool(sandbox.database_url, min_size=1, max_size=2, server_settings=SERVER_SETTINGS)
    yield pool
    await pool.close()


async def new_person(conn: asyncpg.Connection, role: str) -> uuid.UUID:
    person = uuid.uuid4()
    await conn.execute("INSERT INTO users (id, name, email, role) VALUES ($1, 'Test', $2, $3)",
                       person, f"{person.hex}@example.com", role)
    return person


async def add_window(conn, host: uuid.UUID, start: datetime, end: datetime, slot: int) -> None:
    await conn.execute("INSERT INTO availability_windows (id, host_id, period, slot_minutes)"
                       " VALUES ($1, $2, tstzrange($3, $4, '[)'), $5) ON CONFLICT DO NOTHING",
                       uuid.uuid4(), host, start, end, slot)


async def add_booking(conn, host: uuid.UUID, user: uuid.UUID, start: datetime, end: datetime, status: str) -> None:
    await conn.execute("INSERT INTO bookings (id, host_id, user_id, period, status)"
                       " VALUES ($1, $2, $3, tstzrange($4, $5, '[)'), $6) ON CONFLICT DO NOTHING",
                       uuid.uuid4(), host, user, start, end, status)


async def test_slot_inputs_are_the_host_its_windows_and_the_bookings_near_the_range(pool):
    async with pool.acquire() as conn:
        host, user = await new_person(conn, "HOST"), await new_person(conn, "USER")
        day = datetime(2031, 3, 3, tzinfo=UTC)
        await add_window(conn, host, day + timedelta(hours=9), day + timedelta(hours=12), 30)
        await add_window(conn, host, day + timedelta(hours=22), day + timedelta(hours=26), 60)  # into the next day
        await add_window(conn, host, day + timedelta(hours=30), day + timedelta(hours=31), 60)  # the next day only
        await add_booking(conn, host, user, day + timedelta(hours=9), day + timedelta(hours=9.5), "CONFIRMED")
        await add_booking(conn, host, user, day + timedelta(hours=10), day + timedelta(hours=10.5), "CANCELLED")
        await add_booking(conn, host, user, day + timedelta(hours=24), day + timedelta(hours=25), "CONFIRMED")
        await add_booking(conn, host, user, day + timedelta(hours=50), day + timedelta(hours=51), "CONFIRMED")
    reads = Reads(pool)
    person, windows, confirmed = await reads.slot_inputs(host, day, day + timedelta(days=1))
    assert (person.id, person.role) == (host, "HOST")
    assert [(w.range.start.hour, w.range.end - w.range.start, w.slot_minutes, w.host_id) for w in windows] == [
        (9, timedelta(hours=3), 30, host), (22, timedelta(hours=4), 60, host)]
    # a booking after the day may still overlap a slot that starts in it (slots are at most a day
    # long): the ones up to a day after it come too; the cancelled one does not
    assert confirmed == [TimeRange(day + timedelta(hours=9), day + timedelta(hours=9.5)),
                         TimeRange(day + timedelta(hours=24), day + timedelta(hours=25))]
    assert (await reads.slot_inputs(user, day, day + timedelta(days=1)))[0].role == "USER"
    assert await reads.slot_inputs(uuid.uuid4(), day, day + timedelta(days=1)) == (None, [], [])


async def test_booking_command_reply_and_health(pool):
    reads = Reads(pool)
    async with pool.acquire() as conn:
        host, user = await new_person(conn, "HOST"), await new_person(conn, "USER")
        start = datetime(2031, 3, 3, 9, tzinfo=UTC)
        await add_booking(conn, host, user, start, start + timedelta(minutes=30), "CONFIRMED")
        booking_id = await conn.fetchval("SELECT id FROM bookings WHERE host_id = $1", host)
        command_id = uuid.uuid4()
        await conn.execute("INSERT INTO processed_commands (command_id, command_type, fingerprint, actor_id, reply_type,"
                           " reply) VALUES ($1, 'CreateBooking', '\\x00', $2, 'BookingConfirmed', '{\"a\": 1}')",
                           command_id, user)
    booking = await reads.booking(booking_id)
    assert (booking.id, booking.host_id, booking.user_id, booking.status) == (booking_id, host, user, "CONFIRMED")
    assert booking.range == TimeRange(start, start + timedelta(minutes=30))
    assert await reads.booking(uuid.uuid4()) is None
    assert await reads.command_reply(command_id, user) == b'{"a": 1}'
    assert await reads.command_reply(command_id, host) is None
    assert await reads.database_answers() is True


async def test_the_listing_keeps_the_semantics_of_the_sql_listing(pool):
    randomly = random.Random(12)
    reads = Reads(pool)
    compared: list[bool] = []
    for _ in range(60):
        async with pool.acquire() as conn:
            host, user = await new_person(conn, "HOST"), await new_person(conn, "USER")
            now = (await conn.fetchval("SELECT now()")).replace(second=0, microsecond=0)
            for _ in range(randomly.randint(1, 5)):
                slot = randomly.choice([10, 15, 30, 45, 60, 90])
                start = now + timedelta(minutes=randomly.randint(-600, 1800) // 5 * 5)
                await add_window(conn, host, start, start + timedelta(minutes=randomly.randint(slot, 12 * slot)), slot)
            for _ in range(randomly.randint(0, 15)):
                start = now + timedelta(minutes=randomly.randint(-700, 1900))
                status = randomly.choice(["CONFIRMED", "CONFIRMED", "CANCELLED"])
                await add_booking(conn, host, user, start, start + timedelta(minutes=randomly.randint(1, 120)), status)
            start = now + timedelta(seconds=randomly.randint(-700 * 60, 1900 * 60))
            end = start + timedelta(seconds=randomly.randint(1, 1500 * 60))
            async with conn.transaction():  # the SQL listing's now() is its transaction's
                sql_now = await conn.fetchval("SELECT now()")
                rows = await conn.fetch(SQL_LISTING, host, start, end)
        before = [(row["start_at"], row["end_at"], row["available"]) for row in rows if row["start_at"] is not None]
        _, windows, confirmed = await reads.slot_inputs(host, start, end)
        after = [(slot.start, slot.end, available) for slot, available in list_slots(windows, confirmed, start, end, sql_now)]
        assert after == before, (start, end, sql_now)
        compared += [available for _, _, available in before]
    assert compared.count(True) > 50 and compared.count(False) > 25  # the data sets were not all empty
