"""Groups across partitions. Under load spread over many hosts, each partition holds
one or two deliveries at a time and its own groups stay small; a lane merges the
groups that several partitions submit while its previous transaction runs into one
transaction. A partition waits for its group to be done before it submits the next,
so each partition's order is kept; lanes run side by side (partition p uses lane
p mod L)."""

import asyncio
import logging
from collections.abc import Sequence

from aio_pika.abc import AbstractIncomingMessage

from services.worker.metrics import TASK_FAILURES
from services.worker.pipeline import Pipeline

log = logging.getLogger("booking.worker")


class Lane:
    def __init__(self, pipeline: Pipeline, max_group: int) -> None:
        self.pipeline = pipeline
        self.max_group = max_group
        self._waiting: list[tuple[Sequence[AbstractIncomingMessage], int, asyncio.Future]] = []
        self._runner: asyncio.Task | None = None

    async def submit(self, messages: Sequence[AbstractIncomingMessage], partition: int) -> None:
        """Returns when the group is handled, or has failed (see PartitionConsumer)."""
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((messages, partition, done))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run())
        await asyncio.shield(done)

    async def _run(self) -> None:
        while self._waiting:
            taken, size = 0, 0
            while taken < len(self._waiting) and (size == 0 or size + len(self._waiting[taken][0]) <= self.max_group):
                size += len(self._waiting[taken][0])
                taken += 1
            batch, self._waiting = self._waiting[:taken], self._waiting[taken:]
            try:
                await self.pipeline.run([(m, partition) for messages, partition, _ in batch for m in messages])
            except Exception:
                # What was not acknowledged is given back by its partition; the lane goes on.
                log.exception("lane failed a batch", extra={"partitions": sorted({p for _, p, _ in batch})})
                TASK_FAILURES.labels("lane").inc()
            finally:
                for _, _, done in batch:
                    if not done.done():
                        done.set_result(None)
