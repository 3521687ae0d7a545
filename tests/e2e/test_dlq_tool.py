"""The dead-letter tool (`booking dlq ...`) as an operator runs it: a real subprocess
on the real broker and worker. The session's dead-letter queue is shared with other
tests, so every test picks out its own messages by a hostId nobody else uses."""

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aio_pika
import asyncpg
import pytest

from contracts.dead_letters import (
    ATTEMPTS_HEADER,
    DETAIL_HEADER,
    ERROR_CLASS_HEADER,
    ERROR_MESSAGE_HEADER,
    FIRST_FAILURE_HEADER,
    LAST_FAILURE_HEADER,
    PARTITION_HEADER,
    REASON_HEADER,
    REPLAYED_AT_HEADER,
)
from contracts.topology import DEAD_LETTER_EXCHANGE, DEAD_LETTER_QUEUE, partition_key
from tests.e2e.test_worker_commands import host_with_window, new_user
from tests.support.commands import at, availability, booking, cancel
from tests.support.dlq import wait_for_dead_letter
from tests.support.services import create_sandbox, declare_worker_topology, destroy_sandbox

# The console script installed next to the interpreter running the tests.
BOOKING = Path(sys.executable).parent / "booking"


async def run_dlq(amqp_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return await asyncio.to_thread(
        subprocess.run,
        [str(BOOKING), "dlq", *args],
        env={**os.environ, "BOOKING_AMQP_URL": amqp_url},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def listed(amqp_url: str, host: str) -> list[dict]:
    """`booking dlq list --json`, only the entries of `host`."""
    result = await run_dlq(amqp_url, "list", "--json")
    assert result.returncode == 0, result.stderr
    return [entry for entry in json.loads(result.stdout) if entry["hostId"] == host]


async def wait_listed(amqp_url: str, host: str, timeout: float = 10) -> list[dict]:
    """Dead-lettering by the worker or the broker lands a little later, so poll."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (entries := await listed(amqp_url, host)):
        assert asyncio.get_running_loop().time() < deadline, f"no dead letter of {host}"
        await asyncio.sleep(0.2)
    return entries


def failure_headers(first_failure: datetime, reason: str = "HANDLER_FAILED") -> dict:
    """What the worker writes when a command keeps failing (services.worker.publishing)."""
    return {
        REASON_HEADER: reason,
        ERROR_CLASS_HEADER: "RuntimeError",
        ERROR_MESSAGE_HEADER: "a bug, since fixed",
        ATTEMPTS_HEADER: 5,
        FIRST_FAILURE_HEADER: first_failure.isoformat(),
        LAST_FAILURE_HEADER: datetime.now(UTC).isoformat(),
        PARTITION_HEADER: 3,
    }


async def dead_letter_directly(
    amqp_url: str, command: dict, headers: dict, reply_to: str | None, correlation_id: str | None = None
) -> None:
    """A poison command as the worker would have dead-lettered it."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(DEAD_LETTER_EXCHANGE)
        message = aio_pika.Message(
            json.dumps(command).encode(),
            headers=headers,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            reply_to=reply_to,
            correlation_id=correlation_id or str(uuid.uuid4()),
        )
        await exchange.publish(message, routing_key=partition_key(command))


async def dlq_depth(amqp_url: str) -> int:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        queue = await (await connection.channel()).declare_queue(DEAD_LETTER_QUEUE, passive=True)
        return queue.declaration_result.message_count


class RawReplies:
    """A reply queue that keeps each reply's exact bytes, by correlation id."""

    def __init__(self, amqp_url: str) -> None:
        self.amqp_url = amqp_url
        self.bodies: dict[str, list[bytes]] = defaultdict(list)

    async def __aenter__(self) -> "RawReplies":
        self._connection = await aio_pika.connect(self.amqp_url)
        channel = await self._connection.channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        self.name = queue.name
        await queue.consume(self._arrived, no_ack=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._connection.close()

    async def _arrived(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        self.bodies[message.correlation_id or ""].append(message.body)

    async def wait(self, correlation_id: str, timeout: float = 15) -> bytes:
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.bodies[correlation_id]:
            assert asyncio.get_running_loop().time() < deadline, f"no reply for {correlation_id}"
            await asyncio.sleep(0.05)
        return self.bodies[correlation_id][0]


async def bookings_of(database_url: str, host: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetchval("SELECT count(*) FROM bookings WHERE host_id = $1", uuid.UUID(host))
    finally:
        await connection.close()


async def malformed_dead_letter(client, sandbox, host: str) -> str:
    """A command of unknown type, dead-lettered by the worker; its correlation id."""
    correlation = str(uuid.uuid4())
    body = json.dumps({"type": "DeleteEverything", "commandId": str(uuid.uuid4()), "hostId": host}).encode()
    reply = await asyncio.wait_for(await client.publish_raw(body, host, correlation), 15)
    assert reply["reason"] == "MALFORMED_MESSAGE"
    await asyncio.to_thread(wait_for_dead_letter, sandbox, correlation)
    return correlation


# ---- list and show


async def test_list_shows_reason_type_host_and_attempts_of_a_malformed_message(client, sandbox):
    host = str(uuid.uuid4())
    await malformed_dead_letter(client, sandbox, host)

    [entry] = await listed(sandbox.amqp_url, host)
    assert (entry["reason"], entry["type"], entry["attempts"]) == ("MALFORMED_MESSAGE", "DeleteEverything", 1)
    assert 0 <= entry["ageSeconds"] < 60

    table = await run_dlq(sandbox.amqp_url, "list")
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split() == ["ID", "REASON", "TYPE", "HOST", "AGE", "ATTEMPTS"]
    [row] = [line.split() for line in table.stdout.splitlines() if host in line]
    assert row[:4] == [entry["id"], "MALFORMED_MESSAGE", "DeleteEverything", host]
    assert row[5] == "1"


async def test_show_prints_headers_and_pretty_body(client, sandbox):
    host = str(uuid.uuid4())
    correlation = await malformed_dead_letter(client, sandbox, host)
    [entry] = await listed(sandbox.amqp_url, host)

    shown = await run_dlq(sandbox.amqp_url, "show", entry["id"])
    assert shown.returncode == 0, shown.stderr
    assert f"correlation id: {correlation}" in shown.stdout
    assert f"  {REASON_HEADER}: MALFORMED_MESSAGE" in shown.stdout
    assert f"  {DETAIL_HEADER}: unknown command type 'DeleteEverything'" in shown.stdout
    assert f"  {FIRST_FAILURE_HEADER}: " in shown.stdout
    assert f'\n  "hostId": "{host}"' in shown.stdout  # indented: pretty JSON

    missing = await run_dlq(sandbox.amqp_url, "show", "000000000000")
    assert missing.returncode == 1
    assert "no dead letter with id 000000000000" in missing.stderr


async def test_a_message_the_broker_dead_lettered_shows_the_reason_from_x_death(sandbox, worker):
    """A quorum queue whose delivery limit is exceeded dead-letters by itself, with
    x-death instead of the worker's headers."""
    host = str(uuid.uuid4())
    command = booking(host, str(uuid.uuid4()), at(9), at(9, 30))
    connection = await aio_pika.connect(sandbox.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        queue = await channel.declare_queue(
            f"dlq-tool-test-{host}",
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-delivery-limit": 0,
                "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
            },
        )
        await channel.default_exchange.publish(aio_pika.Message(json.dumps(command).encode()), queue.name)
        delivery = await queue.get(timeout=5)
        await delivery.nack(requeue=True)  # one delivery over the limit
        [entry] = await wait_listed(sandbox.amqp_url, host)
        await queue.delete(if_unused=False, if_empty=False)

    assert (entry["reason"], entry["type"], entry["attempts"]) == ("delivery_limit", "CreateBooking", None)
    assert entry["ageSeconds"] is not None
    shown = await run_dlq(sandbox.amqp_url, "show", entry["id"])
    assert '"reason": "delivery_limit"' in shown.stdout


# ---- replay


async def test_replay_dry_run_changes_nothing(sandbox, worker):
    host = str(uuid.uuid4())
    async with RawReplies(sandbox.amqp_url) as replies:
        for start in (9, 10):
            command = booking(host, str(uuid.uuid4()), at(start), at(start, 30))
            await dead_letter_directly(sandbox.amqp_url, command, failure_headers(datetime.now(UTC)), replies.name)
        before = await listed(sandbox.amqp_url, host)

        result = await run_dlq(sandbox.amqp_url, "replay", "--host", host, "--dry-run")
        assert result.returncode == 0, result.stderr
        assert "dry run: would replay 2 of " in result.stdout
        assert {entry["id"] for entry in before} <= set(result.stdout.split())

        await asyncio.sleep(1)  # time enough for a worker to answer, had anything been sent
        assert not any(replies.bodies.values())
        assert [entry["id"] for entry in await listed(sandbox.amqp_url, host)] == [e["id"] for e in before]


async def test_list_is_oldest_failure_first_and_the_same_on_every_run(sandbox, worker):
    """More messages than a quorum queue puts back in order after basic.get, failed
    in an order unlike the queue's."""
    host = str(uuid.uuid4())
    failed_at = [datetime.now(UTC) - timedelta(minutes=minutes) for minutes in range(40)]  # newest first
    async with RawReplies(sandbox.amqp_url) as replies:
        for when in failed_at:
            command = booking(host, str(uuid.uuid4()), at(9), at(9, 30))
            await dead_letter_directly(sandbox.amqp_url, command, failure_headers(when), replies.name)
        runs = [await listed(sandbox.amqp_url, host) for _ in range(3)]

    assert [entry["firstFailure"] for entry in runs[0]] == [when.isoformat() for when in sorted(failed_at)]
    assert [entry["id"] for entry in runs[1]] == [entry["id"] for entry in runs[0]]
    assert [entry["id"] for entry in runs[2]] == [entry["id"] for entry in runs[0]]


async def test_replay_sends_a_hosts_commands_in_the_order_they_failed(client, sandbox):
    """The window failed first but sits behind the booking in the queue: replayed in
    queue order, the booking would find no window."""
    host, user = await new_user(client, "HOST"), await new_user(client)
    window = availability(host, at(9), at(12))
    slot = booking(host, user, at(9), at(9, 30))
    first_failure = datetime.now(UTC) - timedelta(minutes=5)
    async with RawReplies(sandbox.amqp_url) as replies:
        await dead_letter_directly(sandbox.amqp_url, slot, failure_headers(first_failure + timedelta(seconds=1)),
                                   replies.name, correlation_id="booking")
        await dead_letter_directly(sandbox.amqp_url, window, failure_headers(first_failure), replies.name,
                                   correlation_id="window")

        result = await run_dlq(sandbox.amqp_url, "replay", "--host", host)
        assert result.stdout.startswith("replayed 2 of "), result.stderr
        assert json.loads(await replies.wait("window"))["type"] == "AvailabilityCreated"
        assert json.loads(await replies.wait("booking"))["type"] == "BookingConfirmed"


async def replay_fixed_command(sandbox, replies: RawReplies, command: dict) -> bytes:
    """Dead-letter a valid command as if it had failed, replay it with the tool, and
    return its reply's bytes."""
    correlation = str(uuid.uuid4())
    await dead_letter_directly(sandbox.amqp_url, command, failure_headers(datetime.now(UTC)), replies.name, correlation)
    result = await run_dlq(sandbox.amqp_url, "replay", "--host", command["hostId"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("replayed 1 of ")
    return await replies.wait(correlation)


async def test_replayed_command_is_processed_exactly_once_and_leaves_the_queue(client, sandbox):
    host = await host_with_window(client)
    command = booking(host, await new_user(client), at(9), at(9, 30))
    async with RawReplies(sandbox.amqp_url) as replies:
        reply = json.loads(await replay_fixed_command(sandbox, replies, command))
        await asyncio.sleep(1)  # a second processing would answer in this time
        assert sum(len(bodies) for bodies in replies.bodies.values()) == 1

    assert (reply["type"], reply["commandId"]) == ("BookingConfirmed", command["commandId"])
    assert await listed(sandbox.amqp_url, host) == []
    assert await bookings_of(sandbox.database_url, host) == 1


async def test_replaying_the_same_command_again_returns_the_stored_outcome(client, sandbox):
    host = await host_with_window(client)
    command = booking(host, await new_user(client), at(10), at(10, 30))
    async with RawReplies(sandbox.amqp_url) as replies:
        first = await replay_fixed_command(sandbox, replies, command)
        second = await replay_fixed_command(sandbox, replies, command)

    assert second == first
    assert json.loads(first)["type"] == "BookingConfirmed"
    assert await listed(sandbox.amqp_url, host) == []
    assert await bookings_of(sandbox.database_url, host) == 1


async def test_replaying_a_malformed_message_dead_letters_it_again_marked_as_replayed(client, sandbox):
    host = str(uuid.uuid4())
    correlation = await malformed_dead_letter(client, sandbox, host)
    [before] = await listed(sandbox.amqp_url, host)

    result = await run_dlq(sandbox.amqp_url, "replay", "--host", host)
    assert result.stdout.startswith("replayed 1 of "), result.stderr
    [after] = await wait_listed(sandbox.amqp_url, host)

    # The failure record was stripped on replay, so the worker wrote a new one.
    assert after["id"] != before["id"]
    assert after["firstFailure"] > before["firstFailure"]
    assert after["correlationId"] == correlation
    shown = (await run_dlq(sandbox.amqp_url, "show", after["id"])).stdout
    assert f"  {REPLAYED_AT_HEADER}: " in shown
    assert "x-death" not in shown


async def test_filters_select_only_matching_messages(client, sandbox):
    host, other_host = str(uuid.uuid4()), str(uuid.uuid4())
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    user = str(uuid.uuid4())

    def create(on: str = host) -> dict:
        return booking(on, user, at(9), at(9, 30))

    letters = {
        "selected": (create(), failure_headers(long_ago)),
        "too recent": (create(), failure_headers(datetime.now(UTC))),
        "other type": (cancel(host, str(uuid.uuid4()), user), failure_headers(long_ago)),
        "other reason": (create(), failure_headers(long_ago, reason="MALFORMED_MESSAGE")),
        "other host": (create(other_host), failure_headers(long_ago)),
    }
    async with RawReplies(sandbox.amqp_url) as replies:
        for name, (command, headers) in letters.items():
            await dead_letter_directly(sandbox.amqp_url, command, headers, replies.name, correlation_id=name)
        ids = {
            entry["correlationId"]: entry["id"]
            for entry in await listed(sandbox.amqp_url, host) + await listed(sandbox.amqp_url, other_host)
        }
        assert len(ids) == 5

        result = await run_dlq(
            sandbox.amqp_url,
            "replay",
            *("--host", host, "--type", "CreateBooking", "--reason", "handler_failed", "--older-than", "3600"),
        )
        assert result.stdout.startswith("replayed 1 of "), result.stderr
        await replies.wait("selected")

        by_id = await run_dlq(sandbox.amqp_url, "replay", "--id", ids["too recent"])
        assert by_id.stdout.startswith("replayed 1 of "), by_id.stderr
        await replies.wait("too recent")

        left = await listed(sandbox.amqp_url, host) + await listed(sandbox.amqp_url, other_host)
        assert sorted(entry["correlationId"] for entry in left) == ["other host", "other reason", "other type"]
        assert set(replies.bodies) == {"selected", "too recent"}


# ---- purge, and a vhost without the topology: each on a vhost of its own


@pytest.fixture
def own_vhost(servers):
    box = create_sandbox(servers, "dlq")
    yield box
    destroy_sandbox(box)


@pytest.fixture
def own_dlq(own_vhost):
    """A vhost with the topology and an empty dead-letter queue, and no worker."""
    asyncio.run(declare_worker_topology(own_vhost.amqp_url))
    return own_vhost


async def fill(amqp_url: str, count: int) -> None:
    for _ in range(count):
        command = booking(str(uuid.uuid4()), str(uuid.uuid4()), at(9), at(9, 30))
        await dead_letter_directly(amqp_url, command, failure_headers(datetime.now(UTC)), reply_to=None)


async def test_purge_without_confirmation_does_nothing(own_dlq):
    await fill(own_dlq.amqp_url, 3)
    for answer in ("no\n", "", "y\n"):
        result = await run_dlq(own_dlq.amqp_url, "purge", stdin=answer)
        assert result.returncode == 1
        assert "Delete 3 dead letters" in result.stderr
        assert result.stdout.strip() == "nothing purged"
    assert await dlq_depth(own_dlq.amqp_url) == 3


async def test_purge_with_yes_empties_the_queue(own_dlq):
    await fill(own_dlq.amqp_url, 3)
    result = await run_dlq(own_dlq.amqp_url, "purge", "--yes")
    assert (result.returncode, result.stdout.strip()) == (0, "purged 3 dead letters")
    assert await dlq_depth(own_dlq.amqp_url) == 0


async def test_purge_after_a_typed_yes_empties_the_queue(own_dlq):
    await fill(own_dlq.amqp_url, 2)
    result = await run_dlq(own_dlq.amqp_url, "purge", stdin="yes\n")
    assert (result.returncode, result.stdout.strip()) == (0, "purged 2 dead letters")
    assert await dlq_depth(own_dlq.amqp_url) == 0


async def test_a_vhost_without_the_topology_is_reported(own_vhost):
    result = await run_dlq(own_vhost.amqp_url, "list")
    assert result.returncode == 2
    assert f"no queue '{DEAD_LETTER_QUEUE}'" in result.stderr
