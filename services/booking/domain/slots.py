"""The slots a host lists: every slot of its windows that starts in [start, end), with
whether a CreateBooking of it would be accepted now. That is not a second rule: each
slot is put to check_slot, the check that decides a booking."""

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from services.booking.domain.bookings import check_slot
from services.booking.domain.ranges import TimeRange
from services.booking.domain.windows import Window


class ListedSlot(NamedTuple):
    range: TimeRange
    available: bool


def list_slots(
    windows: Sequence[Window],
    confirmed: Sequence[TimeRange],
    start: datetime,
    end: datetime,
    now: datetime,
) -> list[ListedSlot]:
    """Each slot [w.start + k·d, w.start + (k+1)·d) of each window that starts in
    [start, end), in start order, available when `check_slot(slot, windows, confirmed,
    now)` accepts it (it starts after `now` and no confirmed booking overlaps it).

    check_slot is given only what can change its answer for that slot, so that the
    listing is one pass and not slots × bookings: the window the slot is on (it contains
    the slot and has it on its grid, as the full list would) and, of the bookings that
    start before the slot ends, those that do not end by the time it starts (every one
    that overlaps it is among them, so "taken?" gets the same answer)."""
    grid = sorted(_slots_starting_in(windows, start, end), key=lambda slot: slot[0].start)
    taken = sorted(confirmed, key=lambda booking: booking.start)
    listed: list[ListedSlot] = []
    near: list[TimeRange] = []
    next_taken = 0
    for slot, window in grid:  # slots in start order: a booking that ended before one has ended before the next
        while next_taken < len(taken) and taken[next_taken].start < slot.end:
            near.append(taken[next_taken])
            next_taken += 1
        if near:
            near = [booking for booking in near if booking.end > slot.start]
        listed.append(ListedSlot(slot, check_slot(slot, window, near, now) is None))
    return listed


def _slots_starting_in(
    windows: Sequence[Window], start: datetime, end: datetime
) -> list[tuple[TimeRange, tuple[Window]]]:
    """(slot, (its window,)) for every slot of `windows` starting in [start, end), by
    step arithmetic: the first k with w.start + k·d >= start, up to the last one before
    `end` that still ends inside the window."""
    found = []
    for window in windows:
        step, origin = window.slot, window.range.start
        first = max(0, -((origin - start) // step))  # ceil((start - origin) / step)
        stop = min(window.slot_count(), -((origin - end) // step))  # ceil((end - origin) / step)
        only = (window,)
        for k in range(first, stop):
            slot_start = origin + k * step
            found.append((TimeRange(slot_start, slot_start + step), only))
    return found
