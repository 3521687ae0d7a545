"""Consumers of the partition queues. Deliveries of one partition are handled in
delivery order: the broker's callback only appends to an in-process buffer (no
await, so arrival order is kept) and one task per partition drains it, handing the
lane what has arrived and waiting for it to be done before it hands over more.

Each consumer has its own channel, so that a partition can be let go of on its own:
closing the channel returns the deliveries not yet handled to the queue, ahead of
newer ones, and the next consumer gets them in their order. (A basic.cancel alone
would let the next consumer start while this one still holds deliveries.)

That is also how a partition gives back deliveries it could not complete: nacking
them one by one would put them behind the later deliveries it already holds (and a
quorum queue does not even keep their own order), so the next consumer would answer
a host's later commands first. Closing the channel returns them all in order.

The lane (services.worker.lanes) groups deliveries into transactions and says what
became of each (services.worker.pipeline.Delivered); the consumer acts on that:
it acknowledges what was answered or dead-lettered and gives the partition back when
anything was not completed, or when an acknowledgement was lost with its channel."""

import asyncio
import logging
import time

from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection
from aio_pika.exceptions import ChannelInvalidStateError

from contracts.topology import partition_queue
from services.worker.lanes import Lane
from services.worker.metrics import TASK_FAILURES
from services.worker.pipeline import Delivered

log = logging.getLogger("booking.partitions")


class PartitionConsumer:
    def __init__(
        self,
        index: int,
        connection: AbstractRobustConnection,
        lane: Lane,
        prefetch: int,
        member_id: str,
    ) -> None:
        self.index = index
        self.connection = connection
        self.lane = lane
        self.prefetch = prefetch
        self.member_id = member_id
        self.consumer_tag: str | None = None
        self.subscribed_at = 0.0
        self._generation = 0
        self._channel: AbstractChannel | None = None
        self._buffer: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._drainer: asyncio.Task | None = None
        self._giving_back: asyncio.Task | None = None
        self._handling = asyncio.Lock()

    @property
    def subscribed(self) -> bool:
        return self.consumer_tag is not None

    async def subscribe(self) -> None:
        """Register as a consumer: active if first in line, standby otherwise."""
        self._generation += 1
        self._channel = await self.connection.channel(publisher_confirms=False)
        await self._channel.set_qos(prefetch_count=self.prefetch)
        queue = await self._channel.get_queue(partition_queue(self.index), ensure=False)
        self._buffer = asyncio.Queue()
        self._drainer = asyncio.create_task(self._drain(self._buffer), name=f"partition-{self.index}")
        tag = f"{partition_tag_prefix(self.member_id, self.index)}g{self._generation}"
        self.consumer_tag = await queue.consume(self._arrived, consumer_tag=tag)
        self.subscribed_at = time.monotonic()

    async def _arrived(self, message: AbstractIncomingMessage) -> None:
        self._buffer.put_nowait(message)

    @property
    def draining(self) -> bool:
        """Whether this consumer's deliveries are being handled (health)."""
        return self._drainer is not None and not self._drainer.done()

    async def _drain(self, buffer: asyncio.Queue) -> None:
        """Supervised: a drain that fails unexpectedly is logged and counted, and the
        partition given back (its unhandled deliveries return to the queue in order);
        the balancer registers again, with a new drain."""
        try:
            await self._drain_in_order(buffer)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("partition drain failed; giving the partition back", extra={"partition": self.index})
            TASK_FAILURES.labels("partition-drain").inc()
            self._giving_back = asyncio.create_task(self.release())

    async def _drain_in_order(self, buffer: asyncio.Queue) -> None:
        """Hand the lane everything that has arrived, wait for it to be done, act on
        what became of it; then again with what has arrived meanwhile."""
        while True:
            group = [await buffer.get()]
            while not buffer.empty():
                group.append(buffer.get_nowait())
            async with self._handling:
                results = await self.lane.submit(group, self.index)
                stranded = await self._acknowledge(group, results)
            # Unacknowledged: the broker keeps them (or, on a closed channel, has taken
            # them back). Either way this consumer lets go and registers again, so that
            # a closed channel never leaves the partition with a consumer that receives nothing.
            if stranded:
                log.warning("giving the partition back", extra={"partition": self.index, "stranded": stranded})
                # Not from this task: release() ends it. The balancer registers again.
                self._giving_back = asyncio.create_task(self.release())
                return

    @staticmethod
    async def _acknowledge(group: list[AbstractIncomingMessage], results: list[Delivered]) -> int:
        """Acknowledge, in order, what was answered or dead-lettered; how many
        deliveries are left unacknowledged."""
        stranded = 0
        for message, result in zip(group, results, strict=True):
            if not result.acknowledge:
                stranded += 1
                continue
            try:
                await message.ack()
            except ChannelInvalidStateError:
                # The delivery tag died with its channel: the broker redelivers and the
                # inbox answers the duplicate with the stored outcome.
                log.warning("ack lost with its channel", extra={"messageId": message.message_id})
                stranded += 1
        return stranded

    async def release(self) -> None:
        """Let the partition go: finish the delivery being handled, then close the
        channel so the broker returns the rest to the queue for the next consumer."""
        self.consumer_tag = None
        async with self._handling:
            if self._drainer is not None:
                self._drainer.cancel()
                self._drainer = None
            if self._channel is not None and not self._channel.is_closed:
                await self._channel.close()
            self._channel = None

    async def resubscribe(self) -> None:
        """Go to the back of the line: another consumer, if any, becomes active."""
        await self.release()
        await self.subscribe()


def partition_tag_prefix(member_id: str, index: int) -> str:
    """Consumer tags say which member consumes which partition, for the balancer."""
    return f"{member_id}.p{index}."
