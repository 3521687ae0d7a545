"""Spreads the partitions over the live worker processes and keeps one owner per
partition at every moment.

RabbitMQ 3.10 makes the first registered consumer of a single-active-consumer queue
the active one and knows no priorities, so: each process registers first on its own
share (p mod W = its rank among the live members), then, after a short delay, as
standby on every other partition. A standby takes over at once when the owner's
connection dies. When a process finds itself active on a partition whose home
member is alive and registered, it goes to the back of the line (closing its
channel returns what it had not handled), and the home process becomes active.
The same loop re-registers consumers the broker no longer knows (after a broker
restart a robust connection can come back without them)."""

import asyncio
import logging
import time

import asyncpg

from services.worker.broker_view import BrokerView, ConsumerState
from services.worker.membership import Membership, heartbeat, leave
from services.worker.partitions import PartitionConsumer, partition_tag_prefix

log = logging.getLogger("booking.balancer")

# The management API shows consumers with a delay (its statistics are collected
# every few seconds), so a consumer younger than this is not judged missing.
MANAGEMENT_LAG = 15.0


class Balancer:
    def __init__(
        self,
        member_id: str,
        consumers: list[PartitionConsumer],
        pool: asyncpg.Pool,
        broker_view: BrokerView,
        *,
        interval: float,
        member_ttl: float,
        standby_delay: float,
    ) -> None:
        self.me = member_id
        self.consumers = consumers
        self.pool = pool
        self.broker_view = broker_view
        self.interval = interval
        self.member_ttl = member_ttl
        self.standby_delay = standby_delay
        self.membership = Membership(member_id, (member_id,))
        self.owned: frozenset[int] = frozenset()

    async def start(self) -> None:
        """Register on the home share at once, on the rest after `standby_delay`."""
        self.membership = await heartbeat(self.pool, self.me, self.member_ttl)
        home = self.membership.home_partitions(len(self.consumers))
        for consumer in self.consumers:
            if consumer.index in home:
                await consumer.subscribe()
        log.info("registered on home partitions", extra={"partitions": sorted(home), "member": self.me})

    async def run_forever(self) -> None:
        """After `standby_delay`, the first round registers on every partition not
        yet subscribed; later rounds keep it so."""
        await asyncio.sleep(self.standby_delay)
        while True:
            try:
                await self.rebalance()
            except Exception as error:  # the broker or database is away; try again
                log.warning("rebalance failed", extra={"error": repr(error)})
            await asyncio.sleep(self.interval)

    async def rebalance(self) -> None:
        for consumer in self.consumers:
            if not consumer.subscribed:
                # standby registration at start, or one that failed part-way (the
                # connection was still coming back)
                log.info("registering on partition", extra={"partition": consumer.index})
                await consumer.resubscribe()
        self.membership = await heartbeat(self.pool, self.me, self.member_ttl)
        state = await self.broker_view.consumers()
        home = self.membership.home_partitions(len(self.consumers))
        self.owned = frozenset(c.index for c in self.consumers if c.consumer_tag in state.active)
        settled = time.monotonic() - MANAGEMENT_LAG
        for consumer in self.consumers:
            if consumer.subscribed_at < settled and consumer.consumer_tag not in state.registered:
                log.warning("consumer lost by the broker; registering again", extra={"partition": consumer.index})
                await consumer.resubscribe()
            elif self._should_hand_back(consumer, home, state):
                log.info("handing partition back to its home member", extra={"partition": consumer.index})
                await consumer.resubscribe()

    def _should_hand_back(self, consumer: PartitionConsumer, home: frozenset[int], state: ConsumerState) -> bool:
        """Only when the home member is registered on the queue and so takes over."""
        if consumer.index in home or consumer.consumer_tag not in state.active:
            return False
        home_member = self.membership.owner_of(consumer.index)
        return state.has_consumer(partition_tag_prefix(home_member, consumer.index))

    async def stop(self) -> None:
        await leave(self.pool, self.me)
