"""The AMQP load driver, run in its own process: sends a scenario's commands with up
to K in flight (or paced at a fixed rate), each with reply_to, and times publish to
reply. Writes a JSON summary; shows progress on stderr."""

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter

import aio_pika

from benchmarks.scenarios import SCENARIOS, follow_up
from contracts.topology import COMMAND_EXCHANGE, partition_key


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


class Progress:
    def __init__(self, total: int, label: str) -> None:
        self.total, self.label, self.last = total, label, 0.0

    def show(self, done: int, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last > 0.5:
            self.last = now
            filled = int(30 * done / max(self.total, 1))
            print(f"\r  {self.label:<14} [{'#' * filled}{'.' * (30 - filled)}] {done}/{self.total}",
                  end="" if not force else "\n", file=sys.stderr, flush=True)


async def drive(args: argparse.Namespace, fixture: dict) -> dict:
    commands = SCENARIOS[args.scenario](fixture["hosts"], fixture["users"], args.count, args.run)
    connection = await aio_pika.connect(args.amqp)
    channel = await connection.channel(publisher_confirms=True)
    exchange = await channel.get_exchange(COMMAND_EXCHANGE)
    replies_queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    pending: dict[str, tuple[float, asyncio.Future]] = {}

    async def on_reply(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        entry = pending.pop(message.correlation_id or "", None)
        if entry and not entry[1].done():
            entry[1].set_result((time.perf_counter() - entry[0], json.loads(message.body)))

    await replies_queue.consume(on_reply, no_ack=True)
    slots = asyncio.Semaphore(args.inflight)
    latencies: list[float] = []
    outcomes: Counter = Counter()
    rng = random.Random(args.run)
    queue: asyncio.Queue = asyncio.Queue()
    for command in commands:
        queue.put_nowait(command)
    total = len(commands)
    progress = Progress(total, f"{args.scenario} #{args.run}")
    finished = 0
    all_done = asyncio.Event()

    async def send(command: dict) -> tuple[float, dict]:
        future = asyncio.get_running_loop().create_future()
        pending[command["commandId"]] = (time.perf_counter(), future)
        await exchange.publish(
            aio_pika.Message(json.dumps(command).encode(), content_type="application/json",
                             delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                             reply_to=replies_queue.name, correlation_id=command["commandId"]),
            routing_key=partition_key(command),
        )
        return await asyncio.wait_for(future, args.timeout)

    async def one(command: dict) -> None:
        nonlocal finished, total
        try:
            latency, reply = await send(command)
            latencies.append(latency)
            outcomes[reply.get("reason") or reply["type"]] += 1
            extra = follow_up(reply, rng) if args.scenario == "mixed" else None
            if extra is not None:
                total += 1
                progress.total = total
                queue.put_nowait(extra)
        except TimeoutError:
            outcomes["NO_REPLY"] += 1
        finally:
            slots.release()
            finished += 1
            if finished == total:
                all_done.set()

    started = time.perf_counter()
    interval = 1 / args.rate if args.rate else 0.0
    issued = 0
    tasks = set()
    while finished < total:
        try:
            command = queue.get_nowait()
        except asyncio.QueueEmpty:
            await asyncio.sleep(0.005)
            continue
        if interval:
            await asyncio.sleep(max(0.0, started + interval * issued - time.perf_counter()))
        await slots.acquire()
        issued += 1
        task = asyncio.create_task(one(command))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        progress.show(finished)
    await all_done.wait()
    elapsed = time.perf_counter() - started
    progress.show(finished, force=True)
    await connection.close()
    latencies.sort()
    return {
        "scenario": args.scenario,
        "run": args.run,
        "commands": total,
        "answered": len(latencies),
        "seconds": round(elapsed, 3),
        "throughput": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p95_ms": round(percentile(latencies, 0.95) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "outcomes": dict(outcomes),
        "inflight": args.inflight,
        "rate": args.rate,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--amqp", required=True)
    parser.add_argument("--fixture", required=True)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), required=True)
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--inflight", type=int, default=200)
    parser.add_argument("--rate", type=float, default=0.0, help="commands/s, paced; 0 = as fast as K allows")
    parser.add_argument("--run", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with open(args.fixture) as data:
        fixture = json.load(data)
    result = asyncio.run(drive(args, fixture))
    with open(args.out, "w") as out:
        json.dump(result, out)


if __name__ == "__main__":
    main()
