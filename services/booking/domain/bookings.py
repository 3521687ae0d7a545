"""Who may act, and whether a range can be booked. Checks run in the contract's order;
the first failing check decides the reason."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from contracts.reasons import Reason
from services.booking.domain.ranges import TimeRange
from services.booking.domain.rejection import Rejected
from services.booking.domain.windows import Window


@dataclass(frozen=True, slots=True)
class Person:
    id: UUID
    role: str  # "HOST" or "USER"


@dataclass(frozen=True, slots=True)
class Booking:
    id: UUID
    host_id: UUID
    user_id: UUID
    range: TimeRange
    status: str  # "CONFIRMED" or "CANCELLED"


def check_host_command(actor_id: UUID | None, host_id: UUID, host: Person | None) -> Rejected | None:
    """The actor/host checks of CreateAvailability and RemoveAvailability."""
    if actor_id is not None and actor_id != host_id:
        return Rejected(Reason.FORBIDDEN, "Only the host can change the host's availability.")
    return _check_host(host)


def _check_host(host: Person | None) -> Rejected | None:
    if host is None:
        return Rejected(Reason.HOST_NOT_FOUND, "No host with that id.")
    if host.role != "HOST":
        return Rejected(Reason.NOT_A_HOST, "That user is not a host.")
    return None


def check_booking_parties(
    actor_id: UUID | None,
    user_id: UUID,
    user: Person | None,
    host: Person | None,
) -> Rejected | None:
    """The actor, user and host checks of CreateBooking."""
    if actor_id is not None and actor_id != user_id:
        return Rejected(Reason.FORBIDDEN, "A booking can only be made by the booking user.")
    if user is None:
        return Rejected(Reason.USER_NOT_FOUND, "No user with that id.")
    return _check_host(host)


def check_slot(
    wanted: TimeRange,
    windows: Sequence[Window],
    confirmed: Sequence[TimeRange],
    now: datetime,
) -> Rejected | None:
    """Whether `wanted` is a free future slot of the host. `confirmed` must already
    exclude a booking being rescheduled (its own slot does not count as taken)."""
    if wanted.start <= now:
        return Rejected(Reason.IN_THE_PAST, "The slot starts in the past.")
    containing = [w for w in windows if w.range.contains(wanted)]
    if not containing:
        return Rejected(Reason.OUTSIDE_AVAILABILITY, "The time is not inside one availability window of the host.")
    if not any(w.is_slot(wanted) for w in containing):
        return Rejected(Reason.MISALIGNED_SLOT, "The time is not exactly one slot of the window.")
    if any(taken.overlaps(wanted) for taken in confirmed):
        return Rejected(Reason.SLOT_TAKEN, "That slot is already booked.")
    return None


def check_booking_change(
    actor_id: UUID | None, host_id: UUID, booking: Booking | None
) -> Rejected | None:
    """The checks CancelBooking and RescheduleBooking share, in order."""
    if booking is None or booking.host_id != host_id:
        return Rejected(Reason.BOOKING_NOT_FOUND, "No booking with that id for that host.")
    if actor_id is not None and actor_id not in (booking.user_id, booking.host_id):
        return Rejected(Reason.FORBIDDEN, "Only the booking's user or host can change it.")
    if booking.status == "CANCELLED":
        return Rejected(Reason.ALREADY_CANCELLED, "The booking is already cancelled.")
    return None
