"""Baseline (a) of `make bench-http`, the messaging ceiling: the echo consumer on the
partition queues, answering every CreateBooking at once with a BookingConfirmed
(a new booking id, nothing stored), which the real gateway turns into a 201.

`python -m benchmarks.http.stand_in_worker`; broker and topology from BOOKING_*."""

import uuid
from datetime import UTC, datetime

from benchmarks import echo

BOOKING_FIELDS = ("hostId", "userId", "startTime", "endTime")


def booking_confirmed(command: dict) -> dict:
    return {
        "type": "BookingConfirmed",
        "commandId": command["commandId"],
        "occurredAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "booking": {"bookingId": str(uuid.uuid4()), **{k: command[k] for k in BOOKING_FIELDS}, "status": "CONFIRMED"},
    }


if __name__ == "__main__":
    echo.main(booking_confirmed, "stand-in")
