"""The write-behind buffer's one rule (services/booking/db/write_behind.py)."""

import uuid
from datetime import UTC, datetime, timedelta

from services.booking.db.write_behind import WriteBehind
from services.booking.domain.bookings import Booking
from services.booking.domain.ranges import TimeRange

START = datetime(2031, 3, 3, 9, tzinfo=UTC)


def booking_of(host: uuid.UUID) -> Booking:
    return Booking(uuid.uuid4(), host, uuid.uuid4(), TimeRange(START, START + timedelta(minutes=30)), "CONFIRMED")


def test_a_read_of_another_host_leaves_them_held_a_read_of_theirs_takes_them_all():
    one, other, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    held = WriteBehind()
    first, second = booking_of(one), booking_of(other)
    held.hold(first)
    held.hold(second)
    assert held.due((third,)) == []
    assert held.due((other,)) == [first, second]  # all of them, in the order decided
    assert held.due((other,)) == [] and held.rest() == []


def test_a_write_takes_them_all_and_the_commit_takes_the_rest():
    held = WriteBehind()
    assert held.due(None) == []
    first = booking_of(uuid.uuid4())
    held.hold(first)
    assert held.due(None) == [first]
    second = booking_of(uuid.uuid4())
    held.hold(second)
    assert held.rest() == [second] and held.rest() == []
