"""Who may act and whether a range can be booked, in the contract's check order
(contract section 3, "Which reason, in which order")."""

from datetime import UTC, datetime, timedelta
from itertools import product
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.booking.domain.bookings import (
    Booking,
    Person,
    check_booking_change,
    check_booking_parties,
    check_host_command,
    check_slot,
)
from services.booking.domain.ranges import TimeRange
from services.booking.domain.windows import Window, plan_cut, plan_window

BASE = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
NOW = datetime(2030, 1, 1, 0, 0, tzinfo=UTC)

USER_ID = UUID(int=0x05E5)
HOST_ID = UUID(int=0x4057)
STRANGER_ID = UUID(int=0x5754)
BOOKING_ID = UUID(int=0xB00C)

USER = Person(USER_ID, "USER")
HOST = Person(HOST_ID, "HOST")
HOST_WITH_USER_ROLE = Person(HOST_ID, "USER")
USER_WITH_HOST_ROLE = Person(USER_ID, "HOST")

FAST = settings(deadline=None)


def at(minutes: int) -> datetime:
    return BASE + timedelta(minutes=minutes)


def rng(start: int, end: int) -> TimeRange:
    return TimeRange(at(start), at(end))


def window(start: int, end: int, slot: int, ident: int = 1) -> Window:
    return Window(UUID(int=ident), HOST_ID, rng(start, end), slot)


WINDOW = window(0, 240, 30)  # slots [0,30) [30,60) ... [210,240)


def reason(result) -> str | None:
    return None if result is None else result.reason


# ---------------------------------------------------------------- CreateBooking


def decide_create_booking(actor_id, user, host, wanted, windows, confirmed, now=NOW):
    """CreateBooking's checks as the handler composes them: parties first, then the slot."""
    return check_booking_parties(actor_id, USER_ID, user, host) or check_slot(wanted, windows, confirmed, now)


# Each case fails its check and, where it can, every later check too, so the first
# failing check in the contract's order must decide.
CREATE_BOOKING_ORDER = [
    # reason, actor, user, host, wanted, confirmed, now
    ("FORBIDDEN", STRANGER_ID, None, None, rng(15, 45), [rng(0, 60)], at(100)),
    ("FORBIDDEN", HOST_ID, USER, HOST, rng(60, 90), [], NOW),  # the host cannot book for the user
    ("USER_NOT_FOUND", USER_ID, None, None, rng(15, 45), [rng(0, 60)], at(100)),
    ("HOST_NOT_FOUND", USER_ID, USER, None, rng(15, 45), [rng(0, 60)], at(100)),
    ("NOT_A_HOST", USER_ID, USER, HOST_WITH_USER_ROLE, rng(15, 45), [rng(0, 60)], at(100)),
    ("IN_THE_PAST", USER_ID, USER, HOST, rng(300, 330), [rng(300, 330)], at(300)),
    ("IN_THE_PAST", USER_ID, USER, HOST, rng(60, 90), [rng(60, 90)], at(61)),  # started a minute ago
    ("OUTSIDE_AVAILABILITY", USER_ID, USER, HOST, rng(300, 330), [rng(300, 330)], NOW),
    ("OUTSIDE_AVAILABILITY", USER_ID, USER, HOST, rng(225, 255), [rng(225, 255)], NOW),  # sticks out
    ("MISALIGNED_SLOT", USER_ID, USER, HOST, rng(15, 45), [rng(0, 60)], NOW),  # off the grid
    ("MISALIGNED_SLOT", USER_ID, USER, HOST, rng(0, 60), [rng(0, 60)], NOW),  # two slots long
    ("MISALIGNED_SLOT", USER_ID, USER, HOST, rng(30, 45), [rng(30, 45)], NOW),  # half a slot
    ("SLOT_TAKEN", USER_ID, USER, HOST, rng(60, 90), [rng(60, 90)], NOW),
    ("SLOT_TAKEN", USER_ID, USER, HOST, rng(60, 90), [rng(75, 80)], NOW),  # any overlap
    (None, USER_ID, USER, HOST, rng(60, 90), [rng(30, 60), rng(90, 120)], NOW),  # neighbours only touch
    (None, USER_ID, USER, HOST, rng(60, 90), [], at(59)),
    (None, USER_ID, USER_WITH_HOST_ROLE, HOST, rng(210, 240), [], NOW),  # last slot
]


@pytest.mark.parametrize(("expected", "actor", "user", "host", "wanted", "confirmed", "now"), CREATE_BOOKING_ORDER)
def test_create_booking_check_order(expected, actor, user, host, wanted, confirmed, now):
    result = decide_create_booking(actor, user, host, wanted, [WINDOW], confirmed, now)
    assert reason(result) == expected
    if result is not None:
        assert result.detail  # a sentence for a person


def test_starting_exactly_now_is_in_the_past():
    assert reason(check_slot(rng(60, 90), [WINDOW], [], at(60))) == "IN_THE_PAST"
    assert check_slot(rng(60, 90), [WINDOW], [], at(59)) is None


def test_a_range_across_two_windows_is_outside_availability():
    first, second = window(0, 60, 30, 1), window(90, 150, 30, 2)
    assert reason(check_slot(rng(45, 105), [first, second], [], NOW)) == "OUTSIDE_AVAILABILITY"
    assert reason(check_slot(rng(60, 90), [first, second], [], NOW)) == "OUTSIDE_AVAILABILITY"
    assert check_slot(rng(90, 120), [first, second], [], NOW) is None


def test_a_slot_must_be_exactly_a_slot_of_the_window_that_holds_it():
    odd = window(0, 100, 30)  # slots end at 90; [90,100) holds none
    assert reason(check_slot(rng(90, 100), [odd], [], NOW)) == "MISALIGNED_SLOT"
    assert reason(check_slot(rng(70, 100), [odd], [], NOW)) == "MISALIGNED_SLOT"
    assert check_slot(rng(60, 90), [odd], [], NOW) is None


@pytest.mark.parametrize(
    ("actor", "user", "host", "expected"),
    [
        (None, USER, HOST, None),  # a trusted internal system: no actor check
        (None, None, HOST, "USER_NOT_FOUND"),  # but the other checks still run
        (None, USER, None, "HOST_NOT_FOUND"),
        (None, USER, HOST_WITH_USER_ROLE, "NOT_A_HOST"),
    ],
)
def test_null_actor_skips_only_the_actor_check_of_create_booking(actor, user, host, expected):
    assert reason(check_booking_parties(actor, USER_ID, user, host)) == expected


def test_booking_parties_exhaustively_follow_the_contract_order():
    actors = [None, USER_ID, HOST_ID, STRANGER_ID]
    users = [None, USER, USER_WITH_HOST_ROLE]
    hosts = [None, HOST, HOST_WITH_USER_ROLE]
    for actor, user, host in product(actors, users, hosts):
        if actor is not None and actor != USER_ID:
            expected = "FORBIDDEN"
        elif user is None:
            expected = "USER_NOT_FOUND"
        elif host is None:
            expected = "HOST_NOT_FOUND"
        elif host.role != "HOST":
            expected = "NOT_A_HOST"
        else:
            expected = None
        assert reason(check_booking_parties(actor, USER_ID, user, host)) == expected, (actor, user, host)


# ---------------------------------------------------------------- host commands


def test_host_command_checks_exhaustively_follow_the_contract_order():
    actors = [None, HOST_ID, USER_ID, STRANGER_ID]
    hosts = [None, HOST, HOST_WITH_USER_ROLE]
    for actor, host in product(actors, hosts):
        if actor is not None and actor != HOST_ID:
            expected = "FORBIDDEN"
        elif host is None:
            expected = "HOST_NOT_FOUND"
        elif host.role != "HOST":
            expected = "NOT_A_HOST"
        else:
            expected = None
        assert reason(check_host_command(actor, HOST_ID, host)) == expected, (actor, host)


def test_host_checks_come_before_the_window_rules():
    # CreateAvailability: a past, conflicting window from a stranger is FORBIDDEN ...
    past_conflict = window(-60, 10, 15, 9)
    now = at(100)

    def create(actor, host):
        return check_host_command(actor, HOST_ID, host) or plan_window([WINDOW], past_conflict, now)

    assert reason(create(STRANGER_ID, None)) == "FORBIDDEN"
    assert reason(create(HOST_ID, None)) == "HOST_NOT_FOUND"
    assert reason(create(HOST_ID, HOST_WITH_USER_ROLE)) == "NOT_A_HOST"
    assert reason(create(HOST_ID, HOST)) == "IN_THE_PAST"
    assert reason(create(None, HOST)) == "IN_THE_PAST"

    # RemoveAvailability: a misaligned cut over a booking, likewise.
    def remove(actor, host):
        return check_host_command(actor, HOST_ID, host) or plan_cut([WINDOW], rng(15, 60), [rng(30, 60)], lambda: UUID(int=7))

    assert reason(remove(USER_ID, HOST)) == "FORBIDDEN"
    assert reason(remove(HOST_ID, None)) == "HOST_NOT_FOUND"
    assert reason(remove(HOST_ID, HOST_WITH_USER_ROLE)) == "NOT_A_HOST"
    assert reason(remove(HOST_ID, HOST)) == "MISALIGNED_SLOT"


# ---------------------------------------------------------------- cancel / reschedule


def booking(status="CONFIRMED", host_id=HOST_ID, start=60, end=90) -> Booking:
    return Booking(BOOKING_ID, host_id, USER_ID, rng(start, end), status)


CHANGE_ORDER = [
    # expected, actor, booking
    ("BOOKING_NOT_FOUND", STRANGER_ID, None),
    ("BOOKING_NOT_FOUND", None, None),
    ("BOOKING_NOT_FOUND", STRANGER_ID, booking("CANCELLED", host_id=STRANGER_ID)),  # another host's booking
    ("BOOKING_NOT_FOUND", USER_ID, booking("CONFIRMED", host_id=STRANGER_ID)),  # even for its own user
    ("FORBIDDEN", STRANGER_ID, booking("CANCELLED")),
    ("ALREADY_CANCELLED", USER_ID, booking("CANCELLED")),
    ("ALREADY_CANCELLED", HOST_ID, booking("CANCELLED")),
    ("ALREADY_CANCELLED", None, booking("CANCELLED")),
    (None, USER_ID, booking()),
    (None, HOST_ID, booking()),
    (None, None, booking()),  # null actor skips the actor check
]


@pytest.mark.parametrize(("expected", "actor", "the_booking"), CHANGE_ORDER)
def test_cancel_and_reschedule_check_order(expected, actor, the_booking):
    assert reason(check_booking_change(actor, HOST_ID, the_booking)) == expected


def decide_reschedule(actor, the_booking, wanted, windows, confirmed_bookings, now=NOW):
    """RescheduleBooking: the cancel checks, then the new range as CreateBooking from
    IN_THE_PAST on, with the booking's own slot not counting as taken."""
    return check_booking_change(actor, HOST_ID, the_booking) or check_slot(
        wanted, windows, [b.range for b in confirmed_bookings if b.id != the_booking.id], now
    )


def test_reschedule_order_and_own_slot():
    own = booking(start=60, end=90)
    other = Booking(UUID(int=0xB2), HOST_ID, STRANGER_ID, rng(120, 150), "CONFIRMED")
    everyone = [own, other]
    # The change checks come before the slot checks.
    assert reason(decide_reschedule(STRANGER_ID, booking("CANCELLED"), rng(0, 1), [], everyone, at(500))) == "FORBIDDEN"
    assert reason(decide_reschedule(USER_ID, booking("CANCELLED"), rng(0, 1), [], everyone, at(500))) == "ALREADY_CANCELLED"
    # Then the slot checks, from IN_THE_PAST on.
    assert reason(decide_reschedule(USER_ID, own, rng(120, 150), [WINDOW], everyone, at(120))) == "IN_THE_PAST"
    assert reason(decide_reschedule(USER_ID, own, rng(300, 330), [WINDOW], everyone)) == "OUTSIDE_AVAILABILITY"
    assert reason(decide_reschedule(USER_ID, own, rng(100, 130), [WINDOW], everyone)) == "MISALIGNED_SLOT"
    assert reason(decide_reschedule(USER_ID, own, rng(120, 150), [WINDOW], everyone)) == "SLOT_TAKEN"
    assert decide_reschedule(HOST_ID, own, rng(150, 180), [WINDOW], everyone) is None
    # The booking's own current slot does not count as taken.
    assert decide_reschedule(USER_ID, own, rng(60, 90), [WINDOW], everyone) is None


# ---------------------------------------------------------------- check_slot property

SLOT_LENGTHS = [5, 10, 15, 30, 45, 60]


@st.composite
def slot_cases(draw):
    """A host's windows (pairwise apart), confirmed bookings, a clock and a wanted range
    that is often, but not always, one of the windows' slots."""
    windows, cursor = [], draw(st.integers(min_value=-200, max_value=200))
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        d = draw(st.sampled_from(SLOT_LENGTHS))
        start = cursor + draw(st.integers(min_value=1, max_value=120))
        end = start + draw(st.integers(min_value=d, max_value=5 * d + 20))
        windows.append((start, end, d))
        cursor = end
    all_slots = [(s + k * d, s + (k + 1) * d) for s, e, d in windows for k in range((e - s) // d)]
    any_range = st.integers(min_value=-300, max_value=1500).flatmap(
        lambda a: st.integers(min_value=1, max_value=120).map(lambda n: (a, a + n))
    )
    pick = st.sampled_from(all_slots) if all_slots else any_range
    wanted = draw(st.one_of(pick, pick, any_range))
    confirmed = draw(st.lists(st.one_of(pick, any_range), max_size=3))
    now = draw(st.integers(min_value=-400, max_value=1500))
    return windows, confirmed, wanted, now, all_slots


@FAST
@given(slot_cases())
def test_check_slot_accepts_exactly_free_future_slots(case):
    windows, confirmed, wanted, now, all_slots = case
    result = check_slot(
        rng(*wanted),
        [window(s, e, d, i + 1) for i, (s, e, d) in enumerate(windows)],
        [rng(*c) for c in confirmed],
        at(now),
    )
    wanted_minutes = set(range(*wanted))
    free = not any(wanted_minutes & set(range(*c)) for c in confirmed)
    accepted = wanted[0] > now and wanted in all_slots and free
    assert (result is None) == accepted
    # And the reason, in the contract's order.
    if wanted[0] <= now:
        expected = "IN_THE_PAST"
    elif not any(s <= wanted[0] and wanted[1] <= e for s, e, _ in windows):
        expected = "OUTSIDE_AVAILABILITY"
    elif wanted not in all_slots:
        expected = "MISALIGNED_SLOT"
    elif not free:
        expected = "SLOT_TAKEN"
    else:
        expected = None
    assert reason(result) == expected
