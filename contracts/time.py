"""Timestamps on the wire: RFC 3339 with an explicit offset in, UTC `...Z` out."""

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$"
)


def parse_rfc3339(value: object) -> datetime:
    """Parse an RFC 3339 string with an explicit offset and normalise it to UTC."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise PydanticCustomError("timestamp_offset", "timestamp must carry an offset (Z or +hh:mm)")
        return value.astimezone(UTC)
    if not isinstance(value, str):
        raise PydanticCustomError("timestamp_type", "timestamp must be an RFC 3339 string")
    if not _RFC3339.match(value):
        if re.match(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?$", value):
            raise PydanticCustomError("timestamp_offset", "timestamp must carry an offset (Z or +hh:mm)")
        raise PydanticCustomError(
            "timestamp_format", "timestamp must be RFC 3339, like 2025-01-01T10:00:00Z"
        )
    try:
        return datetime.fromisoformat(value.upper()).astimezone(UTC)
    except (ValueError, OverflowError):
        raise PydanticCustomError("timestamp_format", "timestamp is not a real date and time") from None


def _whole_minute(value: object) -> datetime:
    parsed = parse_rfc3339(value)
    # fromisoformat keeps six digits of a fraction: look at all of them (.000000001 is not zero)
    fraction = _RFC3339.match(value).group(1) if isinstance(value, str) else None
    if parsed.second or parsed.microsecond or (fraction and fraction.strip(".0")):
        raise PydanticCustomError("timestamp_minute", "timestamp must be a whole minute (seconds and any fraction zero)")
    return parsed


def format_utc(value: datetime) -> str:
    # not strftime: %Y drops leading zeros of years before 1000 on some platforms
    v = value.astimezone(UTC)
    return f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}Z"


_json_schema = WithJsonSchema(
    {"type": "string", "format": "date-time", "description": "RFC 3339 with offset; written back in UTC as YYYY-MM-DDTHH:MM:SSZ"}
)

# A booking or availability boundary: whole minutes, UTC.
MinuteTime = Annotated[
    datetime,
    BeforeValidator(_whole_minute),
    PlainSerializer(format_utc, return_type=str),
    _json_schema,
]

# Any instant (occurredAt): seconds allowed, fractions dropped on output.
Timestamp = Annotated[
    datetime,
    BeforeValidator(parse_rfc3339),
    PlainSerializer(format_utc, return_type=str),
    _json_schema,
]
