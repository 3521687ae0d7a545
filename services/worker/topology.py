"""The broker topology of contract section 2, as declared value objects."""

from faststream.rabbit import ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue

from contracts.topology import (
    COMMAND_EXCHANGE,
    DEAD_LETTER_EXCHANGE,
    DEAD_LETTER_QUEUE,
    EVENT_EXCHANGE,
    PARTITION_BINDING_WEIGHT,
    partition_queue,
)

# A backstop for a message that kills its worker again and again: after this many
# deliveries the broker dead-letters it (x-death says so). Ordinary failures are
# counted and dead-lettered by the worker itself, with headers that say why.
DELIVERY_LIMIT = 20

command_exchange = RabbitExchange(COMMAND_EXCHANGE, type=ExchangeType.X_CONSISTENT_HASH, durable=True)
dead_letter_exchange = RabbitExchange(DEAD_LETTER_EXCHANGE, type=ExchangeType.FANOUT, durable=True)
event_exchange = RabbitExchange(EVENT_EXCHANGE, type=ExchangeType.TOPIC, durable=True)
dead_letter_queue = RabbitQueue(DEAD_LETTER_QUEUE, queue_type=QueueType.QUORUM, durable=True)


def partition(index: int) -> RabbitQueue:
    return RabbitQueue(
        partition_queue(index),
        queue_type=QueueType.QUORUM,
        durable=True,
        arguments={
            "x-single-active-consumer": True,
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
            "x-delivery-limit": DELIVERY_LIMIT,
        },
        routing_key=PARTITION_BINDING_WEIGHT,
    )


async def declare_topology(broker: RabbitBroker, partitions: int) -> None:
    """Idempotent: every process declares the same things with the same arguments."""
    commands = await broker.declare_exchange(command_exchange)
    dead_letters = await broker.declare_exchange(dead_letter_exchange)
    await broker.declare_exchange(event_exchange)
    dlq = await broker.declare_queue(dead_letter_queue)
    await dlq.bind(dead_letters, routing_key="")
    for index in range(partitions):
        queue = await broker.declare_queue(partition(index))
        await queue.bind(commands, routing_key=PARTITION_BINDING_WEIGHT)
