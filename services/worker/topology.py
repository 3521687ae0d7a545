"""The broker topology of contract section 2, as declared value objects."""

from enum import Enum

from faststream.rabbit import ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue

from contracts.topology import (
    COMMAND_EXCHANGE,
    COMMAND_EXCHANGE_TYPE,
    DEAD_LETTER_EXCHANGE,
    DEAD_LETTER_QUEUE,
    EVENT_EXCHANGE,
    MIGRATION_QUEUE,
    PARTITION_BINDING_KEY,
    partition_queue,
)

# A backstop for a message that kills its worker again and again: after this many
# deliveries the broker dead-letters it (x-death says so). Ordinary failures are
# counted and dead-lettered by the worker itself, with headers that say why.
DELIVERY_LIMIT = 20

command_exchange = RabbitExchange(COMMAND_EXCHANGE, type=ExchangeType(COMMAND_EXCHANGE_TYPE), durable=True)
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
        routing_key=PARTITION_BINDING_KEY,
    )


class Routing(Enum):
    """How the command exchange routes, as a starting worker finds it."""

    NEW = "new"  # no exchange or no binding yet: this worker declares and binds
    READY = "ready"  # the exchange routes to exactly the configured partitions
    MIGRATING = "migrating"  # `booking partitions migrate` holds new commands back


class TopologyMismatch(Exception):
    """The broker routes commands in a way this worker must not consume under: the
    message says why and what the operator does about it."""


MIGRATE_HINT = "run `booking partitions migrate --partitions {n}` (docs/partitioning.md)"


def routing_state(exchange_type: str | None, bound: set[str], partitions: int) -> Routing:
    """Decide from what the broker says (the command exchange's type, None when it
    does not exist, and the queues bound to it) whether this worker may start."""
    hint = MIGRATE_HINT.format(n=partitions)
    if exchange_type is not None and exchange_type != COMMAND_EXCHANGE_TYPE:
        raise TopologyMismatch(
            f"{COMMAND_EXCHANGE} is an {exchange_type} exchange; contract v2 routes by {COMMAND_EXCHANGE_TYPE}, "
            f"which keeps every host in its partition across broker restarts. Changing it moves hosts to other "
            f"partitions, so it is a migration: {hint}"
        )
    wanted = {partition_queue(index) for index in range(partitions)}
    if not bound:
        return Routing.NEW
    if bound == wanted:
        return Routing.READY
    if bound == {MIGRATION_QUEUE}:
        return Routing.MIGRATING
    raise TopologyMismatch(
        f"{COMMAND_EXCHANGE} routes to {len(bound)} queues ({', '.join(sorted(bound)[:4])}...) but "
        f"BOOKING_PARTITIONS={partitions}; a worker binding more or fewer partitions would move hosts between "
        f"partitions while their commands wait. Start it with the partition count in use, or {hint}"
    )


async def declare_topology(broker: RabbitBroker, partitions: int, routing: Routing = Routing.NEW) -> None:
    """Idempotent: every process declares the same things with the same arguments.
    The queues come first and are bound in one go, so the exchange routes by a partial
    set of partitions for as short a time as possible on a new vhost; during a
    migration nothing is bound (the migration binds when the partitions have drained)."""
    dead_letters = await broker.declare_exchange(dead_letter_exchange)
    await broker.declare_exchange(event_exchange)
    dlq = await broker.declare_queue(dead_letter_queue)
    await dlq.bind(dead_letters, routing_key="")
    queues = [await broker.declare_queue(partition(index)) for index in range(partitions)]
    commands = await broker.declare_exchange(command_exchange)
    if routing is not Routing.MIGRATING:
        for queue in queues:
            await queue.bind(commands, routing_key=PARTITION_BINDING_KEY)
