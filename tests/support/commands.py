"""Builders of wire commands (plain dicts, as another service would send them)."""

import uuid
from datetime import UTC, datetime, timedelta

# Far enough ahead that nothing is in the past, whatever day the suite runs.
FUTURE_DAY = datetime(2031, 3, 3, tzinfo=UTC)


def at(hour: int, minute: int = 0, day: int = 0) -> str:
    return (FUTURE_DAY + timedelta(days=day, hours=hour, minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ")


def cid() -> str:
    return str(uuid.uuid4())


def register(role: str = "USER", email: str | None = None, name: str = "Ada", **extra) -> dict:
    return {
        "type": "RegisterUser",
        "commandId": cid(),
        "actorId": None,
        "name": name,
        "email": email or f"{uuid.uuid4().hex[:12]}@example.com",
        "role": role,
        **extra,
    }


def availability(host: str, start: str, end: str, slot: int = 30, actor: str | None | object = ..., **extra) -> dict:
    return {
        "type": "CreateAvailability",
        "commandId": cid(),
        "actorId": host if actor is ... else actor,
        "hostId": host,
        "startTime": start,
        "endTime": end,
        "slotDuration": slot,
        **extra,
    }


def removal(host: str, start: str, end: str, actor: str | None | object = ...) -> dict:
    return {
        "type": "RemoveAvailability",
        "commandId": cid(),
        "actorId": host if actor is ... else actor,
        "hostId": host,
        "startTime": start,
        "endTime": end,
    }


def booking(host: str, user: str, start: str, end: str, actor: str | None | object = ...) -> dict:
    return {
        "type": "CreateBooking",
        "commandId": cid(),
        "actorId": user if actor is ... else actor,
        "hostId": host,
        "userId": user,
        "startTime": start,
        "endTime": end,
    }


def cancel(host: str, booking_id: str, actor: str | None) -> dict:
    return {"type": "CancelBooking", "commandId": cid(), "actorId": actor, "hostId": host, "bookingId": booking_id}


def reschedule(host: str, booking_id: str, start: str, end: str, actor: str | None) -> dict:
    return {
        "type": "RescheduleBooking",
        "commandId": cid(),
        "actorId": actor,
        "hostId": host,
        "bookingId": booking_id,
        "startTime": start,
        "endTime": end,
    }
