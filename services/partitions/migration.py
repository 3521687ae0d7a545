"""`booking partitions migrate`: change the command exchange's type (the old
x-consistent-hash to x-modulus-hash) and/or the partition count without breaking a
host's order and without losing a command (contract section 2, docs/partitioning.md).

Changing either moves hosts to other partitions, so the commands already queued must
be handled before any newer command of theirs can reach another partition:

1. look at the exchange; bound to exactly booking.commands.0..N-1 as x-modulus-hash:
   nothing to do;
2. declare MIGRATION_QUEUE and re-declare booking.commands bound to it alone: new
   commands wait there, in arrival order;
3. wait until every queue that routed commands, and every booking.commands.0..N-1,
   holds nothing (ready or unacknowledged) while the running workers drain them;
4. declare booking.commands.0..N-1, delete the former partitions with index >= N;
5. delete booking.commands, bind 0..N-1 to a temporary x-modulus-hash exchange and
   move the waiting commands through it in order (each acknowledged only once its
   copy is confirmed);
6. declare booking.commands bound to 0..N-1, delete the temporary exchange and
   MIGRATION_QUEUE, verify.

Between deleting booking.commands and declaring it again (steps 2 and 5-6) a publish
fails with NOT_FOUND (the channel is closed with 404): a publisher with confirms knows
and sends again. Right after a declare the exchange has no binding or, in step 6, a
partial set for about one round trip; see docs/partitioning.md for what that means.

Every step is idempotent and the tool works out where an earlier run stopped from
what the broker shows, so re-running resumes (after a --timeout, a crash, a lost
connection). A command moved in step 5 whose acknowledgement was lost is moved once
more by the next run; the worker's inbox answers the duplicate.

The steps are here; what they read of the broker is in services.partitions.broker_state,
the ordered move of step 5 in services.partitions.moving."""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection
from aio_pika.exceptions import ChannelNotFoundEntity

from contracts.topology import (
    COMMAND_EXCHANGE,
    COMMAND_EXCHANGE_TYPE,
    MIGRATION_QUEUE,
    PARTITION_BINDING_KEY,
    partition_queue,
)
from services.partitions.broker_state import STATS_LAG, ManagementView, Observed, partition_index
from services.partitions.moving import move_batch
from services.worker.topology import partition

# Where commands go while they are moved out of MIGRATION_QUEUE (step 5): bound to the
# new partitions exactly as booking.commands will be, so it routes every key alike.
TEMPORARY_EXCHANGE = f"{COMMAND_EXCHANGE}.migration"
POLL_INTERVAL = 0.5
BIND_CHANNELS = 32  # step 6 binds the partitions over this many channels at once


class MigrationRefused(Exception):
    """The tool will not go on: going on could break a host's order or lose commands."""


class MigrationPaused(Exception):
    """The queues did not drain in time; nothing is lost and re-running resumes."""


@dataclass
class MigrationReport:
    partitions: int
    nothing_to_do: bool = False
    resumed_from: str | None = None  # what an earlier run had left, when resuming
    former: list[str] = field(default_factory=list)  # queues bound before
    drained: int = 0  # commands the workers handled from the old partitions while waiting
    moved: int = 0  # commands moved from MIGRATION_QUEUE to the new partitions
    declared: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unpublishable: float = 0.0  # seconds booking.commands did not exist (publishes got NOT_FOUND)
    partially_bound: float = 0.0  # seconds booking.commands existed with fewer bindings than it ends with
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)  # seconds per step


class Migration:
    def __init__(
        self,
        amqp_url: str,
        management_url: str,
        partitions: int,
        timeout: float,
        progress: Callable[[str], None] = lambda line: None,
        stats_lag: float = STATS_LAG,
    ) -> None:
        self.amqp_url = amqp_url
        self.partitions = partitions
        self.timeout = timeout
        self.progress = progress
        self.stats_lag = stats_lag
        self.view = ManagementView(management_url, amqp_url)
        self.wanted = {partition_queue(index) for index in range(partitions)}
        self.report = MigrationReport(partitions)
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._unpublishable_since: float | None = None  # when step 5 deleted booking.commands

    async def run(self) -> MigrationReport:
        started = time.monotonic()
        self._connection = await aio_pika.connect(self.amqp_url)
        try:
            await self._run()
        finally:
            self.report.seconds = time.monotonic() - started
            await self._connection.close()
            await self.view.close()
        return self.report

    async def _run(self) -> None:
        seen = await self._observe()
        bound = set(seen.bound)
        if seen.exchange_type == COMMAND_EXCHANGE_TYPE and bound == self.wanted:
            if seen.migration_queue or seen.temporary_exchange:
                self.report.resumed_from = "step 6 (clean-up)"
                await self._clean_up()
            else:
                self.report.nothing_to_do = True
            return
        if seen.exchange_type is None and not seen.migration_queue:
            raise MigrationRefused(
                f"{COMMAND_EXCHANGE} does not exist on vhost {self.view.vhost!r}: nothing to migrate "
                "(a worker declares the topology on a new vhost)"
            )
        if seen.exchange_type == COMMAND_EXCHANGE_TYPE and seen.migration_queue and seen.temporary_exchange \
                and bound <= self.wanted:
            # Stopped in step 6: the commands have all been moved.
            self.report.resumed_from = "step 6"
            await self._bind_command_exchange(bound)
            await self._clean_up()
            return
        if seen.exchange_type == COMMAND_EXCHANGE_TYPE and bound == {MIGRATION_QUEUE}:
            self.report.resumed_from = "step 3 (commands wait in the migration queue)"
        elif seen.exchange_type is None:
            # Stopped between deleting booking.commands and declaring it (step 2, 5 or 6):
            # route to the migration queue again; whatever was moved already is in the
            # partitions and drains first.
            self.report.resumed_from = f"step 2 or 5 ({COMMAND_EXCHANGE} missing)"
            await self._hold_new_commands(delete=False)
        else:
            foreign = sorted(name for name in bound if partition_index(name) is None)
            if foreign:
                raise MigrationRefused(
                    f"{', '.join(foreign)} {'is' if len(foreign) == 1 else 'are'} bound to {COMMAND_EXCHANGE}; "
                    f"an {COMMAND_EXCHANGE_TYPE} exchange would route a share of all commands there. "
                    "Unbind (nothing but the partitions may be bound), then run this again"
                )
            self.report.former = sorted(bound, key=partition_index)
            await self._step("2 hold new commands", self._hold_new_commands(delete=True))
        sealed_at = time.monotonic()
        seen = await self._observe()
        await self._step("3 drain", self._drain(seen.partition_queues | set(self.report.former), sealed_at))
        await self._step("4 partitions", self._prepare_partitions(seen.partition_queues))
        await self._step("5 move", self._move_waiting_commands())
        await self._step("6 route", self._route_to_partitions())

    async def _step(self, name: str, work) -> None:
        started = time.monotonic()
        self.progress(f"step {name}")
        await work
        self.report.steps[name] = round(time.monotonic() - started, 3)

    # ---------------------------------------------------------------- steps

    async def _hold_new_commands(self, delete: bool) -> None:
        """Step 2: from here on, new commands wait in MIGRATION_QUEUE in arrival order."""
        channel = await self._ensure_channel()
        holding = await channel.declare_queue(MIGRATION_QUEUE, durable=True, arguments=partition(0).arguments)
        gone = time.monotonic()
        if delete:
            await channel.exchange_delete(COMMAND_EXCHANGE)
        commands = await self._declare_exchange(channel, COMMAND_EXCHANGE)
        declared = time.monotonic()
        await holding.bind(commands, routing_key=PARTITION_BINDING_KEY)
        self.report.unpublishable += declared - gone
        self.report.partially_bound += time.monotonic() - declared

    async def _drain(self, queues: set[str], sealed_at: float) -> None:
        """Step 3: wait until nothing is ready or being handled in `queues`."""
        queues |= self.wanted
        deadline = time.monotonic() + self.timeout
        unconsumed_since: dict[str, float] = {}
        largest, last_line = 0, ""
        while True:
            counts = await self.view.queue_counts()
            present = sorted((name for name in queues if name in counts), key=lambda n: partition_index(n) or -1)
            left: dict[str, int] = {}
            for name in present:
                ready, consumers = await self._passive(name)
                depth = max(ready, counts[name])
                if depth:
                    left[name] = depth
                if depth and not consumers:
                    unconsumed_since.setdefault(name, time.monotonic())
                else:
                    unconsumed_since.pop(name, None)
            total = sum(left.values())
            largest = max(largest, total)
            now = time.monotonic()
            if not left and now >= sealed_at + self.stats_lag:
                self.report.drained = largest
                return
            line = (
                f"draining: {total} commands left in {len(left)} queues"
                + (f" ({', '.join(f'{n}: {d}' for n, d in list(left.items())[:6])})" if left else
                   " (waiting for the broker's statistics to confirm that nothing is being handled)")
            )
            if line != last_line:
                self.progress(line)
                last_line = line
            if now >= deadline:
                raise MigrationPaused(self._paused_message(left, unconsumed_since, now))
            await asyncio.sleep(POLL_INTERVAL)

    def _paused_message(self, left: dict[str, int], unconsumed_since: dict[str, float], now: float) -> str:
        message = (
            f"migration paused after {self.timeout:g} s: {sum(left.values())} commands still in "
            f"{', '.join(f'{n} ({d})' for n, d in left.items()) or 'the queues (statistics not yet settled)'}. "
            f"New commands wait in {MIGRATION_QUEUE}; nothing is lost. Run the same command again to resume."
        )
        idle = {name: now - since for name, since in unconsumed_since.items() if now - since >= self.timeout * 0.9}
        if idle:
            message += (
                f" Cannot keep per-host order without draining them, and nobody consumes "
                f"{', '.join(f'{n} (for {s:.0f} s)' for n, s in idle.items())}: start workers that consume them "
                f"(BOOKING_PARTITIONS at least {max(partition_index(n) or 0 for n in idle) + 1}; a worker starts "
                f"while {COMMAND_EXCHANGE} is bound to {MIGRATION_QUEUE} alone and binds nothing)."
            )
        return message

    async def _prepare_partitions(self, existing: set[str]) -> None:
        """Step 4: the new partitions exist; the former ones beyond N are gone (empty)."""
        channel = await self._ensure_channel()
        for index in range(self.partitions):
            queue = partition(index)
            await channel.declare_queue(queue.name, durable=True, arguments=queue.arguments)
            if queue.name not in existing:
                self.report.declared.append(queue.name)
        surplus = sorted((name for name in existing if partition_index(name) >= self.partitions), key=partition_index)
        for name in surplus:
            await self._delete_empty(
                name, "its commands would be lost. Find out who publishes to it directly, then run this again"
            )
            self.report.deleted.append(name)

    async def _move_waiting_commands(self) -> None:
        """Step 5: publishers get NOT_FOUND while the waiting commands go, in order,
        to the partitions booking.commands will route them to."""
        channel = await self._ensure_channel()
        gone = time.monotonic()
        await channel.exchange_delete(COMMAND_EXCHANGE)
        self._unpublishable_since = gone
        temporary = await self._declare_exchange(channel, TEMPORARY_EXCHANGE)
        for index in range(self.partitions):
            queue = await channel.declare_queue(partition_queue(index), passive=True)
            await queue.bind(temporary, routing_key=PARTITION_BINDING_KEY)
        while True:
            moved = await move_batch(self._connection, TEMPORARY_EXCHANGE, self.progress)
            self.report.moved += moved
            if not moved:
                return

    async def _route_to_partitions(self) -> None:
        """Step 6: booking.commands routes to exactly 0..N-1 again."""
        await self._bind_command_exchange(set())
        await self._clean_up()

    # ---------------------------------------------------------------- helpers

    async def _bind_command_exchange(self, bound: set[str]) -> None:
        channel = await self._ensure_channel()
        missing = sorted(self.wanted - bound, key=partition_index)
        # All bindings at once, over several channels opened beforehand: the exchange
        # routes by a partial set of partitions for about one round trip.
        channels = [await self._connection.channel() for _ in range(min(BIND_CHANNELS, len(missing)))]
        try:
            await self._declare_exchange(channel, COMMAND_EXCHANGE)
            declared = time.monotonic()
            if self._unpublishable_since is not None:
                self.report.unpublishable += declared - self._unpublishable_since
                self._unpublishable_since = None
            await asyncio.gather(*(
                self._bind(channels[position % len(channels)], name, COMMAND_EXCHANGE)
                for position, name in enumerate(missing)
            ))
            self.report.partially_bound += time.monotonic() - declared
        finally:
            for extra in channels:
                await extra.close()

    @staticmethod
    async def _bind(channel: AbstractChannel, queue: str, exchange: str) -> None:
        raw = await channel.get_underlay_channel()
        await raw.queue_bind(queue, exchange, routing_key=PARTITION_BINDING_KEY)

    async def _clean_up(self) -> None:
        channel = await self._ensure_channel()
        await channel.exchange_delete(TEMPORARY_EXCHANGE)
        await self._delete_empty(
            MIGRATION_QUEUE,
            f"{COMMAND_EXCHANGE} routes to the partitions again; the commands are kept. Nothing but this tool "
            "should publish to it: find out who did",
        )
        exchange_type, bound = await self.view.exchange_routing(COMMAND_EXCHANGE)
        if exchange_type != COMMAND_EXCHANGE_TYPE or bound != self.wanted:
            raise MigrationRefused(
                f"after the migration {COMMAND_EXCHANGE} is {exchange_type} bound to {sorted(bound)}: "
                f"expected {COMMAND_EXCHANGE_TYPE} bound to {partition_queue(0)}..{self.partitions - 1}. "
                "Something else changed the topology meanwhile; run this again"
            )

    async def _delete_empty(self, name: str, otherwise: str) -> None:
        """Quorum queues have no if-empty delete: nothing routes to `name` any more, so
        it stays empty once it is; a consumer (a worker) holding nothing loses nothing."""
        ready, _ = await self._passive(name)
        if ready:
            raise MigrationRefused(f"{name} still holds {ready} commands: {otherwise}")
        channel = await self._ensure_channel()
        await channel.queue_delete(name)

    async def _observe(self) -> Observed:
        exchange_type, bound = await self.view.exchange_routing(COMMAND_EXCHANGE)
        temporary, _ = await self.view.exchange_routing(TEMPORARY_EXCHANGE)
        queues = await self.view.queue_counts()
        return Observed(exchange_type, frozenset(bound), frozenset(queues), temporary is not None)

    async def _passive(self, name: str) -> tuple[int, int]:
        """Ready messages and consumers right now (the AMQP answer does not lag)."""
        channel = await self._ensure_channel()
        try:
            result = (await channel.declare_queue(name, passive=True)).declaration_result
        except ChannelNotFoundEntity:
            self._channel = None
            return 0, 0
        return result.message_count, result.consumer_count

    async def _ensure_channel(self) -> AbstractChannel:
        if self._channel is None or self._channel.is_closed:
            self._channel = await self._connection.channel()
        return self._channel

    @staticmethod
    async def _declare_exchange(channel: AbstractChannel, name: str) -> aio_pika.abc.AbstractExchange:
        return await channel.declare_exchange(name, type=COMMAND_EXCHANGE_TYPE, durable=True)
