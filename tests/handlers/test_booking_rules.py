"""The rules of CreateBooking, CancelBooking and RescheduleBooking and their reason codes,
in the contract's order (CONTRACT.md section 3), on both stores."""

import uuid

from tests.handlers.calls import LATER, booked, host_with_window, new_user, rejected, send
from tests.support.commands import at, availability, booking, cancel, reschedule


async def status_of(store, host: str, booking_id: str) -> tuple[str, str, str] | None:
    found = await store.host_booking(uuid.UUID(host), uuid.UUID(booking_id))
    if found is None:
        return None
    return found.status, found.range.start.strftime("%H:%M"), found.range.end.strftime("%H:%M")


# ---- CreateBooking


async def test_a_free_slot_is_booked(store):
    host = await host_with_window(store)
    user = await new_user(store)
    command = booking(host, user, at(9, 30), at(10))
    reply = await send(store, command)
    assert reply["type"] == "BookingConfirmed"
    assert reply["commandId"] == command["commandId"]
    view = reply["booking"]
    assert (view["hostId"], view["userId"], view["startTime"], view["endTime"], view["status"]) == (
        host, user, at(9, 30), at(10), "CONFIRMED"
    )
    assert await status_of(store, host, view["bookingId"]) == ("CONFIRMED", "09:30", "10:00")
    assert await status_of(store, str(uuid.uuid4()), view["bookingId"]) is None  # not that host's


async def test_booking_actor_user_and_host_checks_in_order(store):
    host = await host_with_window(store)
    user = await new_user(store)
    unknown = str(uuid.uuid4())
    cases = [
        (booking(host, user, at(9), at(9, 30), actor=host), "FORBIDDEN"),
        (booking(unknown, unknown, at(9), at(9, 30), actor=user), "FORBIDDEN"),  # before the unknowns
        (booking(unknown, unknown, at(9), at(9, 30), actor=None), "USER_NOT_FOUND"),  # before HOST_NOT_FOUND
        (booking(unknown, user, at(9), at(9, 30)), "HOST_NOT_FOUND"),
        (booking(user, user, at(9), at(9, 30)), "NOT_A_HOST"),
    ]
    for command, reason in cases:
        rejected(await send(store, command), "BookingRejected", reason)
    rejected(await send(store, booking(user, user, at(9), at(9, 30)), now=LATER), "BookingRejected", "NOT_A_HOST")
    assert (await send(store, booking(host, user, at(9), at(9, 30), actor=None)))["type"] == "BookingConfirmed"


async def test_booking_slot_checks_in_order(store):
    host = await host_with_window(store, at(9), at(12), 30)
    user = await new_user(store)
    await booked(store, host, user, at(10), at(10, 30))
    cases = [
        (booking(host, user, at(9), at(9, 30)), "IN_THE_PAST", LATER),
        (booking(host, user, at(13), at(13, 30)), "IN_THE_PAST", LATER),  # before OUTSIDE_AVAILABILITY
        (booking(host, user, at(13), at(13, 30)), "OUTSIDE_AVAILABILITY", None),
        (booking(host, user, at(11, 30), at(12, 30)), "OUTSIDE_AVAILABILITY", None),  # runs past the window
        (booking(host, user, at(9, 10), at(9, 40)), "MISALIGNED_SLOT", None),  # off the grid
        (booking(host, user, at(9), at(10)), "MISALIGNED_SLOT", None),  # two slots long
        (booking(host, user, at(10), at(11)), "MISALIGNED_SLOT", None),  # before SLOT_TAKEN
        (booking(host, user, at(10), at(10, 30)), "SLOT_TAKEN", None),
    ]
    for command, reason, now in cases:
        reply = await send(store, command, now=now) if now else await send(store, command)
        rejected(reply, "BookingRejected", reason)


async def test_a_slot_is_one_slot_of_one_window_after_a_merge_too(store):
    host = await host_with_window(store, at(9), at(10), 30)
    await send(store, availability(host, at(10), at(11), 30))
    user = await new_user(store)
    assert (await send(store, booking(host, user, at(9, 30), at(10))))["type"] == "BookingConfirmed"
    assert (await send(store, booking(host, user, at(10), at(10, 30))))["type"] == "BookingConfirmed"
    other = await host_with_window(store, at(9), at(10), 30)
    await send(store, availability(other, at(10, 15), at(11, 15), 30))  # a gap: two windows
    rejected(await send(store, booking(other, user, at(9, 45), at(10, 15))), "BookingRejected", "OUTSIDE_AVAILABILITY")


async def test_bookings_of_one_host_in_a_row_see_each_other(store):
    host = await host_with_window(store)
    first, second = await new_user(store), await new_user(store)
    await booked(store, host, first, at(9), at(9, 30))
    rejected(await send(store, booking(host, second, at(9), at(9, 30))), "BookingRejected", "SLOT_TAKEN")
    await booked(store, host, second, at(9, 30), at(10))


async def test_create_booking_validation(store):
    host = await host_with_window(store)
    user = await new_user(store)
    for command in (
        booking(host, user, at(9, 30), at(9)),
        {**booking(host, user, at(9), at(9, 30)), "startTime": "2031-03-03T09:00:30Z"},
        {key: value for key, value in booking(host, user, at(9), at(9, 30)).items() if key != "userId"},
    ):
        rejected(await send(store, command), "BookingRejected", "VALIDATION_FAILED")


# ---- CancelBooking


async def test_the_user_or_the_host_cancels_and_the_slot_can_be_booked_again(store):
    host = await host_with_window(store)
    user = await new_user(store)
    for actor in (user, host, None):
        booking_id = await booked(store, host, user, at(9), at(9, 30))
        reply = await send(store, cancel(host, booking_id, actor))
        assert (reply["type"], reply["booking"]["status"]) == ("BookingCancelled", "CANCELLED")
        assert await status_of(store, host, booking_id) == ("CANCELLED", "09:00", "09:30")


async def test_cancel_checks_in_order(store):
    host = await host_with_window(store)
    other_host = await host_with_window(store)
    user, stranger = await new_user(store), await new_user(store)
    booking_id = await booked(store, host, user, at(9), at(9, 30))
    cases = [
        (cancel(host, str(uuid.uuid4()), user), "BOOKING_NOT_FOUND"),
        (cancel(other_host, booking_id, user), "BOOKING_NOT_FOUND"),  # another host's
        (cancel(host, str(uuid.uuid4()), stranger), "BOOKING_NOT_FOUND"),  # before FORBIDDEN
        (cancel(host, booking_id, stranger), "FORBIDDEN"),
        (cancel(host, booking_id, other_host), "FORBIDDEN"),
    ]
    for command, reason in cases:
        rejected(await send(store, command), "BookingRejected", reason)
    assert (await send(store, cancel(host, booking_id, user)))["type"] == "BookingCancelled"
    rejected(await send(store, cancel(host, booking_id, stranger)), "BookingRejected", "FORBIDDEN")
    rejected(await send(store, cancel(host, booking_id, host)), "BookingRejected", "ALREADY_CANCELLED")


# ---- RescheduleBooking


async def test_a_reschedule_moves_the_booking_and_frees_the_old_slot(store):
    host = await host_with_window(store)
    user, other = await new_user(store), await new_user(store)
    booking_id = await booked(store, host, user, at(9), at(9, 30))
    reply = await send(store, reschedule(host, booking_id, at(10), at(10, 30), user))
    assert reply["type"] == "BookingRescheduled"
    assert (reply["previousStartTime"], reply["previousEndTime"]) == (at(9), at(9, 30))
    assert (reply["booking"]["bookingId"], reply["booking"]["startTime"]) == (booking_id, at(10))
    assert await status_of(store, host, booking_id) == ("CONFIRMED", "10:00", "10:30")
    await booked(store, host, other, at(9), at(9, 30))
    rejected(await send(store, booking(host, other, at(10), at(10, 30))), "BookingRejected", "SLOT_TAKEN")


async def test_the_host_reschedules_and_a_booking_does_not_take_its_own_slot(store):
    host = await host_with_window(store)
    user = await new_user(store)
    booking_id = await booked(store, host, user, at(9), at(9, 30))
    reply = await send(store, reschedule(host, booking_id, at(9), at(9, 30), host))
    assert reply["type"] == "BookingRescheduled"
    assert (await send(store, reschedule(host, booking_id, at(11), at(11, 30), None)))["type"] == "BookingRescheduled"


async def test_reschedule_checks_in_order(store):
    host = await host_with_window(store, at(9), at(12), 30)
    user, stranger = await new_user(store), await new_user(store)
    booking_id = await booked(store, host, user, at(9), at(9, 30))
    await booked(store, host, stranger, at(10), at(10, 30))
    cancelled = await booked(store, host, user, at(11), at(11, 30))
    await send(store, cancel(host, cancelled, user))
    cases = [
        (reschedule(host, str(uuid.uuid4()), at(13), at(13, 30), stranger), "BOOKING_NOT_FOUND", None),
        (reschedule(host, booking_id, at(13), at(13, 30), stranger), "FORBIDDEN", None),
        (reschedule(host, cancelled, at(13), at(13, 30), user), "ALREADY_CANCELLED", None),  # before the new range
        (reschedule(host, booking_id, at(13), at(13, 30), user), "IN_THE_PAST", LATER),
        (reschedule(host, booking_id, at(13), at(13, 30), user), "OUTSIDE_AVAILABILITY", None),
        (reschedule(host, booking_id, at(10, 10), at(10, 40), user), "MISALIGNED_SLOT", None),
        (reschedule(host, booking_id, at(10), at(10, 30), user), "SLOT_TAKEN", None),
    ]
    for command, reason, now in cases:
        reply = await send(store, command, now=now) if now else await send(store, command)
        rejected(reply, "BookingRejected", reason)
    assert await status_of(store, host, booking_id) == ("CONFIRMED", "09:00", "09:30")


async def test_cancel_and_reschedule_validation(store):
    host = await host_with_window(store)
    user = await new_user(store)
    booking_id = await booked(store, host, user, at(9), at(9, 30))
    for command in (
        {**cancel(host, booking_id, user), "bookingId": "not-a-uuid"},
        reschedule(host, booking_id, at(10), at(9, 30), user),
        {**reschedule(host, booking_id, at(10), at(10, 30), user), "actorId": "someone"},
    ):
        rejected(await send(store, command), "BookingRejected", "VALIDATION_FAILED")
