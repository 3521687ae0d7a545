"""Issue 11, item 6: bad input that once got through the gateway, over real HTTP in
front of the real worker. Every answer is held to the OpenAPI document too."""

import asyncio
import uuid

import httpx

from tests.e2e import test_gateway
from tests.e2e.test_gateway import book, booked, fields_of, new_host, window
from tests.support.commands import at
from tests.support.http_client import assert_problem, bearer, sign_up

# the fixtures of the gateway's tests: a client whose every answer is held to the OpenAPI document
documented, http = test_gateway.documented, test_gateway.http

NANO = "2032-05-20T10:00:00.000000001Z"


# ---- 6a: a fraction must be zero, however long


async def test_a_nanosecond_past_the_minute_is_refused_over_http(http: httpx.AsyncClient):
    host_id, token = await sign_up(http, "HOST")
    response = await http.post("/availability", json=window(host_id, NANO, "2032-05-20T12:00:00Z"), headers=bearer(token))
    assert fields_of(assert_problem(response, 422, "VALIDATION_FAILED")) == {"startTime"}
    zeros = window(host_id, "2032-05-20T10:00:00.000000000Z", "2032-05-20T12:00:00Z")
    created = await http.post("/availability", json=zeros, headers=bearer(token))
    assert created.status_code == 201, created.text
    assert created.json()["availability"]["startTime"] == "2032-05-20T10:00:00Z"
    user = await sign_up(http)
    booking = await booked(http, host_id, user, "2032-05-20T10:00:00Z", "2032-05-20T10:30:00Z")
    moved = await http.post(
        f"/booking/{booking['bookingId']}/reschedule",
        json={"startTime": "2032-05-20T11:00:00Z", "endTime": "2032-05-20T11:30:00.0000000001Z"},
        headers=bearer(user[1]),
    )
    assert fields_of(assert_problem(moved, 422, "VALIDATION_FAILED")) == {"endTime"}


# ---- 6b: a bearer token that is not ASCII


async def test_a_bearer_token_with_non_ascii_characters_is_unauthenticated(http: httpx.AsyncClient):
    _, token = await sign_up(http)
    payload, _, signature = token.partition(".")
    tokens = ["é".encode(), "ünï.cödé".encode(), f"{token}é".encode(), f"{payload}.{signature[:-1]}\xff".encode("latin-1"),
              "日本.語".encode(), b"\xff\xfe.\x80"]
    routes = [("GET", f"/booking/{'0' * 8}-0000-4000-8000-{'0' * 12}"), ("POST", "/booking"), ("GET", "/commands/x")]
    for raw in tokens:
        for method, path in routes:
            response = await http.request(method, path, headers={"Authorization": b"Bearer " + raw}, json={})
            assert_problem(response, 401, "UNAUTHENTICATED")
            assert response.headers["www-authenticate"] == "Bearer"


# ---- 6c: the edges of the calendar

EDGE_DAYS = ["9999-12-31", "9999-12-30", "0001-01-01", "0001-01-02"]
EDGE_RANGES = [
    ("0001-01-01T00:00:00Z", "0001-01-02T00:00:00Z"),
    ("9999-12-31T00:00:00Z", "9999-12-31T23:59:59.999999Z"),
    ("9999-12-31T00:00:00Z", "9999-12-31T23:59:59.999999999Z"),
    ("9999-12-30T23:00:00-01:00", "9999-12-31T22:00:00-01:00"),
    ("0001-01-01T01:00:00+01:00", "0001-01-01T02:00:00+01:00"),
]
OUT_OF_RANGE = [
    ("0001-01-01T00:00:00+01:00", "0001-01-02T00:00:00Z"),  # before year 1 in UTC
    ("9999-12-31T00:00:00Z", "9999-12-31T23:59:00-01:00"),  # after year 9999 in UTC
    ("9999-12-31T23:30:00-01:00", "9999-12-31T23:59:00-01:00"),
    ("0000-12-31T00:00:00Z", "0001-01-01T00:00:00Z"),
    ("9999-12-31T00:00:00Z", "10000-01-01T00:00:00Z"),
]


async def test_slots_at_the_edges_of_the_calendar_are_a_clean_answer(http: httpx.AsyncClient):
    host_id, _ = await new_host(http)
    _, token = await sign_up(http)
    path = f"/availability/{host_id}/slots"
    for day in EDGE_DAYS:
        response = await http.get(path, params={"date": day}, headers=bearer(token))
        assert response.status_code == 200, f"date={day}: {response.status_code} {response.text}"
        assert response.json() == {"slots": []}
    for start, end in EDGE_RANGES:
        response = await http.get(path, params={"from": start, "to": end}, headers=bearer(token))
        assert response.status_code == 200, f"{start}..{end}: {response.status_code} {response.text}"
        assert response.json() == {"slots": []}
    for start, end in OUT_OF_RANGE:
        response = await http.get(path, params={"from": start, "to": end}, headers=bearer(token))
        assert_problem(response, 422, "VALIDATION_FAILED")
    for day in ["10000-01-01", "0000-01-01", "9999-13-01", "2031-02-29"]:
        assert_problem(await http.get(path, params={"date": day}, headers=bearer(token)), 422, "VALIDATION_FAILED")
    # the day that ends at the end of the calendar: the host is still looked up
    unknown = f"/availability/{'0' * 8}-0000-4000-8000-{'0' * 12}/slots"
    assert_problem(await http.get(unknown, params={"date": "9999-12-31"}, headers=bearer(token)), 404, "HOST_NOT_FOUND")


# ---- 6d: one Idempotency-Key, two requests at once


async def test_one_key_with_two_bodies_at_once_is_a_reused_command_for_one_of_them(http: httpx.AsyncClient):
    host_id, _ = await new_host(http)
    user = await sign_up(http)
    for attempt in range(12):
        key = f"race-{uuid.uuid4()}"
        slots = [(at(9, 30 * (2 * attempt % 6)), at(9, 30 * (2 * attempt % 6) + 30)),
                 (at(9, 30 * (2 * attempt % 6 + 1)), at(9, 30 * (2 * attempt % 6 + 1) + 30))]
        answers = await asyncio.gather(
            *(book(http, host_id, user, start, end, **{"Idempotency-Key": key}) for start, end in slots)
        )
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [201, 409], f"attempt {attempt}: {[a.text for a in answers]}"
        won, lost = sorted(answers, key=lambda a: a.status_code)
        assert_problem(lost, 409, "COMMAND_ID_REUSED")
        booking = won.json()["booking"]
        assert (booking["startTime"], booking["endTime"]) == slots[answers.index(won)]
        # the one that won keeps its answer; cancel it so that the next round finds the slot free
        again = await book(http, host_id, user, *slots[answers.index(won)], **{"Idempotency-Key": key})
        assert again.json() == won.json()
        cancelled = await http.post(f"/booking/{booking['bookingId']}/cancel", headers=bearer(user[1]))
        assert cancelled.status_code == 200, cancelled.text


async def test_one_key_with_one_body_at_once_gives_both_callers_the_same_success(http: httpx.AsyncClient):
    host_id, _ = await new_host(http)
    for attempt in range(12):
        user = await sign_up(http)
        key = f"twin-{uuid.uuid4()}"
        start, end = at(9, 30 * (attempt % 6)), at(9, 30 * (attempt % 6) + 30)
        answers = await asyncio.gather(*(book(http, host_id, user, start, end, **{"Idempotency-Key": key}) for _ in range(3)))
        assert [a.status_code for a in answers] == [201, 201, 201], [a.text for a in answers]
        assert answers[0].json() == answers[1].json() == answers[2].json()
        booking = answers[0].json()["booking"]
        cancelled = await http.post(f"/booking/{booking['bookingId']}/cancel", headers=bearer(user[1]))
        assert cancelled.status_code == 200, cancelled.text
