"""The outbox's statements: a row per committed outcome whose reply the broker has
not yet confirmed. The worker's cleaner deletes the rows of confirmed replies in
bulk; the relay claims the rows a crash left behind, re-sends and deletes them."""

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg


@dataclass(frozen=True, slots=True)
class PendingReply:
    command_id: UUID
    reply_type: str
    reply: bytes
    reply_to: str | None
    correlation_id: str | None


async def delete_sent(db: asyncpg.Pool | asyncpg.Connection, command_ids: Sequence[UUID]) -> None:
    """Forget the rows of replies the broker has confirmed (on a pool, or on the
    connection whose transaction claimed them)."""
    await db.execute("DELETE FROM outbox WHERE command_id = ANY($1::uuid[])", list(command_ids))


async def claim_stale(conn: asyncpg.Connection, older_than_seconds: float, limit: int) -> list[PendingReply]:
    """Lock replies left unpublished for longer than the live path needs (a crash
    between commit and publish). SKIP LOCKED lets several relays share the work."""
    rows = await conn.fetch(
        "SELECT o.command_id, p.reply_type, p.reply, o.reply_to, o.correlation_id"
        " FROM outbox o JOIN processed_commands p USING (command_id)"
        " WHERE o.created_at < now() - make_interval(secs => $1)"
        " ORDER BY o.id LIMIT $2 FOR UPDATE OF o SKIP LOCKED",
        older_than_seconds,
        limit,
    )
    return [PendingReply(r[0], r[1], bytes(r[2]), r[3], r[4]) for r in rows]


async def backlog(pool: asyncpg.Pool) -> int:
    return await pool.fetchval("SELECT count(*) FROM outbox")
