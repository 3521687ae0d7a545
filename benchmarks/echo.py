"""Baseline `echo`: a bare aio-pika consumer on the partition queues that replies at
once and acknowledges, the broker's round-trip ceiling for the same topology,
prefetch and confirms as the worker. `reply` builds the answer to a command (the
echo's own by default; benchmarks/http/stand_in_worker.py passes another)."""

import argparse
import asyncio
import json
import os
from collections.abc import Callable

import aio_pika

from contracts.topology import partition_queue

Reply = Callable[[dict], dict]


def echo_reply(command: dict) -> dict:
    return {"type": "Echo", "commandId": command.get("commandId")}


async def serve(amqp: str, partitions: int, prefetch: int, reply: Reply = echo_reply, name: str = "echo") -> None:
    connection = await aio_pika.connect_robust(amqp)
    replies = await connection.channel(publisher_confirms=True)

    async def answer(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        body = json.dumps(reply(json.loads(message.body))).encode()
        if message.reply_to:
            await replies.default_exchange.publish(
                aio_pika.Message(body, correlation_id=message.correlation_id,
                                 delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key=message.reply_to,
            )
        await message.ack()

    for index in range(partitions):
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        queue = await channel.get_queue(partition_queue(index), ensure=False)
        await queue.consume(answer)
    print(f"{name} ready", flush=True)
    await asyncio.Future()


def main(reply: Reply = echo_reply, name: str = "echo") -> None:
    """The broker and topology default to the BOOKING_* settings, as the worker's do."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--amqp", default=os.environ.get("BOOKING_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"))
    parser.add_argument("--partitions", type=int, default=int(os.environ.get("BOOKING_PARTITIONS", "16")))
    parser.add_argument("--prefetch", type=int, default=int(os.environ.get("BOOKING_PREFETCH", "1")))
    args = parser.parse_args()
    asyncio.run(serve(args.amqp, args.partitions, args.prefetch, reply, name))


if __name__ == "__main__":
    main()
