"""Reading a delivery's body as an incoming command (type, id, raw fields), before any field validation.
What fails here is a malformed message (contract section 5): dead-lettered, never stored."""

import hashlib
import json
import re
from dataclasses import dataclass
from uuid import UUID

from contracts.commands import COMMAND_TYPES
from contracts.topology import MAX_BODY_BYTES


@dataclass(frozen=True, slots=True)
class Incoming:
    type: str
    command_id: UUID
    data: dict
    # Equal for the same JSON content whatever the key order or whitespace.
    fingerprint: bytes


@dataclass(frozen=True, slots=True)
class Malformed:
    detail: str
    command_id: UUID | None = None


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def fingerprint(data: object) -> bytes:
    # ASCII escapes keep lone surrogates, which valid JSON may carry, encodable.
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).digest()


_CANONICAL_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _command_id(data: dict) -> UUID | None:
    raw = data.get("commandId")
    if not isinstance(raw, str) or not _CANONICAL_UUID.fullmatch(raw):
        return None
    return UUID(raw)


def read_command(body: bytes) -> Incoming | Malformed:
    if len(body) > MAX_BODY_BYTES:
        return Malformed(f"body is {len(body)} bytes, more than the {MAX_BODY_BYTES} allowed")
    try:
        # UTF-8 only: json.loads would guess UTF-16/32 from raw bytes
        data = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return Malformed("body is not JSON (UTF-8)")
    if not isinstance(data, dict):
        return Malformed("body is not a JSON object")
    command_id = _command_id(data)
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in COMMAND_TYPES:
        # escaped: a lone surrogate cannot travel in a header or a reply
        shown = kind.encode("utf-8", "backslashreplace").decode() if isinstance(kind, str) and len(kind) <= 64 else "?"
        return Malformed(f"unknown command type '{shown}'", command_id)
    if command_id is None:
        return Malformed("commandId is missing or not a UUID")
    try:
        return Incoming(kind, command_id, data, fingerprint(data))
    except RecursionError:
        return Malformed("body nests too deeply")
