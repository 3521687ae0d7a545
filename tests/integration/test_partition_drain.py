"""A partition whose channel closes while a group is being handled lets go and can
register again; its drain never dies silently. Real broker, real partition queue,
the real lane; the pipeline is a stand-in that closes the channel under the first
group, as a dropped connection does, and reports that group either not completed
(a failure noticed the closed channel) or answered (the acknowledgements are then
lost with the channel)."""

import asyncio
from collections.abc import Sequence

import pytest
from aio_pika.abc import AbstractIncomingMessage

from services.worker.lanes import Lane
from services.worker.partitions import PartitionConsumer
from services.worker.pipeline import Delivered, returned_to_broker
from tests.integration.conftest import numbered_messages_in_partition_0

COUNT, PREFETCH, MAX_GROUP = 60, 16, 4


class PipelineLosingItsChannelOnce:
    def __init__(self, consumer_channel, first_report: Delivered) -> None:
        self.consumer_channel = consumer_channel
        self.first_report = first_report
        self.closed_once = False
        self.acknowledged: list[int] = []

    async def run(self, deliveries: Sequence[tuple[AbstractIncomingMessage, int]]) -> list[Delivered]:
        if not self.closed_once:
            self.closed_once = True
            await self.consumer_channel().close()  # the group's deliveries go back to the queue
            return [self.first_report] * len(deliveries)
        # what the consumer can acknowledge: deliveries whose channel is still open
        self.acknowledged += [int(message.body) for message, _ in deliveries if not returned_to_broker(message)]
        return [Delivered.ANSWERED] * len(deliveries)


@pytest.mark.parametrize("first_report", [Delivered.NOT_COMPLETED, Delivered.ANSWERED])
async def test_a_closed_channel_under_a_group_gives_the_partition_back(vhost, caplog, first_report):
    connection = await numbered_messages_in_partition_0(vhost, COUNT)
    async with connection:
        consumer = PartitionConsumer(0, connection, None, PREFETCH, "drain-test")
        pipeline = PipelineLosingItsChannelOnce(lambda: consumer._channel, first_report)
        consumer.lane = Lane(pipeline, MAX_GROUP)
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
        while len(pipeline.acknowledged) < COUNT:
            assert loop.time() < deadline, f"stalled after {pipeline.acknowledged[-3:]}"
            await asyncio.sleep(0.05)
        assert consumer.draining
        await consumer.release()

    assert pipeline.acknowledged == list(range(COUNT))
