"""Reads and writes of the booking tables inside one unit of work (an open transaction).
Plain SQL over SQLAlchemy Core: the hot path builds no ORM objects."""

from collections.abc import Iterable
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.booking.domain.bookings import Booking, Person
from services.booking.domain.ranges import TimeRange
from services.booking.domain.windows import Window

EXCLUSION_VIOLATION = "23P01"
UNIQUE_VIOLATION = "23505"


class ConstraintViolated(Exception):
    """The database refused a write that the application had decided to make."""


def sqlstate(error: IntegrityError) -> str | None:
    return getattr(error.orig, "sqlstate", None) or getattr(
        getattr(error.orig, "__cause__", None), "sqlstate", None
    )


class Repository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    # ---- people

    async def person(self, person_id: UUID, *, lock: bool = False) -> Person | None:
        """`lock` takes the row lock that serialises every write of one host, even
        when two consumers (a rebalance, a redelivery) handle the host at once."""
        sql = "SELECT id, role FROM users WHERE id = :id" + (" FOR NO KEY UPDATE" if lock else "")
        row = (await self.conn.execute(text(sql), {"id": person_id})).first()
        return Person(row.id, row.role) if row else None

    async def email_taken(self, email: str) -> bool:
        sql = text("SELECT 1 FROM users WHERE lower(email) = lower(:email)")
        return (await self.conn.execute(sql, {"email": email})).first() is not None

    async def add_user(self, user_id: UUID, name: str, email: str, role: str) -> None:
        await self._guarded(
            "INSERT INTO users (id, name, email, role) VALUES (:id, :name, :email, :role)",
            {"id": user_id, "name": name, "email": email, "role": role},
            UNIQUE_VIOLATION,
        )

    # ---- availability

    async def windows_near(self, host_id: UUID, around: TimeRange) -> list[Window]:
        """The host's windows that overlap or touch `around`."""
        sql = text(
            "SELECT id, lower(period) AS start, upper(period) AS end, slot_minutes"
            " FROM availability_windows"
            " WHERE host_id = :host AND (period && tstzrange(:start, :end, '[)')"
            " OR period -|- tstzrange(:start, :end, '[)'))"
            " ORDER BY lower(period)"
        )
        rows = await self.conn.execute(sql, {"host": host_id, "start": around.start, "end": around.end})
        return [Window(r.id, host_id, TimeRange(r.start, r.end), r.slot_minutes) for r in rows]

    async def save_window(self, window: Window, *, is_new: bool) -> None:
        params = {
            "id": window.id,
            "host": window.host_id,
            "start": window.range.start,
            "end": window.range.end,
            "slot": window.slot_minutes,
        }
        if is_new:
            sql = (
                "INSERT INTO availability_windows (id, host_id, period, slot_minutes)"
                " VALUES (:id, :host, tstzrange(:start, :end, '[)'), :slot)"
            )
        else:
            sql = "UPDATE availability_windows SET period = tstzrange(:start, :end, '[)') WHERE id = :id"
        await self._guarded(sql, params, EXCLUSION_VIOLATION)

    async def delete_windows(self, ids: Iterable[UUID]) -> None:
        ids = list(ids)
        if ids:
            await self.conn.execute(
                text("DELETE FROM availability_windows WHERE id = ANY(:ids)"), {"ids": ids}
            )

    # ---- bookings

    async def booking(self, booking_id: UUID) -> Booking | None:
        sql = text(
            "SELECT id, host_id, user_id, lower(period) AS start, upper(period) AS end, status"
            " FROM bookings WHERE id = :id FOR UPDATE"
        )
        row = (await self.conn.execute(sql, {"id": booking_id})).first()
        if row is None:
            return None
        return Booking(row.id, row.host_id, row.user_id, TimeRange(row.start, row.end), row.status)

    async def confirmed_overlapping(
        self, host_id: UUID, around: TimeRange, *, excluding: UUID | None = None
    ) -> list[TimeRange]:
        sql = text(
            "SELECT lower(period) AS start, upper(period) AS end FROM bookings"
            " WHERE host_id = :host AND status = 'CONFIRMED'"
            " AND period && tstzrange(:start, :end, '[)')"
            " AND (CAST(:excluding AS uuid) IS NULL OR id <> :excluding)"
        )
        rows = await self.conn.execute(
            sql, {"host": host_id, "start": around.start, "end": around.end, "excluding": excluding}
        )
        return [TimeRange(r.start, r.end) for r in rows]

    async def add_booking(self, booking: Booking) -> None:
        await self._guarded(
            "INSERT INTO bookings (id, host_id, user_id, period, status)"
            " VALUES (:id, :host, :user, tstzrange(:start, :end, '[)'), :status)",
            {
                "id": booking.id,
                "host": booking.host_id,
                "user": booking.user_id,
                "start": booking.range.start,
                "end": booking.range.end,
                "status": booking.status,
            },
            EXCLUSION_VIOLATION,
        )

    async def update_booking(self, booking: Booking) -> None:
        await self._guarded(
            "UPDATE bookings SET period = tstzrange(:start, :end, '[)'), status = :status,"
            " updated_at = now() WHERE id = :id",
            {"id": booking.id, "start": booking.range.start, "end": booking.range.end, "status": booking.status},
            EXCLUSION_VIOLATION,
        )

    # ---- inbox and outbox

    async def stored_outcome(self, command_id: UUID) -> tuple[bytes, str, bytes] | None:
        """(fingerprint, reply type, reply bytes) of a command already handled."""
        sql = text("SELECT fingerprint, reply_type, reply FROM processed_commands WHERE command_id = :id")
        row = (await self.conn.execute(sql, {"id": command_id})).first()
        return (bytes(row.fingerprint), row.reply_type, bytes(row.reply)) if row else None

    async def store_outcome(
        self,
        *,
        command_id: UUID,
        command_type: str,
        fingerprint: bytes,
        actor_id: UUID | None,
        reply_type: str,
        reply: bytes,
        reply_to: str | None,
        correlation_id: str | None,
    ) -> None:
        """The outcome and its outbox row, in the caller's transaction. A unique
        violation here means another consumer stored this command first."""
        await self.conn.execute(
            text(
                "WITH stored AS ("
                " INSERT INTO processed_commands (command_id, command_type, fingerprint, actor_id, reply_type, reply)"
                " VALUES (:id, :type, :fingerprint, :actor, :reply_type, :reply) RETURNING command_id)"
                " INSERT INTO outbox (command_id, reply_to, correlation_id)"
                " SELECT command_id, :reply_to, :correlation_id FROM stored"
            ),
            {
                "id": command_id,
                "type": command_type,
                "fingerprint": fingerprint,
                "actor": actor_id,
                "reply_type": reply_type,
                "reply": reply,
                "reply_to": reply_to,
                "correlation_id": correlation_id,
            },
        )

    async def _guarded(self, sql: str, params: dict, refused_state: str) -> None:
        """Run a write under a savepoint; the constraint named by `refused_state`
        becomes ConstraintViolated, leaving the transaction usable."""
        savepoint = await self.conn.begin_nested()
        try:
            await self.conn.execute(text(sql), params)
        except IntegrityError as error:
            await savepoint.rollback()
            if sqlstate(error) == refused_state:
                raise ConstraintViolated(str(error.orig)) from error
            raise
        else:
            await savepoint.commit()

