"""The gateway's routes one by one, in process: the app as create_app wires it, with
stand-ins for the broker and the database on app.state.gateway (no lifespan runs, so
nothing connects). Over real HTTP, in front of the real worker: tests/e2e/test_gateway.py."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from contracts.time import format_utc
from services.booking.domain.bookings import Booking, Person
from services.booking.domain.ranges import TimeRange
from services.booking.domain.windows import Window
from services.gateway.app import create_app
from services.gateway.dependencies import Gateway
from services.gateway.requester import BrokerUnavailable
from services.gateway.tokens import TokenSigner
from services.settings import Settings

SIGNER = TokenSigner("unit-test-secret", 3600)
HOST, USER, STRANGER = (uuid.UUID(int=n) for n in (0x4057, 0x05E5, 0x5754))
DAY = datetime(2031, 3, 3, tzinfo=UTC)
BOOKING = Booking(uuid.UUID(int=0xB00C), HOST, USER, TimeRange(DAY + timedelta(hours=9), DAY + timedelta(hours=9.5)),
                  "CONFIRMED")


def stamp(moment: datetime) -> str:
    return format_utc(moment)


class FakeRequester:
    def __init__(self) -> None:
        self.connected = True
        self.sent: list[dict] = []
        self.answer: dict | None | Exception = None

    async def request(self, command: dict, timeout: float) -> dict | None:
        self.sent.append(command)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class FakeReads:
    def __init__(self) -> None:
        self.people = {HOST: Person(HOST, "HOST"), USER: Person(USER, "USER")}
        self.windows = [Window(uuid.UUID(int=1), HOST, TimeRange(DAY + timedelta(hours=9), DAY + timedelta(hours=11)), 30)]
        self.confirmed = [BOOKING.range]
        self.replies: dict[tuple[uuid.UUID, uuid.UUID], bytes] = {}
        self.answers = True

    async def slot_inputs(self, host_id, start, end):
        return self.people.get(host_id), self.windows, self.confirmed

    async def booking(self, booking_id):
        return BOOKING if booking_id == BOOKING.id else None

    async def command_reply(self, command_id, actor_id):
        return self.replies.get((command_id, actor_id))

    async def database_answers(self) -> bool:
        return self.answers


@pytest.fixture
def parts() -> tuple[FakeRequester, FakeReads]:
    return FakeRequester(), FakeReads()


@pytest.fixture
async def http(parts):
    app = create_app(Settings())
    app.state.gateway = Gateway(SIGNER, parts[0], parts[1], reply_timeout=1.0)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        yield client


def auth(user: uuid.UUID = USER, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {SIGNER.issue(user)}", **headers}


def problem_of(response: httpx.Response, status: int, reason: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["status"], body["reason"]) == (status, reason)
    return body


async def test_slots_come_from_the_domain_listing(http):
    response = await http.get(f"/availability/{HOST}/slots", params={"date": "2031-03-03"}, headers=auth())
    assert response.status_code == 200
    start = DAY + timedelta(hours=9)
    assert response.json() == {"slots": [
        {"startTime": stamp(start + timedelta(minutes=30 * k)), "endTime": stamp(start + timedelta(minutes=30 * (k + 1))),
         "available": k != 0}
        for k in range(4)
    ]}


async def test_slots_of_a_stranger_or_a_user_are_host_not_found(http):
    for host_id in (STRANGER, USER):
        response = await http.get(f"/availability/{host_id}/slots", params={"date": "2031-03-03"}, headers=auth())
        problem_of(response, 404, "HOST_NOT_FOUND")


async def test_slot_ranges_are_checked_before_the_database(http, parts):
    parts[1].slot_inputs = None  # would raise if called
    for params in ({}, {"from": "2031-03-03T10:00:00Z"}, {"from": "2031-03-03T10:00:00Z", "to": "2031-05-03T10:00:00Z"}):
        problem_of(await http.get(f"/availability/{HOST}/slots", params=params, headers=auth()), 422, "VALIDATION_FAILED")


async def test_a_bad_token_is_unauthenticated(http):
    response = await http.get(f"/booking/{BOOKING.id}", headers={"Authorization": "Bearer nope"})
    problem_of(response, 401, "UNAUTHENTICATED")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_booking_is_read_by_its_user_and_host_only(http):
    for user in (USER, HOST):
        response = await http.get(f"/booking/{BOOKING.id}", headers=auth(user))
        assert response.json() == {"booking": {
            "bookingId": str(BOOKING.id), "hostId": str(HOST), "userId": str(USER),
            "startTime": "2031-03-03T09:00:00Z", "endTime": "2031-03-03T09:30:00Z", "status": "CONFIRMED",
        }}
    problem_of(await http.get(f"/booking/{BOOKING.id}", headers=auth(STRANGER)), 404, "BOOKING_NOT_FOUND")


async def test_a_stranger_cannot_cancel_and_nothing_is_sent(http, parts):
    problem_of(await http.post(f"/booking/{BOOKING.id}/cancel", headers=auth(STRANGER)), 404, "BOOKING_NOT_FOUND")
    assert parts[0].sent == []


async def test_cancel_sends_the_command_with_the_bookings_host(http, parts):
    parts[0].answer = {"type": "BookingCancelled", "booking": {"status": "CANCELLED"}}
    response = await http.post(f"/booking/{BOOKING.id}/cancel", headers=auth())
    assert response.json() == {"booking": {"status": "CANCELLED"}}
    [command] = parts[0].sent
    assert (command["type"], command["hostId"], command["bookingId"], command["actorId"]) == (
        "CancelBooking", str(HOST), str(BOOKING.id), str(USER))


async def test_one_idempotency_key_of_one_caller_is_one_command(http, parts):
    parts[0].answer = {"availability": {}}
    body = {"hostId": str(HOST), "startTime": "2031-03-03T09:00:00Z", "endTime": "2031-03-03T10:00:00Z", "slotDuration": 30}
    for user in (HOST, HOST, USER):
        assert (await http.post("/availability", json=body, headers=auth(user, **{"Idempotency-Key": "k"}))).status_code == 201
    ids = [command["commandId"] for command in parts[0].sent]
    assert ids[0] == ids[1] != ids[2]


async def test_a_rejection_a_late_reply_and_a_broker_away(http, parts):
    body = {"hostId": str(HOST), "userId": str(USER), "startTime": "2031-03-03T09:00:00Z", "endTime": "2031-03-03T09:30:00Z"}
    parts[0].answer = {"type": "BookingRejected", "commandId": "c-1", "reason": "SLOT_TAKEN", "detail": "Taken.", "errors": []}
    assert problem_of(await http.post("/booking", json=body, headers=auth()), 409, "SLOT_TAKEN")["commandId"] == "c-1"
    parts[0].answer = None
    pending = await http.post("/booking", json=body, headers=auth())
    assert pending.status_code == 202
    assert pending.headers["location"] == pending.json()["location"] == f"/commands/{parts[0].sent[-1]['commandId']}"
    parts[0].answer = BrokerUnavailable("away")
    response = await http.post("/booking", json=body, headers=auth())
    problem_of(response, 503, "UNAVAILABLE")
    assert response.headers["retry-after"] == "5"


async def test_validation_errors_are_flattened_as_the_workers(http):
    response = await http.post("/users", json={"email": "a@example.com", "role": "USER", "admin": True})
    errors = problem_of(response, 422, "VALIDATION_FAILED")["errors"]
    assert sorted(errors, key=lambda e: e["field"]) == [
        {"field": "admin", "message": "unknown field"},
        {"field": "name", "message": "field required"},
    ]
    response = await http.post("/users", content=b"{not json", headers={"content-type": "application/json"})
    problem_of(response, 400, "MALFORMED_MESSAGE")
    problem_of(await http.get("/booking/not-a-uuid", headers=auth()), 422, "VALIDATION_FAILED")


async def test_a_stored_outcome_is_returned_verbatim_to_its_sender(http, parts):
    command_id = uuid.uuid4()
    stored = json.dumps({"type": "BookingConfirmed", "commandId": str(command_id)}).encode()
    parts[1].replies[(command_id, USER)] = stored
    response = await http.get(f"/commands/{command_id}", headers=auth())
    assert (response.status_code, response.content, response.headers["content-type"]) == (200, stored, "application/json")
    problem_of(await http.get(f"/commands/{command_id}", headers=auth(STRANGER)), 404, "COMMAND_NOT_FOUND")


async def test_health_is_degraded_without_the_database(http, parts):
    assert (await http.get("/health")).json() == {"status": "ok", "broker": True, "database": True}
    parts[1].answers = False
    response = await http.get("/health")
    assert (response.status_code, response.json()) == (503, {"status": "degraded", "broker": True, "database": False})


def test_the_problem_schema_keeps_its_name_in_the_document():
    document = create_app(Settings()).openapi()
    assert document["components"]["schemas"]["Problem"]["title"] == "Problem"
    assert "ProblemDocument" not in document["components"]["schemas"]
