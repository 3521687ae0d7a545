"""The broker side of the dead-letter tool: reading `booking.commands.dlq` without
losing anything, and replaying its messages to `booking.commands` (contract section 5).

A message leaves the dead-letter queue only after the broker has confirmed its copy
on the command exchange. Should the acknowledgement get lost after that, the message
is replayed once more on the next run, which the worker's idempotency makes harmless."""

import hashlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage, AbstractQueue
from aio_pika.exceptions import DeliveryError

from contracts.dead_letters import (
    ATTEMPTS_HEADER,
    DEATHS_HEADER,
    FIRST_DEATH_REASON_HEADER,
    FIRST_FAILURE_HEADER,
    REASON_HEADER,
    REPLAYED_AT_HEADER,
    is_failure_record,
)
from contracts.topology import COMMAND_EXCHANGE, DEAD_LETTER_QUEUE, partition_key
from services.messages import persistent_copy


@dataclass(frozen=True)
class DeadLetter:
    """One message of the dead-letter queue as read; nothing in it is trusted."""

    id: str
    reason: str
    first_failure: datetime | None
    attempts: int | None
    routing_key: str
    body: bytes
    command: dict | None  # the body, when it is a JSON object
    headers: dict
    content_type: str | None
    correlation_id: str | None
    reply_to: str | None
    message_id: str | None

    @property
    def type(self) -> str | None:
        return _text_field(self.command, "type")

    @property
    def host_id(self) -> str | None:
        return _text_field(self.command, "hostId")

    def age(self, now: datetime) -> float | None:
        """Seconds since the first failure, when the headers tell it."""
        return None if self.first_failure is None else (now - self.first_failure).total_seconds()


@dataclass(frozen=True)
class Selection:
    """Which dead letters a replay takes: every criterion given must hold."""

    type: str | None = None
    reason: str | None = None  # compared case-insensitively
    host_id: str | None = None
    older_than: float | None = None  # seconds since the first failure; an unknown age never matches
    id: str | None = None

    def matches(self, letter: DeadLetter, now: datetime) -> bool:
        age = letter.age(now)
        return (
            (self.type is None or letter.type == self.type)
            and (self.reason is None or letter.reason.casefold() == self.reason.casefold())
            and (self.host_id is None or letter.host_id == self.host_id)
            and (self.older_than is None or (age is not None and age > self.older_than))
            and (self.id is None or letter.id == self.id)
        )


@dataclass
class ReplayReport:
    examined: int
    selected: list[DeadLetter]
    replayed: int = 0
    failed: list[DeadLetter] = field(default_factory=list)  # still in the queue


def read_dead_letter(message: AbstractIncomingMessage) -> DeadLetter:
    headers = dict(message.headers or {})
    first_failure = _first_failure(headers)
    return DeadLetter(
        id=_short_id(message, first_failure),
        reason=_reason(headers),
        first_failure=first_failure,
        attempts=_attempts(headers),
        routing_key=message.routing_key or "",
        body=message.body,
        command=_json_object(message.body),
        headers=headers,
        content_type=message.content_type,
        correlation_id=message.correlation_id,
        reply_to=message.reply_to,
        message_id=message.message_id,
    )


def replay_message(letter: DeadLetter, now: datetime) -> aio_pika.Message:
    """The message as its sender published it, without the record of its failure."""
    headers = {name: value for name, value in letter.headers.items() if not is_failure_record(name)}
    headers[REPLAYED_AT_HEADER] = now.isoformat()
    return persistent_copy(letter, headers)


def replay_routing_key(letter: DeadLetter) -> str:
    """The partition key the contract prescribes, so a replayed command queues behind
    its host's other commands even if its first publisher got the key wrong; the
    original routing key when the body does not name one."""
    if letter.command is not None:
        try:
            return partition_key(letter.command)
        except KeyError:
            pass
    return letter.routing_key


class DeadLetterStore:
    """The dead-letter queue of one vhost; use as `async with DeadLetterStore(url)`."""

    def __init__(self, amqp_url: str) -> None:
        self.amqp_url = amqp_url

    async def __aenter__(self) -> "DeadLetterStore":
        self._connection = await aio_pika.connect(self.amqp_url)
        self._opened: AbstractChannel | None = None
        return self

    async def _channel(self) -> AbstractChannel:
        if self._opened is None or self._opened.is_closed:
            # on_return_raises: an unroutable message must fail its publish rather than
            # count as confirmed, or it would leave the DLQ without reaching a partition.
            self._opened = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        return self._opened

    async def __aexit__(self, *exc: object) -> None:
        await self._connection.close()

    async def depth(self) -> int:
        """Messages ready in the queue (not those another client holds)."""
        return (await self._queue()).declaration_result.message_count

    async def read_all(self) -> list[DeadLetter]:
        """Every message, oldest failure first; all of them stay in the queue."""
        async with self._taken() as messages:
            return [letter for _, letter in _oldest_first(messages)]

    async def replay(
        self,
        selection: Selection,
        dry_run: bool = False,
        on_progress: Callable[[int, int], None] = lambda done, total: None,
    ) -> ReplayReport:
        commands = await (await self._channel()).get_exchange(COMMAND_EXCHANGE)
        now = datetime.now(UTC)
        async with self._taken() as messages:
            chosen = [(message, letter) for message, letter in _oldest_first(messages) if selection.matches(letter, now)]
            report = ReplayReport(examined=len(messages), selected=[letter for _, letter in chosen])
            if dry_run:
                return report
            for done, (message, letter) in enumerate(chosen, start=1):
                if await self._republish(commands, letter):
                    await message.ack()
                    report.replayed += 1
                else:
                    report.failed.append(letter)
                on_progress(done, len(chosen))
        return report

    async def purge(self) -> int:
        """Removes the messages ready in the queue and says how many."""
        return (await (await self._queue()).purge()).message_count

    async def _queue(self) -> AbstractQueue:
        # Passive: the tool reports a missing topology instead of creating one.
        return await (await self._channel()).declare_queue(DEAD_LETTER_QUEUE, passive=True)

    @asynccontextmanager
    async def _taken(self) -> AsyncIterator[list[AbstractIncomingMessage]]:
        """The messages now in the queue, fetched and held unacknowledged. Holding
        them all is what keeps a message that goes back from being fetched again in
        the same run. Whatever the caller has not acknowledged goes back on exit."""
        queue = await self._queue()
        taken: list[AbstractIncomingMessage] = []
        try:
            # At most the depth seen now: what arrives meanwhile waits for the next run.
            for _ in range(queue.declaration_result.message_count):
                message = await queue.get(fail=False)
                if message is None:  # another client took the rest
                    break
                taken.append(message)
            yield taken
        finally:
            await self._put_back()

    async def _put_back(self) -> None:
        """Closing the channel returns every message not acknowledged. Not a nack:
        RabbitMQ 4 counts a nack towards a quorum queue's delivery limit (20 by
        default there) and would drop a dead letter after some twenty `list` runs;
        a return on a closed channel it does not count."""
        if self._opened is not None and not self._opened.is_closed:
            await self._opened.close()

    @staticmethod
    async def _republish(commands: AbstractExchange, letter: DeadLetter) -> bool:
        try:
            await commands.publish(replay_message(letter, datetime.now(UTC)), routing_key=replay_routing_key(letter))
        except DeliveryError:  # nacked or unroutable: the message stays in the DLQ
            return False
        return True


def _oldest_first(messages: list[AbstractIncomingMessage]) -> list[tuple[AbstractIncomingMessage, DeadLetter]]:
    """In the order the messages failed, so that a host's commands are replayed in
    the order they were sent. Queue order would not do: a quorum queue does not keep
    the order of many messages fetched with basic.get and put back, so every `list`
    would shuffle it. Unknown failure times come last; the id breaks ties, so that
    the order is the same on every run."""
    letters = [(message, read_dead_letter(message)) for message in messages]
    never = datetime.max.replace(tzinfo=UTC)
    return sorted(letters, key=lambda pair: (pair[1].first_failure or never, pair[1].id))


def _deaths(headers: dict) -> list[dict]:
    deaths = headers.get(DEATHS_HEADER)
    return [death for death in deaths if isinstance(death, dict)] if isinstance(deaths, list) else []


def _reason(headers: dict) -> str:
    """The worker says why in REASON_HEADER. When the broker dead-lettered the
    message itself (its delivery limit exceeded, say), x-death says why, newest first."""
    candidates = [headers.get(REASON_HEADER)]
    candidates += [death.get("reason") for death in _deaths(headers)]
    candidates.append(headers.get(FIRST_DEATH_REASON_HEADER))
    return next((reason for reason in candidates if isinstance(reason, str)), "unknown")


def _first_failure(headers: dict) -> datetime | None:
    stamped = _timestamp(headers.get(FIRST_FAILURE_HEADER))
    if stamped is not None:
        return stamped
    times = [death["time"] for death in _deaths(headers) if isinstance(death.get("time"), datetime)]
    return min(times, default=None)


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _attempts(headers: dict) -> int | None:
    # The broker's own dead-lettering leaves no count: a quorum queue resets
    # x-delivery-count when the message enters the DLQ.
    attempts = headers.get(ATTEMPTS_HEADER)
    return attempts if isinstance(attempts, int) and not isinstance(attempts, bool) else None


def _short_id(message: AbstractIncomingMessage, first_failure: datetime | None) -> str:
    """Stable across runs (built only from what the message carries) and short enough
    to type; two messages alike in all of it are interchangeable anyway."""
    parts = [
        message.body,
        (first_failure.isoformat() if first_failure else "").encode(),
        (message.correlation_id or "").encode(),
        (message.message_id or "").encode(),
    ]
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:12]


def _json_object(body: bytes) -> dict | None:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _text_field(command: dict | None, key: str) -> str | None:
    value = (command or {}).get(key)
    return value if isinstance(value, str) else None
