"""Which worker processes are alive, from heartbeats in PostgreSQL, and which
partitions are this process's own share of them."""

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


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



async def heartbeat(engine: AsyncEngine, me: str, ttl_seconds: float) -> Membership:
    """Record that `me` is alive and read who else is."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO worker_members (member_id) VALUES (:me)"
                " ON CONFLICT (member_id) DO UPDATE SET heartbeat_at = now()"
            ),
            {"me": me},
        )
        rows = await conn.execute(
            text(
                "SELECT member_id FROM worker_members"
                " WHERE heartbeat_at > now() - make_interval(secs => :ttl)"
                " ORDER BY started_at, member_id"
            ),
            {"ttl": ttl_seconds},
        )
        members = tuple(r.member_id for r in rows)
        await conn.execute(
            text("DELETE FROM worker_members WHERE heartbeat_at < now() - make_interval(secs => :ttl * 10)"),
            {"ttl": ttl_seconds},
        )
    return Membership(me, members)


async def leave(engine: AsyncEngine, me: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM worker_members WHERE member_id = :me"), {"me": me})
