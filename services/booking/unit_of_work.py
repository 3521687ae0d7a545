"""The unit of work of a group of commands: one transaction on one connection, opened
by the fenced read of the inbox, closed by one statement writing the outcomes, their
outbox rows and the bookings still held back, then COMMIT. Rolls back unless committed.

    async with UnitOfWork(pool, command_ids, host_ids) as uow:
        uow.stored                  # the outcomes stored before, by command id
        await uow.preload(commands)
        ...handlers, on uow.store...
        await uow.commit(new_outcomes)
"""

from collections import Counter
from collections.abc import Iterable, Sequence
from types import TracebackType
from uuid import UUID

import asyncpg
from pydantic import ValidationError

from contracts.commands import Command, CreateBooking
from services.booking.db.booking_store import PostgresBookingStore
from services.booking.db.inbox import NewOutcome, StoredOutcome, lock_hosts_and_read_inbox, store_outcomes
from services.booking.db.write_behind import WriteBehind
from services.booking.domain.ranges import TimeRange
from services.booking.store import BookingStore


def loadable_together(commands: Sequence[Command | ValidationError | None]) -> list[tuple[UUID, UUID, TimeRange]]:
    """The rule of the batched preload, in full: the loads of a CreateBooking may be made
    up front, together with the others', when no other command of the group (of those
    to be handled: `commands` holds None or a validation error for the rest) names its
    host, so nothing handled before it changes that host. A user it names cannot be new
    in the group: a user's id only comes with the reply to its registration, published
    after the commit. Worth a statement of its own only for two bookings or more (one
    alone costs the same round trip either way)."""
    hosts = Counter(getattr(command, "host_id", None) for command in commands)
    wanted = [
        (command.host_id, command.user_id, TimeRange(command.start_time, command.end_time))
        for command in commands
        if isinstance(command, CreateBooking) and hosts[command.host_id] == 1
    ]
    return wanted if len(wanted) > 1 else []


class UnitOfWork:
    """One group's transaction, its inbox, its write-behind buffer and its store."""

    def __init__(self, pool: asyncpg.Pool, command_ids: Sequence[UUID], host_ids: Iterable[UUID]) -> None:
        self._pool = pool
        self._command_ids = list(command_ids)
        self._host_ids = sorted(set(host_ids))
        self._conn: asyncpg.Connection | None = None
        self._transaction: asyncpg.transaction.Transaction | None = None
        self._open = False  # begun, and neither committed nor rolled back
        self._held = WriteBehind()
        self._store: PostgresBookingStore | None = None
        self._store_handed_out = False
        self.stored: dict[UUID, StoredOutcome] = {}

    async def __aenter__(self) -> "UnitOfWork":
        """BEGIN, then, in a statement of its own, the lock of the hosts the commands
        name and the read of their stored outcomes: every later read is fenced by it
        (services/booking/db/inbox.py)."""
        self._conn = await self._pool.acquire()
        try:
            self._transaction = self._conn.transaction()
            await self._transaction.start()
            self._open = True
            self.stored = await lock_hosts_and_read_inbox(self._conn, self._command_ids, self._host_ids)
        except BaseException:
            await self._end()
            raise
        self._store = PostgresBookingStore(self._conn, self._held)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self._end()

    @property
    def store(self) -> BookingStore:
        """What the handlers read and write, inside this transaction."""
        self._store_handed_out = True
        return self._store

    async def preload(self, commands: Sequence[Command | ValidationError | None]) -> None:
        """The batched preload step: the loads of the bookings `loadable_together` picks,
        in one round trip. Only before the first handler runs."""
        if self._store_handed_out:
            raise RuntimeError("the preload comes before any handler")
        await self._store.preload_booking_parties(loadable_together(commands))

    async def commit(self, outcomes: Sequence[NewOutcome]) -> None:
        """The outcomes, their outbox rows and the bookings still held, in one statement;
        then COMMIT. A refusal (ConstraintViolated) leaves nothing committed."""
        await store_outcomes(self._conn, outcomes, self._held.rest())
        self._open = False  # whatever COMMIT answers, there is nothing left to roll back
        await self._transaction.commit()

    async def _end(self) -> None:
        try:
            if self._open:
                self._open = False
                await self._transaction.rollback()
        finally:
            await self._pool.release(self._conn)
