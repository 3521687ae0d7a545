"""The outbox: a row per committed outcome whose reply the broker has not yet confirmed."""

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


@dataclass(frozen=True, slots=True)
class PendingReply:
    command_id: UUID
    reply_type: str
    reply: bytes
    reply_to: str | None
    correlation_id: str | None


async def clear_outbox(engine: AsyncEngine, command_ids: Sequence[UUID]) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM outbox WHERE command_id = ANY(:ids)"), {"ids": list(command_ids)})


async def claim_stale(conn: AsyncConnection, older_than_seconds: float, limit: int) -> list[PendingReply]:
    """Lock replies left unpublished for longer than the live path needs (a crash
    between commit and publish). SKIP LOCKED lets several relays share the work."""
    rows = await conn.execute(
        text(
            "SELECT o.command_id, p.reply_type, p.reply, o.reply_to, o.correlation_id"
            " FROM outbox o JOIN processed_commands p USING (command_id)"
            " WHERE o.created_at < now() - make_interval(secs => :age)"
            " ORDER BY o.id LIMIT :limit FOR UPDATE OF o SKIP LOCKED"
        ),
        {"age": older_than_seconds, "limit": limit},
    )
    return [PendingReply(r.command_id, r.reply_type, bytes(r.reply), r.reply_to, r.correlation_id) for r in rows]


async def delete_claimed(conn: AsyncConnection, command_ids: Sequence[UUID]) -> None:
    await conn.execute(text("DELETE FROM outbox WHERE command_id = ANY(:ids)"), {"ids": list(command_ids)})


async def backlog(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT count(*) FROM outbox"))).scalar_one()
