"""Contract section 5 on the real broker: duplicates, reused ids, malformed messages."""

import asyncio
import json
import uuid

from contracts.dead_letters import DETAIL_HEADER, REASON_HEADER
from tests.e2e.test_worker_commands import host_with_window, new_user
from tests.support.commands import at, availability, booking, register
from tests.support.dlq import wait_for_dead_letter


async def test_same_command_twice_has_one_effect_and_the_same_reply(client, sandbox):
    host = await host_with_window(client)
    user = await new_user(client)
    command = booking(host, user, at(9), at(9, 30))
    first = await client.request(command)
    # the same JSON content with other key order and whitespace
    reordered = json.dumps(dict(reversed(list(command.items()))), indent=2).encode()
    second = await asyncio.wait_for(await client.publish_raw(reordered, host), 15)
    assert first["type"] == "BookingConfirmed"
    assert second == first


async def test_same_command_id_with_another_body_is_refused_and_not_stored(client):
    host = await host_with_window(client)
    user = await new_user(client)
    original = booking(host, user, at(9), at(9, 30))
    first = await client.request(original)
    changed = {**original, "startTime": at(10), "endTime": at(10, 30)}
    reused = await client.request(changed)
    assert reused["type"] == "BookingRejected"
    assert reused["reason"] == "COMMAND_ID_REUSED"
    # the stored outcome is still the first one
    assert await client.request(original) == first
    # and the slot the reused command named was not taken
    other = await client.request(booking(host, await new_user(client), at(10), at(10, 30)))
    assert other["type"] == "BookingConfirmed"


async def test_replies_use_the_senders_correlation_id_or_the_command_id(client):
    command = register()
    reply = await asyncio.wait_for(await client.send(command, correlation_id="my-correlation"), 15)
    assert reply["commandId"] == command["commandId"]
    assert "my-correlation" in client.replies


async def _assert_dead_lettered(client, sandbox, body: bytes, routing_key: str, detail_part: str):
    correlation = str(uuid.uuid4())
    reply = await asyncio.wait_for(await client.publish_raw(body, routing_key, correlation), 15)
    assert reply["type"] == "CommandRejected"
    assert reply["reason"] == "MALFORMED_MESSAGE"
    assert detail_part in reply["detail"]
    dead = await asyncio.to_thread(wait_for_dead_letter, sandbox, correlation)
    headers = dead["properties"]["headers"]
    assert headers[REASON_HEADER] == "MALFORMED_MESSAGE"
    assert detail_part in headers[DETAIL_HEADER]
    # and the worker still answers the next command
    assert (await client.request(register()))["type"] == "UserRegistered"


async def test_non_json_is_dead_lettered_with_a_reply(client, sandbox):
    await _assert_dead_lettered(client, sandbox, b"\x00\xffnot json", "k", "not JSON")


async def test_unknown_type_is_dead_lettered_with_a_reply(client, sandbox):
    body = json.dumps({"type": "DeleteEverything", "commandId": str(uuid.uuid4())}).encode()
    await _assert_dead_lettered(client, sandbox, body, "k", "unknown command type")


async def test_missing_command_id_is_dead_lettered_with_a_reply(client, sandbox):
    body = json.dumps({"type": "CreateBooking", "commandId": "not-a-uuid"}).encode()
    await _assert_dead_lettered(client, sandbox, body, "k", "commandId")


async def test_oversized_body_is_dead_lettered_with_a_reply(client, sandbox):
    command = register(name="x" * 70_000)
    await _assert_dead_lettered(client, sandbox, json.dumps(command).encode(), "k", "more than")


async def test_a_json_array_is_dead_lettered_with_a_reply(client, sandbox):
    await _assert_dead_lettered(client, sandbox, b"[1, 2, 3]", "k", "not a JSON object")


async def test_a_nanosecond_past_the_minute_is_refused_on_the_wire(client):
    # issue 11, item 6a: fromisoformat keeps microseconds only, so this once passed as 10:00
    host = await new_user(client, "HOST")
    nanosecond = availability(host, "2032-05-20T10:00:00.000000001Z", "2032-05-20T12:00:00Z")
    reply = await client.request(nanosecond)
    assert reply["type"] == "AvailabilityRejected", reply
    assert reply["reason"] == "VALIDATION_FAILED", reply
    assert [e["field"] for e in reply["errors"]] == ["startTime"], reply
    # a zero fraction of any length is a whole minute
    zeros = availability(host, "2032-05-20T10:00:00.000000000Z", "2032-05-20T12:00:00.0000000000Z")
    created = await client.request(zeros)
    assert created["type"] == "AvailabilityCreated", created
    assert created["availability"]["startTime"] == "2032-05-20T10:00:00Z"
    user = await new_user(client)
    late = booking(host, user, "2032-05-20T10:00:00Z", "2032-05-20T10:30:00.000000001+00:00")
    refused = await client.request(late)
    assert refused["type"] == "BookingRejected", refused
    assert refused["reason"] == "VALIDATION_FAILED", refused
    assert [e["field"] for e in refused["errors"]] == ["endTime"], refused
