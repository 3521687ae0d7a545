"""Commands (contract section 3). Each model validates shapes and the intrinsic
rules; rules that need stored state (roles, windows, bookings) live in the worker."""

import re
from datetime import datetime, timedelta
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, Strict, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from contracts.time import MinuteTime
from contracts.wire import WireModel

MAX_WINDOW = timedelta(days=90)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def end_after_start(end: datetime, info: ValidationInfo) -> datetime:
    start = info.data.get("start_time")
    if start is not None and end <= start:
        raise PydanticCustomError("end_before_start", "endTime must be strictly after startTime")
    return end


# ---- request bodies: what a caller fills in (also the gateway's request models)


def _printable(value: str) -> str:
    """Control characters and lone surrogates cannot be stored or shown sensibly."""
    if any(ord(ch) < 32 or ord(ch) == 127 or 0xD800 <= ord(ch) <= 0xDFFF for ch in value):
        raise PydanticCustomError("text_unprintable", "must not contain control characters")
    return value


class RegisterUserFields(WireModel):
    name: Annotated[str, Strict(), Field(min_length=1, max_length=200)]
    email: Annotated[str, Strict(), Field(max_length=254)]
    role: Literal["HOST", "USER"]

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, name: str) -> str:
        if not name.strip():
            raise PydanticCustomError("name_blank", "name must not be blank")
        return _printable(name)

    @field_validator("email")
    @classmethod
    def _email_shape(cls, email: str) -> str:
        if not _EMAIL.match(email):
            raise PydanticCustomError("email_invalid", "email must look like name@example.com")
        return _printable(email)


class CreateAvailabilityFields(WireModel):
    host_id: UUID
    start_time: MinuteTime
    end_time: MinuteTime
    slot_duration: Annotated[int, Strict(), Field(ge=1, le=1440, description="minutes")]

    @field_validator("end_time")
    @classmethod
    def _window_shape(cls, end: datetime, info: ValidationInfo) -> datetime:
        end = end_after_start(end, info)
        start = info.data.get("start_time")
        if start is not None and end - start > MAX_WINDOW:
            raise PydanticCustomError("window_too_long", "a window spans at most 90 days")
        return end

    @field_validator("slot_duration")
    @classmethod
    def _holds_a_slot(cls, minutes: int, info: ValidationInfo) -> int:
        start, end = info.data.get("start_time"), info.data.get("end_time")
        if start is not None and end is not None and end - start < timedelta(minutes=minutes):
            raise PydanticCustomError("window_holds_no_slot", "the window must hold at least one slot")
        return minutes


class RemoveAvailabilityFields(WireModel):
    host_id: UUID
    start_time: MinuteTime
    end_time: MinuteTime

    _end_after_start = field_validator("end_time")(end_after_start)


class CreateBookingFields(WireModel):
    host_id: UUID
    user_id: UUID
    start_time: MinuteTime
    end_time: MinuteTime

    _end_after_start = field_validator("end_time")(end_after_start)


class CancelBookingFields(WireModel):
    host_id: UUID
    booking_id: UUID


class RescheduleBookingFields(WireModel):
    host_id: UUID
    booking_id: UUID
    start_time: MinuteTime
    end_time: MinuteTime

    _end_after_start = field_validator("end_time")(end_after_start)


# ---- commands: the fields plus the envelope every command carries


class Envelope(WireModel):
    command_id: UUID
    actor_id: UUID | None = Field(
        description="On whose behalf; null (written out) for a trusted internal system."
    )


class RegisterUser(Envelope, RegisterUserFields):
    type: Literal["RegisterUser"]


class CreateAvailability(Envelope, CreateAvailabilityFields):
    type: Literal["CreateAvailability"]


class RemoveAvailability(Envelope, RemoveAvailabilityFields):
    type: Literal["RemoveAvailability"]


class CreateBooking(Envelope, CreateBookingFields):
    type: Literal["CreateBooking"]


class CancelBooking(Envelope, CancelBookingFields):
    type: Literal["CancelBooking"]


class RescheduleBooking(Envelope, RescheduleBookingFields):
    type: Literal["RescheduleBooking"]


Command = (
    RegisterUser
    | CreateAvailability
    | RemoveAvailability
    | CreateBooking
    | CancelBooking
    | RescheduleBooking
)

COMMAND_TYPES: dict[str, type[Command]] = {
    model.model_fields["type"].annotation.__args__[0]: model  # type: ignore[union-attr]
    for model in (
        RegisterUser,
        CreateAvailability,
        RemoveAvailability,
        CreateBooking,
        CancelBooking,
        RescheduleBooking,
    )
}
