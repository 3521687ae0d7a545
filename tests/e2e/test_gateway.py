"""The HTTP gateway (contract section 6) over real HTTP, in front of the real worker,
broker and database. Every answer is also held to the gateway's OpenAPI document
(`DocumentedResponses`): documented status, content type, headers and body schema."""

import asyncio
import base64
import re
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from services.gateway.tokens import TokenSigner
from services.settings import Settings
from tests.support.commands import FUTURE_DAY, at
from tests.support.http_client import (
    DocumentedResponses,
    assert_problem,
    bearer,
    new_email,
    sign_up,
    sign_up_body,
)
from tests.support.processes import free_port, gateway_process, worker_process
from tests.support.services import create_sandbox, destroy_sandbox

DAY = FUTURE_DAY.strftime("%Y-%m-%d")
# The seed's request body of POST /availability, verbatim.
SEED_AVAILABILITY = {
    "hostId": "uuid",
    "startTime": "2025-01-01T10:00:00Z",
    "endTime": "2025-01-01T13:00:00Z",
    "slotDuration": 30,
}
# The gateway got the same environment as this process, so the same token secret:
# this signs tokens the gateway accepts (for users that need not exist).
SIGNER = TokenSigner(Settings().token_secret, 3600)
ROUTES = {
    ("POST", "/users"),
    ("POST", "/availability"),
    ("POST", "/availability/removals"),
    ("GET", "/availability/{host_id}/slots"),
    ("POST", "/booking"),
    ("GET", "/booking/{booking_id}"),
    ("POST", "/booking/{booking_id}/cancel"),
    ("POST", "/booking/{booking_id}/reschedule"),
    ("GET", "/commands/{command_id}"),
    ("GET", "/health"),
}


@pytest.fixture(scope="module")
def documented(gateway) -> DocumentedResponses:
    return DocumentedResponses(gateway)


@pytest.fixture
async def http(gateway, documented):
    async with httpx.AsyncClient(base_url=gateway, timeout=60, event_hooks={"response": [documented]}) as client:
        yield client


# ---- helpers


def window(host_id: str, start: str, end: str, slot: int = 30) -> dict:
    """A POST /availability body, shaped as in the seed."""
    return {"hostId": host_id, "startTime": start, "endTime": end, "slotDuration": slot}


def booking_body(host_id: str, user_id: str, start: str, end: str) -> dict:
    return {"hostId": host_id, "userId": user_id, "startTime": start, "endTime": end}


def with_key(token: str, key: str) -> dict[str, str]:
    return {**bearer(token), "Idempotency-Key": key}


async def new_host(http: httpx.AsyncClient, start: str = at(9), end: str = at(12), slot: int = 30) -> tuple[str, str]:
    """A fresh host with one window: (hostId, token)."""
    host_id, token = await sign_up(http, "HOST")
    response = await http.post("/availability", json=window(host_id, start, end, slot), headers=bearer(token))
    assert response.status_code == 201, response.text
    return host_id, token


async def book(http, host_id: str, user: tuple[str, str], start: str, end: str, **headers: str) -> httpx.Response:
    user_id, token = user
    return await http.post("/booking", json=booking_body(host_id, user_id, start, end), headers={**bearer(token), **headers})


async def booked(http, host_id: str, user: tuple[str, str], start: str = at(9), end: str = at(9, 30)) -> dict:
    response = await book(http, host_id, user, start, end)
    assert response.status_code == 201, response.text
    return response.json()["booking"]


async def slot_map(http, host_id: str, token: str, **params: str) -> dict[str, bool]:
    response = await http.get(f"/availability/{host_id}/slots", params=params or {"date": DAY}, headers=bearer(token))
    assert response.status_code == 200, response.text
    return {slot["startTime"]: slot["available"] for slot in response.json()["slots"]}


def fields_of(problem: dict) -> set[str]:
    return {error["field"] for error in problem["errors"]}


# ---- operations: health, the document, the docs


async def test_health_reports_broker_and_database(http):
    response = await http.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "broker": True, "database": True}


async def test_openapi_lists_every_route_and_docs_answer(http):
    response = await http.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert {(method.upper(), path) for path, methods in document["paths"].items() for method in methods} == ROUTES
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            for status, answer in operation["responses"].items():
                if status.startswith(("4", "5")) and path != "/health":
                    assert answer["content"] == {
                        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                    }, (method, path, status)
    docs = await http.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")


async def test_public_routes_need_no_token(http):
    assert (await http.get("/health")).status_code == 200
    assert (await http.get("/openapi.json")).status_code == 200
    assert (await http.get("/docs")).status_code == 200
    assert (await http.post("/users", json=sign_up_body())).status_code == 201


async def test_an_unknown_path_is_a_problem(http):
    assert_problem(await http.get("/nothing-here"), 404, "NOT_FOUND")


# ---- sign-up


async def test_sign_up_returns_the_user_and_a_token_that_works(http):
    body = sign_up_body("HOST", name="Grace Hopper")
    response = await http.post("/users", json=body)
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    payload = response.json()
    assert set(payload) == {"user", "token"}
    user = payload["user"]
    assert user == {"userId": user["userId"], "name": "Grace Hopper", "email": body["email"], "role": "HOST"}
    uuid.UUID(user["userId"])
    assert await slot_map(http, user["userId"], payload["token"]) == {}


async def test_sign_up_with_a_taken_email_is_a_conflict(http):
    email = new_email()
    await sign_up(http, email=email)
    problem = assert_problem(await http.post("/users", json=sign_up_body(email=email.upper())), 409, "EMAIL_TAKEN")
    assert problem["commandId"]


async def test_sign_up_validation(http):
    response = await http.post("/users", json={"name": "", "email": "not-an-email", "role": "ADMIN"})
    assert fields_of(assert_problem(response, 422, "VALIDATION_FAILED")) == {"name", "email", "role"}
    response = await http.post("/users", json={"email": new_email(), "role": "USER", "admin": True})
    problem = assert_problem(response, 422, "VALIDATION_FAILED")
    assert {(e["field"], e["message"]) for e in problem["errors"]} >= {("admin", "unknown field")}
    assert fields_of(problem) == {"name", "admin"}


async def test_sign_up_with_the_same_idempotency_key_returns_the_same_user(http):
    key, body = str(uuid.uuid4()), sign_up_body()
    first = await http.post("/users", json=body, headers={"Idempotency-Key": key})
    again = await http.post("/users", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 201
    assert again.json()["user"] == first.json()["user"]
    # the token of the retry is a token of that user
    assert_problem(
        await http.get(f"/booking/{uuid.uuid4()}", headers=bearer(again.json()["token"])), 404, "BOOKING_NOT_FOUND"
    )
    # without the key it is a second sign-up, and the email is taken
    assert_problem(await http.post("/users", json=body), 409, "EMAIL_TAKEN")
    # the same key with another body is a reused command id
    reused = await http.post("/users", json=sign_up_body(), headers={"Idempotency-Key": key})
    assert_problem(reused, 409, "COMMAND_ID_REUSED")


# ---- authentication


def protected_requests() -> dict[str, tuple[str, str, dict | None]]:
    host, user, booking = (str(uuid.uuid4()) for _ in range(3))
    return {
        "create availability": ("POST", "/availability", window(host, at(9), at(12))),
        "remove availability": ("POST", "/availability/removals", {"hostId": host, "startTime": at(9), "endTime": at(10)}),
        "slots": ("GET", f"/availability/{host}/slots?date={DAY}", None),
        "book": ("POST", "/booking", booking_body(host, user, at(9), at(9, 30))),
        "read booking": ("GET", f"/booking/{booking}", None),
        "cancel": ("POST", f"/booking/{booking}/cancel", None),
        "reschedule": ("POST", f"/booking/{booking}/reschedule", {"startTime": at(10), "endTime": at(10, 30)}),
        "command outcome": ("GET", f"/commands/{uuid.uuid4()}", None),
    }


def bad_authorizations() -> dict[str, str | None]:
    someone = uuid.uuid4()
    genuine = SIGNER.issue(someone)
    payload, _, signature = genuine.partition(".")
    other_payload = SIGNER.issue(uuid.uuid4()).partition(".")[0]
    return {
        "missing": None,
        "not a token": "Bearer not-a-token",
        "scheme only": "Bearer",
        "expired": "Bearer " + SIGNER.issue(someone, now=time.time() - 2 * SIGNER.ttl),
        "another secret": "Bearer " + TokenSigner("another-secret", 3600).issue(someone),
        "tampered payload": f"Bearer {other_payload}.{signature}",
        "no signature": f"Bearer {payload}.",
        "basic scheme": "Basic " + base64.b64encode(b"ada:secret").decode(),
        "token without scheme": genuine,
    }


@pytest.mark.parametrize("route", list(protected_requests()))
async def test_every_protected_route_refuses_a_missing_or_bad_token(http, route):
    method, path, body = protected_requests()[route]
    for name, authorization in bad_authorizations().items():
        headers = {"Authorization": authorization} if authorization is not None else {}
        response = await http.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, (name, response.text)
        assert_problem(response, 401, "UNAUTHENTICATED")
        assert response.headers["www-authenticate"] == "Bearer"


async def test_a_token_signed_with_the_gateways_secret_is_accepted(http):
    # the control for the expired and tampered tokens above: the secret is the gateway's
    response = await http.get(f"/booking/{uuid.uuid4()}", headers=bearer(SIGNER.issue(uuid.uuid4())))
    assert_problem(response, 404, "BOOKING_NOT_FOUND")


# ---- availability


async def test_create_availability_with_the_seed_body_returns_the_window_and_its_slots(http):
    host_id, token = await sign_up(http, "HOST")
    body = {**SEED_AVAILABILITY, "hostId": host_id, "startTime": at(10), "endTime": at(13)}
    response = await http.post("/availability", json=body, headers=bearer(token))
    assert response.status_code == 201
    payload = response.json()
    assert set(payload) == {"availability"}
    availability = payload["availability"]
    uuid.UUID(availability["availabilityId"])
    assert availability == {
        "availabilityId": availability["availabilityId"],
        "hostId": host_id,
        "startTime": at(10),
        "endTime": at(13),
        "slotDuration": 30,
    }
    response = await http.get(f"/availability/{host_id}/slots", params={"date": DAY}, headers=bearer(token))
    assert response.status_code == 200
    assert response.json() == {
        "slots": [
            {"startTime": at(10, 30 * k), "endTime": at(10, 30 * (k + 1)), "available": True} for k in range(6)
        ]
    }


async def test_slots_by_range_and_by_day(http):
    host_id, token = await new_host(http, at(22), at(26))  # 22:00 to 02:00 the next day
    next_day = (FUTURE_DAY + timedelta(days=1)).strftime("%Y-%m-%d")
    assert list(await slot_map(http, host_id, token)) == [at(22), at(22, 30), at(23), at(23, 30)]
    assert list(await slot_map(http, host_id, token, date=next_day)) == [at(24), at(24, 30), at(25), at(25, 30)]
    by_range = await slot_map(http, host_id, token, **{"from": at(23), "to": at(25)})
    assert list(by_range) == [at(23), at(23, 30), at(24), at(24, 30)]
    # a range with an offset means the same instant
    shifted = await slot_map(http, host_id, token, **{"from": "2031-03-04T01:00:00+02:00", "to": at(25)})
    assert list(shifted) == [at(23), at(23, 30), at(24), at(24, 30)]


async def test_slot_queries_are_validated(http):
    host_id, token = await new_host(http)
    for params in (
        {},
        {"from": at(9)},
        {"date": DAY, "from": at(9), "to": at(10)},
        {"from": at(10), "to": at(9)},
        {"from": at(0), "to": at(0, day=32)},
        {"from": "2031-03-03T09:00:00", "to": at(10)},
        {"date": "2031-13-01"},
    ):
        response = await http.get(f"/availability/{host_id}/slots", params=params, headers=bearer(token))
        assert_problem(response, 422, "VALIDATION_FAILED")
    assert await slot_map(http, host_id, token, **{"from": at(0), "to": at(0, day=31)})  # 31 days is allowed


async def test_slots_of_an_unknown_host_or_of_a_user_are_not_found(http):
    user_id, token = await sign_up(http)
    for host_id in (str(uuid.uuid4()), user_id):
        response = await http.get(f"/availability/{host_id}/slots", params={"date": DAY}, headers=bearer(token))
        assert_problem(response, 404, "HOST_NOT_FOUND")


async def test_the_seed_body_verbatim_is_refused_for_its_placeholder_host_and_its_past_window(http):
    host_id, token = await sign_up(http, "HOST")
    response = await http.post("/availability", json=SEED_AVAILABILITY, headers=bearer(token))
    assert fields_of(assert_problem(response, 422, "VALIDATION_FAILED")) == {"hostId"}
    response = await http.post("/availability", json={**SEED_AVAILABILITY, "hostId": host_id}, headers=bearer(token))
    assert_problem(response, 422, "IN_THE_PAST")


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        # 1. all required fields must be present
        ({"hostId": None}, {"hostId"}),
        ({"startTime": None}, {"startTime"}),
        ({"endTime": None}, {"endTime"}),
        ({"slotDuration": None}, {"slotDuration"}),
        ({"hostId": None, "startTime": None, "endTime": None, "slotDuration": None},
         {"hostId", "startTime", "endTime", "slotDuration"}),
        # 2. startTime and endTime must be valid ISO timestamps
        ({"startTime": "tomorrow"}, {"startTime"}),
        ({"endTime": "2031-03-03 12:00"}, {"endTime"}),
        ({"startTime": "2031-03-03T09:00:00"}, {"startTime"}),  # no offset
        ({"startTime": "2031-02-30T09:00:00Z"}, {"startTime"}),
        ({"startTime": "2031-03-03T09:00:30Z"}, {"startTime"}),  # not a whole minute
        # 3. endTime must be strictly after startTime
        ({"endTime": at(9)}, {"endTime"}),
        ({"endTime": at(8)}, {"endTime"}),
        # 4. slotDuration must be greater than zero
        ({"slotDuration": 0}, {"slotDuration"}),
        ({"slotDuration": -30}, {"slotDuration"}),
        ({"slotDuration": "30"}, {"slotDuration"}),
        ({"slotDuration": 1441}, {"slotDuration"}),
        # and nothing else may be sent
        ({"capacity": 3}, {"capacity"}),
    ],
    ids=lambda value: ",".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else None,
)
async def test_availability_validation(http, change, fields):
    host_id, token = await sign_up(http, "HOST")
    body = {**window(host_id, at(9), at(12)), **change}
    body = {key: value for key, value in body.items() if value is not None}
    problem = assert_problem(await http.post("/availability", json=body, headers=bearer(token)), 422, "VALIDATION_FAILED")
    assert fields_of(problem) == fields
    assert all(error["message"] for error in problem["errors"])


async def test_touching_windows_merge_and_another_grid_conflicts(http):
    host_id, token = await new_host(http, at(9), at(12))
    response = await http.post("/availability", json=window(host_id, at(12), at(14)), headers=bearer(token))
    assert response.status_code == 201
    merged = response.json()["availability"]
    assert (merged["startTime"], merged["endTime"]) == (at(9), at(14))
    # the same window again changes nothing
    again = await http.post("/availability", json=window(host_id, at(9), at(14)), headers=bearer(token))
    assert again.status_code == 201
    assert again.json()["availability"] == merged
    response = await http.post("/availability", json=window(host_id, at(13), at(15), 45), headers=bearer(token))
    assert_problem(response, 409, "AVAILABILITY_CONFLICT")


async def test_availability_for_another_host_is_forbidden(http):
    _, token = await sign_up(http, "HOST")
    other_host, _ = await sign_up(http, "HOST")
    response = await http.post("/availability", json=window(other_host, at(9), at(12)), headers=bearer(token))
    assert_problem(response, 403, "FORBIDDEN")


async def test_availability_of_a_user_is_not_a_host(http):
    user_id, token = await sign_up(http)
    response = await http.post("/availability", json=window(user_id, at(9), at(12)), headers=bearer(token))
    assert_problem(response, 403, "NOT_A_HOST")


async def test_availability_of_an_unknown_host_is_not_found(http):
    ghost = str(uuid.uuid4())  # a genuine token for a user that does not exist
    response = await http.post("/availability", json=window(ghost, at(9), at(12)), headers=bearer(SIGNER.issue(ghost)))
    assert_problem(response, 404, "HOST_NOT_FOUND")


async def test_removing_availability_cuts_the_window(http):
    host_id, token = await new_host(http, at(9), at(12))
    cut = {"hostId": host_id, "startTime": at(10), "endTime": at(11)}
    response = await http.post("/availability/removals", json=cut, headers=bearer(token))
    assert response.status_code == 200
    payload = response.json()
    assert set(payload) == {"hostId", "startTime", "endTime", "windows"}
    assert (payload["hostId"], payload["startTime"], payload["endTime"]) == (host_id, at(10), at(11))
    assert [(w["startTime"], w["endTime"], w["slotDuration"]) for w in payload["windows"]] == [
        (at(9), at(10), 30),
        (at(11), at(12), 30),
    ]
    assert list(await slot_map(http, host_id, token)) == [at(9), at(9, 30), at(11), at(11, 30)]
    # time that holds no window: nothing changes
    nothing = {"hostId": host_id, "startTime": at(15), "endTime": at(16)}
    response = await http.post("/availability/removals", json=nothing, headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["windows"] == []


async def test_removal_rejections(http):
    host_id, token = await new_host(http, at(9), at(12))
    user = await sign_up(http)
    await booked(http, host_id, user, at(10), at(10, 30))
    cases = [
        ({"hostId": host_id, "startTime": at(9, 15), "endTime": at(9, 30)}, token, 422, "MISALIGNED_SLOT"),
        ({"hostId": host_id, "startTime": at(10), "endTime": at(11)}, token, 409, "BOOKINGS_IN_RANGE"),
        ({"hostId": host_id, "startTime": at(9), "endTime": at(10)}, user[1], 403, "FORBIDDEN"),
        ({"hostId": user[0], "startTime": at(9), "endTime": at(10)}, user[1], 403, "NOT_A_HOST"),
        ({"hostId": host_id, "startTime": at(10), "endTime": at(9)}, token, 422, "VALIDATION_FAILED"),
    ]
    for body, caller, status, reason in cases:
        assert_problem(await http.post("/availability/removals", json=body, headers=bearer(caller)), status, reason)
    # nothing was cut
    assert len(await slot_map(http, host_id, token)) == 6


# ---- bookings


async def test_book_read_and_cancel(http):
    host_id, host_token = await new_host(http)
    user = await sign_up(http)
    assert (await slot_map(http, host_id, user[1]))[at(9)] is True
    response = await book(http, host_id, user, at(9), at(9, 30))
    assert response.status_code == 201
    assert set(response.json()) == {"booking"}
    booking = response.json()["booking"]
    uuid.UUID(booking["bookingId"])
    assert booking == {
        "bookingId": booking["bookingId"],
        "hostId": host_id,
        "userId": user[0],
        "startTime": at(9),
        "endTime": at(9, 30),
        "status": "CONFIRMED",
    }
    slots = await slot_map(http, host_id, user[1])
    assert (slots[at(9)], slots[at(9, 30)]) == (False, True)
    for token in (user[1], host_token):  # its user and its host may read it
        response = await http.get(f"/booking/{booking['bookingId']}", headers=bearer(token))
        assert response.status_code == 200
        assert response.json() == {"booking": booking}

    response = await http.post(f"/booking/{booking['bookingId']}/cancel", headers=bearer(user[1]))
    assert response.status_code == 200
    assert response.json() == {"booking": {**booking, "status": "CANCELLED"}}
    read = await http.get(f"/booking/{booking['bookingId']}", headers=bearer(user[1]))
    assert read.json()["booking"]["status"] == "CANCELLED"
    assert (await slot_map(http, host_id, user[1]))[at(9)] is True
    again = await http.post(f"/booking/{booking['bookingId']}/cancel", headers=bearer(user[1]))
    assert_problem(again, 409, "ALREADY_CANCELLED")
    # the freed slot can be booked again
    assert (await booked(http, host_id, await sign_up(http)))["startTime"] == at(9)


async def test_the_host_may_cancel_a_booking(http):
    host_id, host_token = await new_host(http)
    booking = await booked(http, host_id, await sign_up(http))
    response = await http.post(f"/booking/{booking['bookingId']}/cancel", headers=bearer(host_token))
    assert response.status_code == 200
    assert response.json()["booking"]["status"] == "CANCELLED"


async def test_reschedule_moves_the_booking(http):
    host_id, host_token = await new_host(http)
    user = await sign_up(http)
    booking = await booked(http, host_id, user, at(9), at(9, 30))
    move = {"startTime": at(10), "endTime": at(10, 30)}
    response = await http.post(f"/booking/{booking['bookingId']}/reschedule", json=move, headers=bearer(user[1]))
    assert response.status_code == 200
    assert response.json() == {
        "booking": {**booking, "startTime": at(10), "endTime": at(10, 30)},
        "previousStartTime": at(9),
        "previousEndTime": at(9, 30),
    }
    slots = await slot_map(http, host_id, user[1])
    assert (slots[at(9)], slots[at(10)]) == (True, False)
    # rejections of the new range, in the contract's order
    await booked(http, host_id, await sign_up(http), at(11), at(11, 30))
    path = f"/booking/{booking['bookingId']}/reschedule"
    for new_range, status, reason in (
        ((at(11), at(11, 30)), 409, "SLOT_TAKEN"),
        ((at(11, 15), at(11, 45)), 422, "MISALIGNED_SLOT"),
        ((at(14), at(14, 30)), 422, "OUTSIDE_AVAILABILITY"),
        ((at(11), at(10)), 422, "VALIDATION_FAILED"),
    ):
        body = {"startTime": new_range[0], "endTime": new_range[1]}
        assert_problem(await http.post(path, json=body, headers=bearer(host_token)), status, reason)
    assert (await http.get(f"/booking/{booking['bookingId']}", headers=bearer(user[1]))).json()["booking"]["startTime"] == at(10)
    response = await http.post(path, json={**move, "bookingId": booking["bookingId"]}, headers=bearer(user[1]))
    assert fields_of(assert_problem(response, 422, "VALIDATION_FAILED")) == {"bookingId"}


async def test_booking_rejections_map_to_their_statuses(http):
    host_id, _ = await new_host(http)
    user = await sign_up(http)
    other_user = await sign_up(http)
    cases = [
        (booking_body(host_id, other_user[0], at(9), at(9, 30)), 403, "FORBIDDEN"),
        (booking_body(str(uuid.uuid4()), user[0], at(9), at(9, 30)), 404, "HOST_NOT_FOUND"),
        (booking_body(other_user[0], user[0], at(9), at(9, 30)), 403, "NOT_A_HOST"),
        (booking_body(host_id, user[0], at(13), at(13, 30)), 422, "OUTSIDE_AVAILABILITY"),
        (booking_body(host_id, user[0], at(11, 45), at(12, 15)), 422, "OUTSIDE_AVAILABILITY"),
        (booking_body(host_id, user[0], at(9, 15), at(9, 45)), 422, "MISALIGNED_SLOT"),
        (booking_body(host_id, user[0], at(9), at(10)), 422, "MISALIGNED_SLOT"),
    ]
    for body, status, reason in cases:
        problem = assert_problem(await http.post("/booking", json=body, headers=bearer(user[1])), status, reason)
        uuid.UUID(problem["commandId"])  # a rejection by the worker names its command
        assert problem["detail"]
    ghost = str(uuid.uuid4())
    response = await book(http, host_id, (ghost, SIGNER.issue(ghost)), at(9), at(9, 30))
    assert_problem(response, 404, "USER_NOT_FOUND")
    await booked(http, host_id, other_user)
    assert_problem(await book(http, host_id, user, at(9), at(9, 30)), 409, "SLOT_TAKEN")
    # the rejections took nothing
    assert sum(not free for free in (await slot_map(http, host_id, user[1])).values()) == 1


async def test_booking_a_slot_that_already_started_is_in_the_past(http):
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start, end = now - timedelta(hours=1), now + timedelta(hours=2)
    stamp = lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    host_id, _ = await new_host(http, stamp(start), stamp(end))
    user = await sign_up(http)
    response = await book(http, host_id, user, stamp(start), stamp(start + timedelta(minutes=30)))
    assert_problem(response, 422, "IN_THE_PAST")
    slots = await slot_map(http, host_id, user[1], **{"from": stamp(start), "to": stamp(end)})
    assert slots[stamp(start)] is False  # a slot that has begun is not available


async def test_booking_validation(http):
    host_id, _ = await new_host(http)
    user = await sign_up(http)
    good = booking_body(host_id, user[0], at(9), at(9, 30))
    for change, fields in (
        ({"userId": None, "hostId": None}, {"userId", "hostId"}),
        ({"startTime": "2031-03-03T09:00:00"}, {"startTime"}),
        ({"endTime": "2031-03-03T09:30:00.5Z"}, {"endTime"}),
        ({"endTime": at(8)}, {"endTime"}),
        ({"hostId": "not-a-uuid"}, {"hostId"}),
        ({"status": "CONFIRMED"}, {"status"}),
    ):
        body = {key: value for key, value in {**good, **change}.items() if value is not None}
        problem = assert_problem(await http.post("/booking", json=body, headers=bearer(user[1])), 422, "VALIDATION_FAILED")
        assert fields_of(problem) == fields
    for body in ([good], "a string", 42, None):
        response = await http.post("/booking", json=body, headers=bearer(user[1]))
        assert_problem(response, 422, "VALIDATION_FAILED")


async def test_a_caller_cannot_read_or_cancel_another_users_booking(http):
    # 404 as for an unknown booking, so a stranger does not learn that it exists (issue 11, 6e)
    host_id, _ = await new_host(http)
    owner = await sign_up(http)
    booking = await booked(http, host_id, owner)
    stranger = await sign_up(http)
    _, other_host_token = await new_host(http)
    for token in (stranger[1], other_host_token):
        for key in (None, "stranger-key"):
            headers = {**bearer(token), **({"Idempotency-Key": key} if key else {})}
            response = await http.get(f"/booking/{booking['bookingId']}", headers=headers)
            assert_problem(response, 404, "BOOKING_NOT_FOUND")
            response = await http.post(f"/booking/{booking['bookingId']}/cancel", headers=headers)
            assert_problem(response, 404, "BOOKING_NOT_FOUND")
            move = {"startTime": at(10), "endTime": at(10, 30)}
            response = await http.post(f"/booking/{booking['bookingId']}/reschedule", json=move, headers=headers)
            assert_problem(response, 404, "BOOKING_NOT_FOUND")
    mine = await http.get(f"/booking/{booking['bookingId']}", headers=bearer(owner[1]))
    assert mine.json() == {"booking": booking}


async def test_an_unknown_booking_is_not_found(http):
    _, token = await sign_up(http)
    missing = uuid.uuid4()
    assert_problem(await http.get(f"/booking/{missing}", headers=bearer(token)), 404, "BOOKING_NOT_FOUND")
    assert_problem(await http.post(f"/booking/{missing}/cancel", headers=bearer(token)), 404, "BOOKING_NOT_FOUND")
    move = {"startTime": at(10), "endTime": at(10, 30)}
    response = await http.post(f"/booking/{missing}/reschedule", json=move, headers=bearer(token))
    assert_problem(response, 404, "BOOKING_NOT_FOUND")
    response = await http.get("/booking/not-a-uuid", headers=bearer(token))
    assert_problem(response, 422, "VALIDATION_FAILED")


async def test_forty_users_racing_for_one_slot(http):
    host_id, host_token = await new_host(http)
    users = await asyncio.gather(*(sign_up(http) for _ in range(40)))
    assert (await slot_map(http, host_id, host_token))[at(9)] is True
    responses = await asyncio.gather(*(book(http, host_id, user, at(9), at(9, 30)) for user in users))
    assert Counter(r.status_code for r in responses) == {201: 1, 409: 39}
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409, "SLOT_TAKEN")
    [winner] = [(user, r.json()["booking"]) for user, r in zip(users, responses, strict=True) if r.status_code == 201]
    assert winner[1]["userId"] == winner[0][0]
    slots = await slot_map(http, host_id, host_token)
    assert slots[at(9)] is False
    assert sum(not free for free in slots.values()) == 1


# ---- idempotency and command outcomes


async def _bookings_of(sandbox, host_id: str) -> int:
    conn = await asyncpg.connect(sandbox.database_url)
    try:
        return await conn.fetchval("SELECT count(*) FROM bookings WHERE host_id = $1", uuid.UUID(host_id))
    finally:
        await conn.close()


async def test_a_retried_booking_returns_the_same_answer_and_books_once(http, sandbox):
    host_id, _ = await new_host(http)
    user = await sign_up(http)
    key = str(uuid.uuid4())
    first = await book(http, host_id, user, at(9), at(9, 30), **{"Idempotency-Key": key})
    assert first.status_code == 201
    retries = [await book(http, host_id, user, at(9), at(9, 30), **{"Idempotency-Key": key})]
    retries += await asyncio.gather(*(book(http, host_id, user, at(9), at(9, 30), **{"Idempotency-Key": key}) for _ in range(5)))
    for retry in retries:
        assert retry.status_code == 201
        assert retry.json() == first.json()
    assert await _bookings_of(sandbox, host_id) == 1
    # the same key from another caller is another command
    other = await book(http, host_id, await sign_up(http), at(9, 30), at(10), **{"Idempotency-Key": key})
    assert other.status_code == 201
    assert other.json()["booking"]["bookingId"] != first.json()["booking"]["bookingId"]
    assert await _bookings_of(sandbox, host_id) == 2


async def test_the_same_idempotency_key_with_another_body_is_a_reused_command(http):
    host_id, host_token = await new_host(http)
    user = await sign_up(http)
    key = str(uuid.uuid4())
    assert (await book(http, host_id, user, at(9), at(9, 30), **{"Idempotency-Key": key})).status_code == 201
    reused = await book(http, host_id, user, at(10), at(10, 30), **{"Idempotency-Key": key})
    assert_problem(reused, 409, "COMMAND_ID_REUSED")
    assert (await slot_map(http, host_id, host_token))[at(10)] is True  # the reused command took nothing
    # a cancel with a key is idempotent too
    booking_id = (await book(http, host_id, user, at(11), at(11, 30))).json()["booking"]["bookingId"]
    cancel_key = with_key(user[1], str(uuid.uuid4()))
    first = await http.post(f"/booking/{booking_id}/cancel", headers=cancel_key)
    again = await http.post(f"/booking/{booking_id}/cancel", headers=cancel_key)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()


async def test_a_command_outcome_is_readable_by_its_sender_only(http):
    user = await sign_up(http)
    rejected = await book(http, str(uuid.uuid4()), user, at(9), at(9, 30))
    command_id = assert_problem(rejected, 404, "HOST_NOT_FOUND")["commandId"]
    response = await http.get(f"/commands/{command_id}", headers=bearer(user[1]))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    reply = response.json()
    assert (reply["type"], reply["commandId"], reply["reason"]) == ("BookingRejected", command_id, "HOST_NOT_FOUND")
    stranger = await sign_up(http)
    assert_problem(await http.get(f"/commands/{command_id}", headers=bearer(stranger[1])), 404, "COMMAND_NOT_FOUND")
    assert_problem(await http.get(f"/commands/{uuid.uuid4()}", headers=bearer(user[1])), 404, "COMMAND_NOT_FOUND")


# ---- bodies the gateway refuses before anything is sent


BODY_ROUTES = ["/users", "/availability", "/availability/removals", "/booking", "/booking/{id}/reschedule"]


@pytest.mark.parametrize("path", BODY_ROUTES)
async def test_a_body_that_is_not_json_is_malformed(http, path):
    _, token = await sign_up(http, "HOST")
    path = path.replace("{id}", str(uuid.uuid4()))
    for content in (b"not json", b'{"hostId": ', b"{'single': 'quotes'}", b"\xff\xfe\x00", b"\xc3\x28"):
        response = await http.post(path, content=content, headers={**bearer(token), "Content-Type": "application/json"})
        assert_problem(response, 400, "MALFORMED_MESSAGE")


def _sign_up_of_size(size: int) -> bytes:
    head, tail = b'{"name": "', b'", "email": "big@example.com", "role": "USER"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


@pytest.mark.parametrize("path", BODY_ROUTES)
async def test_a_body_over_64_kib_is_too_large(http, path):
    _, token = await sign_up(http, "HOST")
    path = path.replace("{id}", str(uuid.uuid4()))
    headers = {**bearer(token), "Content-Type": "application/json"}
    oversized = _sign_up_of_size(64 * 1024 + 1)

    async def chunked():
        for offset in range(0, len(oversized), 4096):
            yield oversized[offset : offset + 4096]

    assert_problem(await http.post(path, content=oversized, headers=headers), 413, "PAYLOAD_TOO_LARGE")
    # without a Content-Length (chunked), the body is counted as it comes
    assert_problem(await http.post(path, content=chunked(), headers=headers), 413, "PAYLOAD_TOO_LARGE")


async def test_a_body_of_exactly_64_kib_is_read(http):
    body = _sign_up_of_size(64 * 1024)
    assert len(body) == 64 * 1024
    response = await http.post("/users", content=body, headers={"Content-Type": "application/json"})
    assert fields_of(assert_problem(response, 422, "VALIDATION_FAILED")) == {"name"}  # read, and the name too long


# ---- a write that outlives its wait: 202, then the outcome


@pytest.fixture
def slow_service(servers, tmp_path):
    """A sandbox of its own with a gateway that waits 1 s for replies, and its worker
    (started; the test stops and restarts it). Removed afterwards."""
    box = create_sandbox(servers, "gw-pending")
    port = free_port()
    worker = worker_process(box.env(), tmp_path / "worker.log")
    gateway = gateway_process(box.env(BOOKING_REPLY_TIMEOUT="1"), tmp_path / "gateway.log", port)
    try:
        worker.start()  # declares the topology and migrates the database
        gateway.start()
        yield f"http://127.0.0.1:{port}", worker
    finally:
        gateway.terminate()
        worker.terminate()
        destroy_sandbox(box)


async def _poll(http: httpx.AsyncClient, location: str, token: str, timeout: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = await http.get(location, headers=bearer(token))
        if response.status_code != 404 or time.monotonic() > deadline:
            return response
        assert_problem(response, 404, "COMMAND_NOT_FOUND")
        await asyncio.sleep(0.2)


async def test_a_write_without_a_timely_reply_is_accepted_and_its_outcome_arrives(slow_service, documented):
    url, worker = slow_service
    async with httpx.AsyncClient(base_url=url, timeout=60, event_hooks={"response": [documented]}) as http:
        host_id, _ = await new_host(http)
        user = await sign_up(http)
        await asyncio.to_thread(worker.terminate)  # nobody answers now; the commands wait in their queues

        key = str(uuid.uuid4())
        response = await book(http, host_id, user, at(9), at(9, 30), **{"Idempotency-Key": key})
        assert response.status_code == 202, response.text
        location = response.headers["location"]
        assert re.fullmatch(r"/commands/[0-9a-f-]{36}", location)
        command_id = location.rsplit("/", 1)[1]
        assert response.json() == {"commandId": command_id, "status": "PENDING", "location": location}
        assert_problem(await http.get(location, headers=bearer(user[1])), 404, "COMMAND_NOT_FOUND")
        # a sign-up is accepted the same way
        signup_key, signup_body = str(uuid.uuid4()), sign_up_body()
        pending_sign_up = await http.post("/users", json=signup_body, headers={"Idempotency-Key": signup_key})
        assert pending_sign_up.status_code == 202
        assert pending_sign_up.headers["location"] == pending_sign_up.json()["location"]

        await asyncio.to_thread(worker.start)
        outcome = await _poll(http, location, user[1])
        assert outcome.status_code == 200, outcome.text
        reply = outcome.json()
        assert (reply["type"], reply["commandId"]) == ("BookingConfirmed", command_id)
        assert reply["booking"]["userId"] == user[0]
        assert (reply["booking"]["startTime"], reply["booking"]["status"]) == (at(9), "CONFIRMED")
        stranger = await sign_up(http)
        assert_problem(await http.get(location, headers=bearer(stranger[1])), 404, "COMMAND_NOT_FOUND")
        # retrying with the same key now answers at once, with the stored outcome
        retry = await book(http, host_id, user, at(9), at(9, 30), **{"Idempotency-Key": key})
        assert retry.status_code == 201
        assert retry.json() == {"booking": reply["booking"]}
        retried_sign_up = await http.post("/users", json=signup_body, headers={"Idempotency-Key": signup_key})
        assert retried_sign_up.status_code == 201
        assert retried_sign_up.json()["user"]["email"] == signup_body["email"]
