import aio_pika
import pytest

from contracts.topology import partition_queue
from tests.support.services import create_sandbox, declare_worker_topology, destroy_sandbox


@pytest.fixture
def vhost(servers):
    """A database and vhost of the test's own."""
    box = create_sandbox(servers, "integration")
    yield box
    destroy_sandbox(box)


async def numbered_messages_in_partition_0(vhost, count: int) -> aio_pika.abc.AbstractRobustConnection:
    """The worker's topology on the vhost, the numbers 0..count-1 queued in partition 0
    in order, and a robust connection for the test's consumer."""
    await declare_worker_topology(vhost.amqp_url)
    connection = await aio_pika.connect_robust(vhost.amqp_url)
    channel = await connection.channel(publisher_confirms=True)
    for number in range(count):
        await channel.default_exchange.publish(aio_pika.Message(str(number).encode()), partition_queue(0))
    await channel.close()
    return connection
