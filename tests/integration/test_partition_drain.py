"""A partition whose channel closes while a group is being handled lets go and can
register again; its drain never dies silently. Real broker, real partition queue;
the lane is a stand-in that closes the channel under the first group, as a dropped
connection does."""

import asyncio
from collections.abc import Sequence

from aio_pika.abc import AbstractIncomingMessage

from services.worker.partitions import PartitionConsumer
from tests.integration.conftest import numbered_messages_in_partition_0

COUNT, PREFETCH = 60, 16


class LaneLosingItsChannelOnce:
    def __init__(self, consumer_channel) -> None:
        self.consumer_channel = consumer_channel
        self.closed_once = False
        self.acknowledged: list[int] = []

    async def submit(self, messages: Sequence[AbstractIncomingMessage], partition: int) -> None:
        if not self.closed_once:
            self.closed_once = True
            await self.consumer_channel().close()  # the group's deliveries go back to the queue
            return
        for message in messages:
            await message.ack()
            self.acknowledged.append(int(message.body))


async def test_a_closed_channel_under_a_group_gives_the_partition_back(vhost, caplog):
    connection = await numbered_messages_in_partition_0(vhost, COUNT)
    async with connection:
        consumer = PartitionConsumer(0, connection, None, PREFETCH, "drain-test", max_group=4)
        consumer.lane = LaneLosingItsChannelOnce(lambda: consumer._channel)
        await consumer.subscribe()

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while consumer.subscribed:  # it lets go by itself; the balancer then registers again
            assert loop.time() < deadline, "the partition kept a consumer on a closed channel"
            assert not (consumer._drainer and consumer._drainer.done() and consumer._drainer.exception()), (
                f"the drain died: {consumer._drainer.exception()!r}"
            )
            await asyncio.sleep(0.05)
        await consumer.resubscribe()
        deadline = loop.time() + 20
        while len(consumer.lane.acknowledged) < COUNT:
            assert loop.time() < deadline, f"stalled after {consumer.lane.acknowledged[-3:]}"
            await asyncio.sleep(0.05)
        assert consumer.draining
        await consumer.release()

    assert consumer.lane.acknowledged == list(range(COUNT))
