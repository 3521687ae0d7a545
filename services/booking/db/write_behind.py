"""The write-behind buffer of a unit of work: new bookings are not inserted when they
are decided but when a statement could see them, so a group of bookings for different
hosts costs one write in all (with the outcomes) instead of one per booking."""

from collections.abc import Collection
from uuid import UUID

from services.booking.domain.bookings import Booking


class WriteBehind:
    """The rule, in full: before a statement that reads the rows of some hosts, the held
    bookings are written if any of them is one of those hosts'; before any write, they
    are written (a write's constraint checks must see them); what is left at the end
    goes in with the outcomes, in the same statement. Always all of them at once, in
    the order they were decided. PostgresBookingStore asks before every statement it
    sends; the unit of work takes the rest when it commits."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held: list[Booking] = []

    def hold(self, booking: Booking) -> None:
        self._held.append(booking)

    def due(self, reading: Collection[UUID] | None) -> list[Booking]:
        """What must be written, and is no longer held, before a statement reading the
        rows of the hosts `reading`, or (None) before a write."""
        if self._held and (reading is None or any(b.host_id in reading for b in self._held)):
            return self.rest()
        return []

    def rest(self) -> list[Booking]:
        held, self._held = self._held, []
        return held
