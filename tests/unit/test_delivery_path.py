"""The delivery path without a broker or database: what the pipeline says became of
each delivery, and how a lane groups the partitions' submissions into transactions.
The broker-side half (acknowledging, giving a partition back) is in
tests/integration/test_partition_give_back.py and test_partition_drain.py."""

import asyncio
import json
import uuid
from types import SimpleNamespace

from aio_pika.exceptions import ChannelInvalidStateError

from contracts.dead_letters import ATTEMPTS_HEADER, ERROR_CLASS_HEADER, PARTITION_HEADER, REASON_HEADER
from services.booking.processing import Outcome
from services.settings import Settings
from services.worker.lanes import Lane
from services.worker.pipeline import Delivered, Pipeline

SETTINGS = Settings(max_attempts=3, retry_base_delay=0.001, retry_max_delay=0.002)


class Message:
    """As much of an aio-pika delivery as the pipeline reads."""

    def __init__(self, body: bytes, closed: bool = False) -> None:
        self.body = body
        self.redelivered = False
        self.reply_to = "reply-queue"
        self.correlation_id = None
        self.message_id = None
        self.headers = {}
        self.routing_key = "key"
        self.closed = closed

    @property
    def channel(self):
        if self.closed:
            raise ChannelInvalidStateError
        return SimpleNamespace(is_closed=False)


def command(command_id: uuid.UUID | None = None) -> Message:
    command_id = command_id or uuid.uuid4()
    return Message(json.dumps({"type": "RegisterUser", "commandId": str(command_id)}).encode())


def command_id_of(message: Message) -> uuid.UUID:
    return uuid.UUID(json.loads(message.body)["commandId"])


class Service:
    """CommandService's interface: fails a group naming a poison command (the
    message's failure), and the first `outages` calls (the infrastructure's)."""

    def __init__(self, poison: set[uuid.UUID] = frozenset(), outages: int = 0) -> None:
        self.poison = poison
        self.outages = outages
        self.handled: list[list[uuid.UUID]] = []
        self.reconnects = 0

    async def handle(self, requests):
        ids = [r.incoming.command_id for r in requests]
        self.handled.append(ids)
        if self.outages:
            self.outages -= 1
            raise ConnectionRefusedError("the database is away")
        if self.poison & set(ids):
            raise ValueError("a row the domain cannot represent")
        return [Outcome(i, b"{}", "user.registered", True) for i in ids]

    async def database_answers(self) -> bool:
        return True

    async def reconnect(self) -> None:
        self.reconnects += 1


class Publisher:
    def __init__(self, failing: bool = False) -> None:
        self.failing = failing
        self.published: list[uuid.UUID] = []
        self.dead_letters: list[tuple[Message, dict]] = []

    async def publish(self, outcome, reply_to, correlation_id) -> None:
        if self.failing:
            raise ConnectionResetError("the broker went away")
        self.published.append(outcome.command_id)

    async def dead_letter(self, message, why) -> None:
        self.dead_letters.append((message, why))


def pipeline(service: Service, publisher: Publisher | None = None) -> Pipeline:
    running = Pipeline(None, publisher or Publisher(), SimpleNamespace(confirmed=lambda ids: None), SETTINGS)
    running.service = service
    return running


async def test_a_group_is_handled_in_one_transaction_and_answered():
    messages = [command() for _ in range(3)]
    service = Service()
    results = await pipeline(service).run([(m, 0) for m in messages])
    assert results == [Delivered.ANSWERED] * 3
    assert service.handled == [[command_id_of(m) for m in messages]]


async def test_a_failing_group_is_handled_one_by_one_and_the_poison_dead_lettered_after_its_attempts():
    messages = [command() for _ in range(3)]
    poison = command_id_of(messages[1])
    publisher = Publisher()
    service = Service(poison={poison})
    results = await pipeline(service, publisher).run([(m, 5) for m in messages])
    assert results == [Delivered.ANSWERED, Delivered.DEAD_LETTERED, Delivered.ANSWERED]
    assert publisher.published == [command_id_of(messages[0]), command_id_of(messages[2])]
    [(letter, why)] = publisher.dead_letters
    assert letter is messages[1]
    assert why[REASON_HEADER] == "HANDLER_FAILED"
    assert why[ERROR_CLASS_HEADER] == "ValueError"
    assert why[ATTEMPTS_HEADER] == SETTINGS.max_attempts
    assert why[PARTITION_HEADER] == 5
    assert service.handled.count([poison]) == SETTINGS.max_attempts


async def test_an_outage_is_retried_for_as_long_as_it_lasts_with_fresh_connections():
    message = command()
    service = Service(outages=SETTINGS.max_attempts + 3)
    publisher = Publisher()
    assert await pipeline(service, publisher).run([(message, 0)]) == [Delivered.ANSWERED]
    assert service.reconnects == SETTINGS.max_attempts + 3
    assert publisher.dead_letters == []


async def test_a_reply_that_cannot_be_published_leaves_the_group_not_completed():
    results = await pipeline(Service(), Publisher(failing=True)).run([(command(), 0), (command(), 1)])
    assert results == [Delivered.NOT_COMPLETED] * 2


async def test_after_a_delivery_returned_to_the_broker_its_partition_s_later_commands_wait():
    returned = command()
    returned.closed = True
    later, other_partition = command(), command()
    service = Service(poison={command_id_of(returned)})
    results = await pipeline(service).run([(returned, 0), (later, 0), (other_partition, 1)])
    assert results == [Delivered.NOT_COMPLETED, Delivered.NOT_COMPLETED, Delivered.ANSWERED]
    assert [command_id_of(later)] not in service.handled


async def test_a_malformed_message_is_dead_lettered_and_answered_and_the_rest_handled():
    malformed, valid = Message(b"not json"), command()
    publisher = Publisher()
    results = await pipeline(Service(), publisher).run([(malformed, 2), (valid, 2)])
    assert results == [Delivered.DEAD_LETTERED, Delivered.ANSWERED]
    assert publisher.dead_letters[0][1][REASON_HEADER] == "MALFORMED_MESSAGE"


class RecordingPipeline:
    """Records each transaction's (partition, body) pairs; reports NOT_COMPLETED for
    the bodies in `failing`, once each."""

    def __init__(self, failing: set[bytes] = frozenset()) -> None:
        self.failing = set(failing)
        self.groups: list[list[tuple[int, bytes]]] = []
        self.release = asyncio.Event()
        self.release.set()

    async def run(self, deliveries):
        await self.release.wait()
        self.groups.append([(partition, message.body) for message, partition in deliveries])
        results = []
        for message, _ in deliveries:
            if message.body in self.failing:
                self.failing.discard(message.body)
                results.append(Delivered.NOT_COMPLETED)
            else:
                results.append(Delivered.ANSWERED)
        return results


def bodies(prefix: str, count: int) -> list[Message]:
    return [Message(f"{prefix}{i}".encode()) for i in range(count)]


async def test_a_lane_merges_the_submissions_of_several_partitions_up_to_max_group():
    recording = RecordingPipeline()
    recording.release.clear()  # the first transaction runs while the others submit
    lane = Lane(recording, max_group=4)
    first = asyncio.create_task(lane.submit(bodies("a", 1), 0))
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(lane.submit(bodies(p, 2), index)) for index, p in enumerate("bcd", start=1)]
    await asyncio.sleep(0)
    recording.release.set()
    assert await first == [Delivered.ANSWERED]
    assert [await w for w in waiting] == [[Delivered.ANSWERED] * 2] * 3
    assert recording.groups == [
        [(0, b"a0")],
        [(1, b"b0"), (1, b"b1"), (2, b"c0"), (2, b"c1")],
        [(3, b"d0"), (3, b"d1")],
    ]


async def test_a_lane_splits_a_large_submission_and_stops_it_at_the_first_not_completed():
    recording = RecordingPipeline(failing={b"a7"})
    lane = Lane(recording, max_group=4)
    results = await lane.submit(bodies("a", 10), 0)
    assert results == [Delivered.ANSWERED] * 7 + [Delivered.NOT_COMPLETED] * 3  # a8, a9 not handled
    assert recording.groups == [[(0, f"a{i}".encode()) for i in range(4)], [(0, f"a{i}".encode()) for i in range(4, 8)]]


async def test_a_lane_whose_pipeline_raises_reports_not_completed_and_goes_on():
    class Raising(RecordingPipeline):
        async def run(self, deliveries):
            if not self.groups:
                self.groups.append([])
                raise RuntimeError("a bug")
            return await super().run(deliveries)

    lane = Lane(Raising(), max_group=4)
    assert await lane.submit(bodies("a", 2), 0) == [Delivered.NOT_COMPLETED] * 2
    assert await lane.submit(bodies("b", 2), 0) == [Delivered.ANSWERED] * 2
