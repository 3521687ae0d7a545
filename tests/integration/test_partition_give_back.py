"""A partition that cannot complete a group gives its deliveries back, and nothing
after them overtakes them. Real broker and real partition queue (quorum, single
active consumer); the lane is a stand-in that fails one group once, as the pipeline
does when a reply cannot be published."""

import asyncio
from collections.abc import Sequence

from aio_pika.abc import AbstractIncomingMessage

from services.worker.partitions import PartitionConsumer
from tests.integration.conftest import numbered_messages_in_partition_0

COUNT, FAILING, PREFETCH = 200, 40, 32


class LaneFailingOnce:
    def __init__(self, failing: int) -> None:
        self.failing = failing
        self.failed = False
        self.seen: list[int] = []
        self.acknowledged: list[int] = []

    async def submit(self, messages: Sequence[AbstractIncomingMessage], partition: int) -> None:
        numbers = [int(message.body) for message in messages]
        self.seen += numbers
        if self.failing in numbers and not self.failed:
            self.failed = True
            raise RuntimeError("the reply could not be published")
        for message in messages:
            await message.ack()
            self.acknowledged.append(int(message.body))


async def test_a_failed_group_comes_back_before_the_deliveries_behind_it(vhost):
    connection = await numbered_messages_in_partition_0(vhost, COUNT)
    async with connection:
        lane = LaneFailingOnce(FAILING)
        consumer = PartitionConsumer(0, connection, lane, PREFETCH, "give-back-test", max_group=4)
        await consumer.subscribe()

        deadline = asyncio.get_running_loop().time() + 30
        while len(lane.acknowledged) < COUNT:
            assert asyncio.get_running_loop().time() < deadline, f"stalled after {lane.acknowledged[-3:]}"
            if lane.failed and not consumer.subscribed:
                await consumer.resubscribe()  # what the balancer's next round does
            await asyncio.sleep(0.05)
        await consumer.release()

    assert lane.acknowledged == list(range(COUNT))
    assert lane.seen.count(FAILING) == 2
