"""Replies and events (contract section 4). A reply is published to the command's
`reply_to` and to `booking.events` under the routing key of its type."""

from typing import Literal
from uuid import UUID

from pydantic import Field

from contracts.reasons import Reason
from contracts.time import MinuteTime, Timestamp
from contracts.wire import WireModel


class UserView(WireModel):
    user_id: UUID
    name: str
    email: str
    role: Literal["HOST", "USER"]


class AvailabilityView(WireModel):
    availability_id: UUID
    host_id: UUID
    start_time: MinuteTime
    end_time: MinuteTime
    slot_duration: int


class BookingView(WireModel):
    booking_id: UUID
    host_id: UUID
    user_id: UUID
    start_time: MinuteTime
    end_time: MinuteTime
    status: Literal["CONFIRMED", "CANCELLED"]


class FieldError(WireModel):
    field: str
    message: str


class Reply(WireModel):
    command_id: UUID | None
    occurred_at: Timestamp


class UserRegistered(Reply):
    type: Literal["UserRegistered"] = "UserRegistered"
    user: UserView


class AvailabilityCreated(Reply):
    type: Literal["AvailabilityCreated"] = "AvailabilityCreated"
    availability: AvailabilityView = Field(description="the window after merging")


class AvailabilityRemoved(Reply):
    type: Literal["AvailabilityRemoved"] = "AvailabilityRemoved"
    host_id: UUID
    start_time: MinuteTime
    end_time: MinuteTime
    windows: list[AvailabilityView] = Field(
        description="what is left of each window the cut touched"
    )


class BookingConfirmed(Reply):
    type: Literal["BookingConfirmed"] = "BookingConfirmed"
    booking: BookingView


class BookingCancelled(Reply):
    type: Literal["BookingCancelled"] = "BookingCancelled"
    booking: BookingView


class BookingRescheduled(Reply):
    type: Literal["BookingRescheduled"] = "BookingRescheduled"
    booking: BookingView
    previous_start_time: MinuteTime
    previous_end_time: MinuteTime


class Rejection(Reply):
    reason: Reason
    detail: str = Field(description="one sentence for a person")
    errors: list[FieldError] = Field(
        default_factory=list, description="field errors, for VALIDATION_FAILED"
    )


class UserRejected(Rejection):
    type: Literal["UserRejected"] = "UserRejected"


class AvailabilityRejected(Rejection):
    type: Literal["AvailabilityRejected"] = "AvailabilityRejected"


class BookingRejected(Rejection):
    type: Literal["BookingRejected"] = "BookingRejected"


class CommandRejected(Rejection):
    """A message the worker could not read as a command; commandId is null when
    the body carried no valid one."""

    type: Literal["CommandRejected"] = "CommandRejected"
    reason: Literal[Reason.MALFORMED_MESSAGE] = Reason.MALFORMED_MESSAGE


ROUTING_KEYS: dict[str, str] = {
    "UserRegistered": "user.registered",
    "AvailabilityCreated": "availability.created",
    "AvailabilityRemoved": "availability.removed",
    "BookingConfirmed": "booking.confirmed",
    "BookingCancelled": "booking.cancelled",
    "BookingRescheduled": "booking.rescheduled",
    "UserRejected": "user.rejected",
    "AvailabilityRejected": "availability.rejected",
    "BookingRejected": "booking.rejected",
    "CommandRejected": "command.rejected",
}

# The rejection reply each command type answers with.
REJECTION_FOR: dict[str, type[Rejection]] = {
    "RegisterUser": UserRejected,
    "CreateAvailability": AvailabilityRejected,
    "RemoveAvailability": AvailabilityRejected,
    "CreateBooking": BookingRejected,
    "CancelBooking": BookingRejected,
    "RescheduleBooking": BookingRejected,
}

ReplyMessage = (
    UserRegistered
    | AvailabilityCreated
    | AvailabilityRemoved
    | BookingConfirmed
    | BookingCancelled
    | BookingRescheduled
    | UserRejected
    | AvailabilityRejected
    | BookingRejected
    | CommandRejected
)
