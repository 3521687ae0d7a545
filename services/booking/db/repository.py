"""Reads and writes of the booking tables inside one unit of work (an open asyncpg
transaction). Plain SQL, prepared and cached by asyncpg; each handler loads what it
decides on in one round trip and builds no ORM objects.

New bookings are not inserted at once: they wait for the next statement that could
see them (a read of the same host, or any other write) or go in with the outcomes,
in the same statement. And the loads of several bookings can be made together, up
front, when the caller knows nothing else in the unit of work touches their hosts
(preload_booking_parties). A group of bookings for different hosts so costs a few
round trips in all instead of two per booking."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from services.booking.domain.bookings import Booking, Person
from services.booking.domain.ranges import TimeRange
from services.booking.domain.windows import Window

# Fenced reads. The host row lock serialises every write of one host, even when two
# consumers (a rebalance, a replay routed by a differently-cased id) handle the host at
# once, and it is taken by the unit of work's first statement, on its own
# (lock_hosts_and_read_inbox). At READ COMMITTED a statement reads the snapshot taken
# when it started: a read sharing a statement with a lock it had to wait for would not
# see what the lock's previous holder committed meanwhile. Every read below runs in a
# later statement, after the lock is held, so it sees the truth.
_LOCK_HOSTS_READ_INBOX = (
    "WITH locked AS MATERIALIZED (SELECT id FROM users WHERE id = ANY($2::uuid[]) ORDER BY id FOR NO KEY UPDATE),"
    " held AS (SELECT count(*) AS hosts FROM locked)"
    " SELECT p.command_id, p.fingerprint, p.reply_type, p.reply FROM held"
    " LEFT JOIN processed_commands p ON p.command_id = ANY($1::uuid[])"
)
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


class ConstraintViolated(Exception):
    """The database refused a write the application had decided to make: another
    writer changed the state first. Handling again re-reads it."""


@dataclass(frozen=True, slots=True)
class StoredOutcome:
    fingerprint: bytes
    reply_type: str
    reply: bytes


@dataclass(frozen=True, slots=True)
class NewOutcome:
    command_id: UUID
    command_type: str
    fingerprint: bytes
    actor_id: UUID | None
    reply_type: str
    reply: bytes
    reply_to: str | None
    correlation_id: str | None


def _windows(host_id: UUID, ids, starts, ends, slots) -> list[Window]:
    return [Window(i, host_id, TimeRange(s, e), d) for i, s, e, d in zip(ids, starts, ends, slots, strict=True)]


def _ranges(starts, ends) -> list[TimeRange]:
    return [TimeRange(s, e) for s, e in zip(starts, ends, strict=True)]


def _person(person_id: UUID, role: str | None) -> Person | None:
    return Person(person_id, role) if role else None


_INSERT_BOOKINGS = (
    "INSERT INTO bookings (id, host_id, user_id, period, status) SELECT b.id, b.host_id, b.user_id,"
    " tstzrange(b.s, b.e, '[)'), b.status"
    " FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamptz[], $5::timestamptz[], $6::booking_status[])"
    " AS b(id, host_id, user_id, s, e, status)"
)
_STORE_OUTCOMES = (
    "stored AS (INSERT INTO processed_commands (command_id, command_type, fingerprint, actor_id, reply_type, reply)"
    " SELECT * FROM unnest($7::uuid[], $8::text[], $9::bytea[], $10::uuid[], $11::text[], $12::bytea[])"
    " RETURNING command_id)"
    " INSERT INTO outbox (command_id, reply_to, correlation_id) SELECT * FROM unnest($7::uuid[], $13::text[], $14::text[])"
)


def _booking_columns(bookings: Sequence[Booking]) -> tuple[list, ...]:
    return (
        [b.id for b in bookings], [b.host_id for b in bookings], [b.user_id for b in bookings],
        [b.range.start for b in bookings], [b.range.end for b in bookings], [b.status for b in bookings],
    )


class Repository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self._unwritten: list[Booking] = []  # new bookings, in the order they were decided
        self._preloaded: dict[tuple[UUID, UUID, TimeRange], asyncpg.Record] = {}

    # ---- loading, one round trip per handler

    async def host_and_windows(self, host_id: UUID, around: TimeRange) -> tuple[Person | None, list[Window]]:
        """The host and its windows overlapping or touching `around`."""
        await self._write_unwritten(host_id)
        row = await self.conn.fetchrow(HOST_AND_WINDOWS, host_id, around.start, around.end)
        return _person(host_id, row[0]), _windows(host_id, *row[1:5])

    async def host_windows_taken(
        self, host_id: UUID, around: TimeRange
    ) -> tuple[Person | None, list[Window], list[TimeRange]]:
        await self._write_unwritten(host_id)
        row = await self.conn.fetchrow(HOST_WINDOWS_TAKEN, host_id, around.start, around.end, None)
        return _person(host_id, row[0]), _windows(host_id, *row[1:5]), _ranges(*row[5:7])

    async def preload_booking_parties(self, wanted: Sequence[tuple[UUID, UUID, TimeRange]]) -> None:
        """booking_parties of several bookings in one round trip; each is then answered
        once from memory. Only for hosts no other command of the unit of work touches:
        nothing else may change what was loaded."""
        if len(wanted) > 1:
            rows = await self.conn.fetch(
                MANY_BOOKING_PARTIES,
                [host for host, _, _ in wanted],
                [user for _, user, _ in wanted],
                [when.start for _, _, when in wanted],
                [when.end for _, _, when in wanted],
            )
            self._preloaded.update(zip(wanted, rows, strict=True))

    async def booking_parties(
        self, host_id: UUID, user_id: UUID, wanted: TimeRange
    ) -> tuple[Person | None, Person | None, list[Window], list[TimeRange]]:
        """Host, user, the windows around `wanted` and the confirmed bookings over it."""
        row = self._preloaded.pop((host_id, user_id, wanted), None)
        if row is None:
            await self._write_unwritten(host_id)
            row = await self.conn.fetchrow(BOOKING_PARTIES, host_id, wanted.start, wanted.end, None, user_id)
        return _person(host_id, row[0]), _person(user_id, row[1]), _windows(host_id, *row[2:6]), _ranges(*row[6:8])

    async def booking(self, host_id: UUID, booking_id: UUID) -> Booking | None:
        """The booking, if it is one of this host's."""
        await self._write_unwritten(host_id)
        row = await self.conn.fetchrow(BOOKING_ROW, host_id, booking_id)
        if row is None:
            return None
        return Booking(row[0], row[1], row[2], TimeRange(row[3], row[4]), row[5])

    async def slot_context(
        self, host_id: UUID, wanted: TimeRange, excluding: UUID
    ) -> tuple[list[Window], list[TimeRange]]:
        await self._write_unwritten(host_id)
        row = await self.conn.fetchrow(HOST_WINDOWS_TAKEN, host_id, wanted.start, wanted.end, excluding)
        return _windows(host_id, *row[1:5]), _ranges(*row[5:7])

    # ---- writes

    async def add_user(self, user_id: UUID, name: str, email: str, role: str) -> bool:
        """False when the email is taken (compared case-insensitively)."""
        await self._write_unwritten()
        inserted = await self.conn.fetchval(
            "INSERT INTO users (id, name, email, role) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT ((lower(email))) DO NOTHING RETURNING true",
            user_id, name, email, role,
        )
        return bool(inserted)

    async def save_window(self, window: Window, *, is_new: bool) -> None:
        await self._write_unwritten()
        if is_new:
            await self._write(
                "INSERT INTO availability_windows (id, host_id, period, slot_minutes)"
                " VALUES ($1, $2, tstzrange($3, $4, '[)'), $5)",
                window.id, window.host_id, window.range.start, window.range.end, window.slot_minutes,
            )
        else:
            await self._write(
                "UPDATE availability_windows SET period = tstzrange($2, $3, '[)') WHERE id = $1",
                window.id, window.range.start, window.range.end,
            )

    async def delete_windows(self, ids: Iterable[UUID]) -> None:
        await self._write_unwritten()
        ids = list(ids)
        if ids:
            await self.conn.execute("DELETE FROM availability_windows WHERE id = ANY($1::uuid[])", ids)

    async def add_booking(self, booking: Booking) -> None:
        """Written later (see the module's note); a refusal by the exclusion
        constraint then fails the whole unit of work with ConstraintViolated."""
        self._unwritten.append(booking)

    async def _write_unwritten(self, host_id: UUID | None = None) -> None:
        """Before a statement that could see them: one that reads `host_id`'s rows,
        or (None) any write."""
        if self._unwritten and (host_id is None or any(b.host_id == host_id for b in self._unwritten)):
            bookings, self._unwritten = self._unwritten, []
            await self._write(_INSERT_BOOKINGS, *_booking_columns(bookings))

    async def update_booking(self, booking: Booking) -> None:
        await self._write_unwritten()
        await self._write(
            "UPDATE bookings SET period = tstzrange($2, $3, '[)'), status = $4, updated_at = now() WHERE id = $1",
            booking.id, booking.range.start, booking.range.end, booking.status,
        )

    async def _write(self, sql: str, *args: object) -> None:
        try:
            await self.conn.execute(sql, *args)
        except (asyncpg.ExclusionViolationError, asyncpg.UniqueViolationError) as error:
            raise ConstraintViolated(str(error)) from error

    # ---- inbox and outbox

    async def lock_hosts_and_read_inbox(
        self, command_ids: Sequence[UUID], host_ids: Iterable[UUID]
    ) -> dict[UUID, StoredOutcome]:
        """The unit of work's first statement: lock the hosts its commands name (in id
        order, so two consumers locking the same hosts cannot deadlock) and read the
        stored outcomes of its commands. That read may miss an outcome committed while
        the lock was awaited; storing the command again then violates the inbox's key
        and the command is handled again, from the inbox."""
        rows = await self.conn.fetch(_LOCK_HOSTS_READ_INBOX, list(command_ids), sorted(set(host_ids)))
        return {r[0]: StoredOutcome(bytes(r[1]), r[2], bytes(r[3])) for r in rows if r[0] is not None}

    async def store_outcomes(self, outcomes: Sequence[NewOutcome]) -> None:
        """The outcomes, their outbox rows and the bookings not yet written, in one
        statement. A unique violation means another consumer stored one of these
        commands first."""
        if not outcomes and not self._unwritten:
            return
        bookings, self._unwritten = self._unwritten, []
        await self._write(
            f"WITH booked AS ({_INSERT_BOOKINGS}), {_STORE_OUTCOMES}",
            *_booking_columns(bookings),
            [o.command_id for o in outcomes],
            [o.command_type for o in outcomes],
            [o.fingerprint for o in outcomes],
            [o.actor_id for o in outcomes],
            [o.reply_type for o in outcomes],
            [o.reply for o in outcomes],
            [o.reply_to for o in outcomes],
            [o.correlation_id for o in outcomes],
        )
