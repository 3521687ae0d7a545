"""Baseline `sql`: the booking transaction alone, the statements the worker runs for
a CreateBooking handled on its own (the store's own statements: services/booking/db),
driven by asyncpg with as many connections as the worker uses: the database's
ceiling on this machine."""

import argparse
import asyncio
import hashlib
import json
import time
import uuid
from datetime import timedelta

import asyncpg

from benchmarks.scenarios import BASE_DAY, SLOT_MINUTES
from services.booking.db.booking_store import BOOKING_PARTIES
from services.booking.db.inbox import NewOutcome, lock_hosts_and_read_inbox, store_outcomes
from services.booking.db.outbox import delete_sent
from services.booking.domain.bookings import Booking
from services.booking.domain.ranges import TimeRange


async def book(conn: asyncpg.Connection, host: str, user: str, start) -> None:
    """BEGIN; the fenced inbox read; the booking's loads; the one write of booking,
    outcome and outbox row; COMMIT; then the outbox row's delete (the worker's cleaner
    batches it)."""
    end = start + timedelta(minutes=SLOT_MINUTES)
    host_id, user_id = uuid.UUID(host), uuid.UUID(user)
    command_id, booking_id = uuid.uuid4(), uuid.uuid4()
    async with conn.transaction():
        await lock_hosts_and_read_inbox(conn, [command_id], [host_id])
        await conn.fetchrow(BOOKING_PARTIES, host_id, start, end, None, user_id)
        reply = json.dumps({"type": "BookingConfirmed", "bookingId": str(booking_id)}).encode()
        outcome = NewOutcome(
            command_id, "CreateBooking", hashlib.sha256(reply).digest(), user_id, "BookingConfirmed", reply, None, None
        )
        await store_outcomes(conn, [outcome], [Booking(booking_id, host_id, user_id, TimeRange(start, end), "CONFIRMED")])
    await delete_sent(conn, [command_id])


async def run(dsn: str, fixture: dict, count: int, connections: int, day_offset: int) -> dict:
    pool = await asyncpg.create_pool(dsn, min_size=connections, max_size=connections)
    hosts, users = fixture["hosts"], fixture["users"]
    day = BASE_DAY + timedelta(days=day_offset)
    jobs = asyncio.Queue()
    for i in range(count):
        jobs.put_nowait((hosts[i % len(hosts)], users[i % len(users)],
                         day + timedelta(minutes=SLOT_MINUTES * (i // len(hosts)))))

    async def worker() -> None:
        while not jobs.empty():
            host, user, start = jobs.get_nowait()
            async with pool.acquire() as conn:
                await book(conn, host, user, start)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    await pool.close()
    return {"commands": count, "seconds": round(elapsed, 3), "throughput": round(count / elapsed, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--fixture", required=True)
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--day", type=int, default=70)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    result = asyncio.run(run(args.db, json.loads(open(args.fixture).read()), args.count, args.connections, args.day))
    with open(args.out, "w") as out:
        json.dump(result, out)


if __name__ == "__main__":
    main()
