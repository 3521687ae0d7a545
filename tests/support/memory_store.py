"""BookingStore in plain Python, for fast handler tests. It enforces what the database
enforces (migrations/versions/0001_initial.py): one user per lower(email) (add_user
answers False, as ON CONFLICT DO NOTHING does), no two overlapping windows of a host,
no two overlapping CONFIRMED bookings of a host (ConstraintViolated, as the exclusion
constraints), ids unique, and windows and bookings naming users that exist (the
database's foreign keys raise ForeignKeyViolationError there; this store LookupError).
It writes at once: it has no write-behind, so it is not the proof that the SQL works;
the same tests on PostgreSQL are (tests/handlers/conftest.py)."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from services.booking.domain.bookings import Booking, Person
from services.booking.domain.ranges import TimeRange
from services.booking.domain.windows import Window
from services.booking.store import ConstraintViolated


@dataclass(frozen=True, slots=True)
class StoredUser:
    id: UUID
    name: str
    email: str
    role: str


class MemoryStore:
    def __init__(self) -> None:
        self.users: dict[UUID, StoredUser] = {}
        self.windows: dict[UUID, Window] = {}
        self.bookings: dict[UUID, Booking] = {}

    # ---- loads

    def _person(self, person_id: UUID) -> Person | None:
        user = self.users.get(person_id)
        return Person(user.id, user.role) if user else None

    def _windows_near(self, host_id: UUID, around: TimeRange) -> list[Window]:
        near = [
            w for w in self.windows.values()
            if w.host_id == host_id and (w.range.overlaps(around) or w.range.touches(around))
        ]
        return sorted(near, key=lambda w: w.range.start)

    def _confirmed(self, host_id: UUID, around: TimeRange, excluding: UUID | None = None) -> list[TimeRange]:
        return [
            b.range for b in self.bookings.values()
            if b.host_id == host_id and b.status == "CONFIRMED" and b.range.overlaps(around) and b.id != excluding
        ]

    async def host_and_windows_near(self, host_id: UUID, around: TimeRange) -> tuple[Person | None, list[Window]]:
        return self._person(host_id), self._windows_near(host_id, around)

    async def host_windows_and_confirmed(
        self, host_id: UUID, around: TimeRange
    ) -> tuple[Person | None, list[Window], list[TimeRange]]:
        return self._person(host_id), self._windows_near(host_id, around), self._confirmed(host_id, around)

    async def booking_parties(
        self, host_id: UUID, user_id: UUID, wanted: TimeRange
    ) -> tuple[Person | None, Person | None, list[Window], list[TimeRange]]:
        host, windows, taken = await self.host_windows_and_confirmed(host_id, wanted)
        return host, self._person(user_id), windows, taken

    async def host_booking(self, host_id: UUID, booking_id: UUID) -> Booking | None:
        booking = self.bookings.get(booking_id)
        return booking if booking and booking.host_id == host_id else None

    async def windows_and_confirmed(
        self, host_id: UUID, around: TimeRange, *, excluding: UUID
    ) -> tuple[list[Window], list[TimeRange]]:
        return self._windows_near(host_id, around), self._confirmed(host_id, around, excluding)

    # ---- writes, refused as the database refuses them

    def _require_users(self, *ids: UUID) -> None:
        for user_id in ids:
            if user_id not in self.users:
                raise LookupError(f"no user {user_id} (a foreign key of the database)")

    async def add_user(self, user_id: UUID, name: str, email: str, role: str) -> bool:
        if any(u.email.lower() == email.lower() for u in self.users.values()):
            return False
        if user_id in self.users:
            raise ConstraintViolated(f"users: id {user_id} exists")
        self.users[user_id] = StoredUser(user_id, name, email, role)
        return True

    def _insert(self, table: dict, row: Window | Booking, check: Callable[[Any], None]) -> None:
        if row.id in table:
            raise ConstraintViolated(f"id {row.id} exists")
        check(row)
        table[row.id] = row

    def _update(self, table: dict, row_id: UUID, check: Callable[[Any], None], **changes: object) -> None:
        stored = table.get(row_id)
        if stored is not None:  # UPDATE ... WHERE id = $1: no such row, nothing changes
            changed = replace(stored, **changes)
            check(changed)
            table[row_id] = changed

    def _check_window(self, window: Window) -> None:
        self._require_users(window.host_id)
        for other in self.windows.values():
            if other.id != window.id and other.host_id == window.host_id and other.range.overlaps(window.range):
                raise ConstraintViolated(f"availability_windows_no_overlap: {window.range} and {other.range}")

    def _check_booking(self, booking: Booking) -> None:
        self._require_users(booking.host_id, booking.user_id)
        if booking.status != "CONFIRMED":
            return
        for other in self.bookings.values():
            if (
                other.id != booking.id and other.host_id == booking.host_id and other.status == "CONFIRMED"
                and other.range.overlaps(booking.range)
            ):
                raise ConstraintViolated(f"bookings_no_double_booking: {booking.range} and {other.range}")

    async def add_window(self, window: Window) -> None:
        self._insert(self.windows, window, self._check_window)

    async def resize_window(self, window: Window) -> None:
        self._update(self.windows, window.id, self._check_window, range=window.range)

    async def delete_windows(self, ids: Iterable[UUID]) -> None:
        for window_id in list(ids):
            self.windows.pop(window_id, None)

    async def add_booking(self, booking: Booking) -> None:
        self._insert(self.bookings, booking, self._check_booking)

    async def update_booking(self, booking: Booking) -> None:
        self._update(self.bookings, booking.id, self._check_booking, range=booking.range, status=booking.status)
