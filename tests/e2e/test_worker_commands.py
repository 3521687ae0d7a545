"""Every command and every reason code, through the real broker and the real worker."""

import asyncio

from tests.support.commands import (
    at,
    availability,
    booking,
    cancel,
    cid,
    register,
    removal,
    reschedule,
)


async def new_user(client, role="USER", **kw) -> str:
    reply = await client.request(register(role, **kw))
    assert reply["type"] == "UserRegistered", reply
    return reply["user"]["userId"]


async def host_with_window(client, start=at(9), end=at(12), slot=30) -> str:
    host = await new_user(client, "HOST")
    reply = await client.request(availability(host, start, end, slot))
    assert reply["type"] == "AvailabilityCreated", reply
    return host


def rejected(reply: dict, kind: str, reason: str) -> None:
    assert reply["type"] == kind, reply
    assert reply["reason"] == reason, reply
    assert reply["detail"]


# ---- RegisterUser


async def test_register_user_replies_with_the_user(client):
    command = register("HOST", name="Grace", email="Grace@Example.com")
    reply = await client.request(command)
    assert reply["type"] == "UserRegistered"
    assert reply["commandId"] == command["commandId"]
    assert reply["user"]["name"] == "Grace"
    assert reply["user"]["role"] == "HOST"
    assert reply["occurredAt"].endswith("Z")


async def test_email_is_unique_case_insensitively(client):
    await new_user(client, email="dup.case@example.com")
    reply = await client.request(register(email="DUP.Case@example.com"))
    rejected(reply, "UserRejected", "EMAIL_TAKEN")


async def test_register_validation(client):
    reply = await client.request(register(role="ADMIN", name=""))
    rejected(reply, "UserRejected", "VALIDATION_FAILED")
    assert {e["field"] for e in reply["errors"]} == {"role", "name"}


# ---- the seed's four validations, and other field shapes


async def test_seed_validations_missing_field(client):
    host = await new_user(client, "HOST")
    command = availability(host, at(9), at(12))
    del command["slotDuration"]
    reply = await client.request(command)
    rejected(reply, "AvailabilityRejected", "VALIDATION_FAILED")
    assert reply["errors"] == [{"field": "slotDuration", "message": "field required"}]


async def test_seed_validations_non_iso_time(client):
    host = await new_user(client, "HOST")
    reply = await client.request(availability(host, "tomorrow at ten", at(12)))
    rejected(reply, "AvailabilityRejected", "VALIDATION_FAILED")
    assert [e["field"] for e in reply["errors"]] == ["startTime"]


async def test_seed_validations_end_not_after_start(client):
    host = await new_user(client, "HOST")
    reply = await client.request(availability(host, at(12), at(12)))
    rejected(reply, "AvailabilityRejected", "VALIDATION_FAILED")
    assert [e["field"] for e in reply["errors"]] == ["endTime"]


async def test_seed_validations_slot_duration_not_positive(client):
    host = await new_user(client, "HOST")
    for bad in (0, -30):
        reply = await client.request(availability(host, at(9), at(12), slot=bad))
        rejected(reply, "AvailabilityRejected", "VALIDATION_FAILED")
        assert [e["field"] for e in reply["errors"]] == ["slotDuration"]


async def test_timestamp_rules(client):
    host = await new_user(client, "HOST")
    no_offset = await client.request(availability(host, "2031-03-03T09:00:00", at(12)))
    seconds = await client.request(availability(host, "2031-03-03T09:00:30Z", at(12)))
    for reply in (no_offset, seconds):
        rejected(reply, "AvailabilityRejected", "VALIDATION_FAILED")
    offset = await client.request(availability(host, "2031-03-03T11:00:00+02:00", at(12)))
    assert offset["availability"]["startTime"] == at(9)


async def test_missing_actor_is_a_validation_error_but_null_is_trusted(client):
    host = await new_user(client, "HOST")
    command = availability(host, at(9), at(10))
    del command["actorId"]
    rejected(await client.request(command), "AvailabilityRejected", "VALIDATION_FAILED")
    trusted = await client.request(availability(host, at(9), at(10), actor=None))
    assert trusted["type"] == "AvailabilityCreated"


# ---- CreateAvailability


async def test_availability_actor_and_host_checks(client):
    host = await new_user(client, "HOST")
    user = await new_user(client, "USER")
    rejected(await client.request(availability(host, at(9), at(10), actor=user)), "AvailabilityRejected", "FORBIDDEN")
    ghost = cid()
    rejected(await client.request(availability(ghost, at(9), at(10))), "AvailabilityRejected", "HOST_NOT_FOUND")
    rejected(await client.request(availability(user, at(9), at(10))), "AvailabilityRejected", "NOT_A_HOST")
    past = await client.request(availability(host, "2020-01-01T09:00:00Z", "2020-01-01T10:00:00Z"))
    rejected(past, "AvailabilityRejected", "IN_THE_PAST")


async def test_windows_merge_when_grid_matches(client):
    host = await new_user(client, "HOST")
    first = (await client.request(availability(host, at(9), at(10))))["availability"]
    touching = (await client.request(availability(host, at(10), at(11))))["availability"]
    assert touching["availabilityId"] == first["availabilityId"]
    assert (touching["startTime"], touching["endTime"]) == (at(9), at(11))
    overlapping = (await client.request(availability(host, at(8), at(9, 30))))["availability"]
    assert (overlapping["startTime"], overlapping["endTime"]) == (at(8), at(11))
    again = (await client.request(availability(host, at(8), at(11))))["availability"]
    assert again == overlapping


async def test_windows_conflict_on_other_length_or_grid(client):
    host = await new_user(client, "HOST")
    await client.request(availability(host, at(9), at(10), slot=30))
    other_length = await client.request(availability(host, at(10), at(11), slot=20))
    other_grid = await client.request(availability(host, at(9, 45), at(11), slot=30))
    rejected(other_length, "AvailabilityRejected", "AVAILABILITY_CONFLICT")
    rejected(other_grid, "AvailabilityRejected", "AVAILABILITY_CONFLICT")
    apart = await client.request(availability(host, at(14), at(15), slot=20))
    assert apart["type"] == "AvailabilityCreated"


# ---- CreateBooking


async def test_booking_confirmed_and_every_rejection(client):
    host = await host_with_window(client)
    user = await new_user(client)
    other_host = await new_user(client, "HOST")
    plain_user = await new_user(client)

    ok = await client.request(booking(host, user, at(9), at(9, 30)))
    assert ok["type"] == "BookingConfirmed"
    assert ok["booking"]["status"] == "CONFIRMED"
    assert (ok["booking"]["hostId"], ok["booking"]["userId"]) == (host, user)

    cases = [
        (booking(host, user, at(10), at(10, 30), actor=other_host), "FORBIDDEN"),
        (booking(host, cid(), at(10), at(10, 30), actor=None), "USER_NOT_FOUND"),
        (booking(cid(), user, at(10), at(10, 30)), "HOST_NOT_FOUND"),
        (booking(plain_user, user, at(10), at(10, 30)), "NOT_A_HOST"),
        (booking(host, user, "2020-01-01T09:00:00Z", "2020-01-01T09:30:00Z"), "IN_THE_PAST"),
        (booking(host, user, at(13), at(13, 30)), "OUTSIDE_AVAILABILITY"),
        (booking(host, user, at(11, 30), at(12, 30)), "OUTSIDE_AVAILABILITY"),
        (booking(host, user, at(10, 15), at(10, 45)), "MISALIGNED_SLOT"),
        (booking(host, user, at(10), at(11)), "MISALIGNED_SLOT"),
        (booking(host, plain_user, at(9), at(9, 30)), "SLOT_TAKEN"),
    ]
    for command, reason in cases:
        rejected(await client.request(command), "BookingRejected", reason)


async def test_booking_validation(client):
    reply = await client.request(booking(cid(), cid(), at(10), at(9)))
    rejected(reply, "BookingRejected", "VALIDATION_FAILED")


async def test_concurrent_bookings_of_one_slot_confirm_exactly_one(client):
    host = await host_with_window(client)
    users = await asyncio.gather(*(new_user(client) for _ in range(150)))
    waiters = [await client.send(booking(host, user, at(10), at(10, 30))) for user in users]
    replies = await asyncio.wait_for(asyncio.gather(*waiters), 120)
    confirmed = [r for r in replies if r["type"] == "BookingConfirmed"]
    assert len(confirmed) == 1
    assert all(r["reason"] == "SLOT_TAKEN" for r in replies if r["type"] != "BookingConfirmed")


async def test_availability_then_booking_back_to_back_keep_their_order(client):
    hosts = await asyncio.gather(*(new_user(client, "HOST") for _ in range(20)))
    user = await new_user(client)
    waiters = []
    for host in hosts:  # sent without waiting: the booking must see the window
        waiters.append(await client.send(availability(host, at(9), at(10))))
        waiters.append(await client.send(booking(host, user, at(9), at(9, 30))))
    replies = await asyncio.wait_for(asyncio.gather(*waiters), 60)
    assert [r["type"] for r in replies] == ["AvailabilityCreated", "BookingConfirmed"] * len(hosts)


# ---- CancelBooking, rebooking, RescheduleBooking


async def test_cancel_then_rebook(client):
    host = await host_with_window(client)
    user, stranger = await new_user(client), await new_user(client)
    made = (await client.request(booking(host, user, at(9), at(9, 30))))["booking"]
    rejected(await client.request(cancel(host, made["bookingId"], stranger)), "BookingRejected", "FORBIDDEN")
    rejected(await client.request(cancel(host, cid(), user)), "BookingRejected", "BOOKING_NOT_FOUND")
    rejected(await client.request(cancel(stranger, made["bookingId"], user)), "BookingRejected", "BOOKING_NOT_FOUND")
    done = await client.request(cancel(host, made["bookingId"], host))
    assert done["type"] == "BookingCancelled"
    assert done["booking"]["status"] == "CANCELLED"
    rejected(await client.request(cancel(host, made["bookingId"], user)), "BookingRejected", "ALREADY_CANCELLED")
    again = await client.request(booking(host, stranger, at(9), at(9, 30)))
    assert again["type"] == "BookingConfirmed"


async def test_reschedule(client):
    host = await host_with_window(client)
    user, other = await new_user(client), await new_user(client)
    mine = (await client.request(booking(host, user, at(9), at(9, 30))))["booking"]
    theirs = (await client.request(booking(host, other, at(10), at(10, 30))))["booking"]

    taken = await client.request(reschedule(host, mine["bookingId"], at(10), at(10, 30), user))
    rejected(taken, "BookingRejected", "SLOT_TAKEN")
    misaligned = await client.request(reschedule(host, mine["bookingId"], at(9, 10), at(9, 40), user))
    rejected(misaligned, "BookingRejected", "MISALIGNED_SLOT")
    forbidden = await client.request(reschedule(host, mine["bookingId"], at(11), at(11, 30), other))
    rejected(forbidden, "BookingRejected", "FORBIDDEN")

    # overlapping its own current slot is allowed: its own slot does not count
    same = await client.request(reschedule(host, mine["bookingId"], at(9), at(9, 30), user))
    assert same["type"] == "BookingRescheduled"
    moved = await client.request(reschedule(host, mine["bookingId"], at(11), at(11, 30), host))
    assert moved["type"] == "BookingRescheduled"
    assert (moved["previousStartTime"], moved["booking"]["startTime"]) == (at(9), at(11))
    freed = await client.request(booking(host, other, at(9), at(9, 30)))
    assert freed["type"] == "BookingConfirmed"
    cancelled = await client.request(cancel(host, theirs["bookingId"], other))
    assert cancelled["type"] == "BookingCancelled"
    gone = await client.request(reschedule(host, theirs["bookingId"], at(10, 30), at(11), other))
    rejected(gone, "BookingRejected", "ALREADY_CANCELLED")


# ---- RemoveAvailability


async def test_remove_availability(client):
    host = await host_with_window(client, at(9), at(13))
    user = await new_user(client)
    other = await new_user(client, "HOST")
    rejected(await client.request(removal(host, at(10), at(11), actor=other)), "AvailabilityRejected", "FORBIDDEN")
    rejected(await client.request(removal(cid(), at(10), at(11))), "AvailabilityRejected", "HOST_NOT_FOUND")
    rejected(await client.request(removal(user, at(10), at(11))), "AvailabilityRejected", "NOT_A_HOST")
    rejected(await client.request(removal(host, at(10, 10), at(11))), "AvailabilityRejected", "MISALIGNED_SLOT")
    made = (await client.request(booking(host, user, at(12), at(12, 30))))["booking"]
    rejected(await client.request(removal(host, at(11, 30), at(13))), "AvailabilityRejected", "BOOKINGS_IN_RANGE")

    split = await client.request(removal(host, at(10), at(11)))
    assert split["type"] == "AvailabilityRemoved"
    pieces = sorted((w["startTime"], w["endTime"]) for w in split["windows"])
    assert pieces == [(at(9), at(10)), (at(11), at(13))]
    rejected(await client.request(booking(host, user, at(10), at(10, 30))), "BookingRejected", "OUTSIDE_AVAILABILITY")

    nothing = await client.request(removal(host, at(20), at(21)))
    assert nothing["type"] == "AvailabilityRemoved" and nothing["windows"] == []

    await client.request(cancel(host, made["bookingId"], user))
    whole = await client.request(removal(host, at(9), at(13)))
    assert whole["windows"] == []
