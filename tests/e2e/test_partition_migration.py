"""`booking partitions migrate` and the worker's refusal, on the real broker.

The ledger of each migration: every command answered, and every booking of a window
published right before it (without waiting for the window's reply) confirmed, so
every host's commands were handled in order while its partition changed."""

import asyncio
import subprocess
import sys
import time

import pytest

from contracts.topology import COMMAND_EXCHANGE_TYPE, MIGRATION_QUEUE
from services.partitions.migration import TEMPORARY_EXCHANGE
from services.worker.topology import Routing, routing_state
from tests.support.partition_ledger import (
    LedgerClient,
    build_old_topology,
    partition_names,
    queue_names,
    routing,
    start_migration,
    stream_windows,
    wait_for_routing,
)
from tests.support.processes import ROOT, worker_process
from tests.support.services import create_sandbox, destroy_sandbox

pytestmark = pytest.mark.timeout(120)
HOSTS = 20


@pytest.fixture
def box(servers):
    sandbox = create_sandbox(servers, "migrate")
    yield sandbox
    destroy_sandbox(sandbox)


@pytest.fixture
def workers(box, tmp_path):
    started = []

    def start(partitions: int):
        env = box.env(BOOKING_PARTITIONS=str(partitions), BOOKING_RABBITMQ_MANAGEMENT_URL=box.urls.management)
        started.append(worker_process(env, tmp_path / f"worker-{len(started)}.log").start())
        return started[-1]

    yield start
    for process in started:
        process.kill()


def finish(migration: subprocess.Popen, log_path, timeout: float = 90) -> str:
    migration.wait(timeout)
    output = log_path.read_text()
    print(output)
    assert migration.returncode == 0, output
    return output


def assert_final_topology(box, partitions: int) -> None:
    assert routing(box) == (COMMAND_EXCHANGE_TYPE, partition_names(partitions))
    assert routing(box, TEMPORARY_EXCHANGE) == (None, set())
    assert MIGRATION_QUEUE not in queue_names(box)


def test_a_worker_refuses_an_x_consistent_hash_exchange_with_exit_2_and_says_why(box, tmp_path):
    asyncio.run(build_old_topology(box.amqp_url, 4))
    env = box.env(BOOKING_PARTITIONS="4", BOOKING_METRICS_PORT="0", PYTHONPATH=str(ROOT),
                  BOOKING_RABBITMQ_MANAGEMENT_URL=box.urls.management)
    done = subprocess.run([sys.executable, "-m", "services.worker"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    log = done.stdout + done.stderr
    assert done.returncode == 2, log
    assert "worker refused to start" in log
    assert "x-consistent-hash" in log and "booking partitions migrate --partitions 4" in log
    assert routing(box) == ("x-consistent-hash", partition_names(4))  # it changed nothing


async def test_migration_from_x_consistent_hash_keeps_every_hosts_order(box, workers, tmp_path):
    # The database and the hosts come from a worker of today's code on a new vhost;
    # then booking.commands is turned into what the old contract declared.
    first = workers(4)
    async with LedgerClient(box.amqp_url) as client:
        hosts, user = await client.seed(HOSTS)
        await asyncio.to_thread(first.terminate)
        await build_old_topology(box.amqp_url, 4)
        for day in range(3):  # queued in the old partitions, nobody consuming
            await asyncio.gather(*(client.window_and_booking(host, user, day) for host in hosts))
        queued = len(client.sent) - HOSTS - 1

        log_path = tmp_path / "migrate.log"
        started = time.monotonic()
        migration = start_migration(box, 4, log_path)
        await asyncio.to_thread(wait_for_routing, box, {MIGRATION_QUEUE})
        assert routing_state(*routing(box), 4) is Routing.MIGRATING
        second = await asyncio.to_thread(workers, 4)  # drains the old partitions, binds nothing
        assert "worker started" in second.new_log()

        done = asyncio.Event()
        streaming = asyncio.create_task(stream_windows(client, hosts, user, 3, done))
        output = await asyncio.to_thread(finish, migration, log_path)
        migrated_in = time.monotonic() - started
        done.set()
        day = await streaming
        await asyncio.gather(*(client.window_and_booking(host, user, day) for host in hosts))  # after it
        await client.wait_for(list(client.sent), 60)

    print(f"migration from x-consistent-hash: {migrated_in:.1f} s, {queued} commands queued before, "
          f"{len(client.sent)} sent in all, {client.retries} publishes retried")
    assert not client.unanswered()
    assert client.bookings_not_confirmed() == []
    assert_final_topology(box, 4)
    assert "Now restart every worker with BOOKING_PARTITIONS=4." in output
    assert "routed before to 4 queues" in output


async def test_resize_from_4_to_6_partitions_under_a_stream_of_commands(box, workers, tmp_path):
    old = workers(4)
    async with LedgerClient(box.amqp_url) as client:
        hosts, user = await client.seed(HOSTS)
        done = asyncio.Event()
        streaming = asyncio.create_task(stream_windows(client, hosts, user, 0, done))
        await asyncio.sleep(2)
        log_path = tmp_path / "migrate.log"
        started = time.monotonic()
        migration = start_migration(box, 6, log_path)
        output = await asyncio.to_thread(finish, migration, log_path)
        resized_in = time.monotonic() - started
        assert routing_state(*routing(box), 6) is Routing.READY
        # Commands of hosts now in partitions 4 and 5 wait for a worker that has them.
        await asyncio.to_thread(old.terminate)
        new = await asyncio.to_thread(workers, 6)
        assert "worker started" in new.new_log()
        await asyncio.sleep(2)
        done.set()
        await streaming
        await client.wait_for(list(client.sent), 60)

    print(f"resize 4 -> 6: {resized_in:.1f} s, {len(client.sent)} commands, {client.retries} publishes retried")
    assert not client.unanswered()
    assert client.bookings_not_confirmed() == []
    assert_final_topology(box, 6)
    assert "declared booking.commands.4..5" in output


def test_nothing_to_do_when_the_routing_is_already_right(box, tmp_path):
    from tests.support.services import declare_worker_topology

    asyncio.run(declare_worker_topology(box.amqp_url, 3))
    log_path = tmp_path / "migrate.log"
    output = finish(start_migration(box, 3, log_path), log_path, 30)
    assert "nothing to do" in output
    assert_final_topology(box, 3)


def test_a_partition_nobody_consumes_pauses_the_migration_and_a_rerun_resumes(box, tmp_path):
    """No worker at all: the tool pauses after --timeout, says which queue nobody
    consumes, and new commands wait; run again with the queue drained, it finishes."""
    asyncio.run(build_old_topology(box.amqp_url, 2))

    async def queue_one_and_drain_it_later() -> None:
        async with LedgerClient(box.amqp_url) as client:
            await client.publish({"type": "RegisterUser", "commandId": "c1", "email": "a@example.com"})

    asyncio.run(queue_one_and_drain_it_later())
    log_path = tmp_path / "migrate.log"
    paused = start_migration(box, 2, log_path, timeout=3)
    paused.wait(60)
    output = log_path.read_text()
    assert paused.returncode == 3, output
    assert "migration paused" in output and "Run the same command again to resume" in output
    assert "nobody consumes booking.commands." in output
    assert routing(box) == (COMMAND_EXCHANGE_TYPE, {MIGRATION_QUEUE})

    asyncio.run(_purge_partitions(box.amqp_url, 2))
    resumed_log = tmp_path / "resumed.log"
    output = finish(start_migration(box, 2, resumed_log), resumed_log, 60)
    assert "resumed at step 3" in output
    assert_final_topology(box, 2)


async def _purge_partitions(amqp_url: str, partitions: int) -> None:
    import aio_pika

    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        for name in sorted(partition_names(partitions)):
            await (await channel.declare_queue(name, passive=True)).purge()
    finally:
        await connection.close()
