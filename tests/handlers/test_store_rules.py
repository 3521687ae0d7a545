"""What both stores refuse, as the database's constraints do, and the answers that
need no store: a command id used again, and reasons typed as the contract's enum."""

import json
import uuid
from datetime import timedelta

import pytest

from contracts.incoming import read_command
from contracts.reasons import Reason
from services.booking.db.inbox import StoredOutcome
from services.booking.domain.bookings import Booking
from services.booking.domain.ranges import TimeRange
from services.booking.domain.rejection import Rejected
from services.booking.domain.windows import Window
from services.booking.processing import Route, answer_again
from services.booking.store import BookingStore, ConstraintViolated
from tests.handlers.calls import NOW
from tests.support.commands import FUTURE_DAY, booking

NINE = FUTURE_DAY + timedelta(hours=9)


def span(start_minutes: int, end_minutes: int) -> TimeRange:
    return TimeRange(NINE + timedelta(minutes=start_minutes), NINE + timedelta(minutes=end_minutes))


async def two_people(store) -> tuple[uuid.UUID, uuid.UUID]:
    host, user = uuid.uuid4(), uuid.uuid4()
    assert await store.add_user(host, "Hana", f"{host.hex}@example.com", "HOST")
    assert await store.add_user(user, "Uma", f"{user.hex}@example.com", "USER")
    return host, user


async def test_each_store_is_a_booking_store(store):
    assert isinstance(store, BookingStore)


async def test_an_email_is_unique_whatever_its_case(store):
    email = f"{uuid.uuid4().hex}@Example.com"
    assert await store.add_user(uuid.uuid4(), "Ada", email, "USER")
    assert not await store.add_user(uuid.uuid4(), "Ada", email.upper(), "HOST")


async def test_overlapping_windows_of_a_host_are_refused(store):
    host, user = await two_people(store)
    await store.add_window(Window(uuid.uuid4(), host, span(0, 60), 30))
    await store.add_window(Window(uuid.uuid4(), user, span(0, 60), 30))  # another host's
    await store.add_window(Window(uuid.uuid4(), host, span(60, 120), 30))  # touching is no overlap
    with pytest.raises(ConstraintViolated):
        await store.add_window(Window(uuid.uuid4(), host, span(30, 90), 30))


async def test_a_window_resized_over_another_is_refused(store):
    host, _ = await two_people(store)
    first = Window(uuid.uuid4(), host, span(0, 60), 30)
    await store.add_window(first)
    await store.add_window(Window(uuid.uuid4(), host, span(120, 180), 30))
    await store.resize_window(Window(first.id, host, span(0, 120), 30))
    with pytest.raises(ConstraintViolated):
        await store.resize_window(Window(first.id, host, span(0, 150), 30))


async def test_overlapping_confirmed_bookings_of_a_host_are_refused(store):
    host, user = await two_people(store)
    await store.add_booking(Booking(uuid.uuid4(), host, user, span(0, 30), "CONFIRMED"))
    await store.add_booking(Booking(uuid.uuid4(), host, user, span(0, 30), "CANCELLED"))
    await store.add_booking(Booking(uuid.uuid4(), host, user, span(30, 60), "CONFIRMED"))
    second = Booking(uuid.uuid4(), host, user, span(15, 45), "CONFIRMED")
    with pytest.raises(ConstraintViolated):
        await store.add_booking(second)
        await store.host_booking(host, second.id)  # the database's store writes it, at the latest, here


async def test_a_booking_moved_over_a_confirmed_one_is_refused(store):
    host, user = await two_people(store)
    first = Booking(uuid.uuid4(), host, user, span(0, 30), "CONFIRMED")
    await store.add_booking(first)
    await store.add_booking(Booking(uuid.uuid4(), host, user, span(60, 90), "CONFIRMED"))
    await store.update_booking(Booking(first.id, host, user, span(0, 30), "CANCELLED"))
    await store.update_booking(Booking(first.id, host, user, span(60, 90), "CANCELLED"))
    assert (await store.host_booking(host, first.id)).range == span(60, 90)
    with pytest.raises(ConstraintViolated):
        await store.update_booking(Booking(first.id, host, user, span(60, 90), "CONFIRMED"))


async def test_loads_see_the_stores_writes(store):
    host, user = await two_people(store)
    window = Window(uuid.uuid4(), host, span(0, 120), 30)
    await store.add_window(window)
    held = Booking(uuid.uuid4(), host, user, span(30, 60), "CONFIRMED")
    await store.add_booking(held)
    parties = await store.booking_parties(host, user, span(30, 60))
    assert [p.role for p in parties[:2]] == ["HOST", "USER"]
    assert parties[2:] == ([window], [span(30, 60)])
    assert await store.windows_and_confirmed(host, span(30, 60), excluding=held.id) == ([window], [])
    assert await store.host_windows_and_confirmed(host, span(120, 150)) == (parties[0], [window], [])
    await store.delete_windows([window.id])
    assert await store.host_and_windows_near(host, span(0, 30)) == (parties[0], [])
    assert await store.host_and_windows_near(uuid.uuid4(), span(0, 30)) == (None, [])


# ---- no store needed


def test_a_command_id_used_again_with_another_body_is_answered_to_its_sender_only():
    command = booking(str(uuid.uuid4()), str(uuid.uuid4()), "2031-03-03T09:00:00Z", "2031-03-03T09:30:00Z")
    first = read_command(json.dumps(command).encode())
    stored = StoredOutcome(first.fingerprint, "BookingConfirmed", b'{"type": "BookingConfirmed"}')

    again = answer_again(first, stored, NOW)
    assert (again.reply, again.route, again.routing_key, again.pending) == (
        stored.reply, Route.REPLY_AND_EVENT, "booking.confirmed", False
    )

    other = read_command(json.dumps({**command, "endTime": "2031-03-03T10:00:00Z"}).encode())
    reused = answer_again(other, stored, NOW)
    reply = json.loads(reused.reply)
    assert (reply["type"], reply["reason"], reply["commandId"]) == (
        "BookingRejected", "COMMAND_ID_REUSED", command["commandId"]
    )
    assert (reused.route, reused.result, reused.pending) == (Route.REPLY_ONLY, "command.reused", False)


def test_a_reason_is_the_contracts_enum_never_a_bare_string():
    assert Rejected(Reason.SLOT_TAKEN, "taken").reason is Reason.SLOT_TAKEN
    with pytest.raises(TypeError):
        Rejected("SLOT_TAKEN", "taken")
    with pytest.raises(AttributeError):
        Reason.SLOT_TAKNE  # noqa: B018 - a typo fails where it is written
