"""The listing of slots (services/booking/domain/slots.py) against the rule a booking is
decided by (check_slot): for random windows, confirmed bookings, ranges and `now`, a
listed slot is available exactly when check_slot accepts it, and every slot check_slot
accepts that starts in [from, to) is listed.

Times are whole minutes (some instants have seconds) on a 5-minute lattice from BASE:
every window starts on it and every slot length is a multiple of 5, so every slot any
window has starts on it, and trying each lattice point with each slot length tries
every slot there is."""

from datetime import UTC, datetime, timedelta
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from services.booking.domain.bookings import check_slot
from services.booking.domain.ranges import TimeRange
from services.booking.domain.slots import list_slots
from services.booking.domain.windows import Window

BASE = datetime(2030, 1, 7, 0, 0, tzinfo=UTC)
HOST = UUID(int=0x4057)
LATTICE = 5  # minutes
SPAN = 24 * 60  # minutes of the lattice where things happen
SLOT_LENGTHS = [5, 10, 15, 30, 45, 60, 90]


def at(minutes: float) -> datetime:
    return BASE + timedelta(minutes=minutes)


def on_lattice(low: int = 0, high: int = SPAN) -> st.SearchStrategy[int]:
    return st.integers(low // LATTICE, high // LATTICE).map(lambda n: n * LATTICE)


@st.composite
def windows(draw) -> list[Window]:
    """Windows as the merge rule leaves them (they may touch, not overlap) or anyhow
    (overlapping, on different grids), each with a tail too short for a slot or not."""
    found = []
    for n in range(draw(st.integers(0, 5))):
        slot = draw(st.sampled_from(SLOT_LENGTHS))
        start = draw(on_lattice())
        length = slot * draw(st.integers(1, 12)) + draw(st.integers(0, slot // LATTICE - 1)) * LATTICE
        found.append(Window(UUID(int=n + 1), HOST, TimeRange(at(start), at(start + length)), slot))
    return found


@st.composite
def bookings(draw) -> list[TimeRange]:
    found = []
    for _ in range(draw(st.integers(0, 8))):
        start = draw(st.integers(-120, SPAN + 120))
        found.append(TimeRange(at(start), at(start + draw(st.integers(1, 180)))))
    return found


@st.composite
def asked(draw) -> tuple[datetime, datetime]:
    """[from, to) as the gateway may ask it: any instant, seconds too."""
    start = draw(st.integers(-3600, (SPAN + 60) * 60))
    length = draw(st.integers(1, (SPAN + 120) * 60))
    return at(start / 60), at((start + length) / 60)


instants = st.integers(-120 * 60, (SPAN + 240) * 60).map(lambda seconds: at(seconds / 60))


def every_candidate(start: datetime, end: datetime, lengths: set[int]):
    """Every range of one of `lengths` starting on the lattice in [start, end)."""
    point = BASE + (start - BASE) // timedelta(minutes=LATTICE) * timedelta(minutes=LATTICE)
    while point < end:
        if point >= start:
            for length in lengths:
                yield TimeRange(point, point + timedelta(minutes=length))
        point += timedelta(minutes=LATTICE)


@settings(deadline=None, max_examples=300)
@given(windows(), bookings(), asked(), instants)
def test_the_listing_is_what_check_slot_decides(grid, confirmed, asked_range, now):
    start, end = asked_range
    listed = list_slots(grid, confirmed, start, end, now)

    # what is listed: each slot of each window that starts in [from, to), in start order
    expected = [(slot.start, slot.end) for window in grid for slot in window.slots() if start <= slot.start < end]
    assert sorted((slot.start, slot.end) for slot, _ in listed) == sorted(expected)
    assert [slot.start for slot, _ in listed] == sorted(slot.start for slot, _ in listed)
    # available exactly when a CreateBooking of it would be accepted now
    for slot, available in listed:
        assert available == (check_slot(slot, grid, confirmed, now) is None), slot
    # and nothing check_slot accepts is missing
    free = {(slot.start, slot.end) for slot, available in listed if available}
    for candidate in every_candidate(start, end, {window.slot_minutes for window in grid}):
        if check_slot(candidate, grid, confirmed, now) is None:
            assert (candidate.start, candidate.end) in free, candidate


def test_a_slot_is_listed_by_where_it_starts_and_past_or_taken_slots_are_not_available():
    grid = [Window(UUID(int=1), HOST, TimeRange(at(0), at(130)), 30)]  # 4 slots and a 10-minute tail
    listed = list_slots(grid, [TimeRange(at(65), at(70))], at(15), at(120), now=at(30))
    assert [(slot.start, slot.end, free) for slot, free in listed] == [
        (at(30), at(60), False),  # starts at now: past
        (at(60), at(90), False),  # a booking overlaps it
        (at(90), at(120), True),
    ]
    # a slot that starts before `from` is not listed, one that starts at `to` neither
    assert [slot.start for slot, _ in list_slots(grid, [], at(31), at(90), now=at(0))] == [at(60)]
    assert [slot.start for slot, _ in list_slots(grid, [], at(60), at(60.5), now=at(0))] == [at(60)]


def test_a_booking_that_only_touches_a_slot_does_not_take_it():
    grid = [Window(UUID(int=1), HOST, TimeRange(at(0), at(90)), 30)]
    listed = list_slots(grid, [TimeRange(at(0), at(30)), TimeRange(at(60), at(90))], at(0), at(90), now=at(-1))
    assert [free for _, free in listed] == [False, True, False]


def test_a_long_booking_takes_every_slot_it_covers_across_windows():
    grid = [
        Window(UUID(int=2), HOST, TimeRange(at(120), at(240)), 60),
        Window(UUID(int=1), HOST, TimeRange(at(0), at(120)), 15),
    ]
    listed = list_slots(grid, [TimeRange(at(100), at(130))], at(0), at(240), now=at(-1))
    taken = [(slot.start, slot.end) for slot, free in listed if not free]
    assert taken == [(at(90), at(105)), (at(105), at(120)), (at(120), at(180))]
    assert [slot.start for slot, _ in listed] == sorted(slot.start for slot, _ in listed)
