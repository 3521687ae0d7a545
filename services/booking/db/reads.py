"""The gateway's reads, straight from PostgreSQL on its asyncpg pool (the worker's
driver): plain SQL, one round trip each, domain values back. Nothing here decides:
which slots are free is the domain's (services/booking/domain/slots.py)."""

from datetime import datetime
from uuid import UUID

import asyncpg

from services.booking.domain.bookings import Booking, Person
from services.booking.domain.ranges import TimeRange
from services.booking.domain.windows import Window

# The host, the windows that overlap [$2, $3) and the confirmed bookings that overlap
# the slots starting in it: those end before $3 + 1 day, a slot being at most 1,440
# minutes long (the slot_minutes_range check).
SLOT_INPUTS = (
    "SELECT (SELECT role FROM users WHERE id = $1), w.*, t.* FROM"
    " (SELECT coalesce(array_agg(id ORDER BY lower(period)), '{}'),"
    " coalesce(array_agg(lower(period) ORDER BY lower(period)), '{}'),"
    " coalesce(array_agg(upper(period) ORDER BY lower(period)), '{}'),"
    " coalesce(array_agg(slot_minutes ORDER BY lower(period)), '{}')"
    " FROM availability_windows WHERE host_id = $1 AND period && tstzrange($2, $3, '[)')) w,"
    " (SELECT coalesce(array_agg(lower(period) ORDER BY lower(period)), '{}'),"
    " coalesce(array_agg(upper(period) ORDER BY lower(period)), '{}')"
    " FROM bookings WHERE host_id = $1 AND status = 'CONFIRMED'"
    " AND period && tstzrange($2, $3::timestamptz + interval '1 day', '[)')) t"
)
BOOKING = "SELECT id, host_id, user_id, lower(period), upper(period), status FROM bookings WHERE id = $1"
COMMAND_REPLY = "SELECT reply FROM processed_commands WHERE command_id = $1 AND actor_id = $2"


class Reads:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def slot_inputs(
        self, host_id: UUID, start: datetime, end: datetime
    ) -> tuple[Person | None, list[Window], list[TimeRange]]:
        """The host (None if no such user), its windows overlapping [start, end) and the
        confirmed bookings that may overlap a slot starting in it."""
        role, ids, starts, ends, minutes, taken_starts, taken_ends = await self.pool.fetchrow(
            SLOT_INPUTS, host_id, start, end
        )
        windows = [
            Window(window_id, host_id, TimeRange(s, e), slot_minutes)
            for window_id, s, e, slot_minutes in zip(ids, starts, ends, minutes, strict=True)
        ]
        confirmed = [TimeRange(s, e) for s, e in zip(taken_starts, taken_ends, strict=True)]
        return (Person(host_id, role) if role is not None else None), windows, confirmed

    async def booking(self, booking_id: UUID) -> Booking | None:
        row = await self.pool.fetchrow(BOOKING, booking_id)
        if row is None:
            return None
        booking_id, host_id, user_id, start, end, status = row
        return Booking(booking_id, host_id, user_id, TimeRange(start, end), status)

    async def command_reply(self, command_id: UUID, actor_id: UUID) -> bytes | None:
        """The stored reply of a command, for the actor who sent it only."""
        reply = await self.pool.fetchval(COMMAND_REPLY, command_id, actor_id)
        return bytes(reply) if reply is not None else None

    async def database_answers(self) -> bool:
        try:
            await self.pool.fetchval("SELECT 1")
            return True
        except Exception:
            return False
