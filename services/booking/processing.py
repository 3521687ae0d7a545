"""Handling a group of commands: read each one, answer a command handled before from
the inbox, decide the others (validation, then the command's handler) in order inside
one unit of work (services/booking/unit_of_work.py), each seeing the writes of the ones
before it, and say what to publish for each."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from uuid import UUID

import asyncpg
from pydantic import ValidationError

from contracts.commands import COMMAND_TYPES, Command
from contracts.incoming import Incoming
from contracts.reasons import Reason
from contracts.replies import REJECTION_FOR, ROUTING_KEYS, Reply
from contracts.wire import field_errors
from services.booking.db.inbox import NewOutcome, StoredOutcome
from services.booking.handlers import HANDLERS, HandlerContext
from services.booking.store import BookingStore
from services.booking.unit_of_work import UnitOfWork


@dataclass(frozen=True, slots=True)
class Request:
    """A command as it arrived, with where its reply goes."""

    incoming: Incoming
    reply_to: str | None = None
    correlation_id: str | None = None


class Route(Enum):
    """Where an outcome's reply is published."""

    REPLY_AND_EVENT = "reply and event"  # to reply_to (if any), and on booking.events under its routing key
    REPLY_ONLY = "reply only"  # to reply_to only: the answer to a reused command id is no event


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to publish for a command: `reply`, routed as `route` says (`routing_key` is
    its reply type's); `pending` when an outbox row waits for the publish to be confirmed."""

    command_id: UUID | None  # None only for a malformed message without one
    reply: bytes
    routing_key: str
    pending: bool
    route: Route = Route.REPLY_AND_EVENT

    @property
    def result(self) -> str:
        """What came of the command, in logs and metrics: the event's routing key, or
        "command.reused"."""
        return self.routing_key if self.route is Route.REPLY_AND_EVENT else "command.reused"


def encode(reply: Reply) -> bytes:
    return reply.model_dump_json(by_alias=True).encode()


def _actor(data: dict) -> UUID | None:
    try:
        return UUID(data["actorId"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def parse(incoming: Incoming) -> Command | ValidationError:
    try:
        return COMMAND_TYPES[incoming.type].model_validate(incoming.data)
    except ValidationError as error:
        return error


def _hosts_named(requests: Sequence[Request]) -> list[UUID]:
    """The hosts the commands name: their unit of work locks them before reading."""
    hosts = []
    for request in requests:
        try:
            hosts.append(UUID(request.incoming.data["hostId"]))
        except (KeyError, TypeError, ValueError, AttributeError):
            pass  # no host, or not a valid id: the command fails validation
    return hosts


async def decide(incoming: Incoming, command: Command | ValidationError, store: BookingStore, now: datetime) -> Reply:
    """The reply to a command not handled before: its validation failure, or its handler's decision."""
    if isinstance(command, ValidationError):
        return REJECTION_FOR[incoming.type](
            commandId=incoming.command_id,
            occurredAt=now,
            reason=Reason.VALIDATION_FAILED,
            detail="The command has fields that are missing or invalid.",
            errors=field_errors(command),
        )
    return await HANDLERS[incoming.type](command, HandlerContext(store, now))


def answer_again(incoming: Incoming, stored: StoredOutcome, now: datetime) -> Outcome:
    """A command whose id was handled before: the stored outcome when the body is the
    same; otherwise COMMAND_ID_REUSED, to its sender only, stored nowhere."""
    if stored.fingerprint == incoming.fingerprint:
        return Outcome(incoming.command_id, stored.reply, ROUTING_KEYS[stored.reply_type], pending=False)
    reused = REJECTION_FOR[incoming.type](
        commandId=incoming.command_id,
        occurredAt=now,
        reason=Reason.COMMAND_ID_REUSED,
        detail="This commandId was already used with a different body.",
    )
    return Outcome(incoming.command_id, encode(reused), ROUTING_KEYS[reused.type], pending=False, route=Route.REPLY_ONLY)


class CommandService:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def database_answers(self) -> bool:
        try:
            return bool(await self.pool.fetchval("SELECT true", timeout=2))
        except Exception:
            return False

    async def reconnect(self) -> None:
        """After a failure of the database: fresh connections for the next attempt (a
        failover may have made the old server read-only, or moved the primary)."""
        await self.pool.expire_connections()

    async def handle(self, requests: Sequence[Request]) -> list[Outcome]:
        """The outcome of each request, in order, committed together. Raises (and
        commits nothing) when any of them fails."""
        now = datetime.now(UTC)
        command_ids = [r.incoming.command_id for r in requests]
        async with UnitOfWork(self.pool, command_ids, _hosts_named(requests)) as uow:
            known = dict(uow.stored)
            # None: stored before, answered again below
            commands = [None if r.incoming.command_id in known else parse(r.incoming) for r in requests]
            await uow.preload(commands)
            outcomes, new = [], []
            for request, command in zip(requests, commands, strict=True):
                incoming = request.incoming
                if incoming.command_id in known:
                    outcomes.append(answer_again(incoming, known[incoming.command_id], now))
                    continue
                reply = await decide(incoming, command, uow.store, now)
                body = encode(reply)
                new.append(
                    NewOutcome(
                        incoming.command_id, incoming.type, incoming.fingerprint, _actor(incoming.data),
                        reply.type, body, request.reply_to, request.correlation_id,
                    )
                )
                known[incoming.command_id] = StoredOutcome(incoming.fingerprint, reply.type, body)
                outcomes.append(Outcome(incoming.command_id, body, ROUTING_KEYS[reply.type], pending=True))
            await uow.commit(new)
        return outcomes
