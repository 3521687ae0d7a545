"""The rules of RegisterUser, CreateAvailability and RemoveAvailability and their reason
codes, in the contract's order (CONTRACT.md section 3), on both stores."""

import uuid
from datetime import timedelta

from services.booking.domain.ranges import TimeRange
from tests.handlers.calls import LATER, NOW, booked, host_with_window, new_user, rejected, send
from tests.support.commands import FUTURE_DAY, at, availability, cancel, register, removal

AROUND_THE_DAY = TimeRange(FUTURE_DAY - timedelta(days=1), FUTURE_DAY + timedelta(days=2))


def windows_of(reply: dict) -> list[tuple[str, str]]:
    return [(w["startTime"], w["endTime"]) for w in reply["windows"]]


async def stored_windows(store, host: str) -> list[tuple[str, str, str, int]]:
    _, windows = await store.host_and_windows_near(uuid.UUID(host), AROUND_THE_DAY)
    return [(str(w.id), w.range.start.strftime("%H:%M"), w.range.end.strftime("%H:%M"), w.slot_minutes) for w in windows]


# ---- RegisterUser


async def test_register_user_replies_with_the_user_and_stores_it(store):
    email = f"Grace.{uuid.uuid4().hex[:8]}@Example.com"  # the PostgreSQL store shares the run's database
    command = register("HOST", name="Grace", email=email)
    reply = await send(store, command)
    assert reply["type"] == "UserRegistered"
    assert reply["commandId"] == command["commandId"]
    assert {k: reply["user"][k] for k in ("name", "email", "role")} == {
        "name": "Grace", "email": email, "role": "HOST"
    }
    assert await stored_windows(store, reply["user"]["userId"]) == []
    reply = await send(store, availability(reply["user"]["userId"], at(9), at(10)))
    assert reply["type"] == "AvailabilityCreated"  # the host exists, with its role


async def test_an_email_is_taken_whatever_its_case(store):
    local = f"dup.case.{uuid.uuid4().hex[:8]}"
    await new_user(store, email=f"{local}@example.com")
    rejected(await send(store, register(email=f"{local.upper()}@Example.com")), "UserRejected", "EMAIL_TAKEN")


async def test_register_user_validation(store):
    reply = await send(store, register(role="ADMIN", name=""))
    rejected(reply, "UserRejected", "VALIDATION_FAILED")
    assert {e["field"] for e in reply["errors"]} == {"role", "name"}


# ---- CreateAvailability


async def test_availability_actor_and_host_checks_in_order(store):
    host = await new_user(store, "HOST")
    user = await new_user(store)
    unknown = str(uuid.uuid4())
    cases = [
        (availability(host, at(9), at(10), actor=user), "FORBIDDEN"),
        (availability(unknown, at(9), at(10), actor=user), "FORBIDDEN"),  # before HOST_NOT_FOUND
        (availability(unknown, at(9), at(10), actor=None), "HOST_NOT_FOUND"),
        (availability(user, at(9), at(10)), "NOT_A_HOST"),
    ]
    for command, reason in cases:
        rejected(await send(store, command), "AvailabilityRejected", reason)
    rejected(await send(store, availability(user, at(9), at(10)), now=LATER), "AvailabilityRejected", "NOT_A_HOST")
    assert (await send(store, availability(host, at(9), at(10), actor=None)))["type"] == "AvailabilityCreated"


async def test_a_window_ending_in_the_past_is_rejected_before_any_conflict(store):
    host = await host_with_window(store, at(9), at(10), 30)
    rejected(await send(store, availability(host, at(9), at(10)), now=LATER), "AvailabilityRejected", "IN_THE_PAST")
    conflicting = availability(host, at(9, 15), at(10, 15), 30)
    rejected(await send(store, conflicting, now=LATER), "AvailabilityRejected", "IN_THE_PAST")
    ending_now = NOW.replace(hour=10).strftime("%Y-%m-%dT%H:%M:%SZ")
    started = availability(host, NOW.replace(hour=9).strftime("%Y-%m-%dT%H:%M:%SZ"), ending_now)
    rejected(await send(store, started, now=NOW.replace(hour=10)), "AvailabilityRejected", "IN_THE_PAST")
    assert (await send(store, started, now=NOW.replace(hour=9, minute=59)))["type"] == "AvailabilityCreated"


async def test_windows_merge_when_slot_length_and_grid_match(store):
    host = await new_user(store, "HOST")
    first = await send(store, availability(host, at(9), at(10)))
    touching = await send(store, availability(host, at(10), at(11)))
    overlapping = await send(store, availability(host, at(10, 30), at(12)))
    window_id = first["availability"]["availabilityId"]
    assert touching["availability"]["availabilityId"] == overlapping["availability"]["availabilityId"] == window_id
    assert (overlapping["availability"]["startTime"], overlapping["availability"]["endTime"]) == (at(9), at(12))
    assert await stored_windows(store, host) == [(window_id, "09:00", "12:00", 30)]


async def test_a_window_between_two_absorbs_them_into_the_earliest(store):
    host = await new_user(store, "HOST")
    first = (await send(store, availability(host, at(9), at(10))))["availability"]["availabilityId"]
    await send(store, availability(host, at(11), at(12)))
    merged = await send(store, availability(host, at(10), at(11)))
    assert merged["availability"]["availabilityId"] == first
    assert await stored_windows(store, host) == [(first, "09:00", "12:00", 30)]


async def test_sending_the_same_window_twice_changes_nothing(store):
    host = await new_user(store, "HOST")
    first = await send(store, availability(host, at(9), at(12)))
    again = await send(store, availability(host, at(9), at(12)))
    inside = await send(store, availability(host, at(10), at(11)))
    assert first["availability"] == again["availability"]
    assert inside["availability"] == first["availability"]
    assert await stored_windows(store, host) == [(first["availability"]["availabilityId"], "09:00", "12:00", 30)]


async def test_windows_conflict_on_another_slot_length_or_grid(store):
    host = await host_with_window(store, at(9), at(10), 30)
    for command in (
        availability(host, at(10), at(11), 15),  # touches, another length
        availability(host, at(9, 45), at(10, 45), 30),  # overlaps, another grid
        availability(host, at(8, 40), at(9, 40), 30),  # overlaps, another grid
    ):
        rejected(await send(store, command), "AvailabilityRejected", "AVAILABILITY_CONFLICT")
    assert (await send(store, availability(host, at(10, 10), at(11, 10), 60)))["type"] == "AvailabilityCreated"  # a gap
    assert [w[1:] for w in await stored_windows(store, host)] == [("09:00", "10:00", 30), ("10:10", "11:10", 60)]


async def test_create_availability_validation(store):
    host = await new_user(store, "HOST")
    for command in (
        availability(host, at(9), at(10), 0),
        availability(host, at(10), at(9)),
        availability(host, at(9), at(9, 20), 30),  # holds no slot
        availability(host, at(9), at(9, day=91)),  # over 90 days
    ):
        rejected(await send(store, command), "AvailabilityRejected", "VALIDATION_FAILED")
    assert await stored_windows(store, host) == []


# ---- RemoveAvailability


async def test_removal_actor_and_host_checks_in_order(store):
    host = await host_with_window(store)
    user = await new_user(store)
    unknown = str(uuid.uuid4())
    cases = [
        (removal(host, at(9), at(10), actor=user), "FORBIDDEN"),
        (removal(unknown, at(9), at(10), actor=user), "FORBIDDEN"),
        (removal(unknown, at(9), at(10), actor=None), "HOST_NOT_FOUND"),
        (removal(user, at(9), at(10)), "NOT_A_HOST"),
    ]
    for command, reason in cases:
        rejected(await send(store, command), "AvailabilityRejected", reason)
    assert len(await stored_windows(store, host)) == 1


async def test_a_cut_splits_a_window_and_the_first_piece_keeps_its_id(store):
    host = await host_with_window(store, at(9), at(12))
    (window_id, *_), = await stored_windows(store, host)
    reply = await send(store, removal(host, at(10), at(11), actor=None))
    assert reply["type"] == "AvailabilityRemoved"
    assert windows_of(reply) == [(at(9), at(10)), (at(11), at(12))]
    stored = await stored_windows(store, host)
    assert [w[1:3] for w in stored] == [("09:00", "10:00"), ("11:00", "12:00")]
    assert stored[0][0] == window_id != stored[1][0]


async def test_a_piece_too_short_for_one_slot_is_dropped(store):
    host = await host_with_window(store, at(9), at(11, 30), 60)
    reply = await send(store, removal(host, at(9), at(11)))
    assert windows_of(reply) == []
    assert await stored_windows(store, host) == []
    host = await host_with_window(store, at(9), at(11, 30), 60)
    reply = await send(store, removal(host, at(10), at(11)))
    assert windows_of(reply) == [(at(9), at(10))]  # 11:00-11:30 holds no 60-minute slot


async def test_a_cut_boundary_off_the_grid_is_misaligned_before_bookings_count(store):
    host = await host_with_window(store, at(9), at(12), 30)
    user = await new_user(store)
    await booked(store, host, user, at(9, 30), at(10))
    for cut in ((at(9, 10), at(10)), (at(9), at(10, 10))):
        rejected(await send(store, removal(host, *cut)), "AvailabilityRejected", "MISALIGNED_SLOT")
    assert [w[1:3] for w in await stored_windows(store, host)] == [("09:00", "12:00")]


async def test_a_confirmed_booking_in_the_cut_keeps_the_window_until_cancelled(store):
    host = await host_with_window(store, at(9), at(12))
    user = await new_user(store)
    booking_id = await booked(store, host, user, at(10), at(10, 30))
    rejected(await send(store, removal(host, at(10), at(11))), "AvailabilityRejected", "BOOKINGS_IN_RANGE")
    assert [w[1:3] for w in await stored_windows(store, host)] == [("09:00", "12:00")]
    assert (await send(store, cancel(host, booking_id, user)))["type"] == "BookingCancelled"
    reply = await send(store, removal(host, at(10), at(11)))
    assert windows_of(reply) == [(at(9), at(10)), (at(11), at(12))]


async def test_removing_time_that_holds_no_window_succeeds_and_changes_nothing(store):
    host = await host_with_window(store, at(9), at(10))
    reply = await send(store, removal(host, at(13), at(14)))
    assert (reply["type"], windows_of(reply)) == ("AvailabilityRemoved", [])
    assert [w[1:3] for w in await stored_windows(store, host)] == [("09:00", "10:00")]


async def test_remove_availability_validation(store):
    host = await host_with_window(store)
    rejected(await send(store, removal(host, at(10), at(9))), "AvailabilityRejected", "VALIDATION_FAILED")
    not_a_time = {**removal(host, at(9), at(10)), "startTime": "9am"}
    rejected(await send(store, not_a_time), "AvailabilityRejected", "VALIDATION_FAILED")
