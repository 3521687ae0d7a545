"""Baseline `echo`: a bare aio-pika consumer on the partition queues that replies at
once and acknowledges, the broker's round-trip ceiling for the same topology,
prefetch and confirms as the worker."""

import argparse
import asyncio
import json

import aio_pika

from contracts.topology import partition_queue


async def serve(amqp: str, partitions: int, prefetch: int) -> None:
    connection = await aio_pika.connect_robust(amqp)
    replies = await connection.channel(publisher_confirms=True)

    async def answer(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        command = json.loads(message.body)
        body = json.dumps({"type": "Echo", "commandId": command.get("commandId")}).encode()
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
    print("echo ready", flush=True)
    await asyncio.Future()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--amqp", required=True)
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--prefetch", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(serve(args.amqp, args.partitions, args.prefetch))


if __name__ == "__main__":
    main()
