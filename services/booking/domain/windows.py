"""Availability windows, their slot grid, the merge rule and cutting time out."""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID

from contracts.reasons import Reason
from services.booking.domain.ranges import TimeRange
from services.booking.domain.rejection import Rejected


@dataclass(frozen=True, slots=True)
class Window:
    id: UUID
    host_id: UUID
    range: TimeRange
    slot_minutes: int

    @property
    def slot(self) -> timedelta:
        return timedelta(minutes=self.slot_minutes)

    def on_grid(self, instant: datetime) -> bool:
        return (instant - self.range.start) % self.slot == timedelta(0)

    def same_grid(self, other: "Window") -> bool:
        return self.slot_minutes == other.slot_minutes and self.on_grid(other.range.start)

    def slot_count(self) -> int:
        return self.range.length // self.slot

    def slots(self) -> Iterator[TimeRange]:
        """[start + k·d, start + (k+1)·d) for every k whose slot ends inside the window."""
        for k in range(self.slot_count()):
            start = self.range.start + k * self.slot
            yield TimeRange(start, start + self.slot)

    def is_slot(self, wanted: TimeRange) -> bool:
        return (
            self.range.contains(wanted)
            and wanted.length == self.slot
            and self.on_grid(wanted.start)
        )


@dataclass(frozen=True, slots=True)
class MergePlan:
    """Keep `window` (the merged result, with the id of the earliest neighbour or a
    new id), delete `absorbed`. `changed` is False when the request added nothing."""

    window: Window
    absorbed: tuple[UUID, ...]
    is_new: bool
    changed: bool


def plan_window(
    existing: Sequence[Window], requested: Window, now: datetime
) -> Rejected | MergePlan:
    """Decide a CreateAvailability against the host's current windows."""
    if requested.range.end <= now:
        return Rejected(Reason.IN_THE_PAST, "The window ends in the past.")
    neighbours = sorted(
        (w for w in existing if w.range.overlaps(requested.range) or w.range.touches(requested.range)),
        key=lambda w: w.range.start,
    )
    for window in neighbours:
        if not window.same_grid(requested):
            return Rejected(
                Reason.AVAILABILITY_CONFLICT,
                "The window overlaps or touches a window with another slot length or grid.",
            )
    if not neighbours:
        return MergePlan(requested, (), is_new=True, changed=True)
    merged_range = requested.range
    for window in neighbours:
        merged_range = merged_range.hull(window.range)
    keeper = neighbours[0]
    merged = replace(keeper, range=merged_range)
    changed = len(neighbours) > 1 or merged_range != keeper.range
    return MergePlan(merged, tuple(w.id for w in neighbours[1:]), is_new=False, changed=changed)


@dataclass(frozen=True, slots=True)
class CutPlan:
    """For each touched window: the pieces left (none, one or two). The first piece
    keeps the window's id; a second piece gets a new id."""

    remaining: dict[UUID, tuple[Window, ...]]


def plan_cut(
    existing: Sequence[Window],
    cut: TimeRange,
    confirmed_bookings: Sequence[TimeRange],
    new_id: Callable[[], UUID],
) -> Rejected | CutPlan:
    """Decide a RemoveAvailability against the host's windows and confirmed bookings."""
    touched = sorted((w for w in existing if w.range.overlaps(cut)), key=lambda w: w.range.start)
    for window in touched:
        for boundary in (cut.start, cut.end):
            if window.range.strictly_inside(boundary) and not window.on_grid(boundary):
                return Rejected(
                    Reason.MISALIGNED_SLOT, "A cut boundary falls off the slot grid of a window."
                )
    if any(booking.overlaps(cut) for booking in confirmed_bookings):
        return Rejected(Reason.BOOKINGS_IN_RANGE, "A confirmed booking lies in the time to remove.")
    remaining: dict[UUID, tuple[Window, ...]] = {}
    for window in touched:
        pieces = []
        if window.range.start < cut.start:
            pieces.append(TimeRange(window.range.start, cut.start))
        if cut.end < window.range.end:
            pieces.append(TimeRange(cut.end, window.range.end))
        kept = [
            replace(window, range=piece)
            for piece in pieces
            if piece.length >= window.slot  # a piece holding no slot offers nothing
        ]
        remaining[window.id] = tuple(
            piece if i == 0 else replace(piece, id=new_id()) for i, piece in enumerate(kept)
        )
    return CutPlan(remaining)
