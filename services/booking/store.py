"""What a handler may read and write: the BookingStore. Named for what the handlers
mean, in the domain's types; no SQL and no transaction here. PostgreSQL implements it
(services/booking/db/booking_store.py, inside a unit of work), and so does plain Python
for fast handler tests (tests/support/memory_store.py), with the database's rules."""

from collections.abc import Iterable
from typing import Protocol, runtime_checkable
from uuid import UUID

from services.booking.domain.bookings import Booking, Person
from services.booking.domain.ranges import TimeRange
from services.booking.domain.windows import Window


class ConstraintViolated(Exception):
    """The store refused a write the application had decided to make (the database's
    exclusion constraints: no overlapping windows of a host, no overlapping confirmed
    bookings of a host): another writer changed the state first. Handling again re-reads it."""


@runtime_checkable
class BookingStore(Protocol):
    # ---- loads: each one round trip on the database

    async def host_and_windows_near(self, host_id: UUID, around: TimeRange) -> tuple[Person | None, list[Window]]:
        """The host (None when no user has that id) and its windows overlapping or touching
        `around`, earliest first."""
        ...

    async def host_windows_and_confirmed(
        self, host_id: UUID, around: TimeRange
    ) -> tuple[Person | None, list[Window], list[TimeRange]]:
        """The host, its windows overlapping or touching `around`, and the ranges of its
        confirmed bookings overlapping `around`."""
        ...

    async def booking_parties(
        self, host_id: UUID, user_id: UUID, wanted: TimeRange
    ) -> tuple[Person | None, Person | None, list[Window], list[TimeRange]]:
        """What a new booking is decided on: host, user, the host's windows overlapping or
        touching `wanted` and its confirmed bookings overlapping it."""
        ...

    async def host_booking(self, host_id: UUID, booking_id: UUID) -> Booking | None:
        """The booking, if it is one of this host's."""
        ...

    async def windows_and_confirmed(
        self, host_id: UUID, around: TimeRange, *, excluding: UUID
    ) -> tuple[list[Window], list[TimeRange]]:
        """The host's windows overlapping or touching `around` and its confirmed bookings
        overlapping it, but the booking `excluding` (one being moved)."""
        ...

    # ---- writes

    async def add_user(self, user_id: UUID, name: str, email: str, role: str) -> bool:
        """False, and nothing written, when the email is taken (compared case-insensitively)."""
        ...

    async def add_window(self, window: Window) -> None: ...

    async def resize_window(self, window: Window) -> None:
        """The stored window `window.id` now spans `window.range`."""
        ...

    async def delete_windows(self, ids: Iterable[UUID]) -> None: ...

    async def add_booking(self, booking: Booking) -> None:
        """May be written late (the unit of work's write-behind): a refusal can then come
        from a later call, or from the commit, as ConstraintViolated."""
        ...

    async def update_booking(self, booking: Booking) -> None:
        """The stored booking `booking.id` now has `booking`'s range and status, in one
        write (a moved booking frees its old slot as it takes the new one)."""
        ...
