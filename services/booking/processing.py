"""Handling one command as one unit of work: inbox check, validation, the handler's
decision and writes, the stored outcome and its outbox row, all in one transaction."""

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.commands import COMMAND_TYPES
from contracts.envelope import Incoming
from contracts.reasons import Reason
from contracts.replies import REJECTION_FOR, ROUTING_KEYS, Reply
from contracts.wire import field_errors
from services.booking.db.repository import UNIQUE_VIOLATION, Repository, sqlstate
from services.booking.handlers import HANDLERS, HandlerContext


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to publish for a command. `routing_key` is None when the reply goes to
    `reply_to` only (a reused command id); `pending` when an outbox row waits for
    the publish to be confirmed."""

    command_id: UUID | None  # None only for a malformed message without one
    reply: bytes
    routing_key: str | None
    pending: bool


class ConcurrentDuplicate(Exception):
    """Another consumer stored an outcome for this command id first; handling again
    finds it and answers with it."""


def encode(reply: Reply) -> bytes:
    return reply.model_dump_json(by_alias=True).encode()


def _actor(data: dict) -> UUID | None:
    try:
        return UUID(data["actorId"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _validation_rejection(incoming: Incoming, error: ValidationError, now: datetime) -> Reply:
    return REJECTION_FOR[incoming.type](
        commandId=incoming.command_id,
        occurredAt=now,
        reason=Reason.VALIDATION_FAILED,
        detail="The command has fields that are missing or invalid.",
        errors=field_errors(error),
    )


class CommandService:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def handle(
        self, incoming: Incoming, *, reply_to: str | None = None, correlation_id: str | None = None
    ) -> Outcome:
        now = datetime.now(UTC)
        async with self.engine.begin() as conn:
            repo = Repository(conn)
            stored = await repo.stored_outcome(incoming.command_id)
            if stored is not None:
                return self._answer_again(incoming, stored, now)
            try:
                command = COMMAND_TYPES[incoming.type].model_validate(incoming.data)
            except ValidationError as error:
                reply = _validation_rejection(incoming, error, now)
            else:
                reply = await HANDLERS[incoming.type](command, HandlerContext(repo, now))
            body = encode(reply)
            try:
                await repo.store_outcome(
                    command_id=incoming.command_id,
                    command_type=incoming.type,
                    fingerprint=incoming.fingerprint,
                    actor_id=_actor(incoming.data),
                    reply_type=reply.type,
                    reply=body,
                    reply_to=reply_to,
                    correlation_id=correlation_id,
                )
            except IntegrityError as error:
                if sqlstate(error) == UNIQUE_VIOLATION:
                    raise ConcurrentDuplicate(str(incoming.command_id)) from error
                raise
        return Outcome(incoming.command_id, body, ROUTING_KEYS[reply.type], pending=True)

    @staticmethod
    def _answer_again(incoming: Incoming, stored: tuple[bytes, str, bytes], now: datetime) -> Outcome:
        stored_fingerprint, reply_type, reply = stored
        if stored_fingerprint == incoming.fingerprint:
            return Outcome(incoming.command_id, reply, ROUTING_KEYS[reply_type], pending=False)
        reused = REJECTION_FOR[incoming.type](
            commandId=incoming.command_id,
            occurredAt=now,
            reason=Reason.COMMAND_ID_REUSED,
            detail="This commandId was already used with a different body.",
        )
        return Outcome(incoming.command_id, encode(reused), None, pending=False)
