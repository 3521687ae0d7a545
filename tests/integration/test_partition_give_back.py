"""A partition that cannot complete a group gives its deliveries back, and nothing
after them overtakes them. Real broker and real partition queue (quorum, single
active consumer), the real lane (groups of 4); the pipeline is a stand-in that
reports one group not completed once, as the pipeline does when a reply cannot be
published."""

import asyncio
from collections.abc import Sequence

from aio_pika.abc import AbstractIncomingMessage

from contracts.topology import partition_queue
from services.worker.lanes import Lane
from services.worker.partitions import PartitionConsumer
from services.worker.pipeline import Delivered
from tests.integration.conftest import numbered_messages_in_partition_0

COUNT, FAILING, PREFETCH, MAX_GROUP = 200, 40, 32, 4


class PipelineFailingOnce:
    def __init__(self, failing: int) -> None:
        self.failing = failing
        self.failed = False
        self.seen: list[int] = []
        self.acknowledged: list[int] = []  # answered, so acknowledged by the consumer

    async def run(self, deliveries: Sequence[tuple[AbstractIncomingMessage, int]]) -> list[Delivered]:
        numbers = [int(message.body) for message, _ in deliveries]
        self.seen += numbers
        if self.failing in numbers and not self.failed:
            self.failed = True
            return [Delivered.NOT_COMPLETED] * len(numbers)  # the reply could not be published
        self.acknowledged += numbers
        return [Delivered.ANSWERED] * len(numbers)


async def ready_in_partition_0(connection, settle: float = 5.0) -> int:
    """Messages ready in the queue, once settled (a quorum queue applies acks a little later)."""
    channel = await connection.channel()
    deadline = asyncio.get_running_loop().time() + settle
    while True:
        queue = await channel.declare_queue(partition_queue(0), passive=True)
        ready = queue.declaration_result.message_count
        if not ready or asyncio.get_running_loop().time() > deadline:
            await channel.close()
            return ready
        await asyncio.sleep(0.1)


async def test_a_failed_group_comes_back_before_the_deliveries_behind_it(vhost):
    connection = await numbered_messages_in_partition_0(vhost, COUNT)
    async with connection:
        pipeline = PipelineFailingOnce(FAILING)
        consumer = PartitionConsumer(0, connection, Lane(pipeline, MAX_GROUP), PREFETCH, "give-back-test")
        await consumer.subscribe()

        deadline = asyncio.get_running_loop().time() + 30
        while len(pipeline.acknowledged) < COUNT:
            assert asyncio.get_running_loop().time() < deadline, f"stalled after {pipeline.acknowledged[-3:]}"
            if pipeline.failed and not consumer.subscribed:
                await consumer.resubscribe()  # what the balancer's next round does
            await asyncio.sleep(0.05)
        await consumer.release()
        left = await ready_in_partition_0(connection)

    assert left == 0  # the consumer acknowledged every delivery answered
    assert pipeline.acknowledged == list(range(COUNT))
    assert pipeline.seen.count(FAILING) == 2
