"""Moving the commands that wait in MIGRATION_QUEUE to the new partitions (step 5 of
`booking partitions migrate`): in delivery order, with publisher confirms, each
waiting command acknowledged only once its copy is confirmed, its body, routing key,
headers and properties as they came, less the broker's bookkeeping."""

import asyncio
from collections import deque
from collections.abc import Callable

from aio_pika.abc import AbstractConnection, AbstractIncomingMessage
from aio_pika.exceptions import ChannelClosed
from aiormq import spec

from contracts.dead_letters import DELIVERY_COUNT_HEADER
from contracts.topology import MIGRATION_QUEUE

MOVE_WINDOW = 256  # commands moved but not yet confirmed, at most
MOVE_STALL = 30.0  # seconds without a delivery from MIGRATION_QUEUE before giving up
# Broker bookkeeping a quorum queue adds to a redelivered message; not the sender's.
BROKER_HEADERS = (DELIVERY_COUNT_HEADER,)


class MoveFailed(Exception):
    """A command could not be moved out of MIGRATION_QUEUE (it stays there)."""


async def move_batch(connection: AbstractConnection, exchange: str, progress: Callable[[str], None]) -> int:
    """Moves what MIGRATION_QUEUE holds now to `exchange`, in order; returns how many
    (0: it was empty)."""
    source = await connection.channel()
    target = await connection.channel(publisher_confirms=True)
    try:
        await source.set_qos(prefetch_count=MOVE_WINDOW)
        queue = await source.declare_queue(MIGRATION_QUEUE, passive=True)
        total = queue.declaration_result.message_count
        if not total:
            return 0
        progress(f"moving {total} commands from {MIGRATION_QUEUE}")
        arrived: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()

        async def on_message(message: AbstractIncomingMessage) -> None:
            arrived.put_nowait(message)

        await queue.consume(on_message)
        raw = await target.get_underlay_channel()
        pending: deque[tuple[AbstractIncomingMessage, asyncio.Task]] = deque()
        for _ in range(total):
            try:
                message = await asyncio.wait_for(arrived.get(), MOVE_STALL)
            except TimeoutError as error:
                raise MoveFailed(f"{MIGRATION_QUEUE} delivered nothing for {MOVE_STALL:g} s") from error
            tag = raw.delivery_tag + 1
            publish = asyncio.create_task(
                raw.basic_publish(
                    message.body, exchange=exchange, routing_key=message.routing_key or "",
                    properties=moved_properties(message), mandatory=True,
                )
            )
            # The next publish starts only once this one holds its sequence number:
            # frames go out in delivery order, and so the partitions get them in it.
            while raw.delivery_tag < tag and not publish.done():  # noqa: ASYNC110 (aiormq has no event for it)
                await asyncio.sleep(0)
            pending.append((message, publish))
            while pending and (len(pending) >= MOVE_WINDOW or pending[0][1].done()):
                await _settle(*pending.popleft())
        while pending:
            await _settle(*pending.popleft())
        return total
    finally:
        # Whatever was not acknowledged goes back to MIGRATION_QUEUE, in order.
        for channel in (source, target):
            if not channel.is_closed:
                await channel.close()


def moved_properties(message: AbstractIncomingMessage) -> spec.Basic.Properties:
    """The sender's properties and headers as they came, without the broker's bookkeeping."""
    properties = message.properties
    if properties.headers:
        properties.headers = {name: value for name, value in properties.headers.items() if name not in BROKER_HEADERS}
    return properties


async def _settle(message: AbstractIncomingMessage, publish: asyncio.Task) -> None:
    """Acknowledge a waiting command only once its copy is confirmed."""
    try:
        confirmation = await publish
    except ChannelClosed as error:
        raise MoveFailed(f"moving a command failed: {error}") from error
    if not isinstance(confirmation, spec.Basic.Ack):
        raise MoveFailed(
            f"the broker did not confirm a moved command ({type(confirmation).__name__}); it stays in "
            f"{MIGRATION_QUEUE} and the next run moves it"
        )
    await message.ack()
