"""Composition root of the gateway: the FastAPI app, its routes and its lifespan."""

import logging
import uuid
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from contracts.commands import (
    CreateAvailabilityFields,
    CreateBookingFields,
    RegisterUserFields,
    RemoveAvailabilityFields,
)
from contracts.replies import ReplyMessage
from contracts.time import parse_rfc3339
from services.booking.db import SERVER_SETTINGS
from services.gateway import queries
from services.gateway.bodies import RescheduleRequest
from services.gateway.limits import BodySizeLimit
from services.gateway.openapi import (
    AvailabilityBody,
    AvailabilityRemovedBody,
    BookingBody,
    BookingRescheduledBody,
    Health,
    SignedUp,
    Slots,
    register_problem_schema,
    responses,
)
from services.gateway.problems import problem, rejection_problem
from services.gateway.requester import BrokerUnavailable, Requester
from services.gateway.tokens import TokenSigner
from services.logs import configure_logging
from services.settings import Settings, get_settings

log = logging.getLogger("booking.gateway")
IDEMPOTENCY_NAMESPACE = uuid.UUID("5b0c6a43-4f0e-4f59-9a34-5a7a4c1b7c11")
MAX_QUERY_RANGE = timedelta(days=31)
WRITE_PROBLEMS = (400, 401, 403, 404, 409, 413, 422, 503)
READ_PROBLEMS = (401, 404, 422)
NOT_YOURS = ("For the booking's user or host only: anyone else gets 404 BOOKING_NOT_FOUND, as for an unknown "
             "booking, so that a stranger does not learn that it exists.")


class Problem(Exception):
    """Raised anywhere in a request to answer with a problem document."""

    def __init__(self, status: int, reason: str, detail: str, headers: dict | None = None) -> None:
        self.response = problem(status, reason, detail, headers=headers)


def command_id_for(caller: str, idempotency_key: str | None) -> str:
    """The same key from the same caller is the same command."""
    if idempotency_key is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{caller}\n{idempotency_key}"))


def create_served_app() -> FastAPI:
    """What uvicorn builds in each gateway process (services.gateway.__main__)."""
    settings = get_settings()
    configure_logging(settings.log_level)
    return create_app(settings)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    signer = TokenSigner(settings.token_secret, settings.token_ttl)
    requester = Requester(settings.amqp_url)
    engine: AsyncEngine = create_async_engine(
        settings.sqlalchemy_url, pool_size=settings.db_pool_size, connect_args={"server_settings": SERVER_SETTINGS}
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        await requester.start()
        log.info("gateway started", extra={"port": settings.http_port})
        yield
        await requester.stop()
        await engine.dispose()

    app = FastAPI(
        title="Booking gateway",
        version="1.0.0",
        description="HTTP front of the booking service (CONTRACT.md section 6). Errors are application/problem+json.",
        lifespan=lifespan,
    )
    app.add_middleware(BodySizeLimit)
    register_problem_schema(app)

    # ---- errors as problem+json

    @app.exception_handler(Problem)
    async def _problem(_: Request, error: Problem) -> Response:
        return error.response

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, error: RequestValidationError) -> Response:
        if any(e["type"] == "json_invalid" for e in error.errors()):
            return problem(400, "MALFORMED_MESSAGE", "The request body is not JSON.")
        errors = [
            {"field": ".".join(str(p) for p in e["loc"] if p != "body") or "body",
             "message": "unknown field" if e["type"] == "extra_forbidden" else e["msg"]}
            for e in error.errors()
        ]
        return problem(422, "VALIDATION_FAILED", "The request has fields that are missing or invalid.", errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, error: StarletteHTTPException) -> Response:
        if error.status_code == 400:  # FastAPI could not read the body at all (e.g. not UTF-8)
            return problem(400, "MALFORMED_MESSAGE", "The request body is not JSON.")
        reason = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(error.status_code, "HTTP_ERROR")
        return problem(error.status_code, reason, str(error.detail))

    # ---- authentication

    bearer = HTTPBearer(auto_error=False, description="The token that POST /users returned.")

    # async: a plain def dependency would cost every request a hop to the thread pool
    async def caller(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> UUID:
        user_id = signer.verify(credentials.credentials) if credentials else None
        if user_id is None:
            raise Problem(401, "UNAUTHENTICATED", "A valid bearer token is required.",
                          headers={"WWW-Authenticate": "Bearer"})
        return user_id

    Caller = Annotated[UUID, Depends(caller)]
    IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]

    # ---- enqueue and wait

    async def send(command_type: str, actor: UUID | None, body: dict[str, Any], command_id: str) -> dict:
        command = {"type": command_type, "commandId": command_id,
                   "actorId": str(actor) if actor else None, **body}
        try:
            reply = await requester.request(command, settings.reply_timeout)
        except BrokerUnavailable:
            raise Problem(503, "UNAVAILABLE", "The booking service cannot take commands right now.",
                          headers={"Retry-After": "5"}) from None
        if reply is None:
            raise_accepted(command_id)
        if "reason" in reply:
            raise _Answered(rejection_problem(reply))
        return reply

    def raise_accepted(command_id: str) -> None:
        response = JSONResponse(
            {"commandId": command_id, "status": "PENDING", "location": f"/commands/{command_id}"},
            status_code=202,
            headers={"Location": f"/commands/{command_id}"},
        )
        raise _Answered(response)

    @app.exception_handler(_Answered)
    async def _answered(_: Request, answer: "_Answered") -> Response:
        return answer.response

    # ---- routes

    @app.post("/users", status_code=201, tags=["users"], summary="Sign up (RegisterUser); returns a bearer token once",
              response_model=None, responses=responses(201, SignedUp, 400, 409, 413, 422, 503, pending=True))
    async def sign_up(body: RegisterUserFields, idempotency_key: IdempotencyKey = None) -> dict:
        reply = await send("RegisterUser", None, body.to_wire(), command_id_for("sign-up", idempotency_key))
        user = reply["user"]
        return {"user": user, "token": signer.issue(UUID(user["userId"]))}

    @app.post("/availability", status_code=201, tags=["availability"], summary="CreateAvailability",
              response_model=None, responses=responses(201, AvailabilityBody, *WRITE_PROBLEMS, pending=True))
    async def create_availability(body: CreateAvailabilityFields, user: Caller,
                                  idempotency_key: IdempotencyKey = None) -> dict:
        reply = await send("CreateAvailability", user, body.to_wire(), command_id_for(str(user), idempotency_key))
        return {"availability": reply["availability"]}

    @app.post("/availability/removals", status_code=200, tags=["availability"],
              summary="RemoveAvailability: cut [startTime, endTime) out of the host's windows",
              response_model=None, responses=responses(200, AvailabilityRemovedBody, *WRITE_PROBLEMS, pending=True))
    async def remove_availability(body: RemoveAvailabilityFields, user: Caller,
                                  idempotency_key: IdempotencyKey = None) -> dict:
        reply = await send("RemoveAvailability", user, body.to_wire(), command_id_for(str(user), idempotency_key))
        return {key: reply[key] for key in ("hostId", "startTime", "endTime", "windows")}

    @app.get("/availability/{host_id}/slots", tags=["availability"],
             summary="Slots starting in a UTC day (date) or in [from, to), at most 31 days",
             description="Any day of the calendar may be asked, 0001-01-01 to 9999-12-31 (a day without "
             "slots is an empty list). `from` and `to` are RFC 3339 with an offset; an instant outside "
             "the years 1 to 9999 once in UTC is 422 VALIDATION_FAILED.",
             response_model=None, responses=responses(200, Slots, *READ_PROBLEMS))
    async def list_slots(
        host_id: UUID,
        _: Caller,
        day: Annotated[date | None, Query(alias="date", description="YYYY-MM-DD, a UTC day")] = None,
        from_: Annotated[str | None, Query(alias="from", description="RFC 3339 with offset, inclusive")] = None,
        to: Annotated[str | None, Query(description="RFC 3339 with offset, exclusive")] = None,
    ) -> dict:
        start, end = slot_range(day, from_, to)
        try:
            return {"slots": await queries.slots(engine, host_id, start, end)}
        except queries.HostNotFound:
            raise Problem(404, "HOST_NOT_FOUND", "No host with that id.") from None

    @app.post("/booking", status_code=201, tags=["bookings"], summary="CreateBooking",
              response_model=None, responses=responses(201, BookingBody, *WRITE_PROBLEMS, pending=True))
    async def create_booking(body: CreateBookingFields, user: Caller, idempotency_key: IdempotencyKey = None) -> dict:
        reply = await send("CreateBooking", user, body.to_wire(), command_id_for(str(user), idempotency_key))
        return {"booking": reply["booking"]}

    @app.get("/booking/{booking_id}", tags=["bookings"], summary="A booking, for its user or host",
             description=NOT_YOURS,
             response_model=None, responses=responses(200, BookingBody, *READ_PROBLEMS))
    async def get_booking(booking_id: UUID, user: Caller) -> dict:
        return {"booking": await booking_of(booking_id, user)}

    async def booking_of(booking_id: UUID, user: UUID) -> dict:
        """The booking, for its user or host; anyone else gets the 404 of an unknown booking
        (reading, cancelling or moving it), so that a stranger does not learn it exists."""
        found = await queries.booking(engine, booking_id)
        if found is None or str(user) not in (found["userId"], found["hostId"]):
            raise Problem(404, "BOOKING_NOT_FOUND", "No booking with that id for you.")
        return found

    @app.post("/booking/{booking_id}/cancel", tags=["bookings"], summary="CancelBooking",
              description=NOT_YOURS,
              response_model=None, responses=responses(200, BookingBody, *WRITE_PROBLEMS, pending=True))
    async def cancel_booking(booking_id: UUID, user: Caller, idempotency_key: IdempotencyKey = None) -> dict:
        body = {"hostId": (await booking_of(booking_id, user))["hostId"], "bookingId": str(booking_id)}
        reply = await send("CancelBooking", user, body, command_id_for(str(user), idempotency_key))
        return {"booking": reply["booking"]}

    @app.post("/booking/{booking_id}/reschedule", tags=["bookings"],
              summary="RescheduleBooking: move to another slot of the same host, atomically",
              description=NOT_YOURS,
              response_model=None, responses=responses(200, BookingRescheduledBody, *WRITE_PROBLEMS, pending=True))
    async def reschedule_booking(booking_id: UUID, body: RescheduleRequest, user: Caller,
                                 idempotency_key: IdempotencyKey = None) -> dict:
        host_id = (await booking_of(booking_id, user))["hostId"]
        command = {"hostId": host_id, "bookingId": str(booking_id), **body.to_wire()}
        reply = await send("RescheduleBooking", user, command, command_id_for(str(user), idempotency_key))
        return {key: reply[key] for key in ("booking", "previousStartTime", "previousEndTime")}

    @app.get("/commands/{command_id}", tags=["commands"],
             summary="The stored reply of a command the caller sent; 404 while unknown",
             response_model=None, responses=responses(200, ReplyMessage, *READ_PROBLEMS))
    async def command_outcome(command_id: UUID, user: Caller) -> Response:
        stored = await queries.command_reply(engine, command_id, user)
        if stored is None:
            raise Problem(404, "COMMAND_NOT_FOUND", "No outcome stored for that command (yet).")
        return Response(stored, media_type="application/json")

    @app.get("/health", tags=["operations"], summary="Broker and database connectivity",
             response_model=None, responses={200: {"model": Health}, 503: {"model": Health, "description": "Degraded"}})
    async def health() -> JSONResponse:
        database = await queries.database_answers(engine)
        status = {"broker": requester.connected, "database": database}
        healthy = all(status.values())
        return JSONResponse({"status": "ok" if healthy else "degraded", **status}, status_code=200 if healthy else 503)

    return app


class _Answered(Exception):
    """Carries a finished response (a rejection or a 202) out of a route."""

    def __init__(self, response: Response) -> None:
        self.response = response


def slot_range(day: date | None, from_: str | None, to: str | None) -> tuple[datetime, datetime]:
    if day is not None and from_ is None and to is None:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        # 9999-12-31 ends past the last datetime; every slot of it starts before that
        return start, start + timedelta(days=1) if day < date.max else datetime.max.replace(tzinfo=UTC)
    if day is None and from_ is not None and to is not None:
        try:
            start, end = parse_rfc3339(from_), parse_rfc3339(to)
        except (ValueError, ValidationError) as error:
            raise Problem(422, "VALIDATION_FAILED", f"from/to: {error}") from None
        if end <= start or end - start > MAX_QUERY_RANGE:
            raise Problem(422, "VALIDATION_FAILED", "`to` must be after `from`, at most 31 days later.")
        return start, end
    raise Problem(422, "VALIDATION_FAILED", "Give either `date` (YYYY-MM-DD) or both `from` and `to`.")

