"""Consumers of the partition queues. Deliveries of one partition are handled one at
a time in delivery order: the broker's callback only appends to an in-process
buffer (no await, so arrival order is kept) and one task per partition drains it."""

import asyncio
import logging

from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue

from contracts.topology import partition_queue
from services.worker.pipeline import Pipeline

log = logging.getLogger("booking.partitions")


class PartitionConsumer:
    def __init__(self, index: int, queue: AbstractQueue, pipeline: Pipeline) -> None:
        self.index = index
        self.queue = queue
        self.pipeline = pipeline
        self._buffer: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._consumer_tag: str | None = None
        self._drainer: asyncio.Task | None = None

    async def start(self) -> None:
        self._drainer = asyncio.create_task(self._drain(), name=f"partition-{self.index}")
        self._consumer_tag = await self.queue.consume(self._arrived)

    async def _arrived(self, message: AbstractIncomingMessage) -> None:
        self._buffer.put_nowait(message)

    async def _drain(self) -> None:
        while True:
            message = await self._buffer.get()
            try:
                await self.pipeline.run(message, self.index)
            except Exception:
                # Left unacknowledged: the broker redelivers it when the channel
                # recovers, and the inbox keeps that safe.
                log.exception("delivery not completed", extra={"partition": self.index})
            finally:
                self._buffer.task_done()

    async def stop(self) -> None:
        """Stop taking deliveries, finish those already received, then stop."""
        if self._consumer_tag is not None and not self.queue.channel.is_closed:
            await self.queue.cancel(self._consumer_tag)
        self._consumer_tag = None
        await self._buffer.join()
        if self._drainer is not None:
            self._drainer.cancel()


async def start_partitions(
    channel: AbstractChannel, partitions: int, pipeline: Pipeline
) -> list[PartitionConsumer]:
    consumers = []
    for index in range(partitions):
        queue = await channel.get_queue(partition_queue(index), ensure=False)
        consumer = PartitionConsumer(index, queue, pipeline)
        await consumer.start()
        consumers.append(consumer)
    return consumers
