"""Errors as RFC 9457 problem+json carrying `reason` and `errors`, the mapping of
rejection reasons to HTTP statuses (contract section 6), and the exception handlers
that answer with them."""

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from contracts.wire import field_errors

PROBLEM = "application/problem+json"

CONFLICTS = {
    "SLOT_TAKEN",
    "AVAILABILITY_CONFLICT",
    "EMAIL_TAKEN",
    "BOOKINGS_IN_RANGE",
    "ALREADY_CANCELLED",
    "COMMAND_ID_REUSED",
}
FORBIDDEN = {"FORBIDDEN", "NOT_A_HOST"}
TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
          413: "Content Too Large", 422: "Unprocessable Content", 503: "Service Unavailable"}


def status_for(reason: str) -> int:
    if reason.endswith("_NOT_FOUND"):
        return 404
    if reason in FORBIDDEN:
        return 403
    if reason in CONFLICTS:
        return 409
    return 422


def problem(
    status: int,
    reason: str,
    detail: str,
    errors: list[dict] | None = None,
    headers: dict[str, str] | None = None,
    **extra: object,
) -> JSONResponse:
    body = {
        "type": f"https://booking.example/problems/{reason.lower().replace('_', '-')}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "reason": reason,
        "errors": errors or [],
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def rejection_problem(reply: dict) -> JSONResponse:
    return problem(
        status_for(reply["reason"]),
        reply["reason"],
        reply["detail"],
        reply.get("errors"),
        commandId=reply.get("commandId"),
    )


class Answered(Exception):
    """Carries a finished response (a problem, a rejection, a 202) out of a route."""

    def __init__(self, response: Response) -> None:
        self.response = response


class ProblemResponse(Answered):
    """Raised anywhere in a request to answer with a problem document."""

    def __init__(self, status: int, reason: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(problem(status, reason, detail, headers=headers))


async def answered(_: Request, answer: Answered) -> Response:
    return answer.response


async def invalid_request(_: Request, error: RequestValidationError) -> Response:
    if any(e["type"] == "json_invalid" for e in error.errors()):
        return problem(400, "MALFORMED_MESSAGE", "The request body is not JSON.")
    # the worker's flattening, for one `errors` on both; located as in the model, without
    # the `body` part FastAPI puts in front of a body field's location
    errors = field_errors([{**e, "loc": tuple(part for part in e["loc"] if part != "body")} for e in error.errors()])
    return problem(422, "VALIDATION_FAILED", "The request has fields that are missing or invalid.", errors)


async def http_error(_: Request, error: StarletteHTTPException) -> Response:
    if error.status_code == 400:  # FastAPI could not read the body at all (e.g. not UTF-8)
        return problem(400, "MALFORMED_MESSAGE", "The request body is not JSON.")
    reason = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(error.status_code, "HTTP_ERROR")
    return problem(error.status_code, reason, str(error.detail))
