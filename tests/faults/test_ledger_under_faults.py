"""Contract sections 4 and 5 under injected faults, on the real RabbitMQ and PostgreSQL.

Every test gets its own vhost and database and its own worker child process, streams
about 2,000 commands through it (users and hosts, availability windows of 30-minute
slots, bookings over many hosts with some hotly contested slots, cancels and
reschedules of confirmed bookings) while one fault is injected, and then checks one
ledger (`assert_ledger`):

- every command sent has exactly one fate: a stored outcome or a dead letter
  (sent == outcomes + dead letters, and no command has both or neither);
- every stored outcome's reply reached the client at least once, and every copy the
  client received is byte-for-byte the stored reply (so duplicates are identical);
- no host has two confirmed bookings that overlap;
- the outbox is empty.

The client survives the faults: its reply queue is durable and named (it outlives a
closed connection and a broker restart, and the test deletes it), it acknowledges
replies manually, and it reconnects and re-publishes whatever was not confirmed.

Faults that touch the shared services (stopping PostgreSQL, restarting RabbitMQ) are
always undone in `finally`, and once more by the `services_restored` fixture.
"""

import asyncio
import json
import random
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import aio_pika
import asyncpg
import pytest

from contracts.dead_letters import ATTEMPTS_HEADER, ERROR_CLASS_HEADER, REASON_HEADER
from contracts.topology import COMMAND_EXCHANGE, partition_key
from tests.support.commands import FUTURE_DAY, at, availability, booking, cancel, register, reschedule
from tests.support.dlq import peek_dead_letters
from tests.support.processes import ServiceProcess, worker_process
from tests.support.services import Sandbox, create_sandbox, destroy_sandbox

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

# Fast recovery, and a poison message gives up after three attempts.
WORKER_ENV = {
    "BOOKING_MAX_ATTEMPTS": "3",
    "BOOKING_RETRY_MAX_DELAY": "1",
    "BOOKING_OUTBOX_GRACE": "1",
    "BOOKING_OUTBOX_RELAY_INTERVAL": "0.5",
}
CLIENT_NAME = "booking-faults-test-client"
PG_CLUSTER = ("15", "main")

TOTAL_COMMANDS = 2000
HOSTS, USERS = 30, 60
SLOTS = 24  # one window per host, 08:00-20:00 in 30-minute slots
HOT_HOSTS, HOT_SLOTS = 3, 4  # a quarter of all bookings fight over these
CHUNK, PAUSE = 50, 0.3  # the stream lasts about 12 s
SETTLE_TIMEOUT = 120
STALL_TIMEOUT = 30  # seconds without any progress before the wait gives up

DOUBLE_BOOKINGS = """
    SELECT count(*) FROM bookings a JOIN bookings b
      ON a.host_id = b.host_id AND a.id < b.id AND a.period && b.period
     WHERE a.status = 'CONFIRMED' AND b.status = 'CONFIRMED'
"""


# ---------------------------------------------------------------- the client


class ResilientClient:
    """Publishes commands (confirms, persistent, routing key = partition key,
    correlation id = commandId) and collects the raw bytes of every reply copy."""

    def __init__(self, amqp_url: str) -> None:
        self.amqp_url = amqp_url
        self.queue_name = f"faults.replies.{uuid.uuid4().hex[:12]}"
        self.sent: dict[str, dict] = {}  # commandId -> command, in send order
        self.received: dict[str, list[bytes]] = {}
        self.reconnects = 0
        self.republished = 0
        self._publisher: aio_pika.abc.AbstractConnection | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        self._consumer: asyncio.Task | None = None
        self._consuming = asyncio.Event()
        self._stopping = False

    async def start(self) -> "ResilientClient":
        self._consumer = asyncio.create_task(self._consume_forever(), name="faults-client-replies")
        await asyncio.wait_for(self._consuming.wait(), 30)
        return self

    async def _connect(self) -> aio_pika.abc.AbstractConnection:
        return await aio_pika.connect(self.amqp_url, client_properties={"connection_name": CLIENT_NAME}, timeout=5)

    async def _consume_forever(self) -> None:
        while not self._stopping:
            connection = None
            lost = asyncio.Event()
            try:
                connection = await self._connect()
                connection.close_callbacks.add(lambda *_, lost=lost: lost.set())
                channel = await connection.channel()
                channel.close_callbacks.add(lambda *_, lost=lost: lost.set())
                await channel.set_qos(prefetch_count=256)
                queue = await channel.declare_queue(self.queue_name, durable=True)
                await queue.consume(self._on_reply)
                self._consuming.set()
                await lost.wait()
            except asyncio.CancelledError:
                raise
            except Exception:
                pass
            finally:
                self._consuming.clear()
                if connection is not None:
                    with suppress(Exception):
                        await asyncio.wait_for(connection.close(), 5)
            if not self._stopping:
                self.reconnects += 1
                await asyncio.sleep(0.5)

    async def _on_reply(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        self.received.setdefault(message.correlation_id or "", []).append(bytes(message.body))
        with suppress(Exception):  # a lost ack means one more (identical) copy later
            await message.ack()

    async def _command_exchange(self) -> aio_pika.abc.AbstractExchange:
        if self._exchange is None:
            self._publisher = await self._connect()
            channel = await self._publisher.channel(publisher_confirms=True, on_return_raises=True)
            self._exchange = await channel.get_exchange(COMMAND_EXCHANGE, ensure=False)
        return self._exchange

    async def _drop_publisher(self) -> None:
        publisher, self._publisher, self._exchange = self._publisher, None, None
        if publisher is not None:
            with suppress(Exception):
                await asyncio.wait_for(publisher.close(), 5)

    async def _publish(self, exchange: aio_pika.abc.AbstractExchange, command: dict) -> None:
        message = aio_pika.Message(
            json.dumps(command).encode(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            reply_to=self.queue_name,
            correlation_id=command["commandId"],
            message_id=command["commandId"],
        )
        await exchange.publish(message, routing_key=partition_key(command), timeout=10)

    async def send_all(self, commands: list[dict], give_up_after: float = 90) -> None:
        """Publish until the broker confirmed every command. A command whose
        confirmation was lost is published again: the same body, so idempotent."""
        for command in commands:
            self.sent[command["commandId"]] = command
        pending, deadline = list(commands), time.monotonic() + give_up_after
        while pending:
            try:
                exchange = await self._command_exchange()
                results = await asyncio.gather(*(self._publish(exchange, command) for command in pending), return_exceptions=True)
            except Exception as error:
                results = [error] * len(pending)
            failed = [c for c, r in zip(pending, results, strict=True) if isinstance(r, BaseException)]
            if failed:
                self.republished += len(failed)
                await self._drop_publisher()
                if time.monotonic() > deadline:
                    raise AssertionError(f"{len(failed)} commands not confirmed by the broker: {results[0]!r}")
                await asyncio.sleep(0.5)
            pending = failed

    async def wait_replies(self, ids: list[str], timeout: float) -> dict[str, dict]:
        deadline = time.monotonic() + timeout
        while any(i not in self.received for i in ids):
            if time.monotonic() > deadline:
                missing = [i for i in ids if i not in self.received]
                raise AssertionError(f"{len(missing)} of {len(ids)} replies missing after {timeout}s")
            await asyncio.sleep(0.1)
        return {i: json.loads(self.received[i][0]) for i in ids}

    async def close(self, sandbox: Sandbox) -> None:
        self._stopping = True
        if self._consumer is not None:
            self._consumer.cancel()
            with suppress(BaseException):
                await self._consumer
        await self._drop_publisher()
        # The vhost goes with the sandbox anyway; delete the queue explicitly too.
        with suppress(Exception):
            await asyncio.to_thread(_management_delete, sandbox, f"/api/queues/{_vhost(sandbox)}/{self.queue_name}")


# ---------------------------------------------------------------- the stream


@dataclass
class Cast:
    hosts: list[str]
    users: list[str]


def slot(k: int, day: int = 0) -> tuple[str, str]:
    return at(8, 30 * k, day), at(8, 30 * (k + 1), day)


async def register_cast(client: ResilientClient) -> Cast:
    """Hosts and users, then one window per host; all answered before the faults."""
    people = [register("HOST", name=f"Host {i}") for i in range(HOSTS)]
    people += [register("USER", name=f"User {i}") for i in range(USERS)]
    await client.send_all(people)
    replies = await client.wait_replies([c["commandId"] for c in people], 60)
    ids = [replies[c["commandId"]]["user"]["userId"] for c in people]
    cast = Cast(ids[:HOSTS], ids[HOSTS:])
    windows = [availability(host, at(8), at(20)) for host in cast.hosts]
    await client.send_all(windows)
    replies = await client.wait_replies([c["commandId"] for c in windows], 60)
    assert {r["type"] for r in replies.values()} == {"AvailabilityCreated"}, replies
    return cast


async def stream(
    client: ResilientClient, cast: Cast, rng: random.Random, count: int, extra: dict[int, list[dict]] | None = None
) -> None:
    """`count` commands in chunks: mostly bookings (a quarter on a few hot slots),
    and cancels and reschedules of bookings whose confirmation already came back.
    `extra` adds commands to the chunk with that index."""
    extra = extra or {}
    open_bookings: list[tuple[str, str, str]] = []  # bookingId, hostId, userId
    harvested: set[str] = set()
    sent, chunk_index = 0, 0
    while sent < count:
        for command_id in list(client.received):
            if command_id in harvested or command_id not in client.sent:
                continue
            harvested.add(command_id)
            reply = json.loads(client.received[command_id][0])
            if reply["type"] in ("BookingConfirmed", "BookingRescheduled"):
                b = reply["booking"]
                open_bookings.append((b["bookingId"], b["hostId"], b["userId"]))
        batch = list(extra.get(chunk_index, []))
        while len(batch) < CHUNK and sent + len(batch) < count:
            roll = rng.random()
            if roll < 0.08 and open_bookings:
                booking_id, host, user = open_bookings.pop(rng.randrange(len(open_bookings)))
                batch.append(cancel(host, booking_id, rng.choice([user, host])))
            elif roll < 0.11 and open_bookings:
                booking_id, host, user = open_bookings.pop(rng.randrange(len(open_bookings)))
                batch.append(reschedule(host, booking_id, *slot(rng.randrange(SLOTS)), actor=user))
            elif roll < 0.36:
                host = rng.choice(cast.hosts[:HOT_HOSTS])
                batch.append(booking(host, rng.choice(cast.users), *slot(rng.randrange(HOT_SLOTS))))
            else:
                host = rng.choice(cast.hosts)
                batch.append(booking(host, rng.choice(cast.users), *slot(rng.randrange(SLOTS))))
        await client.send_all(batch)
        sent += len(batch)
        chunk_index += 1
        await asyncio.sleep(PAUSE)


# ---------------------------------------------------------------- the ledger


@dataclass
class Ledger:
    sent: int = 0
    outcomes: int = 0
    dead_letters: int = 0
    dead_letter_ids: set[str] = field(default_factory=set)
    unresolved: list[str] = field(default_factory=list)  # neither stored nor dead-lettered
    stored_and_dead: list[str] = field(default_factory=list)
    replies_received: int = 0  # distinct sent commands with at least one reply copy
    reply_copies: int = 0
    missing_replies: list[str] = field(default_factory=list)  # stored, never received
    mismatched: list[str] = field(default_factory=list)  # a copy differs from the stored bytes
    unbacked: list[str] = field(default_factory=list)  # a reply for a command with no stored outcome
    double_bookings: int = 0
    outbox: int = 0
    reply_types: Counter = field(default_factory=Counter)

    @property
    def duplicates(self) -> int:
        return self.reply_copies - self.replies_received

    @property
    def settled(self) -> bool:
        return not self.unresolved and not self.missing_replies and self.outbox == 0

    def figures(self) -> dict:
        return {
            "sent": self.sent,
            "outcomes": self.outcomes,
            "dlq": self.dead_letters,
            "replies_received": self.replies_received,
            "duplicates": self.duplicates,
            "double_bookings": self.double_bookings,
            "outbox": self.outbox,
            "unresolved": len(self.unresolved),
            "stored_and_dead": len(self.stored_and_dead),
            "missing_replies": len(self.missing_replies),
            "mismatched": len(self.mismatched),
            "unbacked": len(self.unbacked),
            "reply_types": dict(self.reply_types),
        }


async def read_ledger(client: ResilientClient, sandbox: Sandbox) -> Ledger:
    ids = list(client.sent)
    conn = await asyncpg.connect(sandbox.database_url, timeout=5)
    try:
        rows = await conn.fetch(
            "SELECT command_id::text AS id, reply_type, reply FROM processed_commands WHERE command_id = ANY($1::uuid[])",
            ids,
        )
        outbox = await conn.fetchval("SELECT count(*) FROM outbox")
        double_bookings = await conn.fetchval(DOUBLE_BOOKINGS)
    finally:
        await conn.close()
    dead = await asyncio.to_thread(peek_dead_letters, sandbox)
    stored = {row["id"]: bytes(row["reply"]) for row in rows}
    dead_ids = {_dead_letter_command_id(m) for m in dead}
    ledger = Ledger(
        sent=len(ids),
        outcomes=len(stored),
        dead_letters=len(dead),
        dead_letter_ids=dead_ids,
        double_bookings=double_bookings,
        outbox=outbox,
        reply_types=Counter(row["reply_type"] for row in rows),
    )
    for command_id in ids:
        copies = client.received.get(command_id, [])
        if copies:
            ledger.replies_received += 1
            ledger.reply_copies += len(copies)
        if command_id in stored:
            if command_id in dead_ids:
                ledger.stored_and_dead.append(command_id)
            if not copies:
                ledger.missing_replies.append(command_id)
            elif any(copy != stored[command_id] for copy in copies):
                ledger.mismatched.append(command_id)
        else:
            if command_id not in dead_ids:
                ledger.unresolved.append(command_id)
            if copies:
                ledger.unbacked.append(command_id)
    return ledger


def _dead_letter_command_id(message: dict) -> str | None:
    with suppress(Exception):
        return str(uuid.UUID(json.loads(message["payload"])["commandId"]))
    return message["properties"].get("message_id")


async def settle(
    client: ResilientClient, sandbox: Sandbox, timeout: float = SETTLE_TIMEOUT, stalled_after: float = STALL_TIMEOUT
) -> Ledger:
    """Poll until every command has its fate and every stored reply came back, and
    the outbox is empty; returns the last reading when that does not happen within
    `timeout`, or when nothing at all moved for `stalled_after` seconds (a stuck
    worker does not get unstuck by waiting, and the failure comes sooner)."""
    deadline, ledger, last_error = time.monotonic() + timeout, None, None
    progress, moved_at = None, time.monotonic()
    while True:
        try:
            ledger = await read_ledger(client, sandbox)
            if ledger.settled:
                return ledger
            now_progress = (ledger.outcomes, ledger.dead_letters, ledger.reply_copies, ledger.outbox)
            if now_progress != progress:
                progress, moved_at = now_progress, time.monotonic()
        except Exception as error:  # a service still coming back
            last_error = error
        now = time.monotonic()
        if now > deadline or now - moved_at > stalled_after:
            if ledger is None:
                raise AssertionError(f"could not read the ledger: {last_error!r}")
            return ledger
        await asyncio.sleep(1)


def assert_ledger(ledger: Ledger, expected_dead: set[str], context: str) -> None:
    """The one ledger every fault test checks. `expected_dead` names the commands
    that must be dead-lettered: none of the stream's commands is poison, so any other
    dead letter means a transient failure was taken for a poison message."""
    shown = f"{context}\nledger: {json.dumps(ledger.figures())}"
    assert ledger.sent == ledger.outcomes + ledger.dead_letters, shown
    assert not ledger.unresolved, f"no stored outcome and not dead-lettered: {ledger.unresolved[:5]}\n{shown}"
    assert not ledger.stored_and_dead, f"stored and dead-lettered: {ledger.stored_and_dead[:5]}\n{shown}"
    assert ledger.dead_letter_ids == expected_dead, f"dead letters {ledger.dead_letter_ids}\n{shown}"
    assert not ledger.missing_replies, f"stored, reply never received: {ledger.missing_replies[:5]}\n{shown}"
    assert not ledger.mismatched, f"a reply copy differs from the stored bytes: {ledger.mismatched[:5]}\n{shown}"
    assert not ledger.unbacked, f"a reply without a stored outcome: {ledger.unbacked[:5]}\n{shown}"
    assert ledger.double_bookings == 0, shown
    assert ledger.outbox == 0, shown


# ---------------------------------------------------------------- services and diagnosis


def _vhost(sandbox: Sandbox) -> str:
    return quote(sandbox.vhost, safe="")


def _management_get(sandbox: Sandbox, path: str):
    with sandbox.management() as api:
        response = api.get(path)
        response.raise_for_status()
        return response.json()


def _management_delete(sandbox: Sandbox, path: str, reason: str = "fault injection") -> int:
    with sandbox.management() as api:
        return api.delete(path, headers={"X-Reason": reason}).status_code


def queue_states(sandbox: Sandbox) -> list[dict]:
    """Consumers, ready and unacknowledged messages per queue (stats lag a few seconds)."""
    with suppress(Exception):
        return [
            {k: q.get(k) for k in ("name", "consumers", "messages_ready", "messages_unacknowledged")}
            for q in _management_get(sandbox, f"/api/queues/{_vhost(sandbox)}")
        ]
    return []


def _run(*command: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def postgres_online() -> bool:
    result = _run("pg_lsclusters", "--no-header")
    return any(line.split()[:2] == list(PG_CLUSTER) and "online" in line for line in result.stdout.splitlines())


def ensure_postgres_running() -> None:
    if not postgres_online():
        _run("pg_ctlcluster", "--skip-systemctl-redirect", *PG_CLUSTER, "start")
    assert postgres_online(), "PostgreSQL could not be started again"


def rabbit_running() -> bool:
    return _run("rabbitmqctl", "-q", "eval", "rabbit:is_running().").stdout.strip() == "true"


def ensure_rabbit_running() -> None:
    if not rabbit_running():
        _run("rabbitmqctl", "start_app")
    _run("rabbitmqctl", "await_startup")
    assert rabbit_running(), "RabbitMQ could not be started again"


@pytest.fixture
def services_restored():
    """Whatever happens in the test, PostgreSQL and RabbitMQ run again after it."""
    yield
    ensure_postgres_running()
    ensure_rabbit_running()


# ---------------------------------------------------------------- one run


@dataclass
class Run:
    sandbox: Sandbox
    worker: ServiceProcess
    client: ResilientClient
    rng: random.Random
    log_path: Path


Fault = Callable[[Run], Awaitable[dict]]


async def no_fault(run: Run) -> dict:
    return {}


async def run_ledger(
    servers,
    tmp_path: Path,
    label: str,
    fault: Fault,
    *,
    expected_dead: Callable[[Run, Cast], set[str]] = lambda run, cast: set(),
    prepare: Callable[[Run, Cast], Awaitable[dict[int, list[dict]]]] | None = None,
    after: Callable[[Run, Ledger], Awaitable[None]] | None = None,
) -> Ledger:
    """One sandbox, one worker, the stream with `fault` running alongside, the ledger;
    `after` checks more while the sandbox and the worker still exist."""
    started = time.monotonic()
    sandbox = await asyncio.to_thread(create_sandbox, servers, f"faults-{label}")
    log_path = tmp_path / "worker.log"
    worker = worker_process(sandbox.env(**WORKER_ENV), log_path)
    client = ResilientClient(sandbox.amqp_url)
    fault_task: asyncio.Task | None = None
    try:
        await asyncio.to_thread(worker.start)
        await client.start()
        run = Run(sandbox, worker, client, random.Random(label), log_path)
        cast = await register_cast(client)
        extra = await prepare(run, cast) if prepare else {}
        fault_task = asyncio.create_task(fault(run), name=f"fault-{label}")
        await stream(client, cast, run.rng, TOTAL_COMMANDS - len(client.sent), extra)
        fault_report = await fault_task
        ledger = await settle(client, sandbox)
        elapsed = time.monotonic() - started
        context = (
            f"fault {label}: {fault_report}; {elapsed:.1f}s; client reconnects {client.reconnects},"
            f" re-published {client.republished}; worker log {log_path}"
        )
        if not ledger.settled:
            context += f"\nqueues: {queue_states(sandbox)}"
        print(f"\nLEDGER {label}: {json.dumps({**ledger.figures(), 'seconds': round(elapsed, 1), 'fault': fault_report})}")
        assert_ledger(ledger, expected_dead(run, cast), context)
        if after is not None:
            await after(run, ledger)
        return ledger
    finally:
        if fault_task is not None and not fault_task.done():
            fault_task.cancel()
            with suppress(BaseException):
                await fault_task
        await client.close(sandbox)
        try:
            await asyncio.to_thread(worker.terminate, 20)
        except subprocess.TimeoutExpired:
            worker.kill()
            print(f"\nworker of {label} did not stop within 20 s of SIGTERM; killed")
        await asyncio.to_thread(destroy_sandbox, sandbox)


# ---------------------------------------------------------------- the faults


def worker_still_running(message: str) -> Callable[[Run, Ledger], Awaitable[None]]:
    async def check(run: Run, ledger: Ledger) -> None:
        assert run.worker.process is not None and run.worker.process.poll() is None, message

    return check


async def test_ledger_holds_when_the_worker_is_killed(servers, tmp_path):
    async def kill_five_times(run: Run) -> dict:
        kills = 0
        for _ in range(5):
            await asyncio.sleep(run.rng.uniform(0.5, 1.0))
            run.worker.kill()
            kills += 1
            await asyncio.sleep(run.rng.uniform(0.5, 1.0))
            await asyncio.to_thread(run.worker.start)
        return {"sigkills": kills}

    ledger = await run_ledger(servers, tmp_path, "sigkill", kill_five_times)
    assert ledger.reply_types["BookingConfirmed"] > 100


def worker_connections(sandbox: Sandbox) -> list[str]:
    connections = _management_get(sandbox, f"/api/vhosts/{_vhost(sandbox)}/connections")
    return [c["name"] for c in connections if (c.get("client_properties") or {}).get("connection_name") != CLIENT_NAME]


async def test_ledger_holds_when_the_workers_broker_connections_are_closed(servers, tmp_path):
    async def close_connections(run: Run, rounds: int = 4) -> dict:
        closed = []
        for _ in range(rounds):
            await asyncio.sleep(run.rng.uniform(1.5, 2.5))
            names: list[str] = []
            deadline = time.monotonic() + 15
            while not names and time.monotonic() < deadline:  # the worker reconnects every 5 s
                names = await asyncio.to_thread(worker_connections, run.sandbox)
                if not names:
                    await asyncio.sleep(0.5)
            for name in names:
                await asyncio.to_thread(_management_delete, run.sandbox, f"/api/connections/{quote(name, safe='')}")
            closed.append(len(names))
        assert all(closed), f"a round found no worker connection to close: {closed}"
        return {"connections_closed_per_round": closed}

    await run_ledger(
        servers,
        tmp_path,
        "connections",
        close_connections,
        after=worker_still_running("the worker died when its connections were closed"),
    )


async def test_ledger_holds_when_the_workers_database_sessions_are_terminated(servers, tmp_path):
    async def terminate_sessions(run: Run, rounds: int = 6) -> dict:
        terminated = []
        for _ in range(rounds):
            await asyncio.sleep(run.rng.uniform(1.0, 2.0))
            conn = await asyncpg.connect(run.sandbox.urls.database, timeout=5)
            try:
                count = await _terminate_worker_sessions(conn, run.sandbox.database_name)
            finally:
                await conn.close()
            terminated.append(count)
        assert sum(terminated) > 0, "no database session of the worker was found to terminate"
        return {"sessions_terminated_per_round": terminated}

    await run_ledger(
        servers,
        tmp_path,
        "pg-terminate",
        terminate_sessions,
        after=worker_still_running("the worker died when its sessions were terminated"),
    )


POSTGRES_DOWN_SECONDS = 60


async def test_ledger_holds_when_postgres_stops_for_a_minute(servers, tmp_path, services_restored):
    """An outage longer than every retry budget: nothing may be dead-lettered for it
    (the worker waits it out) and everything is answered after it."""

    async def stop_postgres(run: Run) -> dict:
        await asyncio.sleep(2)
        try:
            stopped = await asyncio.to_thread(_run, "pg_ctlcluster", "--skip-systemctl-redirect", *PG_CLUSTER, "stop")
            assert stopped.returncode == 0, stopped.stderr
            await asyncio.sleep(POSTGRES_DOWN_SECONDS)
        finally:
            await asyncio.to_thread(ensure_postgres_running)
        return {"postgres_down_seconds": POSTGRES_DOWN_SECONDS}

    await run_ledger(
        servers, tmp_path, "pg-stop", stop_postgres, after=worker_still_running("the worker died while PostgreSQL was down")
    )


async def test_ledger_holds_when_rabbitmq_restarts(servers, tmp_path, services_restored):
    async def restart_rabbit(run: Run) -> dict:
        await asyncio.sleep(2)
        try:
            stopped = await asyncio.to_thread(_run, "rabbitmqctl", "stop_app")
            assert stopped.returncode == 0, stopped.stderr
            await asyncio.sleep(3)
        finally:
            await asyncio.to_thread(ensure_rabbit_running)
        return {"rabbitmq_stopped_seconds": 3}

    await run_ledger(
        servers, tmp_path, "rabbit-restart", restart_rabbit, after=worker_still_running("the worker died when RabbitMQ restarted")
    )


async def _terminate_worker_sessions(conn: asyncpg.Connection, database: str) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = $1 AND pid <> pg_backend_pid()) AS t",
        database,
    )


def dead_letters_say_why(expected: dict[str, tuple[dict, str]]) -> Callable[[Run, Ledger], Awaitable[None]]:
    """The dead letters are exactly the commands of `expected` (commandId -> command and
    the error class), each with headers saying it failed `max_attempts` times with that
    class; and the worker kept going (the ledger shows the same hosts' later commands
    answered)."""

    async def check(run: Run, ledger: Ledger) -> None:
        dead = await asyncio.to_thread(peek_dead_letters, run.sandbox)
        assert sorted(d["properties"]["correlation_id"] for d in dead) == sorted(expected)
        for letter in dead:
            command, error_class = expected[letter["properties"]["correlation_id"]]
            headers = letter["properties"]["headers"]
            assert json.loads(letter["payload"]) == command
            assert headers[REASON_HEADER] == "HANDLER_FAILED", headers
            assert headers[ERROR_CLASS_HEADER] == error_class, headers
            assert headers[ATTEMPTS_HEADER] == int(WORKER_ENV["BOOKING_MAX_ATTEMPTS"]), headers
        assert run.worker.process is not None and run.worker.process.poll() is None

    return check


READ_ONLY_SECONDS = 10


async def test_ledger_holds_when_the_database_turns_read_only(servers, tmp_path):
    """What a failover looks like from a client: the server it reaches accepts reads
    and refuses every write (SQLSTATE 25006) for a while. That is the database's
    state, not the commands': nothing is dead-lettered and everything is answered."""

    async def read_only_for_a_while(run: Run) -> dict:
        await asyncio.sleep(2)
        database = run.sandbox.database_name
        conn = await asyncpg.connect(run.sandbox.urls.database, timeout=5)
        try:
            await conn.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
            terminated = await _terminate_worker_sessions(conn, database)  # new sessions are read-only
            await asyncio.sleep(READ_ONLY_SECONDS)
        finally:
            await conn.execute(f'ALTER DATABASE "{database}" RESET default_transaction_read_only')
            await conn.close()
        return {"read_only_seconds": READ_ONLY_SECONDS, "sessions_terminated": terminated}

    async def nothing_dead_and_writes_refused_meanwhile(run: Run, ledger: Ledger) -> None:
        assert "ReadOnlySQLTransactionError" in run.log_path.read_text(), "the fault did not reach the worker"
        assert run.worker.process is not None and run.worker.process.poll() is None

    await run_ledger(servers, tmp_path, "pg-read-only", read_only_for_a_while, after=nothing_dead_and_writes_refused_meanwhile)


REFUSED_DAY, POISON_DAY = 31, 30


async def test_commands_that_keep_failing_are_dead_lettered_and_their_partitions_go_on(servers, tmp_path):
    """Two failures that stay with one message each, planted mid-stream among ordinary
    commands of the same hosts (one ledger run for both):

    - a rule bug: the application decides a write that the database refuses every time
      (a trigger raising an exclusion violation for one booking stands in for it). The
      old rule counted every constraint violation as transient and retried it for
      ever, wedging the partition; now it is the message's failure;
    - a poison row, with no hook in the code: the schema lets a window's period have no
      upper bound (the CHECK asks only for an inclusive lower and an exclusive upper
      bound), but the domain cannot represent one: any command that reads that window
      raises TypeError."""
    refused: dict = {}
    poison: dict = {}

    async def plant(run: Run, cast: Cast) -> dict[int, list[dict]]:
        refused_host, poisoned_host = cast.hosts[-2], cast.hosts[-1]
        start, end = slot(2, day=REFUSED_DAY)
        conn = await asyncpg.connect(run.sandbox.database_url)
        try:
            await conn.execute(
                "INSERT INTO availability_windows (id, host_id, period, slot_minutes)"
                " VALUES (gen_random_uuid(), $1::uuid, tstzrange($2::timestamptz, $3::timestamptz, '[)'), 30)",
                refused_host, FUTURE_DAY + timedelta(days=REFUSED_DAY, hours=8),
                FUTURE_DAY + timedelta(days=REFUSED_DAY, hours=20),
            )
            await conn.execute(
                f"""CREATE FUNCTION refuse_one_booking() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                  IF NEW.host_id = '{refused_host}' AND lower(NEW.period) = '{start}'::timestamptz THEN
                    RAISE EXCEPTION 'refused by the test' USING ERRCODE = 'exclusion_violation';
                  END IF;
                  RETURN NEW;
                END $$"""
            )
            await conn.execute(
                "CREATE TRIGGER refuse_one_booking BEFORE INSERT ON bookings FOR EACH ROW EXECUTE FUNCTION refuse_one_booking()"
            )
            await conn.execute(
                "INSERT INTO availability_windows (id, host_id, period, slot_minutes)"
                " VALUES (gen_random_uuid(), $1::uuid, tstzrange($2::timestamptz, NULL, '[)'), 30)",
                poisoned_host,
                FUTURE_DAY + timedelta(days=POISON_DAY, hours=9),
            )
        finally:
            await conn.close()
        refused.update(booking(refused_host, cast.users[0], start, end))
        poison.update(booking(poisoned_host, cast.users[0], *slot(2, day=POISON_DAY)))
        return {10: [refused, poison]}  # mid-stream, among ordinary commands of the same hosts

    await run_ledger(
        servers,
        tmp_path,
        "keep-failing",
        no_fault,
        expected_dead=lambda run, cast: {refused["commandId"], poison["commandId"]},
        prepare=plant,
        after=lambda run, ledger: dead_letters_say_why(
            {refused["commandId"]: (refused, "ConstraintViolated"), poison["commandId"]: (poison, "TypeError")}
        )(run, ledger),
    )
