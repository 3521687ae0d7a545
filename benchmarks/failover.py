"""Failover time of a killed worker: three workers share the partitions while a
steady stream of bookings flows; one is killed with SIGKILL (and restarted after
the measurement) five times. Failover time = from the kill to the first reply to
a command sent after the kill to a partition the killed worker owned.
`python -m benchmarks.failover` prints each kill and the median."""

import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import quote

from benchmarks.run import RESULTS, prepare
from tests.support.amqp_client import CommandClient
from tests.support.processes import worker_process
from tests.support.services import create_sandbox, destroy_sandbox, find_servers

PARTITIONS = 16
BALANCE = {"BOOKING_BALANCE_INTERVAL": "1", "BOOKING_MEMBER_TTL": "4", "BOOKING_STANDBY_DELAY": "0.5"}


def owned_partitions(sandbox, pid: int) -> set[int]:
    with sandbox.management() as api:
        consumers = api.get(f"/api/consumers/{quote(sandbox.vhost, safe='')}").json()
    return {
        int(c["queue"]["name"].rsplit(".", 1)[1])
        for c in consumers
        if c.get("active") and f"-{pid}-" in c["consumer_tag"]
    }


async def measure(sandbox, workers, fixture: dict, kills: int) -> list[float]:
    """Right after each kill, a burst of 64 bookings over all hosts (so over every
    partition, the killed worker's included); the failover time is when the last of
    them is answered, counted from the kill. It includes handling the burst itself."""
    from benchmarks.scenarios import spread

    commands = iter(spread(fixture["hosts"], fixture["users"], 100_000, run=30))
    times = []
    async with CommandClient(sandbox.amqp_url) as client:
        for round_ in range(kills):
            await asyncio.sleep(8)  # the restarted worker rejoins and the spread settles
            victim = workers[round_ % len(workers)]
            owned = owned_partitions(sandbox, victim.pid)
            victim.kill()
            killed_at = time.monotonic()
            waiters = [await client.send(next(commands)) for _ in range(64)]
            await asyncio.wait_for(asyncio.gather(*waiters), 60)
            times.append(round(time.monotonic() - killed_at, 3))
            print(f"kill {round_ + 1}: owned {sorted(owned)}, all answered after {times[-1]} s", file=sys.stderr)
            victim.start()
    return times


def main() -> None:
    urls, containers = find_servers()
    sandbox = create_sandbox(urls, "failover")
    logs = Path("/tmp/failover-logs")
    logs.mkdir(exist_ok=True)
    env = sandbox.env(BOOKING_PARTITIONS=str(PARTITIONS), **BALANCE)
    workers = []
    try:
        workers = [worker_process(env, logs / f"worker-{i}.log").start() for i in range(3)]
        fixture = asyncio.run(prepare(sandbox.amqp_url, 200, 50))
        times = asyncio.run(measure(sandbox, workers, fixture, 5))
    finally:
        for worker in workers:
            worker.kill()
        destroy_sandbox(sandbox)
        for container in containers:
            container.stop()
    result = {"kills_s": times, "median_s": statistics.median(times)}
    (RESULTS / f"{time.strftime('%Y-%m-%dT%H%M')}-failover.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
