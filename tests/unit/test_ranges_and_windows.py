"""Half-open ranges, the slot grid of a window, the merge rule (`plan_window`) and
cutting time out (`plan_cut`), against contract sections 1 and 3.

Times are whole minutes in UTC, written as minute offsets from BASE. Every expected
outcome is computed here from the contract's wording with plain integer arithmetic,
never by calling the code under test."""

from datetime import UTC, datetime, timedelta
from itertools import count
from uuid import UUID

import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from services.booking.domain.ranges import TimeRange
from services.booking.domain.rejection import Rejected
from services.booking.domain.windows import CutPlan, MergePlan, Window, plan_cut, plan_window

BASE = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
NOW = datetime(2030, 1, 1, 0, 0, tzinfo=UTC)  # well before every range built from BASE
HOST = UUID(int=0xB0057)
REQUESTED_ID = UUID(int=0xAEAEAE)

FAST = settings(deadline=None)
SLOT_LENGTHS = [5, 10, 15, 20, 30, 45, 60, 90]


def at(minutes: int) -> datetime:
    return BASE + timedelta(minutes=minutes)


def minute_of(instant: datetime) -> int:
    delta = instant - BASE
    assert delta % timedelta(minutes=1) == timedelta(0)
    return delta // timedelta(minutes=1)


def rng(start: int, end: int) -> TimeRange:
    return TimeRange(at(start), at(end))


def window(start: int, end: int, slot: int, ident: int | UUID = 1) -> Window:
    wid = ident if isinstance(ident, UUID) else UUID(int=ident)
    return Window(wid, HOST, rng(start, end), slot)


def as_minutes(r: TimeRange) -> tuple[int, int]:
    return minute_of(r.start), minute_of(r.end)


def id_source(first: int = 10**9):
    counter = count(first)
    issued: list[UUID] = []

    def new_id() -> UUID:
        ident = UUID(int=next(counter))
        issued.append(ident)
        return ident

    return new_id, issued


# ---------------------------------------------------------------- strategies


minutes = st.integers(min_value=-2000, max_value=2000)


@st.composite
def ranges(draw, max_length: int = 600) -> tuple[int, int]:
    start = draw(minutes)
    return start, start + draw(st.integers(min_value=1, max_value=max_length))


@st.composite
def window_sets(draw, slot: int | None = None, origin: int | None = None, max_windows: int = 5, min_windows: int = 0):
    """A host's stored windows as the service keeps them: pairwise neither overlapping
    nor touching (touching windows would have been merged), each holding a slot.
    With `slot`/`origin` every window is on the one grid origin + k*slot; otherwise
    each window has its own length and grid."""
    n = draw(st.integers(min_value=min_windows, max_value=max_windows))
    cursor = draw(st.integers(min_value=-300, max_value=300))
    result = []
    for i in range(n):
        d = slot if slot is not None else draw(st.sampled_from(SLOT_LENGTHS))
        lowest = cursor + (draw(st.integers(min_value=1, max_value=150)) if result else 0)
        if origin is not None:
            lowest = origin + -(-(lowest - origin) // d) * d  # first grid point >= lowest
            start = lowest + d * draw(st.integers(min_value=0, max_value=3))
        else:
            start = lowest
        length = draw(st.integers(min_value=d, max_value=6 * d + 40))
        result.append((start, start + length, d, i + 1))
        cursor = start + length
    return result


def to_windows(spec) -> list[Window]:
    return [window(s, e, d, i) for s, e, d, i in spec]


# ---------------------------------------------------------------- oracles


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Half-open: some minute lies in both."""
    return bool(set(range(*a)) & set(range(*b)))


def touches(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[1] == b[0] or b[1] == a[0]


def grid_slots(start: int, end: int, d: int) -> list[tuple[int, int]]:
    """Slots per the contract: [start + k*d, start + (k+1)*d) for every k whose slot ends inside."""
    out, k = [], 0
    while start + (k + 1) * d <= end:
        out.append((start + k * d, start + (k + 1) * d))
        k += 1
    return out


def runs(minute_set: set[int]) -> list[tuple[int, int]]:
    """Maximal contiguous half-open runs of a set of minutes, in order."""
    out: list[list[int]] = []
    for m in sorted(minute_set):
        if out and out[-1][1] == m:
            out[-1][1] = m + 1
        else:
            out.append([m, m + 1])
    return [tuple(r) for r in out]


# ---------------------------------------------------------------- TimeRange


@FAST
@given(ranges(), ranges())
def test_overlap_and_touch_are_symmetric_and_half_open(a, b):
    ra, rb = rng(*a), rng(*b)
    assert ra.overlaps(rb) == rb.overlaps(ra) == overlaps(a, b)
    assert ra.touches(rb) == rb.touches(ra) == touches(a, b)
    # Two ranges that only touch do not overlap.
    assert not (ra.touches(rb) and ra.overlaps(rb))
    assert ra.contains(rb) == (set(range(*b)) <= set(range(*a)))


@FAST
@given(ranges(), st.integers(min_value=1, max_value=600))
def test_adjacent_ranges_touch_but_do_not_overlap(a, length):
    first = rng(*a)
    second = rng(a[1], a[1] + length)
    assert first.touches(second) and second.touches(first)
    assert not first.overlaps(second) and not second.overlaps(first)
    # One minute more and they overlap.
    assert rng(a[0], a[1] + 1).overlaps(second)


@FAST
@given(ranges())
def test_a_range_includes_its_start_and_excludes_its_end(a):
    r = rng(*a)
    assert r.overlaps(r) and r.contains(r)
    assert not r.touches(r)
    assert not r.strictly_inside(r.start) and not r.strictly_inside(r.end)
    assert r.overlaps(TimeRange(r.start, r.start + timedelta(minutes=1)))
    assert not r.overlaps(TimeRange(r.end, r.end + timedelta(minutes=1)))
    assert r.length == timedelta(minutes=a[1] - a[0])
    for m in (a[0] - 1, a[0], (a[0] + a[1]) // 2, a[1] - 1, a[1], a[1] + 1):
        assert r.strictly_inside(at(m)) == (a[0] < m < a[1])


@FAST
@given(minutes, st.integers(min_value=-10, max_value=0))
def test_empty_or_inverted_range_is_refused(start, back):
    with pytest.raises(ValueError):
        TimeRange(at(start), at(start + back))


@FAST
@given(ranges(), ranges())
def test_hull_spans_both(a, b):
    assert as_minutes(rng(*a).hull(rng(*b))) == (min(a[0], b[0]), max(a[1], b[1]))


# ---------------------------------------------------------------- Window slot grid


@st.composite
def windows_with_slot(draw):
    d = draw(st.integers(min_value=1, max_value=240))
    start = draw(minutes)
    length = draw(st.integers(min_value=1, max_value=12 * d + 300))
    return start, start + length, d


@FAST
@given(windows_with_slot())
def test_slots_follow_the_grid(spec):
    start, end, d = spec
    w = window(start, end, d)
    slots = [as_minutes(s) for s in w.slots()]
    assert slots == grid_slots(start, end, d)
    assert w.slot_count() == (end - start) // d == len(slots)
    assert all(s_end <= end for _, s_end in slots)
    # The next slot would end outside the window.
    assert start + (len(slots) + 1) * d > end
    assert w.slot == timedelta(minutes=d)


@FAST
@given(windows_with_slot(), st.integers(min_value=-300, max_value=300), st.integers(min_value=1, max_value=300))
def test_is_slot_holds_exactly_for_the_slots(spec, offset, length):
    start, end, d = spec
    w = window(start, end, d)
    slots = set(grid_slots(start, end, d))
    for s in slots:
        assert w.is_slot(rng(*s))
    candidate = (start + offset, start + offset + length)
    assert w.is_slot(rng(*candidate)) == (candidate in slots)
    # Same start, one slot long, off by the length only: never a slot unless equal to d.
    if offset % d == 0 and (start + offset, start + offset + d) in slots:
        assert w.is_slot(rng(start + offset, start + offset + d))
        if length != d:
            assert not w.is_slot(rng(start + offset, start + offset + length))


def test_window_slots_examples():
    w = window(0, 100, 30)  # 10 minutes left over at the end
    assert [as_minutes(s) for s in w.slots()] == [(0, 30), (30, 60), (60, 90)]
    assert w.slot_count() == 3
    assert not w.is_slot(rng(90, 120))  # ends outside the window
    assert not w.is_slot(rng(15, 45))  # off the grid
    assert not w.is_slot(rng(0, 60))  # two slots long
    assert not w.is_slot(rng(0, 15))  # half a slot
    assert window(0, 29, 30).slot_count() == 0


# ---------------------------------------------------------------- plan_window


def expected_window_plan(spec, req, now_minute):
    """The contract's CreateAvailability rule, from IN_THE_PAST on."""
    r_start, r_end, r_d = req
    if r_end <= now_minute:
        return "IN_THE_PAST"
    neighbours = sorted(
        (w for w in spec if overlaps((w[0], w[1]), (r_start, r_end)) or touches((w[0], w[1]), (r_start, r_end))),
        key=lambda w: w[0],
    )
    for s, _, d, _ in neighbours:
        if d != r_d or (r_start - s) % d != 0:
            return "AVAILABILITY_CONFLICT"
    if not neighbours:
        return ("new", (r_start, r_end, r_d), ())
    hull = (min([r_start] + [w[0] for w in neighbours]), max([r_end] + [w[1] for w in neighbours]))
    return ("merge", (hull[0], hull[1], r_d, neighbours[0][3]), tuple(w[3] for w in neighbours[1:]))


def check_merge_plan(spec, req, plan):
    """Assert `plan` is the contract's answer for the request `req` against `spec`."""
    expected = expected_window_plan(spec, req, minute_of(NOW))
    event(f"plan_window: {expected if isinstance(expected, str) else expected[0]}")
    if isinstance(expected, str):
        assert isinstance(plan, Rejected), plan
        assert plan.reason == expected
        return None
    assert isinstance(plan, MergePlan), plan
    kind, (start, end, d, *keeper), absorbed = expected
    assert as_minutes(plan.window.range) == (start, end)
    assert plan.window.slot_minutes == d
    assert plan.window.host_id == HOST
    if kind == "new":
        assert plan.is_new and plan.changed
        assert plan.window.id == REQUESTED_ID
        assert plan.absorbed == ()
    else:
        assert not plan.is_new
        assert plan.window.id == UUID(int=keeper[0])  # the earliest neighbour's id
        assert sorted(plan.absorbed) == sorted(UUID(int=i) for i in absorbed)
        contained = any(s <= req[0] and req[1] <= e for s, e, _, _ in spec)
        assert plan.changed == (not contained)
    # The merged window never overlaps (nor touches) any window that stays.
    gone = set(plan.absorbed) | {plan.window.id}
    for other in to_windows(spec):
        if other.id not in gone:
            assert not plan.window.range.overlaps(other.range)
            assert not plan.window.range.touches(other.range)
    return plan


@st.composite
def mixed_requests(draw):
    """Windows of mixed lengths and grids and a request that is often near them,
    often with the slot length and grid of one of them."""
    spec = draw(window_sets())
    if spec and draw(st.booleans()):
        s, e, d, _ = draw(st.sampled_from(spec))
        start = s + d * draw(st.integers(min_value=-4, max_value=(e - s) // d + 4))
        if draw(st.integers(min_value=0, max_value=3)) == 0:
            d = draw(st.sampled_from(SLOT_LENGTHS))
    else:
        start = draw(st.integers(min_value=-500, max_value=3500))
        d = draw(st.sampled_from(SLOT_LENGTHS))
    return spec, (start, start + draw(st.integers(min_value=d, max_value=800)), d)


@FAST
@given(mixed_requests())
def test_plan_window_matches_the_contract_for_mixed_grids(case):
    spec, req = case
    plan = plan_window(to_windows(spec), window(*req, REQUESTED_ID), NOW)
    check_merge_plan(spec, req, plan)


@st.composite
def bridging_requests(draw):
    """Windows on one grid and a compatible request that reaches from window i to window j."""
    d = draw(st.sampled_from(SLOT_LENGTHS))
    origin = draw(st.integers(min_value=-100, max_value=100))
    spec = draw(window_sets(slot=d, origin=origin, max_windows=5, min_windows=1))
    i = draw(st.integers(min_value=0, max_value=len(spec) - 1))
    j = draw(st.integers(min_value=i, max_value=len(spec) - 1))
    first, last = spec[i], spec[j]
    # Start on the grid, at or before window i starts (so it overlaps or touches i).
    start = first[0] - d * draw(st.integers(min_value=0, max_value=3))
    end = last[0] + draw(st.integers(min_value=0, max_value=last[1] - last[0] + 60))
    end = max(end, start + d)
    return spec, (start, end, d), origin


@FAST
@given(bridging_requests())
def test_merging_compatible_neighbours_yields_their_hull(case):
    spec, req, origin = case
    plan = plan_window(to_windows(spec), window(*req, REQUESTED_ID), NOW)
    plan = check_merge_plan(spec, req, plan)
    assert not plan.is_new  # there was at least one neighbour
    # The hull stays on the common grid.
    assert (minute_of(plan.window.range.start) - origin) % req[2] == 0


@FAST
@given(bridging_requests())
def test_sending_the_same_window_twice_changes_nothing(case):
    spec, req, _ = case
    existing = to_windows(spec)
    first = plan_window(existing, window(*req, REQUESTED_ID), NOW)
    assert isinstance(first, MergePlan)
    # Apply the first plan as the service would, then send the same window again.
    gone = set(first.absorbed) | {first.window.id}
    stored = [w for w in existing if w.id not in gone] + [first.window]
    again = plan_window(stored, window(*req, UUID(int=0xFACE)), NOW)
    assert isinstance(again, MergePlan)
    assert again.changed is False
    assert again.is_new is False
    assert again.window == first.window
    assert again.absorbed == ()
    # The stored window itself, sent again, changes nothing either.
    w = first.window
    same = plan_window(stored, Window(UUID(int=0xFACE), HOST, w.range, w.slot_minutes), NOW)
    assert isinstance(same, MergePlan) and same.changed is False and same.window == w


@FAST
@given(window_sets(max_windows=4, min_windows=1))
def test_a_stored_window_sent_again_changes_nothing(spec):
    existing = to_windows(spec)
    for w in existing:
        plan = plan_window(existing, Window(REQUESTED_ID, HOST, w.range, w.slot_minutes), NOW)
        assert isinstance(plan, MergePlan)
        assert plan.changed is False and plan.is_new is False
        assert plan.window == w and plan.absorbed == ()


@st.composite
def conflicting_requests(draw):
    """Windows on one grid and a request that overlaps or touches window i but has
    another slot length or another grid."""
    d = draw(st.sampled_from([5, 10, 15, 30, 60]))
    origin = draw(st.integers(min_value=-100, max_value=100))
    spec = draw(window_sets(slot=d, origin=origin, max_windows=4, min_windows=1))
    target = spec[draw(st.integers(min_value=0, max_value=len(spec) - 1))]
    mode = draw(st.sampled_from(["length", "grid"]))
    if mode == "length":
        r_d = draw(st.integers(min_value=1, max_value=d + 60).filter(lambda x: x != d))
    else:
        r_d = d
    relation = draw(st.sampled_from(["overlap", "touch_before", "touch_after"]))
    length = draw(st.integers(min_value=r_d, max_value=r_d * 4 + 30))
    if relation == "touch_before":
        start, end = target[0] - length, target[0]
    elif relation == "touch_after":
        start, end = target[1], target[1] + length
    else:
        start = target[0] + draw(st.integers(min_value=-length + 1, max_value=target[1] - target[0] - 1))
        end = start + length
    if mode == "grid":
        assume((start - origin) % d != 0)
    return spec, (start, end, r_d), relation


@FAST
@given(conflicting_requests())
def test_incompatible_length_or_grid_conflicts_on_overlap_or_touch(case):
    spec, req, _ = case
    plan = plan_window(to_windows(spec), window(*req, REQUESTED_ID), NOW)
    assert isinstance(plan, Rejected)
    assert plan.reason == "AVAILABILITY_CONFLICT"


@FAST
@given(conflicting_requests(), st.integers(min_value=0, max_value=500))
def test_a_window_in_the_past_is_refused_before_any_conflict(case, after):
    spec, req, _ = case
    now = at(req[1] + after)  # the request ends at or before now
    plan = plan_window(to_windows(spec), window(*req, REQUESTED_ID), now)
    assert isinstance(plan, Rejected)
    assert plan.reason == "IN_THE_PAST"


def test_plan_window_examples():
    a = window(0, 60, 30, 1)
    b = window(120, 180, 30, 2)
    # Fills the gap exactly: touches both, merged into one window with a's id.
    plan = plan_window([b, a], window(60, 120, 30, REQUESTED_ID), NOW)
    assert isinstance(plan, MergePlan)
    assert as_minutes(plan.window.range) == (0, 180)
    assert plan.window.id == a.id and plan.absorbed == (b.id,)
    assert plan.changed and not plan.is_new
    # Starts before a (on the grid): the hull starts at the request, id still a's.
    plan = plan_window([a], window(-30, 10, 30, REQUESTED_ID), NOW)
    assert isinstance(plan, MergePlan)
    assert as_minutes(plan.window.range) == (-30, 60) and plan.window.id == a.id
    # Touching with another length, and touching off the grid.
    assert plan_window([a], window(60, 120, 15, REQUESTED_ID), NOW).reason == "AVAILABILITY_CONFLICT"
    assert plan_window([a], window(-45, 0, 30, REQUESTED_ID), NOW).reason == "AVAILABILITY_CONFLICT"
    # Not touching (a one-minute gap), another grid: a separate new window.
    plan = plan_window([a], window(61, 121, 30, REQUESTED_ID), NOW)
    assert isinstance(plan, MergePlan) and plan.is_new and plan.window.id == REQUESTED_ID
    # Ends exactly at now: in the past. Ends a minute after now: fine, even if it started before.
    assert plan_window([], window(0, 60, 30, REQUESTED_ID), at(60)).reason == "IN_THE_PAST"
    plan = plan_window([], window(0, 60, 30, REQUESTED_ID), at(59))
    assert isinstance(plan, MergePlan) and plan.is_new


# ---------------------------------------------------------------- plan_cut


def expected_cut(spec, cut, bookings):
    touched = sorted((w for w in spec if overlaps((w[0], w[1]), cut)), key=lambda w: w[0])
    for s, e, d, _ in touched:
        for boundary in cut:
            if s < boundary < e and (boundary - s) % d != 0:
                return "MISALIGNED_SLOT"
    if any(overlaps(b, cut) for b in bookings):
        return "BOOKINGS_IN_RANGE"
    remaining = {}
    for s, e, d, ident in touched:
        left = set(range(s, e)) - set(range(*cut))
        remaining[ident] = [(p, d) for p in runs(left) if p[1] - p[0] >= d]
    return remaining


def check_cut_plan(spec, cut, bookings, plan, issued):
    expected = expected_cut(spec, cut, bookings)
    event(f"plan_cut: {expected if isinstance(expected, str) else f'{len(expected)} windows touched'}")
    if isinstance(expected, str):
        assert isinstance(plan, Rejected), plan
        assert plan.reason == expected
        assert issued == []
        return
    assert isinstance(plan, CutPlan), plan
    assert set(plan.remaining) == {UUID(int=i) for i in expected}
    existing_ids = {UUID(int=w[3]) for w in spec}
    new_ids = []
    for ident, pieces in expected.items():
        got = plan.remaining[UUID(int=ident)]
        assert [(as_minutes(p.range), p.slot_minutes) for p in got] == pieces
        for k, piece in enumerate(got):
            assert piece.host_id == HOST
            assert piece.slot_count() >= 1
            if k == 0:
                assert piece.id == UUID(int=ident)  # the first piece keeps the window's id
            else:
                assert piece.id not in existing_ids  # the second one gets a new id
                new_ids.append(piece.id)
    assert len(set(new_ids)) == len(new_ids)
    assert set(new_ids) <= set(issued)


@st.composite
def cuts(draw, spec):
    """Cut boundaries that are often on a window's grid or at its edges."""

    def boundary():
        options = [st.integers(min_value=-400, max_value=3500)]
        if spec:
            s, e, d, _ = draw(st.sampled_from(spec))
            options.append(st.integers(min_value=-2, max_value=(e - s) // d + 2).map(lambda k: s + k * d))
            options.append(st.sampled_from([s, e]))
        return draw(st.one_of(options))

    a, b = boundary(), boundary()
    return (min(a, b), max(a, b) + (a == b))


@st.composite
def cut_cases(draw):
    spec = draw(window_sets())
    cut = draw(cuts(spec))
    slot_pool = [s for w in spec for s in grid_slots(w[0], w[1], w[2])]
    booking = st.sampled_from(slot_pool) if slot_pool else ranges(max_length=60)
    bookings = draw(st.lists(st.one_of(booking, ranges(max_length=60)), max_size=2))
    return spec, cut, bookings


@FAST
@given(cut_cases())
def test_plan_cut_matches_the_contract(case):
    spec, cut, bookings = case
    new_id, issued = id_source()
    plan = plan_cut(to_windows(spec), rng(*cut), [rng(*b) for b in bookings], new_id)
    check_cut_plan(spec, cut, bookings, plan, issued)


@st.composite
def aligned_cut_cases(draw):
    """A cut whose boundaries lie on the grid (or outside) of every window it touches."""
    spec = draw(window_sets(max_windows=4, min_windows=1))
    target = draw(st.sampled_from(spec))
    s, e, d, _ = target
    n = (e - s) // d
    k1 = draw(st.integers(min_value=-1, max_value=n))
    k2 = draw(st.integers(min_value=k1 + 1, max_value=n + 1))
    a = s + k1 * d if k1 >= 0 else s - draw(st.integers(min_value=1, max_value=30))
    b = s + k2 * d if k2 <= n else e + draw(st.integers(min_value=0, max_value=30))
    assume(b > a)
    cut = (a, b)
    assume(overlaps(cut, (s, e)))
    assume(not isinstance(expected_cut(spec, cut, []), str))
    return spec, cut


@FAST
@given(aligned_cut_cases())
def test_aligned_cut_leaves_exactly_window_minus_cut(case):
    spec, cut = case
    new_id, issued = id_source()
    plan = plan_cut(to_windows(spec), rng(*cut), [], new_id)
    check_cut_plan(spec, cut, [], plan, issued)
    assert isinstance(plan, CutPlan) and plan.remaining  # it did touch a window
    for ident, pieces in plan.remaining.items():
        ((s, e, d, _),) = [w for w in spec if UUID(int=w[3]) == ident]
        kept = set().union(*(set(range(*as_minutes(p.range))) for p in pieces)) if pieces else set()
        left = set(range(s, e)) - set(range(*cut))
        assert kept <= left
        # What is not kept is less than one slot per leftover run.
        for run in runs(left - kept):
            assert run[1] - run[0] < d


@FAST
@given(window_sets(max_windows=4), st.integers(min_value=0, max_value=40), st.data())
def test_cut_over_no_window_is_an_empty_plan(spec, width, data):
    # Pick a stretch between windows (including exactly the gap, touching both sides).
    edges = [-(10**5)] + [x for w in spec for x in (w[0], w[1])] + [10**5]
    gaps = [(edges[i], edges[i + 1]) for i in range(0, len(edges), 2) if edges[i + 1] > edges[i]]
    lo, hi = data.draw(st.sampled_from(gaps))
    start = data.draw(st.integers(min_value=lo, max_value=hi - 1))
    end = min(hi, start + 1 + width)
    new_id, issued = id_source()
    plan = plan_cut(to_windows(spec), rng(start, end), [], new_id)
    assert plan == CutPlan({})
    assert issued == []
    if len(spec) >= 2:
        exact = plan_cut(to_windows(spec), rng(spec[0][1], spec[1][0]), [], new_id)
        assert exact == CutPlan({})


@FAST
@given(aligned_cut_cases(), st.data())
def test_a_confirmed_booking_in_the_cut_refuses_it(case, data):
    spec, cut = case
    # A booking overlapping the cut by at least a minute.
    b_start = data.draw(st.integers(min_value=cut[0] - 30, max_value=cut[1] - 1))
    b_end = max(b_start, cut[0]) + 1 + data.draw(st.integers(min_value=0, max_value=60))
    plan = plan_cut(to_windows(spec), rng(*cut), [rng(b_start, b_end)], id_source()[0])
    assert isinstance(plan, Rejected) and plan.reason == "BOOKINGS_IN_RANGE"
    # A booking that only touches the cut does not block it.
    touching = [rng(cut[0] - 15, cut[0]), rng(cut[1], cut[1] + 15)]
    assert isinstance(plan_cut(to_windows(spec), rng(*cut), touching, id_source()[0]), CutPlan)


def test_plan_cut_examples():
    w = window(0, 240, 30, 1)
    new_id, issued = id_source()
    # A cut in the middle splits the window: the first piece keeps the id.
    plan = plan_cut([w], rng(60, 120), [], new_id)
    assert isinstance(plan, CutPlan)
    left, right = plan.remaining[w.id]
    assert as_minutes(left.range) == (0, 60) and left.id == w.id
    assert as_minutes(right.range) == (120, 240) and right.id == issued[0] != w.id
    assert left.slot_minutes == right.slot_minutes == 30
    # Cutting the head off: the tail is the first piece and keeps the id.
    plan = plan_cut([w], rng(-17, 30), [], id_source()[0])
    assert [(as_minutes(p.range), p.id) for p in plan.remaining[w.id]] == [((30, 240), w.id)]
    # Cutting everything: the window is listed with no pieces.
    assert plan_cut([w], rng(-5, 300), [], id_source()[0]) == CutPlan({w.id: ()})
    # A leftover shorter than a slot is dropped.
    odd = window(0, 100, 30, 2)
    plan = plan_cut([odd], rng(30, 90), [], id_source()[0])
    assert [as_minutes(p.range) for p in plan.remaining[odd.id]] == [(0, 30)]
    # Boundaries strictly inside and off the grid are refused; at the edges they are not checked.
    assert plan_cut([w], rng(45, 120), [], id_source()[0]).reason == "MISALIGNED_SLOT"
    assert plan_cut([w], rng(60, 125), [], id_source()[0]).reason == "MISALIGNED_SLOT"
    assert isinstance(plan_cut([odd], rng(90, 100), [], id_source()[0]), CutPlan)
    # MISALIGNED_SLOT is decided before BOOKINGS_IN_RANGE.
    assert plan_cut([w], rng(45, 120), [rng(60, 90)], id_source()[0]).reason == "MISALIGNED_SLOT"
    assert plan_cut([w], rng(60, 120), [rng(60, 90)], id_source()[0]).reason == "BOOKINGS_IN_RANGE"
    # Two windows in one cut, neither split.
    a, b = window(0, 60, 30, 3), window(100, 160, 20, 4)
    plan = plan_cut([a, b], rng(30, 120), [], id_source()[0])
    assert [as_minutes(p.range) for p in plan.remaining[a.id]] == [(0, 30)]
    assert [as_minutes(p.range) for p in plan.remaining[b.id]] == [(120, 160)]
    assert plan.remaining[b.id][0].id == b.id
