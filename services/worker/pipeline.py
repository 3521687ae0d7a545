"""What happens to a group of deliveries: read them, handle them in one transaction
(retrying what is transient), publish the outcomes, and say what became of each
delivery. When the group fails, each of its commands is handled again on its own, in
order. The pipeline never acknowledges: its caller (the partition consumer) acts on
the result, acknowledging what is done and giving the partition back otherwise."""

import asyncio
import logging
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import Enum

import asyncpg
from aio_pika.abc import AbstractIncomingMessage
from aio_pika.exceptions import ChannelInvalidStateError

from contracts.dead_letters import (
    ATTEMPTS_HEADER,
    DETAIL_HEADER,
    ERROR_CLASS_HEADER,
    ERROR_MESSAGE_HEADER,
    FIRST_FAILURE_HEADER,
    PARTITION_HEADER,
    REASON_HEADER,
)
from contracts.incoming import Malformed, read_command
from contracts.replies import ROUTING_KEYS, CommandRejected
from services.booking.failures import FailureKind, failure_kind
from services.booking.processing import CommandService, Outcome, Request, encode
from services.settings import Settings
from services.worker.metrics import COMMANDS, DEAD_LETTERED, HANDLING_SECONDS, REDELIVERIES, RETRIES
from services.worker.outbox_cleaner import OutboxCleaner
from services.worker.publishing import Publisher

log = logging.getLogger("booking.worker")


class Delivered(Enum):
    """What became of one delivery."""

    ANSWERED = "answered"  # outcome committed and its reply confirmed by the broker
    DEAD_LETTERED = "dead-lettered"  # its copy, with the reason, confirmed on the dead-letter exchange
    NOT_COMPLETED = "not completed"  # neither: its partition gives it back to the broker

    @property
    def acknowledge(self) -> bool:
        return self is not Delivered.NOT_COMPLETED


class Delivery:
    """A delivery being handled: the command read from it (None when malformed), its
    log context and, once decided, what became of it."""

    __slots__ = ("message", "partition", "request", "context", "result")

    def __init__(self, message: AbstractIncomingMessage, partition: int) -> None:
        self.message = message
        self.partition = partition
        self.request: Request | None = None
        self.context: dict = {"partition": partition}
        self.result: Delivered | None = None

    def read_as(self, request: Request) -> None:
        self.request = request
        self.context = {
            "commandId": str(request.incoming.command_id),
            "type": request.incoming.type,
            "hostId": request.incoming.data.get("hostId"),
            "partition": self.partition,
        }


def returned_to_broker(message: AbstractIncomingMessage) -> bool:
    """True once the delivery's channel has closed: the broker has taken it back and
    will deliver it again. (aio-pika raises, rather than answers, when asked for the
    channel of such a delivery.)"""
    try:
        return message.channel.is_closed
    except ChannelInvalidStateError:
        return True


class Pipeline:
    def __init__(
        self, pool: asyncpg.Pool, publisher: Publisher, outbox: OutboxCleaner, settings: Settings
    ) -> None:
        self.service = CommandService(pool)
        self.outbox = outbox
        self.publisher = publisher
        self.settings = settings

    async def run(self, messages: Sequence[tuple[AbstractIncomingMessage, int]]) -> list[Delivered]:
        """Handle (delivery, partition) pairs, in their order, as one group; what became
        of each, in the same order. A delivery whose handling did not complete (say, a
        reply could not be published) is NOT_COMPLETED; after a command that did not
        complete, the later commands of its partition are not handled either (they are
        NOT_COMPLETED too): none of them is answered before it."""
        started = time.perf_counter()
        deliveries = [Delivery(message, partition) for message, partition in messages]
        commands = []
        for delivery in deliveries:
            if delivery.message.redelivered:
                REDELIVERIES.inc()
            try:
                incoming = read_command(delivery.message.body)
            except Exception as error:  # whatever the reader did not foresee is still bad input
                incoming = Malformed(f"body could not be read ({type(error).__name__})")
            if isinstance(incoming, Malformed):
                await self._attempt([delivery], self._dead_letter_malformed(delivery, incoming))
            else:
                delivery.read_as(Request(incoming, delivery.message.reply_to, delivery.message.correlation_id))
                commands.append(delivery)
        if commands:
            await self._attempt(commands, self._complete(commands, started))
        return [Delivered.NOT_COMPLETED if d.result is None else d.result for d in deliveries]

    async def _complete(self, deliveries: list[Delivery], started: float) -> None:
        try:
            outcomes = await self.service.handle([d.request for d in deliveries])
        except Exception as error:
            if len(deliveries) == 1:
                outcomes = [await self._handle_alone(deliveries[0], error)]
            else:
                log.info("group failed; handling its commands one by one", extra={"error": repr(error)})
                outcomes, given_back = [], set()
                for delivery in deliveries:
                    # after one not completed, its partition's later commands wait for it
                    outcome = None if delivery.partition in given_back else await self._handle_alone(delivery)
                    if outcome is None and delivery.result is None:
                        given_back.add(delivery.partition)
                    outcomes.append(outcome)
        done = [(d, o) for d, o in zip(deliveries, outcomes, strict=True) if o is not None]
        await asyncio.gather(
            *(self.publisher.publish(o, d.message.reply_to, d.message.correlation_id) for d, o in done)
        )
        self.outbox.confirmed([o.command_id for _, o in done if o.pending])
        elapsed = time.perf_counter() - started
        for delivery, outcome in done:
            delivery.result = Delivered.ANSWERED
            result = outcome.result
            COMMANDS.labels(delivery.request.incoming.type, result).inc()
            HANDLING_SECONDS.labels(delivery.request.incoming.type).observe(elapsed)
            log.info(
                "handled",
                extra={**delivery.context, "outcome": result, "redelivered": delivery.message.redelivered,
                       "group": len(deliveries)},
            )

    async def _handle_alone(self, delivery: Delivery, failure: Exception | None = None) -> Outcome | None:
        """Retry a failure of the infrastructure for as long as it lasts, counting
        nothing against the command; dead-letter a failure of the message after
        `max_attempts`. None when there is nothing to publish: dead-lettered, or no
        longer ours to answer."""
        attempts, outages, first_failure = 0, 0, None
        while True:
            if failure is None:
                try:
                    return (await self.service.handle([delivery.request]))[0]
                except Exception as error:
                    failure = error
            first_failure = first_failure or datetime.now(UTC).isoformat()
            kind = await self._kind_of(failure)
            if kind is FailureKind.INFRASTRUCTURE:
                outages += 1
                delay = self._backoff(outages)
                await self.service.reconnect()
            else:
                attempts += 1
                delay = self._backoff(attempts)
            RETRIES.labels(kind.value).inc()
            log.warning(
                "handling failed",
                extra={**delivery.context, "attempt": attempts, "outage": outages, "failure": kind.value,
                       "error": repr(failure)},
            )
            if returned_to_broker(delivery.message):
                return None  # the broker redelivers it; the inbox answers any duplicate
            if kind is FailureKind.MESSAGE and attempts >= self.settings.max_attempts:
                await self._dead_letter_failed(delivery, failure, attempts, first_failure)
                return None
            failure = None
            await asyncio.sleep(delay)

    async def _kind_of(self, failure: Exception) -> FailureKind:
        """By the error, and then by the connection's state: a message is not blamed
        while the database does not answer at all."""
        kind = failure_kind(failure)
        if kind is FailureKind.MESSAGE and not await self.service.database_answers():
            return FailureKind.INFRASTRUCTURE
        return kind

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.settings.retry_max_delay, self.settings.retry_base_delay * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)

    async def _dead_letter_failed(self, delivery: Delivery, error: Exception, attempts: int, first: str) -> None:
        await self.publisher.dead_letter(
            delivery.message,
            {
                REASON_HEADER: "HANDLER_FAILED",
                ERROR_CLASS_HEADER: type(error).__qualname__,
                ERROR_MESSAGE_HEADER: str(error)[:1000],
                ATTEMPTS_HEADER: attempts,
                FIRST_FAILURE_HEADER: first,
                PARTITION_HEADER: delivery.partition,
            },
        )
        delivery.result = Delivered.DEAD_LETTERED
        DEAD_LETTERED.labels("HANDLER_FAILED").inc()
        log.error("dead-lettered after failing", extra={**delivery.context, "attempts": attempts})

    async def _dead_letter_malformed(self, delivery: Delivery, malformed: Malformed) -> None:
        message = delivery.message
        await self.publisher.dead_letter(
            message,
            {REASON_HEADER: "MALFORMED_MESSAGE", DETAIL_HEADER: malformed.detail, ATTEMPTS_HEADER: 1,
             PARTITION_HEADER: delivery.partition},
        )
        reply = CommandRejected(commandId=malformed.command_id, occurredAt=datetime.now(UTC), detail=malformed.detail)
        outcome = Outcome(malformed.command_id, encode(reply), ROUTING_KEYS[reply.type], pending=False)
        await self.publisher.publish(outcome, message.reply_to, message.correlation_id)
        delivery.result = Delivered.DEAD_LETTERED
        DEAD_LETTERED.labels("MALFORMED_MESSAGE").inc()
        log.warning(
            "malformed message dead-lettered",
            extra={"partition": delivery.partition, "detail": malformed.detail,
                   "commandId": str(malformed.command_id)},
        )

    @staticmethod
    async def _attempt(deliveries: list[Delivery], work) -> None:
        """Run `work`; if it fails (say, a reply could not be published), the
        deliveries it had not decided stay NOT_COMPLETED and their partition gives them
        back. Their redelivery is answered from the inbox, or the outbox relay has sent
        the replies meanwhile."""
        try:
            await work
        except Exception:
            undecided = sum(1 for d in deliveries if d.result is None)
            log.exception("deliveries not completed", extra={"count": undecided})
