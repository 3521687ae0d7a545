"""Which worker processes are alive, from heartbeats in PostgreSQL, and which
partitions are this process's own share of them."""

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True, slots=True)
class Membership:
    me: str
    members: tuple[str, ...]  # live members, oldest first

    def home_partitions(self, partitions: int) -> frozenset[int]:
        """Partition p belongs to the member of rank p mod W: every process computes
        the same split from the same member list."""
        if self.me not in self.members:
            return frozenset(range(partitions))
        rank, size = self.members.index(self.me), len(self.members)
        return frozenset(p for p in range(partitions) if p % size == rank)

    def owner_of(self, partition: int) -> str:
        return self.members[partition % len(self.members)] if self.members else self.me



async def heartbeat(pool: asyncpg.Pool, me: str, ttl_seconds: float) -> Membership:
    """Record that `me` is alive and read who else is."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO worker_members (member_id) VALUES ($1)"
            " ON CONFLICT (member_id) DO UPDATE SET heartbeat_at = now()",
            me,
        )
        rows = await conn.fetch(
            "SELECT member_id FROM worker_members WHERE heartbeat_at > now() - make_interval(secs => $1)"
            " ORDER BY started_at, member_id",
            ttl_seconds,
        )
        await conn.execute(
            "DELETE FROM worker_members WHERE heartbeat_at < now() - make_interval(secs => $1 * 10)", ttl_seconds
        )
    return Membership(me, tuple(r[0] for r in rows))


async def leave(pool: asyncpg.Pool, me: str) -> None:
    await pool.execute("DELETE FROM worker_members WHERE member_id = $1", me)
