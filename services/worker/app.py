"""Composition root of the worker: `booking-worker` (or `python -m services.worker`)."""

import asyncio
import logging

import aio_pika
from faststream import FastStream
from faststream.rabbit import RabbitBroker
from sqlalchemy.ext.asyncio import create_async_engine

from services.booking.db.bootstrap import prepare_database
from services.logs import configure_logging
from services.settings import Settings, get_settings
from services.worker.outbox_relay import OutboxRelay
from services.worker.partitions import PartitionConsumer, start_partitions
from services.worker.pipeline import Pipeline
from services.worker.publishing import Publisher
from services.worker.topology import declare_topology

log = logging.getLogger("booking.worker")


class Worker:
    """Owns the worker's connections and tasks between start and stop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.broker = RabbitBroker(settings.amqp_url, logger=None)
        self.engine = create_async_engine(
            settings.sqlalchemy_url, pool_size=settings.db_pool_size, pool_pre_ping=True
        )
        self.connection: aio_pika.abc.AbstractRobustConnection | None = None
        self.consumers: list[PartitionConsumer] = []
        self._relay: asyncio.Task | None = None

    async def prepare(self) -> None:
        await prepare_database(self.settings)

    async def start(self) -> None:
        """Runs once FastStream has connected the broker."""
        await declare_topology(self.broker, self.settings.partitions)
        self.connection = await aio_pika.connect_robust(self.settings.amqp_url)
        publisher = Publisher(await self.connection.channel(publisher_confirms=True))
        await publisher.open()
        consuming = await self.connection.channel(publisher_confirms=False)
        await consuming.set_qos(prefetch_count=self.settings.prefetch)
        pipeline = Pipeline(self.engine, publisher, self.settings)
        self.consumers = await start_partitions(consuming, self.settings.partitions, pipeline)
        relay = OutboxRelay(
            self.engine, publisher, self.settings.outbox_relay_interval, self.settings.outbox_grace
        )
        self._relay = asyncio.create_task(relay.run_forever(), name="outbox-relay")
        log.info("worker started", extra={"partitions": self.settings.partitions})

    async def stop(self) -> None:
        await asyncio.gather(*(consumer.stop() for consumer in self.consumers))
        if self._relay is not None:
            self._relay.cancel()
        if self.connection is not None:
            await self.connection.close()
        await self.engine.dispose()
        log.info("worker stopped")


def create_app(settings: Settings | None = None) -> FastStream:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    worker = Worker(settings)
    return FastStream(
        worker.broker,
        on_startup=[worker.prepare],
        after_startup=[worker.start],
        on_shutdown=[worker.stop],
    )


def main() -> None:
    asyncio.run(create_app().run())


if __name__ == "__main__":
    main()
