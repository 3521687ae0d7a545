"""What the OpenAPI document says the gateway answers: the success bodies, the 202 of a
write that outlived its wait, and every problem status with its problem+json schema.
These models only document; the routes build their bodies themselves."""

from typing import Any, Literal
from uuid import UUID

from fastapi import FastAPI
from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from contracts.replies import AvailabilityView, BookingView, FieldError, UserView
from contracts.time import MinuteTime
from contracts.wire import WireModel
from services.gateway.problems import PROBLEM


# The schema of what problems.problem() writes, components/schemas/Problem in the document
# (a ProblemResponse raised in a route is answered with one).
class ProblemDocument(WireModel):
    """RFC 9457 problem details, with the booking service's `reason` and field `errors`."""

    model_config = {"extra": "allow", "title": "Problem"}

    type: str
    title: str
    status: int
    detail: str
    reason: str = Field(
        description="a rejection reason of the contract, or UNAUTHENTICATED, MALFORMED_MESSAGE, "
        "PAYLOAD_TOO_LARGE, UNAVAILABLE, NOT_FOUND, COMMAND_NOT_FOUND, METHOD_NOT_ALLOWED"
    )
    errors: list[FieldError] = Field(description="field errors, for VALIDATION_FAILED")
    command_id: UUID | None = Field(None, description="the command, when the worker rejected it")


class SignedUp(WireModel):
    user: UserView
    token: str = Field(description="the bearer token for every other route")


class AvailabilityBody(WireModel):
    availability: AvailabilityView


class AvailabilityRemovedBody(WireModel):
    host_id: UUID
    start_time: MinuteTime
    end_time: MinuteTime
    windows: list[AvailabilityView] = Field(description="what is left of each window the cut touched")


class Slot(WireModel):
    start_time: MinuteTime
    end_time: MinuteTime
    available: bool


class Slots(WireModel):
    slots: list[Slot]


class BookingBody(WireModel):
    booking: BookingView


class BookingRescheduledBody(WireModel):
    booking: BookingView
    previous_start_time: MinuteTime
    previous_end_time: MinuteTime


class Pending(WireModel):
    command_id: UUID
    status: Literal["PENDING"]
    location: str = Field(description="where the outcome will be: /commands/{commandId}")


class Health(BaseModel):
    model_config = {"extra": "forbid"}

    status: Literal["ok", "degraded"]
    broker: bool
    database: bool


PROBLEM_SCHEMA = "Problem"  # the component's name in the document
_PROBLEM_REF = {"$ref": f"#/components/schemas/{PROBLEM_SCHEMA}"}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True}},
    503: {"Retry-After": {"schema": {"type": "string"}, "required": True, "description": "seconds"}},
}
_WHY = {
    400: "The body is not JSON (MALFORMED_MESSAGE).",
    401: "No valid bearer token (UNAUTHENTICATED).",
    403: "The caller may not act (FORBIDDEN, NOT_A_HOST).",
    404: "Not found (*_NOT_FOUND).",
    409: "Conflict (SLOT_TAKEN, AVAILABILITY_CONFLICT, EMAIL_TAKEN, BOOKINGS_IN_RANGE, ALREADY_CANCELLED, COMMAND_ID_REUSED).",
    413: "The body is larger than 64 KiB (PAYLOAD_TOO_LARGE).",
    422: "Missing, unknown or invalid fields (VALIDATION_FAILED, with errors) or another rejection.",
    503: "The broker is unreachable (UNAVAILABLE); retry after Retry-After seconds.",
}


def responses(success: int, model: Any, *problems: int, pending: bool = False) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: its success body, the 202 of a pending write, its problems."""
    documented: dict[int | str, dict[str, Any]] = {success: {"model": model}}
    if pending:
        documented[202] = {
            "model": Pending,
            "description": "Accepted: the reply did not come in time; poll the Location.",
            "headers": {"Location": {"schema": {"type": "string"}, "required": True}},
        }
    for status in problems:
        documented[status] = {"description": _WHY[status], "content": {PROBLEM: {"schema": _PROBLEM_REF}}}
        if status in _HEADERS:
            documented[status]["headers"] = _HEADERS[status]
    return documented


def register_problem_schema(app: FastAPI) -> None:
    """Adds the Problem schema that the problem responses refer to to the document's components."""
    generate = app.openapi
    _, definitions = models_json_schema([(ProblemDocument, "serialization")], ref_template="#/components/schemas/{model}")
    definitions["$defs"][PROBLEM_SCHEMA] = definitions["$defs"].pop(ProblemDocument.__name__)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            document.setdefault("components", {}).setdefault("schemas", {}).update(definitions["$defs"])
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
