"""The commands each benchmark scenario sends, built from the prepared fixture.
Run k of a scenario uses its own day, so every run books free slots."""

import random
import uuid
from datetime import UTC, datetime, timedelta

BASE_DAY = datetime(2032, 1, 1, tzinfo=UTC)
SLOT_MINUTES = 30
SLOTS_PER_DAY = 24 * 60 // SLOT_MINUTES


def fmt(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def day_of(run: int, scenario: str) -> datetime:
    offset = {"spread": 0, "hot": 20, "mixed": 40, "soak": 60}[scenario]
    return BASE_DAY + timedelta(days=offset + run)


def window_commands(hosts: list[str], days: range) -> list[dict]:
    """One window per host covering every benchmark day (merged as it grows)."""
    start, end = BASE_DAY + timedelta(days=days.start), BASE_DAY + timedelta(days=days.stop)
    return [
        {"type": "CreateAvailability", "commandId": str(uuid.uuid4()), "actorId": None, "hostId": host,
         "startTime": fmt(start), "endTime": fmt(end), "slotDuration": SLOT_MINUTES}
        for host in hosts
    ]


def _booking(host: str, user: str, start: datetime) -> dict:
    return {"type": "CreateBooking", "commandId": str(uuid.uuid4()), "actorId": user, "hostId": host,
            "userId": user, "startTime": fmt(start), "endTime": fmt(start + timedelta(minutes=SLOT_MINUTES))}


def spread(hosts: list[str], users: list[str], count: int, run: int) -> list[dict]:
    """Bookings of distinct free slots: request i goes to host i mod H, its next slot."""
    day = day_of(run, "spread")
    return [
        _booking(hosts[i % len(hosts)], users[i % len(users)],
                 day + timedelta(minutes=SLOT_MINUTES * (i // len(hosts))))
        for i in range(count)
    ]


def hot(hosts: list[str], users: list[str], count: int, run: int) -> list[dict]:
    """One host, many users racing for a few slots: most lose with SLOT_TAKEN."""
    day, host, rng = day_of(run, "hot"), hosts[0], random.Random(run)
    return [
        _booking(host, users[i % len(users)], day + timedelta(minutes=SLOT_MINUTES * rng.randrange(SLOTS_PER_DAY)))
        for i in range(count)
    ]


def mixed(hosts: list[str], users: list[str], count: int, run: int) -> list[dict]:
    """Availability added and removed, bookings (some of taken slots), over all
    hosts; the driver adds cancels and reschedules of confirmed bookings as their
    replies arrive (see follow_up)."""
    day, rng, commands = day_of(run, "mixed"), random.Random(run), []
    for i in range(count):
        host, user = hosts[i % len(hosts)], users[i % len(users)]
        kind = i % 10
        if kind < 6:
            commands.append(_booking(host, user, day + timedelta(minutes=SLOT_MINUTES * rng.randrange(SLOTS_PER_DAY))))
        else:
            start = BASE_DAY + timedelta(days=200 + rng.randrange(30), hours=rng.randrange(20))
            command = {"type": "CreateAvailability" if kind < 8 else "RemoveAvailability",
                       "commandId": str(uuid.uuid4()), "actorId": host, "hostId": host,
                       "startTime": fmt(start), "endTime": fmt(start + timedelta(hours=2))}
            if kind < 8:
                command["slotDuration"] = SLOT_MINUTES
            commands.append(command)
    return commands


def follow_up(reply: dict, rng: random.Random) -> dict | None:
    """In `mixed`: half the confirmed bookings are then cancelled or rescheduled
    (to the next slot: confirmed when free, SLOT_TAKEN when not)."""
    if reply.get("type") != "BookingConfirmed" or rng.random() < 0.5:
        return None
    booking = reply["booking"]
    base = {"commandId": str(uuid.uuid4()), "actorId": booking["userId"], "hostId": booking["hostId"],
            "bookingId": booking["bookingId"]}
    if rng.random() < 0.5:
        return {"type": "CancelBooking", **base}
    start = datetime.fromisoformat(booking["endTime"])
    return {"type": "RescheduleBooking", **base, "startTime": fmt(start),
            "endTime": fmt(start + timedelta(minutes=SLOT_MINUTES))}


SCENARIOS = {"spread": spread, "hot": hot, "mixed": mixed, "soak": spread}
