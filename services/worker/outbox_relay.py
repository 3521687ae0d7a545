"""Re-sends replies that a crash left committed but unpublished."""

import asyncio
import logging

import asyncpg

from contracts.replies import ROUTING_KEYS
from services.booking.db.outbox import claim_stale, delete_sent
from services.booking.processing import Outcome
from services.worker.publishing import Publisher

log = logging.getLogger("booking.outbox")
BATCH = 500


class OutboxRelay:
    def __init__(self, pool: asyncpg.Pool, publisher: Publisher, interval: float, grace: float) -> None:
        self.pool = pool
        self.publisher = publisher
        self.interval = interval
        self.grace = grace

    async def sweep(self) -> int:
        """Publish one batch of stale replies; returns how many went out."""
        async with self.pool.acquire() as conn, conn.transaction():
            pending = await claim_stale(conn, self.grace, BATCH)
            if not pending:
                return 0
            await asyncio.gather(
                *(
                    self.publisher.publish(
                        Outcome(p.command_id, p.reply, ROUTING_KEYS[p.reply_type], pending=True),
                        p.reply_to,
                        p.correlation_id,
                    )
                    for p in pending
                )
            )
            await delete_sent(conn, [p.command_id for p in pending])
        log.info("outbox relay re-sent replies", extra={"count": len(pending)})
        return len(pending)

    async def run_forever(self) -> None:
        while True:
            try:
                while await self.sweep() == BATCH:
                    pass
            except Exception as error:  # the next sweep tries again
                log.warning("outbox sweep failed", extra={"error": repr(error)})
            await asyncio.sleep(self.interval)
