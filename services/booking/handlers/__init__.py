"""One handler per command: load, decide with the domain, write. Each runs inside the
unit of work its caller opened and returns the reply to store and publish."""

from collections.abc import Awaitable, Callable

from contracts.replies import Reply
from services.booking.handlers.availability import create_availability, remove_availability
from services.booking.handlers.bookings import cancel_booking, create_booking, reschedule_booking
from services.booking.handlers.context import HandlerContext
from services.booking.handlers.users import register_user

Handler = Callable[..., Awaitable[Reply]]

HANDLERS: dict[str, Handler] = {
    "RegisterUser": register_user,
    "CreateAvailability": create_availability,
    "RemoveAvailability": remove_availability,
    "CreateBooking": create_booking,
    "CancelBooking": cancel_booking,
    "RescheduleBooking": reschedule_booking,
}

__all__ = ["HANDLERS", "HandlerContext"]
