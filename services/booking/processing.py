"""Handling commands as one unit of work: the inbox check, validation, each handler's
decision and writes, the stored outcomes and their outbox rows, in one transaction.
Several consecutive commands can share the transaction; they are handled in order,
each seeing the writes of the ones before it."""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import asyncpg
from pydantic import BaseModel, ValidationError

from contracts.commands import COMMAND_TYPES, CreateBooking
from contracts.envelope import Incoming
from contracts.reasons import Reason
from contracts.replies import REJECTION_FOR, ROUTING_KEYS, Reply
from contracts.wire import field_errors
from services.booking.db.repository import NewOutcome, Repository, StoredOutcome
from services.booking.domain.ranges import TimeRange
from services.booking.handlers import HANDLERS, HandlerContext


@dataclass(frozen=True, slots=True)
class Request:
    """A command as it arrived, with where its reply goes."""

    incoming: Incoming
    reply_to: str | None = None
    correlation_id: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to publish for a command. `routing_key` is None when the reply goes to
    `reply_to` only (a reused command id); `pending` when an outbox row waits for
    the publish to be confirmed."""

    command_id: UUID | None  # None only for a malformed message without one
    reply: bytes
    routing_key: str | None
    pending: bool


def encode(reply: Reply) -> bytes:
    return reply.model_dump_json(by_alias=True).encode()


def _actor(data: dict) -> UUID | None:
    try:
        return UUID(data["actorId"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


Command = BaseModel  # one of contracts.commands.COMMAND_TYPES


def _parse(incoming: Incoming) -> Command | ValidationError:
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


def _bookings_of_hosts_seen_once(
    commands: Sequence[Command | ValidationError | None],
) -> list[tuple[UUID, UUID, TimeRange]]:
    """The bookings whose loads can be made together, up front: those of a host that
    no other command of the group names, so nothing before them changes that host.
    (A user a booking names cannot be new in the same group: its id only comes with
    the reply to its registration, published after the group commits.)"""
    hosts = Counter(getattr(command, "host_id", None) for command in commands)
    return [
        (command.host_id, command.user_id, TimeRange(command.start_time, command.end_time))
        for command in commands
        if isinstance(command, CreateBooking) and hosts[command.host_id] == 1
    ]


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
        async with self.pool.acquire() as conn, conn.transaction():
            repo = Repository(conn)
            known = await repo.lock_hosts_and_read_inbox(
                [r.incoming.command_id for r in requests], _hosts_named(requests)
            )
            # None: stored before, answered again below
            commands = [None if r.incoming.command_id in known else _parse(r.incoming) for r in requests]
            await repo.preload_booking_parties(_bookings_of_hosts_seen_once(commands))
            outcomes, new = [], []
            for request, command in zip(requests, commands, strict=True):
                incoming = request.incoming
                if incoming.command_id in known:
                    outcomes.append(self._answer_again(incoming, known[incoming.command_id], now))
                    continue
                reply = await self._decide(incoming, command, repo, now)
                body = encode(reply)
                new.append(
                    NewOutcome(
                        incoming.command_id, incoming.type, incoming.fingerprint, _actor(incoming.data),
                        reply.type, body, request.reply_to, request.correlation_id,
                    )
                )
                known[incoming.command_id] = StoredOutcome(incoming.fingerprint, reply.type, body)
                outcomes.append(Outcome(incoming.command_id, body, ROUTING_KEYS[reply.type], pending=True))
            await repo.store_outcomes(new)
        return outcomes

    @staticmethod
    async def _decide(incoming: Incoming, command: Command | ValidationError, repo: Repository, now: datetime) -> Reply:
        if isinstance(command, ValidationError):
            return REJECTION_FOR[incoming.type](
                commandId=incoming.command_id,
                occurredAt=now,
                reason=Reason.VALIDATION_FAILED,
                detail="The command has fields that are missing or invalid.",
                errors=field_errors(command),
            )
        return await HANDLERS[incoming.type](command, HandlerContext(repo, now))

    @staticmethod
    def _answer_again(incoming: Incoming, stored: StoredOutcome, now: datetime) -> Outcome:
        if stored.fingerprint == incoming.fingerprint:
            return Outcome(incoming.command_id, stored.reply, ROUTING_KEYS[stored.reply_type], pending=False)
        reused = REJECTION_FOR[incoming.type](
            commandId=incoming.command_id,
            occurredAt=now,
            reason=Reason.COMMAND_ID_REUSED,
            detail="This commandId was already used with a different body.",
        )
        return Outcome(incoming.command_id, encode(reused), None, pending=False)
