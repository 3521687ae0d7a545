"""The gateway's routes (contract section 6): writes become commands and wait for their
replies, reads go to PostgreSQL. Each is a plain function of the request; what it uses
comes from `app.state.gateway` (services.gateway.dependencies)."""

from datetime import UTC, date, datetime, timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from contracts.commands import (
    CreateAvailabilityFields,
    CreateBookingFields,
    RegisterUserFields,
    RemoveAvailabilityFields,
)
from contracts.replies import ReplyMessage
from contracts.time import format_utc, parse_rfc3339
from services.booking.domain.bookings import Booking
from services.booking.domain.slots import list_slots as listed_slots
from services.gateway.bodies import RescheduleRequest
from services.gateway.dependencies import Caller, IdempotencyKey, command_id_for, gateway_of, send, send_as
from services.gateway.openapi import (
    AvailabilityBody,
    AvailabilityRemovedBody,
    BookingBody,
    BookingRescheduledBody,
    Health,
    SignedUp,
    Slots,
    responses,
)
from services.gateway.problems import ProblemResponse

MAX_QUERY_RANGE = timedelta(days=31)
WRITE_PROBLEMS = (400, 401, 403, 404, 409, 413, 422, 503)
READ_PROBLEMS = (401, 404, 422)
NOT_YOURS = ("For the booking's user or host only: anyone else gets 404 BOOKING_NOT_FOUND, as for an unknown "
             "booking, so that a stranger does not learn that it exists.")

router = APIRouter()


@router.post("/users", status_code=201, tags=["users"], summary="Sign up (RegisterUser); returns a bearer token once",
             response_model=None, responses=responses(201, SignedUp, 400, 409, 413, 422, 503, pending=True))
async def sign_up(request: Request, body: RegisterUserFields, idempotency_key: IdempotencyKey = None) -> dict:
    gateway = gateway_of(request)
    reply = await send(gateway, "RegisterUser", None, body.to_wire(), command_id_for("sign-up", idempotency_key))
    user = reply["user"]
    return {"user": user, "token": gateway.signer.issue(UUID(user["userId"]))}


@router.post("/availability", status_code=201, tags=["availability"], summary="CreateAvailability",
             response_model=None, responses=responses(201, AvailabilityBody, *WRITE_PROBLEMS, pending=True))
async def create_availability(request: Request, body: CreateAvailabilityFields, user: Caller,
                              idempotency_key: IdempotencyKey = None) -> dict:
    reply = await send_as(request, user, "CreateAvailability", body.to_wire(), idempotency_key)
    return {"availability": reply["availability"]}


@router.post("/availability/removals", status_code=200, tags=["availability"],
             summary="RemoveAvailability: cut [startTime, endTime) out of the host's windows",
             response_model=None, responses=responses(200, AvailabilityRemovedBody, *WRITE_PROBLEMS, pending=True))
async def remove_availability(request: Request, body: RemoveAvailabilityFields, user: Caller,
                              idempotency_key: IdempotencyKey = None) -> dict:
    reply = await send_as(request, user, "RemoveAvailability", body.to_wire(), idempotency_key)
    return {key: reply[key] for key in ("hostId", "startTime", "endTime", "windows")}


@router.get("/availability/{host_id}/slots", tags=["availability"],
            summary="Slots starting in a UTC day (date) or in [from, to), at most 31 days",
            description="Any day of the calendar may be asked, 0001-01-01 to 9999-12-31 (a day without "
            "slots is an empty list). `from` and `to` are RFC 3339 with an offset; an instant outside "
            "the years 1 to 9999 once in UTC is 422 VALIDATION_FAILED.",
            response_model=None, responses=responses(200, Slots, *READ_PROBLEMS))
async def list_slots(
    request: Request,
    host_id: UUID,
    _: Caller,
    day: Annotated[date | None, Query(alias="date", description="YYYY-MM-DD, a UTC day")] = None,
    from_: Annotated[str | None, Query(alias="from", description="RFC 3339 with offset, inclusive")] = None,
    to: Annotated[str | None, Query(description="RFC 3339 with offset, exclusive")] = None,
) -> JSONResponse:
    start, end = slot_range(day, from_, to)
    host, windows, confirmed = await gateway_of(request).reads.slot_inputs(host_id, start, end)
    if host is None or host.role != "HOST":
        raise ProblemResponse(404, "HOST_NOT_FOUND", "No host with that id.")
    slots = listed_slots(windows, confirmed, start, end, datetime.now(UTC))
    # a JSONResponse of plain JSON types as FastAPI would build it from the dict, without its
    # jsonable_encoder walk over every slot (half the request's CPU for a week of 30-minute slots)
    return JSONResponse({
        "slots": [
            {"startTime": format_utc(slot.start), "endTime": format_utc(slot.end), "available": available}
            for slot, available in slots
        ]
    })


@router.post("/booking", status_code=201, tags=["bookings"], summary="CreateBooking",
             response_model=None, responses=responses(201, BookingBody, *WRITE_PROBLEMS, pending=True))
async def create_booking(request: Request, body: CreateBookingFields, user: Caller,
                         idempotency_key: IdempotencyKey = None) -> dict:
    reply = await send_as(request, user, "CreateBooking", body.to_wire(), idempotency_key)
    return {"booking": reply["booking"]}


@router.get("/booking/{booking_id}", tags=["bookings"], summary="A booking, for its user or host",
            description=NOT_YOURS,
            response_model=None, responses=responses(200, BookingBody, *READ_PROBLEMS))
async def get_booking(request: Request, booking_id: UUID, user: Caller) -> dict:
    return {"booking": booking_view(await booking_of(request, booking_id, user))}


@router.post("/booking/{booking_id}/cancel", tags=["bookings"], summary="CancelBooking",
             description=NOT_YOURS,
             response_model=None, responses=responses(200, BookingBody, *WRITE_PROBLEMS, pending=True))
async def cancel_booking(request: Request, booking_id: UUID, user: Caller, idempotency_key: IdempotencyKey = None) -> dict:
    body = {"hostId": str((await booking_of(request, booking_id, user)).host_id), "bookingId": str(booking_id)}
    reply = await send_as(request, user, "CancelBooking", body, idempotency_key)
    return {"booking": reply["booking"]}


@router.post("/booking/{booking_id}/reschedule", tags=["bookings"],
             summary="RescheduleBooking: move to another slot of the same host, atomically",
             description=NOT_YOURS,
             response_model=None, responses=responses(200, BookingRescheduledBody, *WRITE_PROBLEMS, pending=True))
async def reschedule_booking(request: Request, booking_id: UUID, body: RescheduleRequest, user: Caller,
                             idempotency_key: IdempotencyKey = None) -> dict:
    host_id = (await booking_of(request, booking_id, user)).host_id
    command = {"hostId": str(host_id), "bookingId": str(booking_id), **body.to_wire()}
    reply = await send_as(request, user, "RescheduleBooking", command, idempotency_key)
    return {key: reply[key] for key in ("booking", "previousStartTime", "previousEndTime")}


@router.get("/commands/{command_id}", tags=["commands"],
            summary="The stored reply of a command the caller sent; 404 while unknown",
            response_model=None, responses=responses(200, ReplyMessage, *READ_PROBLEMS))
async def command_outcome(request: Request, command_id: UUID, user: Caller) -> Response:
    stored = await gateway_of(request).reads.command_reply(command_id, user)
    if stored is None:
        raise ProblemResponse(404, "COMMAND_NOT_FOUND", "No outcome stored for that command (yet).")
    return Response(stored, media_type="application/json")


@router.get("/health", tags=["operations"], summary="Broker and database connectivity",
            response_model=None, responses={200: {"model": Health}, 503: {"model": Health, "description": "Degraded"}})
async def health(request: Request) -> JSONResponse:
    gateway = gateway_of(request)
    status = {"broker": gateway.requester.connected, "database": await gateway.reads.database_answers()}
    healthy = all(status.values())
    return JSONResponse({"status": "ok" if healthy else "degraded", **status}, status_code=200 if healthy else 503)


# ---- helpers of the routes


async def booking_of(request: Request, booking_id: UUID, user: UUID) -> Booking:
    """The booking, for its user or host; anyone else gets the 404 of an unknown booking
    (reading, cancelling or moving it), so that a stranger does not learn it exists."""
    found = await gateway_of(request).reads.booking(booking_id)
    if found is None or user not in (found.user_id, found.host_id):
        raise ProblemResponse(404, "BOOKING_NOT_FOUND", "No booking with that id for you.")
    return found


def booking_view(booking: Booking) -> dict:
    return {
        "bookingId": str(booking.id),
        "hostId": str(booking.host_id),
        "userId": str(booking.user_id),
        "startTime": format_utc(booking.range.start),
        "endTime": format_utc(booking.range.end),
        "status": booking.status,
    }


def slot_range(day: date | None, from_: str | None, to: str | None) -> tuple[datetime, datetime]:
    if day is not None and from_ is None and to is None:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        # 9999-12-31 ends past the last datetime; every slot of it starts before that
        return start, start + timedelta(days=1) if day < date.max else datetime.max.replace(tzinfo=UTC)
    if day is None and from_ is not None and to is not None:
        try:
            start, end = parse_rfc3339(from_), parse_rfc3339(to)
        except (ValueError, ValidationError) as error:
            raise ProblemResponse(422, "VALIDATION_FAILED", f"from/to: {error}") from None
        if end <= start or end - start > MAX_QUERY_RANGE:
            raise ProblemResponse(422, "VALIDATION_FAILED", "`to` must be after `from`, at most 31 days later.")
        return start, end
    raise ProblemResponse(422, "VALIDATION_FAILED", "Give either `date` (YYYY-MM-DD) or both `from` and `to`.")
