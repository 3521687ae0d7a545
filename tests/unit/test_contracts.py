"""The wire contract's models: timestamps (section 1), command validation (section 3),
reading a body as a command (section 5), partition keys and reply bodies (section 4)."""

import json
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts import COMMAND_TYPES, MAX_BODY_BYTES, partition_key
from contracts.incoming import Incoming, Malformed, read_command
from contracts.reasons import Reason
from contracts.replies import (
    REJECTION_FOR,
    ROUTING_KEYS,
    AvailabilityCreated,
    AvailabilityRejected,
    AvailabilityRemoved,
    BookingCancelled,
    BookingConfirmed,
    BookingRejected,
    BookingRescheduled,
    CommandRejected,
    UserRegistered,
    UserRejected,
)
from contracts.wire import field_errors

FAST = settings(deadline=None)

COMMAND_ID = "0b7a2c4e-8f1d-4c3a-9e5b-6d2f1a0c9b8e"
ACTOR = "11111111-2222-4333-8444-555555555555"
HOST = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
USER = "99999999-8888-4777-8666-555555555555"
BOOKING = "12345678-1234-4234-8234-123456789abc"

START = "2030-01-07T09:00:00Z"
END = "2030-01-07T12:00:00Z"

VALID = {
    "RegisterUser": {"name": "Ada Lovelace", "email": "Ada@Example.com", "role": "HOST"},
    "CreateAvailability": {"hostId": HOST, "startTime": START, "endTime": END, "slotDuration": 30},
    "RemoveAvailability": {"hostId": HOST, "startTime": START, "endTime": END},
    "CreateBooking": {"hostId": HOST, "userId": USER, "startTime": START, "endTime": "2030-01-07T09:30:00Z"},
    "CancelBooking": {"hostId": HOST, "bookingId": BOOKING},
    "RescheduleBooking": {"hostId": HOST, "bookingId": BOOKING, "startTime": START, "endTime": "2030-01-07T09:30:00Z"},
}
TIMED = ["CreateAvailability", "RemoveAvailability", "CreateBooking", "RescheduleBooking"]


def body(kind: str, **changes) -> dict:
    data = {"type": kind, "commandId": COMMAND_ID, "actorId": ACTOR, **VALID[kind]}
    for key, value in changes.items():
        if value is _DROP:
            data.pop(key)
        else:
            data[key] = value
    return data


_DROP = object()


def validate(kind: str, data: dict):
    return COMMAND_TYPES[kind].model_validate(data)


def errors_of(kind: str, data: dict) -> list[dict[str, str]]:
    with pytest.raises(ValidationError) as caught:
        validate(kind, data)
    return field_errors(caught.value)


def fields_of(kind: str, data: dict) -> set[str]:
    return {e["field"] for e in errors_of(kind, data)}


# ---------------------------------------------------------------- every command


@pytest.mark.parametrize("kind", list(VALID))
def test_valid_commands_are_accepted(kind):
    command = validate(kind, body(kind))
    assert command.type == kind
    assert command.command_id == UUID(COMMAND_ID)
    assert command.actor_id == UUID(ACTOR)


def test_command_types_are_the_contracts_six():
    assert set(COMMAND_TYPES) == set(VALID)


@pytest.mark.parametrize(
    ("kind", "field"),
    [(kind, field) for kind in VALID for field in ["type", "commandId", "actorId", *VALID[kind]]],
)
def test_every_field_is_required(kind, field):
    # The seed's first case: a missing field is an error named by its camelCase name.
    errors = errors_of(kind, body(kind, **{field: _DROP}))
    assert {"field": field, "message": "field required"} in errors


@pytest.mark.parametrize("kind", list(VALID))
def test_null_actor_is_fine(kind):
    assert validate(kind, body(kind, actorId=None)).actor_id is None


@pytest.mark.parametrize("kind", list(VALID))
@pytest.mark.parametrize("bad", ["nobody", 42, "", ["11111111-2222-4333-8444-555555555555"]])
def test_actor_must_be_a_uuid_or_null(kind, bad):
    assert fields_of(kind, body(kind, actorId=bad)) == {"actorId"}


@pytest.mark.parametrize("kind", list(VALID))
@pytest.mark.parametrize("extra", ["fooBar", "host_id", "actor"])
def test_unknown_fields_are_rejected(kind, extra):
    errors = errors_of(kind, body(kind, **{extra: "x"}))
    assert {"field": extra, "message": "unknown field"} in errors


def test_snake_case_keys_are_not_the_wire_names():
    data = body("CreateBooking", hostId=_DROP)
    data["host_id"] = HOST
    errors = errors_of("CreateBooking", data)
    assert {"field": "host_id", "message": "unknown field"} in errors
    assert {"field": "hostId", "message": "field required"} in errors


@pytest.mark.parametrize("kind", list(VALID))
def test_wrong_type_literal_is_rejected(kind):
    other = next(k for k in VALID if k != kind)
    assert "type" in fields_of(kind, body(kind, type=other))


@pytest.mark.parametrize(
    ("kind", "field"),
    [(k, f) for k in VALID for f in VALID[k] if f.endswith("Id")] + [(k, "commandId") for k in VALID],
)
@pytest.mark.parametrize("bad", ["not-a-uuid", 12345, None])
def test_ids_must_be_uuids(kind, field, bad):
    assert fields_of(kind, body(kind, **{field: bad})) == {field}


# ---------------------------------------------------------------- timestamps


@pytest.mark.parametrize("kind", TIMED)
@pytest.mark.parametrize("field", ["startTime", "endTime"])
@pytest.mark.parametrize(
    "bad",
    [
        "2030-01-07",  # a date only
        "tomorrow at nine",
        "2030-01-07 09:00",
        "2030-01-07T09:00Z",  # no seconds
        "2030-01-07T09:00:00+0200",  # offset without a colon
        "2030-13-07T09:00:00Z",
        "2030-02-30T09:00:00Z",  # not a real date
        "2030-01-07T24:00:00Z",
        "07/01/2030 09:00:00Z",
        "",
    ],
)
def test_non_rfc3339_times_are_rejected(kind, field, bad):
    # The seed's second case: a time that is not ISO.
    errors = errors_of(kind, body(kind, **{field: bad}))
    assert field in {e["field"] for e in errors}


@pytest.mark.parametrize("kind", TIMED)
@pytest.mark.parametrize("field", ["startTime", "endTime"])
def test_a_timestamp_needs_an_offset(kind, field):
    naive = "2030-01-07T09:00:00" if field == "startTime" else "2030-01-07T12:00:00"
    errors = errors_of(kind, body(kind, **{field: naive}))
    assert [e["field"] for e in errors] == [field]
    assert "offset" in errors[0]["message"]


@pytest.mark.parametrize("kind", TIMED)
@pytest.mark.parametrize("field", ["startTime", "endTime"])
@pytest.mark.parametrize(
    "suffix", [":30Z", ":00.5Z", ":00.000001Z", ":59+01:00", ":00.000000001Z", ":00.0000000000000000000001+02:00"]
)
def test_seconds_and_fractions_must_be_zero(kind, field, suffix):
    # fromisoformat keeps microseconds only: a nanosecond must not pass for a whole minute
    value = ("2030-01-07T09:00" if field == "startTime" else "2030-01-07T12:00") + suffix
    errors = errors_of(kind, body(kind, **{field: value}))
    assert [e["field"] for e in errors] == [field]
    assert "whole minute" in errors[0]["message"]


@pytest.mark.parametrize("fraction", [".0", ".000", ".000000", ".000000000", "." + "0" * 40])
def test_a_zero_fraction_of_any_length_is_a_whole_minute(fraction):
    command = validate("CreateBooking", body("CreateBooking", startTime=f"2030-01-07T09:00:00{fraction}Z"))
    assert command.to_wire()["startTime"] == "2030-01-07T09:00:00Z"


@pytest.mark.parametrize("kind", TIMED)
@pytest.mark.parametrize("field", ["startTime", "endTime"])
@pytest.mark.parametrize("bad", [1893920400, 1893920400.0, True, None, ["2030-01-07T09:00:00Z"], {"t": START}])
def test_non_string_timestamps_are_rejected(kind, field, bad):
    assert field in fields_of(kind, body(kind, **{field: bad}))


@pytest.mark.parametrize("kind", TIMED)
def test_timestamps_are_normalised_to_utc_and_written_back_with_z(kind):
    data = body(kind, startTime="2030-01-07T11:00:00+02:00", endTime="2030-01-07T07:30:00.000-05:00")
    command = validate(kind, data)
    assert command.start_time == datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
    assert command.end_time == datetime(2030, 1, 7, 12, 30, tzinfo=UTC)
    assert command.start_time.utcoffset() == timedelta(0)
    assert command.end_time.utcoffset() == timedelta(0)
    wire = command.to_wire()
    assert wire["startTime"] == "2030-01-07T09:00:00Z"
    assert wire["endTime"] == "2030-01-07T12:30:00Z"
    assert json.loads(command.model_dump_json(by_alias=True))["startTime"] == "2030-01-07T09:00:00Z"


@pytest.mark.parametrize("value", ["2030-01-07t09:00:00z", "2030-01-07T09:00:00-00:00", "2030-01-07T14:30:00+05:30"])
def test_other_rfc3339_spellings_are_read(value):
    data = body("CreateBooking", startTime=value)
    command = validate("CreateBooking", data)
    assert command.start_time == datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


@FAST
@given(
    st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2098, 12, 31)),
    st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59),
)
def test_any_offset_round_trips_to_the_same_utc_instant(local, offset_minutes):
    local = local.replace(second=0, microsecond=0)
    zone = timezone(timedelta(minutes=offset_minutes))
    text = local.replace(tzinfo=zone).isoformat()  # 'YYYY-MM-DDTHH:MM:SS+hh:mm'
    data = {**body("CreateBooking"), "startTime": text, "endTime": "2099-06-01T00:00:00Z"}
    command = validate("CreateBooking", data)
    expected = local.replace(tzinfo=zone).astimezone(UTC)
    assert command.start_time == expected
    assert command.to_wire()["startTime"] == expected.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("kind", TIMED)
@pytest.mark.parametrize("end", [START, "2030-01-07T08:59:00Z", "2030-01-07T10:00:00+02:00"])
def test_end_must_be_after_start(kind, end):
    # The seed's third case. 10:00+02:00 is 08:00Z: before the start once in UTC.
    errors = errors_of(kind, body(kind, endTime=end))
    assert [e["field"] for e in errors] == ["endTime"]
    assert "after" in errors[0]["message"]


@pytest.mark.parametrize("kind", ["RemoveAvailability", "CreateBooking", "RescheduleBooking"])
def test_end_after_start_is_compared_in_utc(kind):
    # 10:00+02:00 is 08:00Z, so the end (09:00Z) is after it.
    command = validate(kind, body(kind, startTime="2030-01-07T10:00:00+02:00", endTime="2030-01-07T09:00:00Z"))
    assert command.end_time - command.start_time == timedelta(hours=1)


# ---------------------------------------------------------------- CreateAvailability


def availability(**changes):
    return body("CreateAvailability", **changes)


@pytest.mark.parametrize("duration", [0, -1, -30])
def test_slot_duration_must_be_positive(duration):
    # The seed's fourth case.
    assert fields_of("CreateAvailability", availability(slotDuration=duration)) == {"slotDuration"}


def test_slot_duration_at_most_a_day():
    assert fields_of("CreateAvailability", availability(endTime="2030-01-09T09:00:00Z", slotDuration=1441)) == {"slotDuration"}
    day = validate("CreateAvailability", availability(endTime="2030-01-08T09:00:00Z", slotDuration=1440))
    assert day.slot_duration == 1440
    assert validate("CreateAvailability", availability(slotDuration=1)).slot_duration == 1


@pytest.mark.parametrize("duration", ["30", 30.0, 30.5, True, None, [30]])
def test_slot_duration_must_be_a_json_integer(duration):
    assert fields_of("CreateAvailability", availability(slotDuration=duration)) == {"slotDuration"}


def test_window_must_hold_a_slot():
    errors = errors_of("CreateAvailability", availability(endTime="2030-01-07T09:29:00Z", slotDuration=30))
    assert [e["field"] for e in errors] == ["slotDuration"]
    one = validate("CreateAvailability", availability(endTime="2030-01-07T09:30:00Z", slotDuration=30))
    assert one.end_time - one.start_time == timedelta(minutes=30)


def test_window_spans_at_most_90_days():
    ninety = validate("CreateAvailability", availability(endTime="2030-04-07T09:00:00Z"))
    assert ninety.end_time - ninety.start_time == timedelta(days=90)
    errors = errors_of("CreateAvailability", availability(endTime="2030-04-07T09:01:00Z"))
    assert [e["field"] for e in errors] == ["endTime"]
    assert "90 days" in errors[0]["message"]


def test_several_errors_are_all_reported_by_camel_case_name():
    data = availability(hostId="nope", startTime="2030-01-07T09:00:00", slotDuration="30", surplus=1)
    data.pop("actorId")
    fields = [e["field"] for e in errors_of("CreateAvailability", data)]
    assert set(fields) == {"hostId", "startTime", "slotDuration", "surplus", "actorId"}
    assert all("_" not in f for f in fields)


# ---------------------------------------------------------------- RegisterUser


def register(**changes):
    return body("RegisterUser", **changes)


@pytest.mark.parametrize("name", ["", " ", "   \t  ", "x" * 201, 42, None, "bad\x00name", "line\nbreak"])
def test_name_blank_too_long_or_not_text_is_rejected(name):
    assert fields_of("RegisterUser", register(name=name)) == {"name"}


@pytest.mark.parametrize("name", ["A", "x" * 200, "Zoë O'Brien-Łukasz", "  padded  "])
def test_name_one_to_200_characters(name):
    assert validate("RegisterUser", register(name=name)).name == name


@pytest.mark.parametrize(
    "email",
    [
        "",
        "plainaddress",
        "@example.com",
        "ada@",
        "ada@example",
        "ada example@x.com",
        "ada@@example.com",
        "ada@example.com\n",
        "a" * 250 + "@x.io",
        42,
        None,
    ],
)
def test_bad_email_is_rejected(email):
    assert fields_of("RegisterUser", register(email=email)) == {"email"}


@pytest.mark.parametrize("email", ["ada@example.com", "Ada.Lovelace+tag@sub.Example.co.uk"])
def test_good_email_is_accepted(email):
    assert validate("RegisterUser", register(email=email)).email == email


@pytest.mark.parametrize("role", ["ADMIN", "host", "user", "", None, 1])
def test_unknown_role_is_rejected(role):
    assert fields_of("RegisterUser", register(role=role)) == {"role"}


@pytest.mark.parametrize("role", ["HOST", "USER"])
def test_known_roles(role):
    assert validate("RegisterUser", register(role=role)).role == role


# ---------------------------------------------------------------- field_errors


def test_field_errors_shape():
    errors = errors_of("CreateBooking", body("CreateBooking", userId=_DROP, endTime=START, whatever=1))
    assert all(set(e) == {"field", "message"} for e in errors)
    assert all(isinstance(e["message"], str) and e["message"] for e in errors)
    by_field = {e["field"]: e["message"] for e in errors}
    assert by_field["userId"] == "field required"
    assert by_field["whatever"] == "unknown field"
    assert "after" in by_field["endTime"]


# ---------------------------------------------------------------- read_command


def raw(data) -> bytes:
    return json.dumps(data).encode()


def test_read_command_reads_a_command():
    data = body("CreateBooking")
    incoming = read_command(raw(data))
    assert isinstance(incoming, Incoming)
    assert incoming.type == "CreateBooking"
    assert incoming.command_id == UUID(COMMAND_ID)
    assert incoming.data == data


def test_read_command_does_not_validate_fields():
    # Bad fields are a validation failure later, not a malformed message.
    incoming = read_command(raw(body("CreateAvailability", slotDuration="thirty", extra=1)))
    assert isinstance(incoming, Incoming)


def padded(size: int) -> bytes:
    data = body("CancelBooking", pad="")
    data["pad"] = "x" * (size - len(raw(data)))
    encoded = raw(data)
    assert len(encoded) == size
    return encoded


def test_body_over_64_kib_is_malformed():
    assert MAX_BODY_BYTES == 64 * 1024
    assert isinstance(read_command(padded(64 * 1024)), Incoming)
    over = read_command(padded(64 * 1024 + 1))
    assert isinstance(over, Malformed)
    assert over.command_id is None


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"{",
        b"hello",
        b"{'type': 'CancelBooking'}",
        b"\xff\xfe\xfa",
        b'{"type": "CancelBooking",}',
        ('{"type":"CancelBooking","commandId":"' + COMMAND_ID + '","hostId":"\xff"}').encode("latin-1"),
    ],
)
def test_not_json_is_malformed(payload):
    assert isinstance(read_command(payload), Malformed)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_malformed(constant):
    text = '{"type":"CreateAvailability","commandId":"' + COMMAND_ID + '","actorId":null,"slotDuration":' + constant + "}"
    assert isinstance(read_command(text.encode()), Malformed)


@pytest.mark.parametrize("payload", [b"[]", b'"CancelBooking"', b"42", b"null", b"true", b"[{}]"])
def test_not_an_object_is_malformed(payload):
    assert isinstance(read_command(payload), Malformed)


@pytest.mark.parametrize("kind", ["DeleteEverything", "registeruser", "", 7, None, ["CancelBooking"]])
def test_unknown_type_is_malformed_and_keeps_a_valid_command_id(kind):
    result = read_command(raw(body("CancelBooking", type=kind)))
    assert isinstance(result, Malformed)
    assert result.command_id == UUID(COMMAND_ID)  # so a CommandRejected can name it
    missing = read_command(raw(body("CancelBooking", type=_DROP)))
    assert isinstance(missing, Malformed) and missing.command_id == UUID(COMMAND_ID)


@pytest.mark.parametrize("command_id", [_DROP, None, "", "not-a-uuid", 42, ["x"], {"id": COMMAND_ID}])
def test_missing_or_invalid_command_id_is_malformed(command_id):
    result = read_command(raw(body("CancelBooking", commandId=command_id)))
    assert isinstance(result, Malformed)
    assert result.command_id is None
    assert result.detail


def test_fingerprint_ignores_key_order_and_whitespace():
    data = body("CreateAvailability")
    compact = json.dumps(data, separators=(",", ":")).encode()
    reordered = json.dumps(dict(reversed(list(data.items()))), indent=4).encode()
    spaced = b"\n\t " + json.dumps(data, sort_keys=True, indent=1).encode() + b"  \r\n"
    prints = {read_command(b).fingerprint for b in (compact, reordered, spaced)}
    assert len(prints) == 1


@FAST
@given(st.permutations(list(body("CreateAvailability").items())), st.sampled_from([None, 0, 2]), st.sampled_from([", ", ","]))
def test_fingerprint_is_the_same_for_any_key_order(items, indent, separator):
    data = dict(items)
    text = json.dumps(data, indent=indent, separators=(separator, ": "))
    assert read_command(text.encode()).fingerprint == read_command(raw(body("CreateAvailability"))).fingerprint


@pytest.mark.parametrize(
    "change",
    [
        {"slotDuration": 45},
        {"slotDuration": "30"},
        {"actorId": None},
        {"endTime": "2030-01-07T12:00:00+00:00"},
        {"hostId": HOST.upper()},
        {"extra": None},
    ],
)
def test_fingerprint_differs_for_different_content(change):
    base = read_command(raw(body("CreateAvailability")))
    other = read_command(raw(body("CreateAvailability", **change)))
    assert base.fingerprint != other.fingerprint


# ---------------------------------------------------------------- partition_key


def test_partition_key_is_the_lower_cased_email_for_register_user():
    assert partition_key(body("RegisterUser", email="Ada.LOVELACE@Example.COM")) == "ada.lovelace@example.com"


@pytest.mark.parametrize("kind", [k for k in VALID if k != "RegisterUser"])
def test_partition_key_is_the_host_id_otherwise(kind):
    assert partition_key(body(kind)) == HOST


# ---------------------------------------------------------------- replies


OFFSET = timezone(timedelta(hours=2))
OCCURRED = datetime(2030, 1, 7, 11, 0, 30, 123456, tzinfo=OFFSET)  # 09:00:30.123456Z


def booking_view(**changes):
    view = {
        "bookingId": BOOKING,
        "hostId": HOST,
        "userId": USER,
        "startTime": datetime(2030, 1, 7, 11, 0, tzinfo=OFFSET),
        "endTime": "2030-01-07T09:30:00Z",
        "status": "CONFIRMED",
    }
    return {**view, **changes}


def availability_view():
    return {"availabilityId": ACTOR, "hostId": HOST, "startTime": "2030-01-07T10:00:00+01:00", "endTime": END, "slotDuration": 30}


def all_replies():
    common = {"commandId": COMMAND_ID, "occurredAt": OCCURRED}
    rejection = {**common, "detail": "Nope.", "errors": [{"field": "startTime", "message": "bad"}]}
    return [
        UserRegistered(**common, user={"userId": USER, "name": "Ada", "email": "ada@example.com", "role": "USER"}),
        AvailabilityCreated(**common, availability=availability_view()),
        AvailabilityRemoved(**common, hostId=HOST, startTime=START, endTime=END, windows=[availability_view()]),
        BookingConfirmed(**common, booking=booking_view()),
        BookingCancelled(**common, booking=booking_view(status="CANCELLED")),
        BookingRescheduled(
            **common,
            booking=booking_view(),
            previousStartTime="2030-01-07T12:00:00+02:00",
            previousEndTime="2030-01-07T10:30:00Z",
        ),
        UserRejected(**rejection, reason=Reason.EMAIL_TAKEN),
        AvailabilityRejected(**rejection, reason=Reason.AVAILABILITY_CONFLICT),
        BookingRejected(**rejection, reason=Reason.VALIDATION_FAILED),
        CommandRejected(commandId=None, occurredAt=OCCURRED, detail="body is not JSON"),
    ]


def keys_of(value):
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from keys_of(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from keys_of(inner)


def test_replies_serialise_camel_case_with_z_timestamps():
    for reply in all_replies():
        wire = reply.to_wire()
        assert json.loads(reply.model_dump_json(by_alias=True)) == wire
        assert all("_" not in key for key in keys_of(wire)), wire
        assert {"type", "commandId", "occurredAt"} <= set(wire)
        assert wire["occurredAt"] == "2030-01-07T09:00:30Z"
        assert wire["type"] in ROUTING_KEYS
        # It reads back and writes out the same body (fractions of occurredAt are dropped once).
        again = type(reply).model_validate(wire)
        assert again.to_wire() == wire
        assert again.model_dump_json(by_alias=True) == reply.model_dump_json(by_alias=True)


def test_reply_bodies_match_the_contract_table():
    by_type = {r.type: r.to_wire() for r in all_replies()}
    booking = by_type["BookingConfirmed"]["booking"]
    assert booking == {
        "bookingId": BOOKING,
        "hostId": HOST,
        "userId": USER,
        "startTime": "2030-01-07T09:00:00Z",
        "endTime": "2030-01-07T09:30:00Z",
        "status": "CONFIRMED",
    }
    assert by_type["AvailabilityCreated"]["availability"] == {
        "availabilityId": ACTOR,
        "hostId": HOST,
        "startTime": "2030-01-07T09:00:00Z",
        "endTime": "2030-01-07T12:00:00Z",
        "slotDuration": 30,
    }
    removed = by_type["AvailabilityRemoved"]
    assert set(removed) == {"type", "commandId", "occurredAt", "hostId", "startTime", "endTime", "windows"}
    assert removed["windows"] == [by_type["AvailabilityCreated"]["availability"]]
    rescheduled = by_type["BookingRescheduled"]
    assert (rescheduled["previousStartTime"], rescheduled["previousEndTime"]) == ("2030-01-07T10:00:00Z", "2030-01-07T10:30:00Z")
    assert by_type["UserRegistered"]["user"] == {"userId": USER, "name": "Ada", "email": "ada@example.com", "role": "USER"}
    rejected = by_type["BookingRejected"]
    assert set(rejected) == {"type", "commandId", "occurredAt", "reason", "detail", "errors"}
    assert rejected["reason"] == "VALIDATION_FAILED"
    assert rejected["errors"] == [{"field": "startTime", "message": "bad"}]
    malformed = by_type["CommandRejected"]
    assert malformed["commandId"] is None and malformed["reason"] == "MALFORMED_MESSAGE"
    assert malformed["errors"] == []


def test_routing_keys_and_rejection_replies_match_the_contract():
    assert ROUTING_KEYS == {
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
    assert {k: v.__name__ for k, v in REJECTION_FOR.items()} == {
        "RegisterUser": "UserRejected",
        "CreateAvailability": "AvailabilityRejected",
        "RemoveAvailability": "AvailabilityRejected",
        "CreateBooking": "BookingRejected",
        "CancelBooking": "BookingRejected",
        "RescheduleBooking": "BookingRejected",
    }
    assert {r.value for r in Reason} == {
        "VALIDATION_FAILED",
        "FORBIDDEN",
        "USER_NOT_FOUND",
        "HOST_NOT_FOUND",
        "NOT_A_HOST",
        "EMAIL_TAKEN",
        "AVAILABILITY_CONFLICT",
        "BOOKINGS_IN_RANGE",
        "OUTSIDE_AVAILABILITY",
        "MISALIGNED_SLOT",
        "SLOT_TAKEN",
        "IN_THE_PAST",
        "BOOKING_NOT_FOUND",
        "ALREADY_CANCELLED",
        "COMMAND_ID_REUSED",
        "MALFORMED_MESSAGE",
    }


def test_reply_times_refuse_a_naive_datetime_and_views_refuse_seconds():
    with pytest.raises(ValidationError):
        BookingConfirmed(commandId=COMMAND_ID, occurredAt=datetime(2030, 1, 7, 9, 0), booking=booking_view())
    with pytest.raises(ValidationError):
        BookingConfirmed(commandId=COMMAND_ID, occurredAt=OCCURRED, booking=booking_view(endTime="2030-01-07T09:30:15Z"))


# ---------------------------------------------------------------- edges of the time and body rules


@pytest.mark.parametrize("offset", ["+00:60", "+05:99", "-01:75"])
def test_offset_minutes_beyond_59_are_not_rfc3339(offset):
    # RFC 3339 time-numoffset: time-minute is 00-59.
    errors = errors_of("CreateBooking", body("CreateBooking", startTime="2030-01-07T09:00:00" + offset))
    assert [e["field"] for e in errors] == ["startTime"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("startTime", "0001-01-01T00:00:00+01:00"), ("endTime", "9999-12-31T23:59:00-01:00")],
)
def test_instants_outside_the_representable_range_are_validation_errors(field, value):
    # Must end as VALIDATION_FAILED with field errors, not as an exception escaping validation.
    data = body("RemoveAvailability", **{field: value})
    try:
        errors = errors_of("RemoveAvailability", data)
    except OverflowError as error:
        pytest.fail(f"{field}={value!r} raised {error!r} instead of a validation error")
    assert field in {e["field"] for e in errors}


def test_early_years_are_written_back_with_four_digits():
    command = validate("RemoveAvailability", body("RemoveAvailability", startTime="0999-01-01T00:00:00Z"))
    wire = command.to_wire()
    assert wire["startTime"] == "0999-01-01T00:00:00Z"
    assert validate("RemoveAvailability", wire) == command  # what is written reads back


def test_deeply_nested_body_never_raises():
    # Whatever the nesting, reading a body answers Incoming or Malformed; an exception
    # would make the worker fail on a message it must dead-letter.
    for depth in range(1, 1200):
        text = '{"type":"CancelBooking","commandId":"' + COMMAND_ID + '","x":' + "[" * depth + "]" * depth + "}"
        try:
            result = read_command(text.encode())
        except RecursionError:
            pytest.fail(f"read_command raised RecursionError for nesting depth {depth}")
        assert isinstance(result, (Incoming, Malformed))
