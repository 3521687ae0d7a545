"""Sending wire commands (tests/support/commands.py) straight to the handlers on a store,
through what the worker does after the inbox: validation, then the handler."""

import json
from datetime import datetime, timedelta

from contracts.incoming import read_command
from services.booking.processing import decide, encode, parse
from services.booking.store import BookingStore
from tests.support.commands import FUTURE_DAY, at, availability, booking, register

NOW = FUTURE_DAY - timedelta(days=2)  # every slot commands.at() builds is in the future
LATER = FUTURE_DAY + timedelta(days=7)  # ... and in the past


async def send(store: BookingStore, command: dict, now: datetime = NOW) -> dict:
    incoming = read_command(json.dumps(command).encode())
    return json.loads(encode(await decide(incoming, parse(incoming), store, now)))


def rejected(reply: dict, kind: str, reason: str) -> None:
    assert (reply["type"], reply.get("reason")) == (kind, reason), reply
    assert reply["detail"]


async def new_user(store: BookingStore, role: str = "USER", **fields) -> str:
    reply = await send(store, register(role, **fields))
    assert reply["type"] == "UserRegistered", reply
    return reply["user"]["userId"]


async def host_with_window(store: BookingStore, start: str = at(9), end: str = at(12), slot: int = 30) -> str:
    host = await new_user(store, "HOST")
    reply = await send(store, availability(host, start, end, slot))
    assert reply["type"] == "AvailabilityCreated", reply
    return host


async def booked(store: BookingStore, host: str, user: str, start: str, end: str) -> str:
    reply = await send(store, booking(host, user, start, end))
    assert reply["type"] == "BookingConfirmed", reply
    return reply["booking"]["bookingId"]
