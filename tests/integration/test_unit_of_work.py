"""One unit of work of several commands, on the real database: each command sees the
writes of the ones before it, although new bookings are written late (together with
the outcomes, or before the next statement that could see them)."""

import json
import uuid

import asyncpg
import pytest

from contracts.incoming import read_command
from services.booking.db.bootstrap import prepare_database
from services.booking.processing import CommandService, Request
from services.settings import Settings
from tests.support.commands import at, availability, booking, register, removal


@pytest.fixture
async def service(sandbox):
    await prepare_database(Settings(database_url=sandbox.database_url))
    pool = await asyncpg.create_pool(sandbox.database_url, min_size=1, max_size=2)
    yield CommandService(pool)
    await pool.close()


async def handled(service: CommandService, *commands: dict) -> list[dict]:
    """The replies of `commands`, handled as one group."""
    outcomes = await service.handle([Request(read_command(json.dumps(c).encode())) for c in commands])
    return [json.loads(outcome.reply) for outcome in outcomes]


async def test_a_group_sees_its_own_bookings_in_order(service, sandbox):
    replies = await handled(service, register("HOST"), register("HOST"), register())
    host, other, user = (reply["user"]["userId"] for reply in replies)

    replies = await handled(
        service,
        availability(host, at(9), at(12)),
        availability(other, at(9), at(12)),
        booking(host, user, at(9), at(9, 30)),
        booking(other, user, at(9), at(9, 30)),  # another host: may stay unwritten beside the first
        booking(host, user, at(9), at(9, 30)),  # the same slot again
        removal(host, at(9), at(10)),  # over a booking of this group
        booking(host, user, at(9, 30), at(10)),
        booking(other, user, at(9), at(9, 30)),
    )

    assert [(r["type"], r.get("reason")) for r in replies] == [
        ("AvailabilityCreated", None),
        ("AvailabilityCreated", None),
        ("BookingConfirmed", None),
        ("BookingConfirmed", None),
        ("BookingRejected", "SLOT_TAKEN"),
        ("AvailabilityRejected", "BOOKINGS_IN_RANGE"),
        ("BookingConfirmed", None),
        ("BookingRejected", "SLOT_TAKEN"),
    ]
    conn = await asyncpg.connect(sandbox.database_url)
    try:
        stored = await conn.fetch(
            "SELECT host_id, lower(period) AS start FROM bookings WHERE host_id = ANY($1::uuid[]) ORDER BY 1, 2",
            [uuid.UUID(host), uuid.UUID(other)],
        )
        outcomes = await conn.fetchval(
            "SELECT count(*) FROM processed_commands WHERE command_id = ANY($1::uuid[])",
            [uuid.UUID(r["commandId"]) for r in replies],
        )
    finally:
        await conn.close()
    assert sorted((str(r["host_id"]), r["start"].strftime("%H:%M")) for r in stored) == sorted(
        [(host, "09:00"), (host, "09:30"), (other, "09:00")]
    )
    assert outcomes == len(replies)


async def test_bookings_of_hosts_seen_once_are_loaded_together_and_decided_alike(service, sandbox):
    """Each booking names a host no other command of the group names, so their loads
    are made in one round trip before the group is decided; every rule still holds."""
    replies = await handled(service, *(register("HOST") for _ in range(5)), register())
    *hosts, user = (reply["user"]["userId"] for reply in replies)
    free, taken, bare, misaligned, unknown_user = hosts
    await handled(service, *(availability(h, at(9), at(12)) for h in (free, taken, misaligned, unknown_user)))
    await handled(service, booking(taken, user, at(9), at(9, 30)))

    replies = await handled(
        service,
        booking(free, user, at(9), at(9, 30)),
        booking(taken, user, at(9), at(9, 30)),
        booking(bare, user, at(9), at(9, 30)),
        booking(misaligned, user, at(9, 10), at(9, 40)),
        booking(unknown_user, str(uuid.uuid4()), at(9), at(9, 30)),
        booking(str(uuid.uuid4()), user, at(9), at(9, 30)),
    )

    assert [(r["type"], r.get("reason")) for r in replies] == [
        ("BookingConfirmed", None),
        ("BookingRejected", "SLOT_TAKEN"),
        ("BookingRejected", "OUTSIDE_AVAILABILITY"),
        ("BookingRejected", "MISALIGNED_SLOT"),
        ("BookingRejected", "USER_NOT_FOUND"),
        ("BookingRejected", "HOST_NOT_FOUND"),
    ]
    conn = await asyncpg.connect(sandbox.database_url)
    try:
        confirmed = await conn.fetchval(
            "SELECT count(*) FROM bookings WHERE host_id = ANY($1::uuid[])", [uuid.UUID(h) for h in hosts]
        )
    finally:
        await conn.close()
    assert confirmed == 2  # the one booked before and the free slot
