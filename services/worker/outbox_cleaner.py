"""Deletes the outbox rows of replies the broker has confirmed, many at a time, so
a group of commands does not pay a round trip for it. A row not yet deleted when
the process dies only means the relay sends that reply once more (the same bytes)."""

import asyncio
import logging
from uuid import UUID

import asyncpg

from services.booking.db.outbox import delete_sent

log = logging.getLogger("booking.outbox")


class OutboxCleaner:
    def __init__(self, pool: asyncpg.Pool, interval: float = 0.05) -> None:
        self.pool = pool
        self.interval = interval
        self._confirmed: list[UUID] = []

    def confirmed(self, command_ids: list[UUID]) -> None:
        self._confirmed.extend(command_ids)

    async def flush(self) -> None:
        if not self._confirmed:
            return
        batch, self._confirmed = self._confirmed, []
        try:
            await delete_sent(self.pool, batch)
        except Exception as error:
            # left to the relay, which re-sends those replies and deletes the rows
            log.warning("outbox rows left to the relay", extra={"count": len(batch), "error": repr(error)})

    async def run_forever(self) -> None:
        try:
            while True:
                await asyncio.sleep(self.interval)
                await self.flush()
        finally:
            await self.flush()
