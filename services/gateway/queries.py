"""The read side: straight to PostgreSQL, one round trip per request."""

from datetime import datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.time import format_utc

# Slots are derived from the windows that overlap the asked range; a slot is
# available when it starts in the future and no confirmed booking overlaps it.
SLOTS = text(
    """
    WITH host AS (SELECT role FROM users WHERE id = :host),
    windows AS (
        SELECT lower(period) AS start_at, upper(period) AS end_at, make_interval(mins => slot_minutes) AS step
        FROM availability_windows
        WHERE host_id = :host AND period && tstzrange(:from_at, :to_at, '[)')
    ),
    slots AS (
        SELECT s AS start_at, s + w.step AS end_at
        FROM windows w, generate_series(w.start_at, w.end_at - w.step, w.step) AS s
        WHERE s >= :from_at AND s < :to_at
    )
    SELECT (SELECT role FROM host) AS role,
           slots.start_at, slots.end_at,
           slots.start_at > now() AND NOT EXISTS (
               SELECT 1 FROM bookings b
               WHERE b.host_id = :host AND b.status = 'CONFIRMED'
                 AND b.period && tstzrange(slots.start_at, slots.end_at, '[)')
           ) AS available
    FROM (SELECT 1) AS one LEFT JOIN slots ON true
    ORDER BY slots.start_at
    """
)


class HostNotFound(Exception):
    pass


async def slots(engine: AsyncEngine, host_id: UUID, from_at: datetime, to_at: datetime) -> list[dict]:
    async with engine.connect() as conn:
        rows = (await conn.execute(SLOTS, {"host": host_id, "from_at": from_at, "to_at": to_at})).all()
    if not rows or rows[0].role != "HOST":
        raise HostNotFound(str(host_id))
    return [
        {"startTime": format_utc(r.start_at), "endTime": format_utc(r.end_at), "available": r.available}
        for r in rows
        if r.start_at is not None
    ]


async def booking(engine: AsyncEngine, booking_id: UUID) -> dict | None:
    sql = text(
        "SELECT id, host_id, user_id, lower(period) AS start_at, upper(period) AS end_at, status"
        " FROM bookings WHERE id = :id"
    )
    async with engine.connect() as conn:
        row = (await conn.execute(sql, {"id": booking_id})).first()
    if row is None:
        return None
    return {
        "bookingId": str(row.id),
        "hostId": str(row.host_id),
        "userId": str(row.user_id),
        "startTime": format_utc(row.start_at),
        "endTime": format_utc(row.end_at),
        "status": row.status,
    }


async def command_reply(engine: AsyncEngine, command_id: UUID, actor_id: UUID) -> bytes | None:
    sql = text("SELECT reply FROM processed_commands WHERE command_id = :id AND actor_id = :actor")
    async with engine.connect() as conn:
        row = (await conn.execute(sql, {"id": command_id, "actor": actor_id})).first()
    return bytes(row.reply) if row else None


async def database_answers(engine: AsyncEngine) -> bool:
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
