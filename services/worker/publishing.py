"""Publishing replies, events and dead letters, each confirmed by the broker."""

import asyncio
from datetime import UTC, datetime

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage
from pamqp import decode

from contracts.dead_letters import FIRST_FAILURE_HEADER, LAST_FAILURE_HEADER, REPLAYED_AT_HEADER, is_failure_record
from contracts.topology import DEAD_LETTER_EXCHANGE, EVENT_EXCHANGE
from services.booking.processing import Outcome, Route
from services.messages import persistent_copy

JSON = "application/json"

# ---- properties that are not UTF-8
# The broker does not check that a short string (correlation_id, reply_to, message_id...)
# or a header name is UTF-8; pamqp raised on one, which took the worker's whole connection
# down at every redelivery, so any publisher could stop the worker. These decoders read
# such bytes as U+FFFD instead; the command is then handled as usual (its reply goes to the
# mangled name). The worker imports this module before it connects.
_strict_short_str, _strict_field_table = decode.short_str, decode.field_table


def _short_str(value: bytes) -> tuple[int, str]:
    try:
        return _strict_short_str(value)
    except UnicodeDecodeError:
        length = value[0]
        return length + 1, value[1 : length + 1].decode("utf-8", "replace")


def _field_table(value: bytes) -> tuple[int, dict]:
    try:
        return _strict_field_table(value)
    except UnicodeDecodeError:
        pass
    end, offset, table = 4 + int.from_bytes(value[:4], "big"), 4, {}
    while offset < end:
        key_end = offset + 1 + value[offset]
        if key_end > end:
            raise ValueError("Field table key length exceeds data")
        consumed, table[value[offset + 1 : key_end].decode("utf-8", "replace")] = decode.embedded_value(value[key_end:])
        offset = key_end + consumed
    return end, table


decode.METHODS["shortstr"] = decode.short_str = _short_str
decode.METHODS["table"] = decode.TABLE_MAPPING[b"F"] = decode.field_table = _field_table


class Publisher:
    def __init__(self, channel: AbstractChannel) -> None:
        self.channel = channel  # opened with publisher confirms
        self._events: AbstractExchange | None = None
        self._dead_letters: AbstractExchange | None = None

    async def open(self) -> None:
        self._events = await self.channel.get_exchange(EVENT_EXCHANGE, ensure=False)
        self._dead_letters = await self.channel.get_exchange(DEAD_LETTER_EXCHANGE, ensure=False)

    async def publish(self, outcome: Outcome, reply_to: str | None, correlation_id: str | None) -> None:
        """The reply to `reply_to` (if any) and the event, concurrently; returns once
        the broker confirmed both."""
        message = aio_pika.Message(
            outcome.reply,
            content_type=JSON,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            correlation_id=correlation_id or (str(outcome.command_id) if outcome.command_id else None),
            message_id=str(outcome.command_id) if outcome.command_id else None,
        )
        sends = []
        if reply_to:
            # not mandatory: a caller that went away must not make the command fail
            sends.append(self.channel.default_exchange.publish(message, routing_key=reply_to, mandatory=False))
        if outcome.route is Route.REPLY_AND_EVENT:
            # nor an event nobody subscribed to (and an unroutable mandatory message
            # would come back to us, costing both sides)
            sends.append(self._events.publish(message, routing_key=outcome.routing_key, mandatory=False))
        await asyncio.gather(*sends)

    async def dead_letter(self, message: AbstractIncomingMessage, why: dict[str, object]) -> None:
        """Copy a delivery to the dead-letter exchange with headers that say why
        (`why`: header names of contracts.dead_letters and their values).
        The sender's own x-booking-* (but the replay tool's mark) and the broker's
        bookkeeping headers are not kept, so what the headers say is the worker's word."""
        now = datetime.now(UTC).isoformat()
        headers = {
            key: value
            for key, value in (message.headers or {}).items()
            if key == REPLAYED_AT_HEADER or not is_failure_record(key)
        }
        headers[FIRST_FAILURE_HEADER] = now
        headers.update(why)
        headers[LAST_FAILURE_HEADER] = now
        await self._dead_letters.publish(persistent_copy(message, headers), routing_key=message.routing_key or "")
