"""Errors as RFC 9457 problem+json carrying `reason` and `errors`, and the mapping of
rejection reasons to HTTP statuses (contract section 6)."""

from fastapi.responses import JSONResponse

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
