"""A message published again (dead-lettered, or replayed from the dead-letter queue)
as its sender published it: same body and properties, persistent, with the headers
the caller decides."""

import aio_pika


def persistent_copy(source, headers: dict) -> aio_pika.Message:
    """`source`: anything with a message's body, content_type, correlation_id, reply_to
    and message_id (an incoming delivery, a dead letter read back)."""
    return aio_pika.Message(
        source.body,
        headers=headers,
        content_type=source.content_type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        correlation_id=source.correlation_id,
        reply_to=source.reply_to,
        message_id=source.message_id,
    )
