"""Helpers of the partition-migration tests: the old topology built by hand, a
publisher that keeps going while booking.commands is briefly missing, the
`booking partitions migrate` process, and what the broker says about routing."""

import asyncio
import json
import subprocess
import sys
import time
import uuid
from contextlib import suppress
from pathlib import Path
from urllib.parse import quote

import aio_pika

from contracts.topology import COMMAND_EXCHANGE, partition_key, partition_queue
from services.worker.topology import partition
from tests.support.commands import at, availability, booking, register
from tests.support.processes import ROOT

OLD_EXCHANGE_TYPE = "x-consistent-hash"


async def build_old_topology(amqp_url: str, partitions: int) -> None:
    """booking.commands as the previous contract had it: x-consistent-hash, every
    partition (the same quorum queues as now) bound with weight "1"."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        await channel.exchange_delete(COMMAND_EXCHANGE)
        exchange = await channel.declare_exchange(COMMAND_EXCHANGE, type=OLD_EXCHANGE_TYPE, durable=True)
        for index in range(partitions):
            queue = partition(index)
            declared = await channel.declare_queue(queue.name, durable=True, arguments=queue.arguments)
            await declared.bind(exchange, routing_key="1")
    finally:
        await connection.close()


def routing(sandbox, exchange: str = COMMAND_EXCHANGE) -> tuple[str | None, set[str]]:
    """The exchange's type (None when missing) and the queues bound to it."""
    vhost = quote(sandbox.vhost, safe="")
    with sandbox.management() as api:
        found = api.get(f"/api/exchanges/{vhost}/{quote(exchange, safe='')}")
        if found.status_code == 404:
            return None, set()
        bindings = api.get(f"/api/exchanges/{vhost}/{quote(exchange, safe='')}/bindings/source").json()
    return found.json()["type"], {b["destination"] for b in bindings if b["destination_type"] == "queue"}


def queue_names(sandbox) -> set[str]:
    with sandbox.management() as api:
        return {q["name"] for q in api.get(f"/api/queues/{quote(sandbox.vhost, safe='')}").json()}


def wait_for_routing(sandbox, bound: set[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if routing(sandbox)[1] == bound:
            return
        time.sleep(0.1)
    raise AssertionError(f"{COMMAND_EXCHANGE} not bound to {bound} in {timeout}s: {routing(sandbox)}")


def start_migration(sandbox, partitions: int, log_path: Path, timeout: float = 90, **env: str) -> subprocess.Popen:
    """`booking partitions migrate` as an operator runs it, in the background."""
    command = [sys.executable, "-m", "services.cli", "partitions", "migrate", "--partitions", str(partitions),
               "--amqp-url", sandbox.amqp_url, "--management-url", sandbox.urls.management, "--timeout", str(timeout)]
    log = log_path.open("wb")
    return subprocess.Popen(command, cwd=ROOT, env=sandbox.env(PYTHONPATH=str(ROOT), **env), stdout=log,
                            stderr=subprocess.STDOUT)


class LedgerClient:
    """Publishes each host's commands in order (confirms, persistent, mandatory,
    routing key = partition key) and collects replies by commandId. A publish that
    fails because booking.commands is missing for a moment (NOT_FOUND closes the
    channel) or has no binding yet (returned) is sent again on a new channel: the
    publisher knows, nothing is silently dropped."""

    def __init__(self, amqp_url: str, reply_queue: str | None = None) -> None:
        """`reply_queue`: a durable queue of that name, which outlives a broker restart
        (by default an exclusive one, gone with the connection)."""
        self.amqp_url = amqp_url
        self.reply_queue_name = reply_queue
        self.sent: dict[str, dict] = {}
        self.replies: dict[str, dict] = {}
        self.retries = 0
        self._lock = asyncio.Lock()
        self._arrived = asyncio.Event()

    async def __aenter__(self) -> "LedgerClient":
        self.connection = await aio_pika.connect(self.amqp_url)
        replies = await self.connection.channel()
        if self.reply_queue_name:
            self.reply_queue = await replies.declare_queue(self.reply_queue_name, durable=True)
        else:
            self.reply_queue = await replies.declare_queue(f"ledger.replies.{uuid.uuid4().hex[:10]}", exclusive=True)
        await self.reply_queue.consume(self._on_reply, no_ack=True)
        self._publishing: aio_pika.abc.AbstractConnection | None = None
        self._channel = None
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._publishing is not None:
            await self._publishing.close()
        await self.connection.close()

    async def _on_reply(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        self.replies[message.correlation_id or ""] = json.loads(message.body)
        self._arrived.set()

    async def publish(self, command: dict) -> None:
        self.sent[command["commandId"]] = command
        message = aio_pika.Message(
            json.dumps(command).encode(), content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT, reply_to=self.reply_queue.name,
            correlation_id=command["commandId"],
        )
        deadline = time.monotonic() + 30
        while True:
            channel = None
            try:
                channel = await self._publishing_channel()
                exchange = await channel.get_exchange(COMMAND_EXCHANGE, ensure=False)
                await exchange.publish(message, routing_key=partition_key(command), mandatory=True)
                return
            except Exception:  # aiormq raises a bare Exception for a publish its closed connection dropped
                if time.monotonic() > deadline:
                    raise
                self.retries += 1
                await self._forget(channel)
                await asyncio.sleep(0.05)

    async def _publishing_channel(self) -> aio_pika.abc.AbstractChannel:
        async with self._lock:
            if self._channel is None or self._channel.is_closed:
                if self._publishing is None:
                    self._publishing = await aio_pika.connect(self.amqp_url)
                self._channel = await self._publishing.channel(publisher_confirms=True, on_return_raises=True)
            return self._channel

    async def _forget(self, failed: aio_pika.abc.AbstractChannel | None) -> None:
        """A new connection after a failure: concurrent publishes on a channel the broker
        closes (NOT_FOUND) can make aiormq send a frame on it after close-ok, and the
        broker then closes the whole connection (504 CHANNEL_ERROR)."""
        async with self._lock:
            if failed is not None and failed is not self._channel:
                return  # another publish replaced it already
            connection, self._publishing, self._channel = self._publishing, None, None
        if connection is not None:
            with suppress(Exception):
                await asyncio.wait_for(connection.close(), 2)

    async def request(self, command: dict, timeout: float = 30) -> dict:
        await self.publish(command)
        await self.wait_for([command["commandId"]], timeout)
        return self.replies[command["commandId"]]

    async def wait_for(self, command_ids: list[str], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while missing := [c for c in command_ids if c not in self.replies]:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(missing)} of {len(command_ids)} commands unanswered, e.g. {missing[:3]}")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), 1)
            except TimeoutError:
                pass

    async def seed(self, hosts: int) -> tuple[list[str], str]:
        """Hosts and one user, registered through the worker."""
        replies = await asyncio.gather(*(self.request(register("HOST")) for _ in range(hosts)))
        user = (await self.request(register()))["user"]["userId"]
        return [reply["user"]["userId"] for reply in replies], user

    async def window_and_booking(self, host: str, user: str, day: int) -> None:
        """A window, then a booking of its first slot, without waiting in between:
        the booking is confirmed only if the worker handles them in this order."""
        await self.publish(availability(host, at(9, day=day), at(10, day=day)))
        await self.publish(booking(host, user, at(9, day=day), at(9, 30, day=day)))

    def unanswered(self) -> list[str]:
        return [command_id for command_id in self.sent if command_id not in self.replies]

    def bookings_not_confirmed(self) -> list[tuple[dict, dict | None]]:
        return [
            (command, self.replies.get(command_id))
            for command_id, command in self.sent.items()
            if command["type"] == "CreateBooking" and (self.replies.get(command_id) or {}).get("type") != "BookingConfirmed"
        ]


async def stream_windows(client: LedgerClient, hosts: list[str], user: str, first_day: int,
                         until: asyncio.Event, pause: float = 0.2, max_days: int = 200) -> int:
    """Every host gets a window and its booking per round, round after round, until
    `until` is set; returns the next free day."""
    day = first_day
    while not until.is_set() and day < first_day + max_days:
        await asyncio.gather(*(client.window_and_booking(host, user, day) for host in hosts))
        day += 1
        await asyncio.sleep(pause)
    return day


def partition_names(count: int) -> set[str]:
    return {partition_queue(index) for index in range(count)}
