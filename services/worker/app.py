"""Composition root of the worker: `booking-worker` (or `python -m services.worker`)."""

import asyncio
import logging
import os
import secrets
import socket
import sys

import aio_pika
import asyncpg
import uvloop
from faststream import FastStream
from faststream.rabbit import RabbitBroker

from contracts.topology import COMMAND_EXCHANGE, DEAD_LETTER_QUEUE
from services.booking.db import SERVER_SETTINGS
from services.booking.db.bootstrap import prepare_database
from services.booking.db.outbox import backlog
from services.logs import configure_logging
from services.settings import Settings, get_settings
from services.worker.balancer import Balancer
from services.worker.broker_view import BrokerView
from services.worker.lanes import Lane
from services.worker.metrics import DLQ_DEPTH, OUTBOX_BACKLOG, PARTITIONS_OWNED
from services.worker.ops_server import OpsServer
from services.worker.outbox_cleaner import OutboxCleaner
from services.worker.outbox_relay import OutboxRelay
from services.worker.partitions import PartitionConsumer
from services.worker.pipeline import Pipeline
from services.worker.publishing import Publisher
from services.worker.supervision import start_supervised
from services.worker.topology import TopologyMismatch, declare_topology, routing_state

log = logging.getLogger("booking.worker")
# Exit status of a worker that will not consume on the topology it found: starting
# it again changes nothing until an operator acts (the log line says what to do).
EXIT_REFUSED = 2


class Worker:
    """Owns the worker's connections and tasks between start and stop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.member_id = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"
        self.broker = RabbitBroker(settings.amqp_url, logger=None)
        self.pool: asyncpg.Pool | None = None
        self.broker_view = BrokerView(settings.rabbitmq_management_url, settings.amqp_url)
        self.connection: aio_pika.abc.AbstractRobustConnection | None = None
        self.pipeline: Pipeline | None = None
        self.consumers: list[PartitionConsumer] = []
        self.balancer: Balancer | None = None
        self.ops = OpsServer(settings.metrics_port, self.health) if settings.metrics_port else None
        self._tasks: list[asyncio.Task] = []

    async def prepare(self) -> None:
        await prepare_database(self.settings)
        self.pool = await asyncpg.create_pool(
            self.settings.database_url, min_size=2, max_size=self.settings.db_pool_size,
            server_settings=SERVER_SETTINGS,
        )

    async def start(self) -> None:
        """Runs once FastStream has connected the broker."""
        # Refuses (TopologyMismatch) to consume where hosts would change partitions.
        exchange_type, bound = await self.broker_view.exchange_routing(COMMAND_EXCHANGE)
        routing = routing_state(exchange_type, bound, self.settings.partitions)
        await declare_topology(self.broker, self.settings.partitions, routing)
        self.connection = await aio_pika.connect_robust(self.settings.amqp_url)
        publisher = Publisher(await self.connection.channel(publisher_confirms=True))
        await publisher.open()
        cleaner = OutboxCleaner(self.pool)
        self.pipeline = Pipeline(self.pool, publisher, cleaner, self.settings)
        # the one place deliveries are grouped into transactions (services.worker.lanes)
        lanes = [Lane(self.pipeline, self.settings.max_group) for _ in range(self.settings.lanes)]
        self.consumers = [
            PartitionConsumer(index, self.connection, lanes[index % len(lanes)], self.settings.prefetch, self.member_id)
            for index in range(self.settings.partitions)
        ]
        self.balancer = Balancer(
            self.member_id,
            self.consumers,
            self.pool,
            self.broker_view,
            interval=self.settings.balance_interval,
            member_ttl=self.settings.member_ttl,
            standby_delay=self.settings.standby_delay,
        )
        await self.balancer.start()
        relay = OutboxRelay(self.pool, publisher, self.settings.outbox_relay_interval, self.settings.outbox_grace)
        self._tasks = [
            start_supervised("balancer", self.balancer.run_forever),
            start_supervised("outbox-relay", relay.run_forever),
            start_supervised("outbox-cleaner", cleaner.run_forever),
            start_supervised("gauges", self._observe),
        ]
        if self.ops is not None:
            await self.ops.start()
        log.info("worker started", extra={"member": self.member_id, "partitions": self.settings.partitions})

    async def _observe(self) -> None:
        """Keep the gauges that need a query fresh."""
        while True:
            try:
                PARTITIONS_OWNED.set(len(self.balancer.owned))
                OUTBOX_BACKLOG.set(await backlog(self.pool))
                DLQ_DEPTH.set(await self.broker_view.queue_depth(DEAD_LETTER_QUEUE))
            except Exception as error:
                log.debug("gauges not refreshed", extra={"error": repr(error)})
            await asyncio.sleep(self.settings.balance_interval)

    async def health(self) -> dict:
        database = self.pipeline is not None and await self.pipeline.service.database_answers()
        owned = sorted(self.balancer.owned) if self.balancer else []
        undrained = [index for index in owned if not self.consumers[index].draining]
        broker = self.connection is not None and not self.connection.is_closed
        return {
            "healthy": bool(broker and database and not undrained),
            "member": self.member_id,
            "broker": broker,
            "database": database,
            "partitionsOwned": owned,
            # owned partitions whose deliveries nothing is handling: unhealthy until
            # the balancer has registered them again
            "partitionsWithoutDrain": undrained,
        }

    async def stop(self) -> None:
        """Graceful: stop taking deliveries, finish the ones being handled, close."""
        balancing, *others = self._tasks or [None]
        if balancing is not None:
            balancing.cancel()  # no re-registering while letting go
        if self.balancer is not None:
            await asyncio.gather(self.balancer.stop(), return_exceptions=True)
        await asyncio.gather(*(consumer.release() for consumer in self.consumers))
        for task in others:  # the outbox cleaner flushes what the last groups confirmed
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        if self.ops is not None:
            await self.ops.stop()
        if self.connection is not None:
            await self.connection.close()
        await self.broker_view.close()
        if self.pool is not None:
            await self.pool.close()
        log.info("worker stopped", extra={"member": self.member_id})


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
    try:
        uvloop.run(create_app().run())
    except TopologyMismatch as refusal:
        log.error("worker refused to start", extra={"reason": str(refusal)})
        sys.exit(EXIT_REFUSED)


if __name__ == "__main__":
    main()
