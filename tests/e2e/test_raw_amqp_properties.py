"""Issue 11, item 6f: a command whose `correlation_id`, `reply_to` or `message_id` is not
valid UTF-8, published as raw AMQP to booking.commands on the real broker. The worker
must keep serving (other commands answered meanwhile) and lose nothing: the command is
answered where it can be, its outcome stored, or it is dead-lettered with a reason.

The worker runs in a sandbox of its own: before the fix such a message took the
worker's connection down at every redelivery, which would have stalled the session's
shared worker for every later test."""

import asyncio
import json
import time
import uuid

import aio_pika
import asyncpg
import pytest

from contracts.dead_letters import REASON_HEADER
from contracts.topology import COMMAND_EXCHANGE, partition_key
from tests.support.amqp_client import CommandClient
from tests.support.commands import register
from tests.support.dlq import peek_dead_letters
from tests.support.processes import worker_process
from tests.support.services import create_sandbox, destroy_sandbox

BAD = [b"\xff\xfe", b"caf\xe9", b"\xc3\x28-half", b"\xed\xa0\x80"]  # not UTF-8 (the last a surrogate)


class RawShortString(str):
    """A str that pamqp writes as exactly these bytes (it calls `encode`): the way to put
    invalid UTF-8 into a property with a client that only takes text."""

    def __new__(cls, raw: bytes) -> "RawShortString":
        text = super().__new__(cls, raw.decode("latin-1"))
        text.raw = raw
        return text

    def encode(self, *_: object, **__: object) -> bytes:
        return self.raw


@pytest.fixture(scope="module")
def own_worker(servers, tmp_path_factory):
    box = create_sandbox(servers, "raw-props")
    worker = worker_process(box.env(BOOKING_PARTITIONS="4"), tmp_path_factory.mktemp("raw-props") / "worker.log")
    try:
        worker.start()
        yield box, worker
    finally:
        worker.terminate()
        destroy_sandbox(box)


async def _publish(client: CommandClient, command: dict, **properties: object) -> None:
    message = aio_pika.Message(
        json.dumps(command).encode(),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        reply_to=client.reply_queue.name,
        correlation_id=str(uuid.uuid4()),
    )
    for name, value in properties.items():
        setattr(message, name, value)  # after construction: Message() would make a plain str of it
    exchange = await client.channel.get_exchange(COMMAND_EXCHANGE)
    await exchange.publish(message, routing_key=partition_key(command))


async def _fate(box, command_id: str, timeout: float = 20) -> str:
    """'stored' once the command's outcome is in the database, 'dead-lettered' once a dead
    letter of it says why; 'lost' if neither comes in time."""
    deadline = time.monotonic() + timeout
    conn = await asyncpg.connect(box.database_url)
    try:
        while time.monotonic() < deadline:
            if await conn.fetchval("SELECT 1 FROM processed_commands WHERE command_id = $1", uuid.UUID(command_id)):
                return "stored"
            for letter in await asyncio.to_thread(peek_dead_letters, box):
                if command_id.encode() in letter["payload"].encode("utf-8", "surrogatepass") and (
                    letter["properties"].get("headers", {}).get(REASON_HEADER)
                ):
                    return "dead-lettered"
            await asyncio.sleep(0.3)
    finally:
        await conn.close()
    return "lost"


def _properties(case: str, raw: bytes) -> dict[str, object]:
    if case == "header-name":
        return {"headers": {RawShortString(b"x-" + raw): "value"}}
    if case == "direct-reply-to":  # a pseudo-queue name the broker cannot decode
        return {"reply_to": RawShortString(b"amq.rabbitmq.reply-to." + raw)}
    return {name: RawShortString(raw) for name in case.split("+")}


CASES = ["correlation_id", "reply_to", "message_id", "correlation_id+reply_to", "header-name", "direct-reply-to"]


@pytest.mark.parametrize("case", CASES)
async def test_a_property_that_is_not_utf8_neither_stops_the_worker_nor_is_lost(own_worker, case):
    box, worker = own_worker
    async with CommandClient(box.amqp_url) as client:
        assert (await client.request(register()))["type"] == "UserRegistered"  # the worker answers
        poisoned = []
        for raw in BAD:
            command = register()
            poisoned.append(command)
            await _publish(client, command, **_properties(case, raw))
        # meanwhile and after, other commands are answered at once, one after the other
        started = time.monotonic()
        for _ in range(10):
            reply = await client.request(register(), timeout=10)
            assert reply["type"] == "UserRegistered", reply
        assert time.monotonic() - started < 10
        fates = {command["commandId"]: await _fate(box, command["commandId"]) for command in poisoned}
        assert "lost" not in fates.values(), fates
        if "reply" not in case:  # the reply could go back: it came, with the command's id in it
            answered = {body["commandId"] for bodies in client.replies.values() for body in bodies}
            assert {command["commandId"] for command in poisoned} <= answered
    assert worker.process.poll() is None, worker.new_log()[-3000:]
    assert "Traceback" not in worker.new_log(), worker.new_log()[-3000:]
