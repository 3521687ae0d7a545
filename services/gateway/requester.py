"""Enqueue-and-wait over one long-lived connection: commands go out on a channel
with publisher confirms, replies come back through direct reply-to on that same
channel and are matched to their waiters by correlation id, one per request (not the
commandId: two requests with one commandId and different bodies get different
answers, the second COMMAND_ID_REUSED)."""

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage
from aiormq.exceptions import ChannelInvalidStateError

from contracts.topology import COMMAND_EXCHANGE, DIRECT_REPLY_TO, partition_key

log = logging.getLogger("booking.gateway")


class BrokerUnavailable(Exception):
    """The command could not be handed to the broker; nothing was enqueued for sure."""


class Requester:
    """Connects in the background and again whenever the broker goes away (refused,
    reset, a channel the broker closed), so the gateway starts and keeps answering
    without it: while there is no connection every write is BrokerUnavailable (503)."""

    def __init__(self, amqp_url: str, publish_timeout: float = 5.0, max_retry_delay: float = 2.0) -> None:
        self.amqp_url = amqp_url
        self.publish_timeout = publish_timeout
        self.max_retry_delay = max_retry_delay
        self._waiters: dict[str, asyncio.Future] = {}
        self._connection: aio_pika.abc.AbstractConnection | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        self._first_attempt = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        """Returns after the first attempt to connect, whether it worked or not."""
        self._task = asyncio.create_task(self._stay_connected(), name="broker connection")
        await self._first_attempt.wait()

    async def _stay_connected(self) -> None:
        delay, failures = 0.1, 0
        while True:
            lost = asyncio.Event()
            try:
                await self._connect(lost)
                log.info("connected to the broker")
                self._first_attempt.set()
                delay, failures = 0.1, 0
                await lost.wait()
                log.warning("lost the broker; reconnecting")
            except Exception as error:  # refused, unreachable, timed out, refused login...
                failures += 1
                log.log(logging.WARNING if failures == 1 else logging.DEBUG,
                        "cannot reach the broker; retrying", extra={"error": repr(error)})
            finally:
                self._first_attempt.set()
                await self._disconnect()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_retry_delay)

    async def _connect(self, lost: asyncio.Event) -> None:
        connection = await aio_pika.connect(self.amqp_url, timeout=self.publish_timeout)
        self._connection = connection
        connection.close_callbacks.add(lambda *_: lost.set())
        # direct reply-to is bound to the channel that consumes it: a new channel
        # (and consumer) on every connection, and the connection goes when it goes
        channel = await connection.channel(publisher_confirms=True)
        channel.close_callbacks.add(lambda *_: lost.set())
        reply_queue = await channel.get_queue(DIRECT_REPLY_TO, ensure=False)
        await reply_queue.consume(self._on_reply, no_ack=True)
        self._exchange = await channel.get_exchange(COMMAND_EXCHANGE, ensure=False)

    async def _disconnect(self) -> None:
        connection, self._connection, self._exchange = self._connection, None, None
        if connection is not None and not connection.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), self.publish_timeout)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._disconnect()

    @property
    def connected(self) -> bool:
        return self._exchange is not None and not self._exchange.channel.is_closed

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
        message = aio_pika.Message(
            json.dumps(command, separators=(",", ":")).encode(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            reply_to=DIRECT_REPLY_TO,
            correlation_id=correlation_id,
        )
        exchange = self._exchange
        if exchange is None or exchange.channel.is_closed:
            raise BrokerUnavailable("not connected to the broker")
        try:
            await asyncio.wait_for(exchange.publish(message, routing_key=partition_key(command)), self.publish_timeout)
        except (aio_pika.exceptions.AMQPError, ChannelInvalidStateError, RuntimeError, ConnectionError, OSError,
                TimeoutError) as error:  # aio-pika says "closed" with RuntimeError
            raise BrokerUnavailable(repr(error)) from error
