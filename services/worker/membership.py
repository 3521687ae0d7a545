"""Which worker processes are alive, from heartbeats in PostgreSQL, and which
partitions are this process's own share of them."""

from dataclasses import dataclass

import asyncpg

from services.booking.db import membership as db_membership


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
    return Membership(me, tuple(await db_membership.heartbeat(pool, me, ttl_seconds)))


async def leave(pool: asyncpg.Pool, me: str) -> None:
    await db_membership.leave(pool, me)
