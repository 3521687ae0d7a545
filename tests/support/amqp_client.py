"""A test publisher: sends commands the way another service would (confirms,
persistent, routing key = partition key) and collects replies by correlation id."""

import asyncio
import json
import uuid
from typing import Any

import aio_pika

from contracts.topology import COMMAND_EXCHANGE, partition_key


class CommandClient:
    def __init__(self, amqp_url: str) -> None:
        self.amqp_url = amqp_url
        self.replies: dict[str, list[dict]] = {}
        self._waiters: dict[str, asyncio.Future] = {}

    async def __aenter__(self) -> "CommandClient":
        self.connection = await aio_pika.connect(self.amqp_url)
        self.channel = await self.connection.channel(publisher_confirms=True)
        self.exchange = await self.channel.get_exchange(COMMAND_EXCHANGE)
        self.reply_queue = await self.channel.declare_queue(exclusive=True, auto_delete=True)
        await self.reply_queue.consume(self._on_reply, no_ack=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.connection.close()

    async def _on_reply(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        body = json.loads(message.body)
        key = message.correlation_id or ""
        self.replies.setdefault(key, []).append(body)
        waiter = self._waiters.pop(key, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(body)

    async def publish_raw(
        self,
        body: bytes,
        routing_key: str,
        correlation_id: str | None = None,
        reply: bool = True,
        to_queue: bool = False,
    ) -> asyncio.Future:
        """`to_queue` sends straight to the queue named by `routing_key`, around the hash."""
        correlation_id = correlation_id or str(uuid.uuid4())
        waiter = asyncio.get_running_loop().create_future()
        self._waiters[correlation_id] = waiter
        exchange = self.channel.default_exchange if to_queue else self.exchange
        await exchange.publish(
            aio_pika.Message(
                body,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                reply_to=self.reply_queue.name if reply else None,
                correlation_id=correlation_id,
            ),
            routing_key=routing_key,
        )
        return waiter

    async def send(self, command: dict[str, Any], correlation_id: str | None = None) -> asyncio.Future:
        return await self.publish_raw(json.dumps(command).encode(), partition_key(command), correlation_id)

    async def request(self, command: dict[str, Any], timeout: float = 15) -> dict:
        return await asyncio.wait_for(await self.send(command), timeout)
