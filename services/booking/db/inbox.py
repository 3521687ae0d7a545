"""The first and the last statement of a unit of work: the lock of its hosts with the
read of the stored outcomes (the inbox), and the write of the new outcomes with their
outbox rows and the bookings still held back."""

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from services.booking.db.booking_store import INSERT_BOOKINGS, booking_columns, refused_as_violation
from services.booking.domain.bookings import Booking

# Fenced reads. The host row lock serialises every write of one host, even when two
# consumers (a rebalance, a replay routed by a differently-cased id) handle the host at
# once, and it is taken by the unit of work's first statement, on its own
# (lock_hosts_and_read_inbox). At READ COMMITTED a statement reads the snapshot taken
# when it started: a read sharing a statement with a lock it had to wait for would not
# see what the lock's previous holder committed meanwhile. Every read of the store runs
# in a later statement, after the lock is held, so it sees the truth.
_LOCK_HOSTS_READ_INBOX = (
    "WITH locked AS MATERIALIZED (SELECT id FROM users WHERE id = ANY($2::uuid[]) ORDER BY id FOR NO KEY UPDATE),"
    " held AS (SELECT count(*) AS hosts FROM locked)"
    " SELECT p.command_id, p.fingerprint, p.reply_type, p.reply FROM held"
    " LEFT JOIN processed_commands p ON p.command_id = ANY($1::uuid[])"
)
_STORE_OUTCOMES = (
    f"WITH booked AS ({INSERT_BOOKINGS}),"
    " stored AS (INSERT INTO processed_commands (command_id, command_type, fingerprint, actor_id, reply_type, reply)"
    " SELECT * FROM unnest($7::uuid[], $8::text[], $9::bytea[], $10::uuid[], $11::text[], $12::bytea[])"
    " RETURNING command_id)"
    " INSERT INTO outbox (command_id, reply_to, correlation_id) SELECT * FROM unnest($7::uuid[], $13::text[], $14::text[])"
)


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


async def lock_hosts_and_read_inbox(
    conn: asyncpg.Connection, command_ids: Sequence[UUID], host_ids: Sequence[UUID]
) -> dict[UUID, StoredOutcome]:
    """Lock the hosts (in id order, so two consumers locking the same hosts cannot
    deadlock) and read the stored outcomes of the commands. That read may miss an
    outcome committed while the lock was awaited; storing the command again then
    violates the inbox's key and the command is handled again, from the inbox."""
    rows = await conn.fetch(_LOCK_HOSTS_READ_INBOX, list(command_ids), sorted(set(host_ids)))
    return {r[0]: StoredOutcome(bytes(r[1]), r[2], bytes(r[3])) for r in rows if r[0] is not None}


async def store_outcomes(conn: asyncpg.Connection, outcomes: Sequence[NewOutcome], bookings: Sequence[Booking]) -> None:
    """The outcomes, their outbox rows and `bookings`, in one statement (none when there
    is nothing to write). A unique violation means another consumer stored one of these
    commands first."""
    if not outcomes and not bookings:
        return
    await refused_as_violation(
        conn.execute,
        _STORE_OUTCOMES,
        *booking_columns(bookings),
        [o.command_id for o in outcomes],
        [o.command_type for o in outcomes],
        [o.fingerprint for o in outcomes],
        [o.actor_id for o in outcomes],
        [o.reply_type for o in outcomes],
        [o.reply for o in outcomes],
        [o.reply_to for o in outcomes],
        [o.correlation_id for o in outcomes],
    )
