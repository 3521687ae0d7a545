"""`make bench-http`: the HTTP benchmark of POST /booking, end to end on this machine.

Starts the system (BOOKING_WORKERS worker processes and one gateway) on a fresh
database and vhost, signs up 1,000 hosts and 300 users over HTTP and gives each host
a 60-day window of 30-minute slots. Then wrk (benchmarks/http/booking.lua) drives
POST /booking of distinct free slots, each with the user's own token, at each
concurrency, --runs times after a warm-up, against three targets:
  system    the real gateway and worker(s), checked in the database after every run
  stand-in  baseline (a): the real gateway before a stand-in worker that confirms at once
  minimal   baseline (b): a one-route app on the gateway's server stack
Any answer but 201, and any wrk socket error or timeout, fails the run: it is kept
and marked, and the command exits 1. Writes benchmarks/results/<date>-http.json and
prints a table, the CPU shares of the c=16 runs, and a markdown table."""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

from benchmarks.http import report, wrk
from benchmarks.http.cpu import CpuMeter, postgres_pids, rabbitmq_pids
from benchmarks.run import RESULTS, double_bookings
from benchmarks.scenarios import BASE_DAY, SLOT_MINUTES, fmt
from tests.support.http_client import bearer, sign_up_body
from tests.support.processes import ROOT, ServiceProcess, free_port, gateway_process, worker_process
from tests.support.services import create_sandbox, destroy_sandbox, find_servers

HOSTS, USERS, WINDOW_DAYS = 1000, 300, 60
# the processes each target runs, started in this order
ROLES = {"system": ("worker", "gateway"), "stand-in": ("stand-in", "gateway"), "minimal": ("minimal",)}


async def post_until_done(http: httpx.AsyncClient, path: str, body: dict, token: str | None = None) -> dict:
    """POST a write and wait for its outcome: a 202 (the reply outlived the gateway's
    wait) is sent again with the same Idempotency-Key until the stored reply comes back."""
    headers = {"Idempotency-Key": str(uuid.uuid4()), **(bearer(token) if token else {})}
    for _ in range(60):
        response = await http.post(path, json=body, headers=headers)
        if response.status_code != 202:
            break
        await asyncio.sleep(1)
    assert response.status_code == 201, f"{path}: {response.status_code} {response.text}"
    return response.json()


async def prepare(base_url: str) -> wrk.Fixture:
    """The hosts and users, signed up over HTTP, and each host's window."""
    window = {"startTime": fmt(BASE_DAY), "endTime": fmt(BASE_DAY + timedelta(days=WINDOW_DAYS)),
              "slotDuration": SLOT_MINUTES}
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        gate = asyncio.Semaphore(32)

        async def sign_up(role: str) -> tuple[str, str]:
            async with gate:
                signed = await post_until_done(http, "/users", sign_up_body(role))
                return signed["user"]["userId"], signed["token"]

        async def open_window(host: str, token: str) -> None:
            async with gate:
                await post_until_done(http, "/availability", {"hostId": host, **window}, token)

        hosts = await asyncio.gather(*(sign_up("HOST") for _ in range(HOSTS)))
        users = await asyncio.gather(*(sign_up("USER") for _ in range(USERS)))
        await asyncio.gather(*(open_window(host, token) for host, token in hosts))
    return wrk.Fixture([host for host, _ in hosts], list(users))


async def confirmed_count(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM bookings WHERE status = 'CONFIRMED'")


async def settled_count(database_url: str) -> int:
    """The count of confirmed bookings once the requests wrk left unanswered are done."""
    conn = await asyncpg.connect(database_url)
    try:
        count = await confirmed_count(conn)
        for _ in range(60):
            await asyncio.sleep(0.5)
            count, previous = await confirmed_count(conn), count
            if count == previous:
                break
        return count
    finally:
        await conn.close()


async def database_checks(database_url: str, ids: list[str], before: int, unanswered: int) -> dict:
    """No double booking; every 201's booking stored as CONFIRMED; nothing else
    confirmed but requests wrk sent and stopped waiting for at the end of the run."""
    after = await settled_count(database_url)
    valid = []
    for value in ids:
        try:
            valid.append(uuid.UUID(value))
        except ValueError:
            continue
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetchval(
            "SELECT count(*) FROM bookings WHERE id = ANY($1::uuid[]) AND status = 'CONFIRMED'", valid)
    finally:
        await conn.close()
    checks = {"double_bookings": await double_bookings(database_url), "answered_201": len(ids),
              "distinct_201_ids": len(set(ids)), "stored_201": stored, "confirmed_in_run": after - before,
              "unanswered_at_stop": unanswered}
    failures = []
    if checks["double_bookings"]:
        failures.append(f"{checks['double_bookings']} double bookings")
    if stored != len(ids) or len(set(ids)) != len(ids):
        failures.append(f"{len(ids)} answers 201 ({len(set(ids))} distinct ids), {stored} of them stored as CONFIRMED")
    if not 0 <= after - before - len(ids) <= unanswered:
        failures.append(f"{after - before} bookings confirmed in the run for {len(ids)} answers 201"
                        f" and {unanswered} requests unanswered at wrk's stop")
    return {**checks, "failures": failures}


def answer_failures(result: dict) -> list[str]:
    failures = []
    others = {status: n for status, n in result["statuses"].items() if status != "201"}
    if others:
        failures.append(f"answers other than 201: {others}, e.g. {result['error_samples'][:2]}")
    errors = {kind: n for kind, n in result["errors"].items() if n}
    if errors:
        failures.append(f"wrk socket errors: {errors}")
    if not result["requests"]:
        failures.append("no answers")
    return failures


def py_spy() -> str:
    binary = Path(sys.executable).with_name("py-spy")
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "py-spy"], check=True)
    return str(binary)


class HttpBench:
    def __init__(self, args: argparse.Namespace, stamp: str) -> None:
        self.args, self.stamp = args, stamp
        self.urls, self.containers = find_servers()
        self.sandbox = create_sandbox(self.urls, "bench-http")
        self.logs = Path(f"/tmp/bench-http-{os.getpid()}")
        self.logs.mkdir(exist_ok=True)
        self.data = self.logs / "wrk-data.txt"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.running: dict[str, list[ServiceProcess]] = {}
        self.fixture: wrk.Fixture | None = None
        self.next_index = 0  # the first global request index no run has sent yet
        self.runs: list[dict] = []
        self.warmups: list[dict] = []
        self.profiled: dict | None = None

    # ---- processes

    def env(self) -> dict[str, str]:
        return self.sandbox.env(
            BOOKING_HTTP_PORT=str(self.port), BOOKING_GATEWAYS=str(self.args.gateways), PYTHONUNBUFFERED="1"
        )

    def processes(self, role: str) -> list[ServiceProcess]:
        env, log = self.env(), self.logs / f"{role}.log"
        tree = Path(self.args.worker_tree) if self.args.worker_tree else ROOT
        if role == "worker":
            return [worker_process(env, self.logs / f"worker-{i}.log", tree) for i in range(self.args.workers)]
        if role == "gateway":
            return [gateway_process(env, log, self.port, tree)]
        if role == "stand-in":
            return [ServiceProcess("benchmarks.http.stand_in_worker", env, log, "stand-in ready")]
        return [ServiceProcess("benchmarks.http.minimal_app", env, log, "Uvicorn running")]

    def enter(self, target: str) -> None:
        """Runs exactly the processes of `target` (the worker never beside its stand-in)."""
        for role in [r for r in self.running if r not in ROLES[target]]:
            for process in self.running.pop(role):
                process.terminate()
        for role in ROLES[target]:
            if role not in self.running:
                self.running[role] = []
                for process in self.processes(role):
                    self.running[role].append(process)  # before start(): close() stops one that never got ready
                    process.start()

    def pids(self, *roles: str) -> list[int]:
        """With their children: BOOKING_GATEWAYS > 1 serves from child processes."""
        return [pid for role in roles for p in self.running.get(role, []) for pid in p.family()]

    def meter(self) -> CpuMeter:
        return CpuMeter({
            "gateway": lambda: self.pids("gateway", "minimal"),
            "worker": lambda: self.pids("worker", "stand-in"),
            "rabbitmq": rabbitmq_pids,
            "postgres": lambda: postgres_pids(self.sandbox.database_name),
        })

    # ---- runs

    def drive(self, target: str, connections: int, run: int | str, seconds: float, profile: bool = False) -> dict:
        threads, first = min(self.args.threads, connections), self.next_index
        wrk.write_data(self.data, self.fixture, first, threads)
        checked = target == "system"
        before_count = asyncio.run(settled_count(self.sandbox.database_url)) if checked else 0
        spies, svgs = self.profilers(seconds) if profile else ([], {})
        meter = self.meter()
        before = meter.snapshot()
        result = wrk.run(self.url, self.data, connections, threads, seconds, self.args.timeout)
        after = meter.snapshot()
        for spy in spies:
            spy.wait()
        if checked:  # the baselines store nothing: they may send the same slots again
            self.next_index = max(first, result["last_index"] + 1)
        ids = result.pop("booking_ids")
        result.update(target=target, connections=connections, threads=threads, run=run, first_index=first,
                      cpu_pct=CpuMeter.shares(before, after), **({"svg": svgs} if svgs else {}))
        failures = answer_failures(result)
        if checked:
            result["database"] = asyncio.run(database_checks(
                self.sandbox.database_url, ids, before_count, result["sent"] - result["requests"]))
            failures += result["database"].pop("failures")
        result.update(ok=not failures, failures=failures)
        print(f"  {target:<8} c={connections:<3} run {run}: {result['rps']:8.1f} req/s  p50 {result['p50_ms']:.2f}"
              f"  p99 {result['p99_ms']:.2f} ms  {result['statuses']}  {'ok' if result['ok'] else 'FAILED'}"
              + "".join(f"\n    {f}" for f in failures), file=sys.stderr, flush=True)
        return result

    def profilers(self, seconds: float) -> tuple[list[subprocess.Popen], dict[str, str]]:
        """py-spy on the gateway and the (first) worker for `seconds`: the processes, the flame graphs."""
        spy, spies, svgs = py_spy(), [], {}
        for name in ("gateway", "worker"):
            svg = svgs[name] = str(RESULTS / f"{self.stamp}-{name}.svg")
            with open(self.logs / f"py-spy-{name}.log", "w") as log:
                spies.append(subprocess.Popen(
                    [spy, "record", "--nonblocking", "--subprocesses", "-d", str(round(seconds)), "-o", svg, "--pid",
                     str(self.pids(name)[0])], stdout=log, stderr=subprocess.STDOUT))
        return spies, svgs

    def measure(self, target: str) -> None:
        self.enter(target)
        print(f"{target}: {report.TARGETS[target]}", file=sys.stderr)
        if self.args.warmup:
            self.warmups.append(self.drive(target, 16, "warm-up", self.args.warmup))
        for run in range(self.args.runs):  # concurrencies interleaved, so drift hits them alike
            for connections in self.args.concurrency:
                self.runs.append(self.drive(target, connections, run, self.args.duration))
        if target == "system" and self.args.profile:
            self.profiled = self.drive(target, 16, "profiled", self.args.duration, profile=True)

    def close(self) -> None:
        for processes in reversed(list(self.running.values())):
            for process in processes:
                process.terminate()
        try:
            destroy_sandbox(self.sandbox)
        except Exception as error:  # e.g. a server restarted under us: say what is left behind
            print(f"sandbox not removed ({error!r}): database {self.sandbox.database_name},"
                  f" vhost {self.sandbox.vhost}", file=sys.stderr)
        for container in self.containers:
            container.stop()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=lambda s: [int(c) for c in s.split(",")], default=[1, 16, 64],
                        help="wrk -c of each run (default 1,16,64)")
    parser.add_argument("--runs", type=int, default=3, help="runs per target and concurrency (default 3)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per run (default 10)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of a c=16 warm-up per target; 0: none")
    parser.add_argument("--threads", type=int, default=1, help="wrk -t, at most -c (default 1)")
    parser.add_argument("--timeout", type=int, default=10, help="wrk --timeout: slower answers are socket timeouts")
    parser.add_argument("--targets", type=lambda s: s.split(","), default=list(ROLES),
                        help="any of system,stand-in,minimal (default all)")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BOOKING_WORKERS", "1")))
    parser.add_argument("--gateways", type=int, default=int(os.environ.get("BOOKING_GATEWAYS", "1")),
                        help="gateway processes on the port, for the system and stand-in targets")
    parser.add_argument("--label", default="", help="added to the result file names")
    parser.add_argument("--worker-tree", default="",
                        help="run the worker and gateway of another checkout (a before/after)")
    parser.add_argument("--profile", action="store_true",
                        help="one extra c=16 run of the system under py-spy: results/<date>-gateway.svg, -worker.svg")
    return parser.parse_args()


def publish(bench: HttpBench, args: argparse.Namespace, stamp: str, seconds: float) -> int:
    """Writes results/<stamp>-http.json and prints the tables; the number of failed runs."""
    summaries = report.medians(bench.runs)
    ratios = report.ratios(summaries)
    failed = [r for r in [*bench.warmups, *bench.runs, *([bench.profiled] if bench.profiled else [])] if not r["ok"]]
    config = {**vars(args), "hosts": HOSTS, "users": USERS, "window_days": WINDOW_DAYS, "cpus": os.cpu_count(),
              "settings": {k: v for k, v in os.environ.items() if k.startswith("BOOKING_")},
              "seconds_total": round(seconds)}
    document = {"config": config, "medians": summaries.get("system", {}),
                "baselines": {name: summaries[name] for name in ("stand-in", "minimal") if name in summaries},
                "ratios": ratios, "failed_runs": len(failed), "runs": bench.runs, "warmups": bench.warmups,
                "profiled": bench.profiled}
    path = RESULTS / f"{stamp}-http.json"
    path.write_text(json.dumps(document, indent=2))

    table = report.rows(summaries, ratios)
    print(f"\n{report.plain(table)}\n\n{report.cpu_lines(summaries)}\n")
    print(f"Medians of {args.runs} runs of {args.duration} s each; wrk -t {args.threads}; "
          f"{args.workers} worker(s), {args.gateways} gateway process(es); "
          "ratios = system req/s over (a) stand-in worker and (b) minimal app.\n")
    print(report.markdown(table))
    print(f"\nresults: {path}" + (f"\nFAILED runs: {len(failed)}" if failed else ""))
    return len(failed)


def main() -> None:
    args = parse_args()
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M") + (f"-{args.label}" if args.label else "")
    RESULTS.mkdir(parents=True, exist_ok=True)
    bench = HttpBench(args, stamp)
    started = time.monotonic()
    try:
        print(f"preparing: {args.workers} worker(s) and the gateway; {HOSTS} hosts, {USERS} users, windows over HTTP",
              file=sys.stderr)
        bench.enter("system")
        bench.fixture = asyncio.run(prepare(bench.url))
        for target in args.targets:
            bench.measure(target)
    finally:  # what was measured is kept even when a run broke off
        failed = publish(bench, args, stamp, time.monotonic() - started) if bench.runs else 1
        bench.close()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
