"""What happens to one delivery: read it, handle it (retrying what is transient),
publish the outcome, and only then acknowledge."""

import asyncio
import logging
import random
import time
from datetime import UTC, datetime

from aio_pika.abc import AbstractIncomingMessage
from aio_pika.exceptions import ChannelInvalidStateError
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.envelope import Incoming, Malformed, read_command
from contracts.replies import ROUTING_KEYS, CommandRejected
from services.booking.failures import is_transient
from services.booking.outbox import clear_outbox
from services.booking.processing import CommandService, Outcome, encode
from services.settings import Settings
from services.worker.metrics import COMMANDS, DEAD_LETTERED, HANDLING_SECONDS, REDELIVERIES
from services.worker.publishing import Publisher

log = logging.getLogger("booking.worker")


class Pipeline:
    def __init__(self, engine: AsyncEngine, publisher: Publisher, settings: Settings) -> None:
        self.engine = engine
        self.service = CommandService(engine)
        self.publisher = publisher
        self.settings = settings

    async def run(self, message: AbstractIncomingMessage, partition: int) -> None:
        started = time.perf_counter()
        if message.redelivered:
            REDELIVERIES.inc()
        incoming = read_command(message.body)
        if isinstance(incoming, Malformed):
            await self._dead_letter_malformed(message, incoming, partition)
            return
        context = {
            "commandId": str(incoming.command_id),
            "type": incoming.type,
            "hostId": incoming.data.get("hostId"),
            "partition": partition,
        }
        outcome = await self._handle(message, incoming, context)
        if outcome is None:
            return
        await self.publisher.publish(outcome, message.reply_to, message.correlation_id)
        if outcome.pending:
            await clear_outbox(self.engine, [outcome.command_id])
        await self._ack(message)
        result = outcome.routing_key or "command.reused"
        COMMANDS.labels(incoming.type, result).inc()
        HANDLING_SECONDS.labels(incoming.type).observe(time.perf_counter() - started)
        log.info("handled", extra={**context, "outcome": result, "redelivered": message.redelivered})

    async def _handle(
        self, message: AbstractIncomingMessage, incoming: Incoming, context: dict
    ) -> Outcome | None:
        """Retry transient failures for as long as the delivery is ours; give up on
        any other failure after `max_attempts`, dead-lettering the message."""
        attempt, first_failure = 0, None
        while True:
            attempt += 1
            try:
                return await self.service.handle(
                    incoming, reply_to=message.reply_to, correlation_id=message.correlation_id
                )
            except Exception as error:
                first_failure = first_failure or datetime.now(UTC).isoformat()
                transient = is_transient(error)
                log.warning(
                    "handling failed",
                    extra={**context, "attempt": attempt, "transient": transient, "error": repr(error)},
                )
                if message.channel.is_closed:
                    return None  # the broker redelivers it; the inbox answers any duplicate
                if not transient and attempt >= self.settings.max_attempts:
                    await self.publisher.dead_letter(
                        message,
                        {
                            "reason": "HANDLER_FAILED",
                            "error-class": type(error).__qualname__,
                            "error-message": str(error)[:1000],
                            "attempts": attempt,
                            "first-failure": first_failure,
                            "partition": context["partition"],
                        },
                    )
                    await self._ack(message)
                    DEAD_LETTERED.labels("HANDLER_FAILED").inc()
                    log.error("dead-lettered after failing", extra={**context, "attempts": attempt})
                    return None
                await asyncio.sleep(self._backoff(attempt))

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.settings.retry_max_delay, self.settings.retry_base_delay * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)

    async def _dead_letter_malformed(
        self, message: AbstractIncomingMessage, malformed: Malformed, partition: int
    ) -> None:
        await self.publisher.dead_letter(
            message,
            {"reason": "MALFORMED_MESSAGE", "detail": malformed.detail, "attempts": 1, "partition": partition},
        )
        reply = CommandRejected(
            commandId=malformed.command_id, occurredAt=datetime.now(UTC), detail=malformed.detail
        )
        outcome = Outcome(malformed.command_id, encode(reply), ROUTING_KEYS[reply.type], pending=False)
        await self.publisher.publish(outcome, message.reply_to, message.correlation_id)
        await self._ack(message)
        DEAD_LETTERED.labels("MALFORMED_MESSAGE").inc()
        log.warning(
            "malformed message dead-lettered",
            extra={"partition": partition, "detail": malformed.detail, "commandId": str(malformed.command_id)},
        )

    @staticmethod
    async def _ack(message: AbstractIncomingMessage) -> None:
        try:
            await message.ack()
        except ChannelInvalidStateError:
            # The delivery tag died with its channel: the broker redelivers and the
            # inbox answers the duplicate with the stored outcome.
            log.warning("ack lost with its channel", extra={"messageId": message.message_id})
