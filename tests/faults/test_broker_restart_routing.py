"""Contract section 2: a partition key goes to the same queue across broker restarts.

On a PRIVATE RabbitMQ node started for this module (tests/support/rabbit_node.py),
never the shared one: the node's app is stopped and started (`rabbitmqctl -n NODE
stop_app && start_app`) while commands wait in the partitions."""

import asyncio
import json
import uuid

import aio_pika
import pytest

from contracts.topology import COMMAND_EXCHANGE, partition_queue
from tests.support import rabbit_node
from tests.support.commands import at, availability, booking
from tests.support.partition_ledger import LedgerClient, build_old_topology
from tests.support.processes import worker_process
from tests.support.services import ServerUrls, create_sandbox, declare_worker_topology, destroy_sandbox

pytestmark = [
    pytest.mark.faults,
    pytest.mark.timeout(180),
]
PARTITIONS = 16
KEYS = 2000
RESTARTS = 2


@pytest.fixture(scope="module")
def node():
    # A restart of the shared broker would disturb everything else; these tests need a
    # node of their own, so a machine without a RabbitMQ installation fails them, loudly.
    assert rabbit_node.available(), "a RabbitMQ server installation (rabbitmq-server) is needed to start a private node"
    started = rabbit_node.start_node("t1")
    yield started
    rabbit_node.stop_node(started)


async def landing(amqp_url: str, keys: list[str]) -> dict[str, str]:
    """Publishes every key once (body = key) and reads which partition each landed in."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(COMMAND_EXCHANGE)
        await asyncio.gather(*(
            exchange.publish(aio_pika.Message(key.encode(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                             routing_key=key)
            for key in keys
        ))
        found: dict[str, str] = {}
        complete = asyncio.Event()
        reader = await connection.channel()
        await reader.set_qos(prefetch_count=500)
        for index in range(PARTITIONS):
            queue = await reader.declare_queue(partition_queue(index), passive=True)

            async def take(message, name=queue.name):
                found[message.body.decode()] = name
                await message.ack()
                if len(found) == len(keys):
                    complete.set()

            await queue.consume(take)
        await asyncio.wait_for(complete.wait(), 30)
        return found
    finally:
        await connection.close()


def moved(before: dict[str, str], after: dict[str, str]) -> int:
    return sum(1 for key, queue in before.items() if after[key] != queue)


def test_x_modulus_hash_keeps_every_key_in_its_partition_across_restarts(node):
    modulus = node.add_vhost("modulus")
    consistent = node.add_vhost("consistent")
    asyncio.run(declare_worker_topology(modulus, PARTITIONS))
    asyncio.run(build_old_topology(consistent, PARTITIONS))
    keys = [str(uuid.uuid4()) for _ in range(KEYS)]
    baseline = {url: asyncio.run(landing(url, keys)) for url in (modulus, consistent)}
    assert len(set(baseline[modulus].values())) == PARTITIONS  # every partition gets keys

    results = []
    for restart in range(1, RESTARTS + 1):
        seconds = node.restart_app()
        after = {url: asyncio.run(landing(url, keys)) for url in (modulus, consistent)}
        results.append((restart, seconds, moved(baseline[modulus], after[modulus]),
                        moved(baseline[consistent], after[consistent])))
    for restart, seconds, by_modulus, by_consistent in results:
        print(f"restart {restart} ({seconds:.1f} s): x-modulus-hash moved {by_modulus} of {KEYS} keys, "
              f"x-consistent-hash (control, not asserted) moved {by_consistent} of {KEYS}")
    assert [by_modulus for _, _, by_modulus, _ in results] == [0] * RESTARTS


@pytest.fixture
def private_sandbox(node, servers):
    """A database on the shared PostgreSQL and a vhost on the private node."""
    box = create_sandbox(ServerUrls(servers.database, node.amqp_url(), node.management_url), "restart")
    yield box
    destroy_sandbox(box)


async def test_bookings_published_after_a_restart_follow_their_windows(node, private_sandbox, tmp_path):
    """With no worker consuming, 20 windows per host wait in the partitions across a
    restart; each host's booking of its last window, published after the restart,
    must land behind them. (With x-consistent-hash, 15 of 24 such bookings were
    OUTSIDE_AVAILABILITY: they reached another partition and were handled first.)"""
    hosts_count, windows = 24, 20
    env = private_sandbox.env(BOOKING_PARTITIONS=str(PARTITIONS), BOOKING_RABBITMQ_MANAGEMENT_URL=node.management_url)
    replies = f"restart.replies.{uuid.uuid4().hex[:8]}"
    first = await asyncio.to_thread(worker_process(env, tmp_path / "worker-1.log").start)
    try:
        async with LedgerClient(private_sandbox.amqp_url, reply_queue=replies) as client:
            hosts, user = await client.seed(hosts_count)
            await asyncio.to_thread(first.terminate)
            for day in range(windows):
                await asyncio.gather(*(client.publish(availability(host, at(9, day=day), at(10, day=day)))
                                       for host in hosts))
            sent, answered = dict(client.sent), dict(client.replies)  # the seeding's answers
    finally:
        first.kill()

    await asyncio.to_thread(node.restart_app)
    last = windows - 1
    bookings = {host: booking(host, user, at(9, day=last), at(9, 30, day=last)) for host in hosts}
    async with LedgerClient(private_sandbox.amqp_url, reply_queue=replies) as client:
        for command in bookings.values():
            await client.publish(command)
        second = await asyncio.to_thread(worker_process(env, tmp_path / "worker-2.log").start)
        try:
            client.sent.update(sent)
            client.replies.update(answered)
            await client.wait_for(list(client.sent), 60)
        finally:
            second.terminate()
    outcomes = [client.replies[command["commandId"]] for command in bookings.values()]
    rejected = [json.dumps(reply) for reply in outcomes if reply["type"] != "BookingConfirmed"]
    print(f"after the restart: {hosts_count - len(rejected)} of {hosts_count} bookings confirmed")
    assert rejected == []
