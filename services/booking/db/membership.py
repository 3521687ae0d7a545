"""The membership's statements: worker processes heartbeat into `worker_members`
(docs/partitioning.md); a member whose heartbeat is older than the TTL is gone."""

import asyncpg


async def heartbeat(pool: asyncpg.Pool, member_id: str, ttl_seconds: float) -> list[str]:
    """Record that `member_id` is alive; the live members, oldest first. Rows of
    members gone for ten TTLs are removed."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO worker_members (member_id) VALUES ($1)"
            " ON CONFLICT (member_id) DO UPDATE SET heartbeat_at = now()",
            member_id,
        )
        rows = await conn.fetch(
            "SELECT member_id FROM worker_members WHERE heartbeat_at > now() - make_interval(secs => $1)"
            " ORDER BY started_at, member_id",
            ttl_seconds,
        )
        await conn.execute(
            "DELETE FROM worker_members WHERE heartbeat_at < now() - make_interval(secs => $1 * 10)", ttl_seconds
        )
    return [r[0] for r in rows]


async def leave(pool: asyncpg.Pool, member_id: str) -> None:
    await pool.execute("DELETE FROM worker_members WHERE member_id = $1", member_id)
