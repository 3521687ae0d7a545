"""Enqueue-and-wait over one long-lived connection: commands go out on a channel
with publisher confirms, replies come back through direct reply-to on that same
channel and are matched to their waiters by correlation id, one per request (not the
commandId: two requests with one commandId and different bodies get different
answers, the second COMMAND_ID_REUSED)."""

import asyncio
import json
import logging
import uuid
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from contracts.topology import COMMAND_EXCHANGE, DIRECT_REPLY_TO, partition_key

log = logging.getLogger("booking.gateway")


class BrokerUnavailable(Exception):
    """The command could not be handed to the broker; nothing was enqueued for sure."""


class Requester:
    def __init__(self, amqp_url: str, publish_timeout: float = 5.0) -> None:
        self.amqp_url = amqp_url
        self.publish_timeout = publish_timeout
        self._waiters: dict[str, asyncio.Future] = {}
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._connection = await aio_pika.connect_robust(self.amqp_url)
        self._connection.reconnect_callbacks.add(self._on_reconnect)
        await self._open_channel()

    async def _open_channel(self) -> None:
        # direct reply-to is bound to the channel that consumes it, so the channel
        # is opened afresh (and its consumer with it) after every reconnect
        self._ready.clear()
        self._channel = await self._connection.channel(publisher_confirms=True)
        self._exchange = await self._channel.get_exchange(COMMAND_EXCHANGE, ensure=False)
        reply_queue = await self._channel.get_queue(DIRECT_REPLY_TO, ensure=False)
        await reply_queue.consume(self._on_reply, no_ack=True)
        self._ready.set()

    async def _on_reconnect(self, *_: object) -> None:
        await self._open_channel()

    async def stop(self) -> None:
        if self._connection is not None:
            await self._connection.close()

    @property
    def connected(self) -> bool:
        return self._connection is not None and not self._connection.is_closed and self._ready.is_set()

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        waiter = self._waiters.pop(message.correlation_id or "", None)
        if waiter is not None and not waiter.done():
            waiter.set_result(json.loads(message.body))

    async def request(self, command: dict[str, Any], timeout: float) -> dict | None:
        """Publish and wait up to `timeout` for the reply; None when it did not come
        in time (the command is enqueued and will be answered)."""
        correlation_id = str(uuid.uuid4())
        waiter = asyncio.get_running_loop().create_future()
        self._waiters[correlation_id] = waiter
        try:
            await self._publish(command, correlation_id)
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return None
        finally:
            self._waiters.pop(correlation_id, None)

    async def _publish(self, command: dict[str, Any], correlation_id: str) -> None:
        if not self.connected:
            raise BrokerUnavailable("not connected to the broker")
        message = aio_pika.Message(
            json.dumps(command, separators=(",", ":")).encode(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            reply_to=DIRECT_REPLY_TO,
            correlation_id=correlation_id,
        )
        try:
            await asyncio.wait_for(
                self._exchange.publish(message, routing_key=partition_key(command)), self.publish_timeout
            )
        except (aio_pika.exceptions.AMQPError, ConnectionError, OSError, TimeoutError) as error:
            raise BrokerUnavailable(repr(error)) from error
