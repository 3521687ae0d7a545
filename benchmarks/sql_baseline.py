"""Baseline `sql`: the booking transaction alone, the statements the worker runs for
a CreateBooking, driven by asyncpg with as many connections as the worker uses:
the database's ceiling on this machine."""

import argparse
import asyncio
import hashlib
import json
import time
import uuid
from datetime import timedelta

import asyncpg

from benchmarks.scenarios import BASE_DAY, SLOT_MINUTES


async def book(conn: asyncpg.Connection, host: str, user: str, start) -> None:
    end = start + timedelta(minutes=SLOT_MINUTES)
    command_id, booking_id = uuid.uuid4(), uuid.uuid4()
    async with conn.transaction():
        await conn.fetchrow("SELECT fingerprint, reply_type, reply FROM processed_commands WHERE command_id = $1",
                            command_id)
        await conn.fetchrow("SELECT id, role FROM users WHERE id = $1 FOR NO KEY UPDATE", uuid.UUID(host))
        await conn.fetchrow("SELECT id, role FROM users WHERE id = $1", uuid.UUID(user))
        await conn.fetch(
            "SELECT id, lower(period), upper(period), slot_minutes FROM availability_windows"
            " WHERE host_id = $1 AND (period && tstzrange($2, $3, '[)') OR period -|- tstzrange($2, $3, '[)'))",
            uuid.UUID(host), start, end,
        )
        await conn.fetch(
            "SELECT lower(period), upper(period) FROM bookings WHERE host_id = $1 AND status = 'CONFIRMED'"
            " AND period && tstzrange($2, $3, '[)')", uuid.UUID(host), start, end,
        )
        await conn.execute(
            "INSERT INTO bookings (id, host_id, user_id, period, status)"
            " VALUES ($1, $2, $3, tstzrange($4, $5, '[)'), 'CONFIRMED')",
            booking_id, uuid.UUID(host), uuid.UUID(user), start, end,
        )
        reply = json.dumps({"type": "BookingConfirmed", "bookingId": str(booking_id)}).encode()
        await conn.execute(
            "WITH stored AS (INSERT INTO processed_commands (command_id, command_type, fingerprint, actor_id,"
            " reply_type, reply) VALUES ($1, 'CreateBooking', $2, $3, 'BookingConfirmed', $4) RETURNING command_id)"
            " INSERT INTO outbox (command_id) SELECT command_id FROM stored",
            command_id, hashlib.sha256(reply).digest(), uuid.UUID(user), reply,
        )
    await conn.execute("DELETE FROM outbox WHERE command_id = $1", command_id)


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
