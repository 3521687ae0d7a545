"""BookingStore on PostgreSQL: the reads and writes of users, windows and bookings
inside a unit of work's open asyncpg transaction. Plain SQL, prepared and cached by
asyncpg; each load is one round trip and builds no ORM objects.

Every statement goes through `_send`, which names the hosts the statement reads (or
none: a write) and first writes the held new bookings the statement could see
(WriteBehind states when). The loads of several bookings can also be made together,
up front (preload_booking_parties), for bookings the unit of work picked."""

from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from typing import Any
from uuid import UUID

import asyncpg

from services.booking.db.write_behind import WriteBehind
from services.booking.domain.bookings import Booking, Person
from services.booking.domain.ranges import TimeRange
from services.booking.domain.windows import Window
from services.booking.store import ConstraintViolated

_HOST = "host AS (SELECT id, role FROM users WHERE id = $1)"
# Windows that overlap or touch [start, end).
_WINDOWS_NEAR_OF = (
    "SELECT coalesce(array_agg(id ORDER BY lower(period)), '{{}}'), coalesce(array_agg(lower(period) ORDER BY"
    " lower(period)), '{{}}'), coalesce(array_agg(upper(period) ORDER BY lower(period)), '{{}}'),"
    " coalesce(array_agg(slot_minutes ORDER BY lower(period)), '{{}}') FROM availability_windows"
    " WHERE host_id = {host} AND (period && tstzrange({start}, {end}, '[)') OR period -|- tstzrange({start}, {end}, '[)'))"
)
# Confirmed bookings overlapping [start, end), but the one named `excluding` (if any).
_TAKEN_OF = (
    "SELECT coalesce(array_agg(lower(period)), '{{}}'), coalesce(array_agg(upper(period)), '{{}}') FROM bookings"
    " WHERE host_id = {host} AND status = 'CONFIRMED' AND period && tstzrange({start}, {end}, '[)')"
    " AND ({excluding}::uuid IS NULL OR id <> {excluding})"
)
_WINDOWS_NEAR = _WINDOWS_NEAR_OF.format(host="$1", start="$2", end="$3")
_TAKEN = _TAKEN_OF.format(host="$1", start="$2", end="$3", excluding="$4")

HOST_AND_WINDOWS = f"WITH {_HOST} SELECT (SELECT role FROM host), w.* FROM ({_WINDOWS_NEAR}) w"
HOST_WINDOWS_TAKEN = (
    f"WITH {_HOST} SELECT (SELECT role FROM host), w.*, t.* FROM ({_WINDOWS_NEAR}) w, ({_TAKEN}) t"
)
BOOKING_PARTIES = (
    f"WITH {_HOST} SELECT (SELECT role FROM host), (SELECT role FROM users WHERE id = $5), w.*, t.*"
    f" FROM ({_WINDOWS_NEAR}) w, ({_TAKEN}) t"
)
# BOOKING_PARTIES of several bookings at once, in the order asked.
MANY_BOOKING_PARTIES = (
    "WITH asked AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::timestamptz[])"
    " WITH ORDINALITY AS a(host_id, user_id, s, e, n))"
    " SELECT (SELECT role FROM users WHERE id = asked.host_id), (SELECT role FROM users WHERE id = asked.user_id),"
    " w.*, t.* FROM asked"
    f" CROSS JOIN LATERAL ({_WINDOWS_NEAR_OF.format(host='asked.host_id', start='asked.s', end='asked.e')}) w"
    f" CROSS JOIN LATERAL ({_TAKEN_OF.format(host='asked.host_id', start='asked.s', end='asked.e', excluding='NULL')}) t"
    " ORDER BY asked.n"
)
BOOKING_ROW = (
    "SELECT b.id, b.host_id, b.user_id, lower(b.period), upper(b.period), b.status"
    " FROM bookings b WHERE b.id = $2 AND b.host_id = $1"
)
ADD_USER = (
    "INSERT INTO users (id, name, email, role) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT ((lower(email))) DO NOTHING RETURNING true"
)
ADD_WINDOW = (
    "INSERT INTO availability_windows (id, host_id, period, slot_minutes) VALUES ($1, $2, tstzrange($3, $4, '[)'), $5)"
)
RESIZE_WINDOW = "UPDATE availability_windows SET period = tstzrange($2, $3, '[)') WHERE id = $1"
DELETE_WINDOWS = "DELETE FROM availability_windows WHERE id = ANY($1::uuid[])"
UPDATE_BOOKING = (
    "UPDATE bookings SET period = tstzrange($2, $3, '[)'), status = $4, updated_at = now() WHERE id = $1"
)
# $1..$6, the columns of booking_columns; the unit of work's last statement embeds it.
INSERT_BOOKINGS = (
    "INSERT INTO bookings (id, host_id, user_id, period, status) SELECT b.id, b.host_id, b.user_id,"
    " tstzrange(b.s, b.e, '[)'), b.status"
    " FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamptz[], $5::timestamptz[], $6::booking_status[])"
    " AS b(id, host_id, user_id, s, e, status)"
)


def booking_columns(bookings: Sequence[Booking]) -> tuple[list, ...]:
    return (
        [b.id for b in bookings], [b.host_id for b in bookings], [b.user_id for b in bookings],
        [b.range.start for b in bookings], [b.range.end for b in bookings], [b.status for b in bookings],
    )


async def refused_as_violation(run: Callable[..., Awaitable[Any]], sql: str, *args: object) -> Any:
    """`run(sql, *args)`, a refusal by an exclusion or unique constraint raised as ConstraintViolated."""
    try:
        return await run(sql, *args)
    except (asyncpg.ExclusionViolationError, asyncpg.UniqueViolationError) as error:
        raise ConstraintViolated(str(error)) from error


def _windows(host_id: UUID, ids, starts, ends, slots) -> list[Window]:
    return [Window(i, host_id, TimeRange(s, e), d) for i, s, e, d in zip(ids, starts, ends, slots, strict=True)]


def _ranges(starts, ends) -> list[TimeRange]:
    return [TimeRange(s, e) for s, e in zip(starts, ends, strict=True)]


def _person(person_id: UUID, role: str | None) -> Person | None:
    return Person(person_id, role) if role else None


class PostgresBookingStore:
    """BookingStore on one open transaction; `held` is its unit of work's write-behind buffer."""

    def __init__(self, conn: asyncpg.Connection, held: WriteBehind) -> None:
        self._conn = conn
        self._held = held
        self._preloaded: dict[tuple[UUID, UUID, TimeRange], asyncpg.Record] = {}

    async def _send(self, run: Callable[..., Awaitable[Any]], sql: str, *args: object, reads: Collection[UUID] | None):
        """Every statement of the store: `reads` names the hosts whose rows it reads, or
        is None for a write. The held bookings it could see are written first."""
        if due := self._held.due(reads):
            await refused_as_violation(self._conn.execute, INSERT_BOOKINGS, *booking_columns(due))
        return await refused_as_violation(run, sql, *args)

    # ---- loads

    async def host_and_windows_near(self, host_id: UUID, around: TimeRange) -> tuple[Person | None, list[Window]]:
        row = await self._send(self._conn.fetchrow, HOST_AND_WINDOWS, host_id, around.start, around.end, reads=(host_id,))
        return _person(host_id, row[0]), _windows(host_id, *row[1:5])

    async def host_windows_and_confirmed(
        self, host_id: UUID, around: TimeRange
    ) -> tuple[Person | None, list[Window], list[TimeRange]]:
        row = await self._send(
            self._conn.fetchrow, HOST_WINDOWS_TAKEN, host_id, around.start, around.end, None, reads=(host_id,)
        )
        return _person(host_id, row[0]), _windows(host_id, *row[1:5]), _ranges(*row[5:7])

    async def preload_booking_parties(self, wanted: Sequence[tuple[UUID, UUID, TimeRange]]) -> None:
        """booking_parties of each (host, user, range) of `wanted`, in one round trip; each
        is then answered once from memory. The caller guarantees that nothing it does
        before asking can change what was loaded (UnitOfWork.preload)."""
        if not wanted:
            return
        hosts = {host for host, _, _ in wanted}
        rows = await self._send(
            self._conn.fetch,
            MANY_BOOKING_PARTIES,
            [host for host, _, _ in wanted],
            [user for _, user, _ in wanted],
            [when.start for _, _, when in wanted],
            [when.end for _, _, when in wanted],
            reads=hosts,
        )
        self._preloaded.update(zip(wanted, rows, strict=True))

    async def booking_parties(
        self, host_id: UUID, user_id: UUID, wanted: TimeRange
    ) -> tuple[Person | None, Person | None, list[Window], list[TimeRange]]:
        row = self._preloaded.pop((host_id, user_id, wanted), None)
        if row is None:
            row = await self._send(
                self._conn.fetchrow, BOOKING_PARTIES, host_id, wanted.start, wanted.end, None, user_id, reads=(host_id,)
            )
        return _person(host_id, row[0]), _person(user_id, row[1]), _windows(host_id, *row[2:6]), _ranges(*row[6:8])

    async def host_booking(self, host_id: UUID, booking_id: UUID) -> Booking | None:
        row = await self._send(self._conn.fetchrow, BOOKING_ROW, host_id, booking_id, reads=(host_id,))
        if row is None:
            return None
        return Booking(row[0], row[1], row[2], TimeRange(row[3], row[4]), row[5])

    async def windows_and_confirmed(
        self, host_id: UUID, around: TimeRange, *, excluding: UUID
    ) -> tuple[list[Window], list[TimeRange]]:
        row = await self._send(
            self._conn.fetchrow, HOST_WINDOWS_TAKEN, host_id, around.start, around.end, excluding, reads=(host_id,)
        )
        return _windows(host_id, *row[1:5]), _ranges(*row[5:7])

    # ---- writes

    async def add_user(self, user_id: UUID, name: str, email: str, role: str) -> bool:
        return bool(await self._send(self._conn.fetchval, ADD_USER, user_id, name, email, role, reads=None))

    async def add_window(self, window: Window) -> None:
        await self._send(
            self._conn.execute, ADD_WINDOW, window.id, window.host_id, window.range.start, window.range.end,
            window.slot_minutes, reads=None,
        )

    async def resize_window(self, window: Window) -> None:
        await self._send(self._conn.execute, RESIZE_WINDOW, window.id, window.range.start, window.range.end, reads=None)

    async def delete_windows(self, ids: Iterable[UUID]) -> None:
        if ids := list(ids):
            await self._send(self._conn.execute, DELETE_WINDOWS, ids, reads=None)

    async def add_booking(self, booking: Booking) -> None:
        self._held.hold(booking)

    async def update_booking(self, booking: Booking) -> None:
        await self._send(
            self._conn.execute, UPDATE_BOOKING, booking.id, booking.range.start, booking.range.end, booking.status,
            reads=None,
        )
