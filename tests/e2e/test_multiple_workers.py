"""Several worker processes share the partitions: spread, failover, graceful stop,
and two consumers of one host at once (what a partition-count change can cause)."""

import asyncio
import json
import math
import time
from urllib.parse import quote

import asyncpg
import pytest

from tests.support.amqp_client import CommandClient
from tests.support.commands import at, availability, booking, register, removal
from tests.support.processes import worker_process
from tests.support.services import create_sandbox, destroy_sandbox

PARTITIONS = 16
FAST_BALANCE = {"BOOKING_BALANCE_INTERVAL": "0.5", "BOOKING_MEMBER_TTL": "3", "BOOKING_STANDBY_DELAY": "0.5"}


@pytest.fixture
def cluster(servers, tmp_path):
    """An own sandbox and a way to start worker processes on it."""
    box = create_sandbox(servers, "cluster")
    started = []

    def start(count: int = 1):
        env = box.env(BOOKING_PARTITIONS=str(PARTITIONS), **FAST_BALANCE)
        for _ in range(count):
            started.append(worker_process(env, tmp_path / f"worker-{len(started)}.log").start())
        return started[-count:]

    start.sandbox = box
    start.processes = started
    yield start
    for process in started:
        process.kill()
    destroy_sandbox(box)


def active_by_member(sandbox) -> dict[str, set[int]]:
    with sandbox.management() as api:
        consumers = api.get(f"/api/consumers/{quote(sandbox.vhost, safe='')}").json()
    owners: dict[str, set[int]] = {}
    for consumer in consumers:
        if consumer.get("active") and consumer["queue"]["name"].startswith("booking.commands."):
            member = consumer["consumer_tag"].split(".p")[0]
            owners.setdefault(member, set()).add(int(consumer["queue"]["name"].rsplit(".", 1)[1]))
    return owners


def wait_for_spread(sandbox, members: int, timeout: float = 40) -> dict[str, set[int]]:
    limit = math.ceil(PARTITIONS / members) + 1
    deadline = time.monotonic() + timeout
    owners: dict[str, set[int]] = {}
    while time.monotonic() < deadline:
        owners = active_by_member(sandbox)
        covered = set().union(*owners.values()) if owners else set()
        if len(owners) == members and covered == set(range(PARTITIONS)) and all(
            len(p) <= limit for p in owners.values()
        ):
            return owners
        time.sleep(0.5)
    raise AssertionError(f"partitions not spread over {members} members: {owners}")


def test_three_workers_spread_the_partitions_and_cover_them_all(cluster):
    cluster(3)
    owners = wait_for_spread(cluster.sandbox, 3)
    assert sum(len(p) for p in owners.values()) == PARTITIONS
    assert max(len(p) for p in owners.values()) <= math.ceil(PARTITIONS / 3) + 1


async def _seed_hosts(client: CommandClient, hosts: int) -> tuple[list[str], str]:
    host_replies = await asyncio.gather(*[client.request(register("HOST")) for _ in range(hosts)])
    user = (await client.request(register()))["user"]["userId"]
    return [r["user"]["userId"] for r in host_replies], user


async def _ledger(database_url: str, command_ids: list[str]) -> tuple[int, int]:
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetchval(
            "SELECT count(*) FROM processed_commands WHERE command_id = ANY($1::uuid[])", command_ids
        )
        doubles = await conn.fetchval(
            "SELECT count(*) FROM bookings a JOIN bookings b ON a.host_id = b.host_id AND a.id < b.id"
            " AND a.period && b.period WHERE a.status = 'CONFIRMED' AND b.status = 'CONFIRMED'"
        )
    finally:
        await conn.close()
    return stored, doubles


async def test_a_killed_worker_is_replaced_without_losing_or_repeating_commands(cluster):
    first, second, third = cluster(3)
    wait_for_spread(cluster.sandbox, 3)
    async with CommandClient(cluster.sandbox.amqp_url) as client:
        hosts, user = await _seed_hosts(client, 300)
        sent, waiters = [], []
        for round_ in range(5):  # availability then booking, per host, never waiting in between
            for host in hosts:
                for command in (
                    availability(host, at(9, day=round_), at(10, day=round_)),
                    booking(host, user, at(9, day=round_), at(9, 30, day=round_)),
                ):
                    sent.append(command)
                    waiters.append(await client.send(command))
            if round_ == 1:
                second.kill()
        replies = await asyncio.wait_for(asyncio.gather(*waiters), 180)

    assert [r["type"] for r in replies] == ["AvailabilityCreated", "BookingConfirmed"] * (len(sent) // 2)
    stored, doubles = await _ledger(cluster.sandbox.database_url, [c["commandId"] for c in sent])
    assert stored == len(sent)
    assert doubles == 0
    wait_for_spread(cluster.sandbox, 2)  # the survivors serve every partition


async def test_sigterm_finishes_the_command_in_hand(cluster):
    first, second = cluster(2)
    wait_for_spread(cluster.sandbox, 2)
    async with CommandClient(cluster.sandbox.amqp_url) as client:
        hosts, user = await _seed_hosts(client, 100)
        waiters = []
        for round_ in range(4):
            for host in hosts:
                waiters.append(await client.send(availability(host, at(9, day=round_), at(10, day=round_))))
                waiters.append(await client.send(booking(host, user, at(9, day=round_), at(9, 30, day=round_))))
            if round_ == 1:
                assert await asyncio.to_thread(second.terminate) == 0
        replies = await asyncio.wait_for(asyncio.gather(*waiters), 120)
    assert all(r["type"] in ("AvailabilityCreated", "BookingConfirmed") for r in replies)
    stopped_log = second.new_log()
    assert '"worker stopped"' in stopped_log
    # What the stopped worker had in hand it finished and acknowledged there: no
    # command it handled had to be delivered again to the survivor. (Deliveries it
    # had received but not started are returned to the queue, in order.)
    handled_there = {h["commandId"] for h in _handled(stopped_log)}
    redelivered_here = {h["commandId"] for h in _handled(first.new_log()) if h["redelivered"]}
    assert handled_there
    assert not handled_there & redelivered_here


def _handled(log: str) -> list[dict]:
    return [json.loads(line) for line in log.splitlines() if '"msg": "handled"' in line]


def _queues_of_two_members(sandbox) -> tuple[str, str]:
    """A partition queue owned by one worker process and one owned by the other."""
    owners = list(wait_for_spread(sandbox, 2).values())
    return f"booking.commands.{min(owners[0])}", f"booking.commands.{min(owners[1])}"


async def _publish_to(client: CommandClient, command: dict, queue: str) -> asyncio.Future:
    """Straight to one partition queue, around the hash: what a replay routed by a
    differently-cased host id, or a rebalance, does to one host."""
    return await client.publish_raw(json.dumps(command).encode(), queue, command["commandId"], to_queue=True)


async def test_two_workers_racing_for_one_host_still_book_each_slot_once(cluster):
    """Two worker processes consume one host at once; the host row lock and the
    exclusion constraint keep every slot booked once."""
    cluster(2)
    first_queue, second_queue = _queues_of_two_members(cluster.sandbox)
    async with CommandClient(cluster.sandbox.amqp_url) as client:
        host = (await client.request(register("HOST")))["user"]["userId"]
        await client.request(availability(host, at(9), at(12)))
        users = [r["user"]["userId"] for r in await asyncio.gather(*[client.request(register()) for _ in range(120)])]
        waiters = []
        for i, user in enumerate(users):
            command = booking(host, user, at(9 + i % 3), at(9 + i % 3, 30))
            waiters.append(await _publish_to(client, command, (first_queue, second_queue)[i % 2]))
        replies = await asyncio.wait_for(asyncio.gather(*waiters), 60)
    confirmed = [r for r in replies if r["type"] == "BookingConfirmed"]
    assert len(confirmed) == 3
    assert all(r["reason"] == "SLOT_TAKEN" for r in replies if r["type"] == "BookingRejected")
    _, doubles = await _ledger(cluster.sandbox.database_url, [])
    assert doubles == 0


DAYS, SLOTS_A_DAY = 30, 6


async def test_a_second_owner_of_a_host_reads_what_the_first_committed(cluster):
    """Fenced reads. Two worker processes handle one host at once: one books each
    slot, the other cuts that slot out of the host's availability. In any order one
    of the two must lose (the booking finds no window, or the cut finds a booking);
    a cut that read its host before the booking committed would leave a confirmed
    booking outside every window."""
    cluster(2)
    booking_queue, removal_queue = _queues_of_two_members(cluster.sandbox)
    async with CommandClient(cluster.sandbox.amqp_url) as client:
        host = (await client.request(register("HOST")))["user"]["userId"]
        user = (await client.request(register()))["user"]["userId"]
        await asyncio.gather(*[client.request(availability(host, at(9, day=d), at(12, day=d))) for d in range(DAYS)])
        pairs = []
        for day in range(DAYS):
            for k in range(SLOTS_A_DAY):
                start, end = at(9, 30 * k, day=day), at(9, 30 * (k + 1), day=day)
                booked = await _publish_to(client, booking(host, user, start, end), booking_queue)
                cut = await _publish_to(client, removal(host, start, end), removal_queue)
                pairs.append((booked, cut))
        outcomes = [
            (b["type"], c["type"]) for b, c in await asyncio.wait_for(
                asyncio.gather(*(asyncio.gather(b, c) for b, c in pairs)), 120
            )
        ]
    both_won = [o for o in outcomes if o == ("BookingConfirmed", "AvailabilityRemoved")]
    assert not both_won, f"{len(both_won)} of {len(outcomes)} slots were both booked and cut"
    assert set(outcomes) <= {("BookingConfirmed", "AvailabilityRejected"), ("BookingRejected", "AvailabilityRemoved")}
    conn = await asyncpg.connect(cluster.sandbox.database_url)
    try:
        stranded = await conn.fetchval(
            "SELECT count(*) FROM bookings b WHERE b.status = 'CONFIRMED' AND NOT EXISTS"
            " (SELECT 1 FROM availability_windows w WHERE w.host_id = b.host_id AND w.period @> b.period)"
        )
    finally:
        await conn.close()
    assert stranded == 0
