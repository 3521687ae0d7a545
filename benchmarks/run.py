"""`make bench`: the worker's throughput benchmark, end to end on this machine.

Starts the system on a fresh database and vhost, prepares 1,000 hosts (each with a
window of 30-minute slots) and 300 users, measures the two baselines (`echo`: a bare
consumer that replies at once; `sql`: the booking transaction alone), then drives
each scenario from a separate process, checks correctness after every run, and
writes benchmarks/results/<date>-<scenario>.json. Medians of --runs runs."""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from benchmarks.scenarios import window_commands
from tests.support.amqp_client import CommandClient
from tests.support.commands import register
from tests.support.processes import ServiceProcess, worker_process
from tests.support.services import create_sandbox, destroy_sandbox, find_servers

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


async def prepare(amqp_url: str, hosts: int, users: int) -> dict:
    async with CommandClient(amqp_url) as client:
        gate = asyncio.Semaphore(300)

        async def ask(command: dict) -> dict:
            async with gate:
                return await client.request(command, timeout=120)

        host_ids = [r["user"]["userId"] for r in await asyncio.gather(*(ask(register("HOST")) for _ in range(hosts)))]
        user_ids = [r["user"]["userId"] for r in await asyncio.gather(*(ask(register()) for _ in range(users)))]
        windows = await asyncio.gather(*(ask(c) for c in window_commands(host_ids, range(0, 85))))
        assert all(w["type"] == "AvailabilityCreated" for w in windows), windows[:3]
    return {"hosts": host_ids, "users": user_ids}


def run_module(module: str, *args: str) -> dict:
    out = Path(f"/tmp/bench-{os.getpid()}-{time.monotonic_ns()}.json")
    subprocess.run([sys.executable, "-m", module, *args, "--out", str(out)], cwd=ROOT, check=True)
    result = json.loads(out.read_text())
    out.unlink()
    return result


async def double_bookings(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval(
            "SELECT count(*) FROM bookings a JOIN bookings b ON a.host_id = b.host_id AND a.id < b.id"
            " AND a.period && b.period WHERE a.status = 'CONFIRMED' AND b.status = 'CONFIRMED'"
        )
    finally:
        await conn.close()


def median_of(runs: list[dict], key: str) -> float:
    return round(statistics.median(r[key] for r in runs), 2)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.urls, self.containers = find_servers()
        self.sandbox = create_sandbox(self.urls, "bench")
        self.fixture_path = Path(f"/tmp/bench-fixture-{os.getpid()}.json")
        self.logs = Path(f"/tmp/bench-logs-{os.getpid()}")
        self.logs.mkdir(exist_ok=True)
        self.workers: list[ServiceProcess] = []

    def env(self) -> dict[str, str]:
        return self.sandbox.env(
            BOOKING_PARTITIONS=str(self.args.partitions),
            BOOKING_PREFETCH=str(self.args.prefetch),
            BOOKING_MAX_GROUP=str(self.args.max_group),
        )

    def start_workers(self) -> None:
        tree = Path(self.args.worker_tree) if self.args.worker_tree else ROOT
        self.workers = [
            worker_process(self.env(), self.logs / f"worker-{i}.log", tree).start() for i in range(self.args.workers)
        ]

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.terminate()
        self.workers = []

    def drive(self, scenario: str, run: int, count: int, rate: float = 0.0) -> dict:
        pids = [w.pid for w in self.workers]
        profiler = self._profile(pids[0], scenario) if pids and self.args.profile and run == 1 else None
        cpu_before = sum(cpu_seconds(pid) for pid in pids)
        result = run_module(
            "benchmarks.driver", "--amqp", self.sandbox.amqp_url, "--fixture", str(self.fixture_path),
            "--scenario", scenario, "--count", str(count), "--inflight", str(self.args.inflight),
            "--run", str(run), "--rate", str(rate),
        )
        if profiler is not None:
            profiler.wait()
        if pids:
            cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
            result["worker_cpu_s_per_1000"] = round(1000 * cpu / max(result["answered"], 1), 3)
            result["worker_peak_rss_mib"] = round(max(rss_kib(pid, "VmHWM") for pid in pids) / 1024, 1)
            result["double_bookings"] = asyncio.run(double_bookings(self.sandbox.database_url))
            result["all_answered"] = result["answered"] == result["commands"]
            assert result["double_bookings"] == 0, result
            assert result["all_answered"], result
        return result

    def _profile(self, pid: int, scenario: str) -> subprocess.Popen:
        """py-spy on the worker for the first seconds of the run: a flame graph and
        the collapsed stacks next to the results."""
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M")
        out = RESULTS / f"{stamp}-{scenario}-worker-profile"
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "py-spy"), "record", "--nonblocking", "-d", "8", "-r", "250",
             "-f", "raw", "-o", f"{out}.txt", "--pid", str(pid)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def echo_baseline(self) -> list[dict]:
        echo = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.echo", "--amqp", self.sandbox.amqp_url,
             "--partitions", str(self.args.partitions), "--prefetch", str(self.args.prefetch)],
            cwd=ROOT, stdout=subprocess.PIPE, text=True,
        )
        assert echo.stdout.readline().strip() == "echo ready"
        try:
            return [self.drive("spread", 50 + run, self.args.count) for run in range(self.args.runs)]
        finally:
            echo.kill()
            echo.wait()

    def sql_baseline(self) -> list[dict]:
        connections = str(self.args.workers * int(os.environ.get("BOOKING_DB_POOL_SIZE", "10")))
        return [
            run_module("benchmarks.sql_baseline", "--db", self.sandbox.database_url, "--fixture",
                       str(self.fixture_path), "--count", str(self.args.count), "--connections", connections,
                       "--day", str(70 + run))
            for run in range(self.args.runs)
        ]

    def soak(self, rate: float) -> dict:
        pid = self.workers[0].pid
        samples: list[tuple[float, int]] = []
        count = int(rate * self.args.soak_seconds)
        driver = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.driver", "--amqp", self.sandbox.amqp_url, "--fixture",
             str(self.fixture_path), "--scenario", "soak", "--count", str(count), "--inflight",
             str(self.args.inflight), "--rate", str(rate), "--run", "0", "--out", "/tmp/bench-soak.json"],
            cwd=ROOT,
        )
        started = time.monotonic()
        while driver.poll() is None:
            samples.append((round(time.monotonic() - started, 1), rss_kib(pid)))
            time.sleep(5)
        result = json.loads(Path("/tmp/bench-soak.json").read_text())
        warm = [rss for t, rss in samples if t >= 30] or [rss for _, rss in samples]
        result["rss_kib_samples"] = samples
        result["rss_growth_pct"] = round(100 * (warm[-1] - warm[0]) / warm[0], 1)
        return result

    def close(self) -> None:
        self.stop_workers()
        destroy_sandbox(self.sandbox)
        for container in self.containers:
            container.stop()


def summarise(name: str, runs: list[dict]) -> dict:
    keys = ["throughput", "p50_ms", "p95_ms", "p99_ms", "worker_cpu_s_per_1000", "worker_peak_rss_mib"]
    return {"scenario": name, "runs": runs, "median": {k: median_of(runs, k) for k in keys if k in runs[0]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenarios", default="spread,hot,mixed")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--inflight", type=int, default=200)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BOOKING_WORKERS", "1")))
    parser.add_argument("--partitions", type=int, default=int(os.environ.get("BOOKING_PARTITIONS", "16")))
    parser.add_argument("--prefetch", type=int, default=int(os.environ.get("BOOKING_PREFETCH", "32")))
    parser.add_argument("--max-group", type=int, default=int(os.environ.get("BOOKING_MAX_GROUP", "32")))
    parser.add_argument("--soak-seconds", type=int, default=300)
    parser.add_argument("--worker-tree", default="", help="run the worker of another checkout (a before/after)")
    parser.add_argument("--profile", action="store_true", help="py-spy the worker during run 1 of each scenario")
    parser.add_argument("--label", default="", help="added to the result file names")
    args = parser.parse_args()

    bench = Bench(args)
    try:
        print("preparing: starting worker, 1,000 hosts with windows, 300 users", file=sys.stderr)
        bench.start_workers()
        bench.fixture_path.write_text(json.dumps(asyncio.run(prepare(bench.sandbox.amqp_url, 1000, 300))))
        bench.stop_workers()
        print("baseline echo", file=sys.stderr)
        echo = summarise("echo", bench.echo_baseline())
        print("baseline sql", file=sys.stderr)
        sql = summarise("sql", bench.sql_baseline())
        bench.start_workers()
        report = {}
        for scenario in args.scenarios.split(","):
            report[scenario] = summarise(scenario, [bench.drive(scenario, run, args.count) for run in range(args.runs)])
        if "spread" in report:
            half = report["spread"]["median"]["throughput"] / 2
            print(f"spread at half of its throughput ({half:.0f}/s)", file=sys.stderr)
            report["spread"]["half_rate"] = bench.drive("spread", 10, int(half * 20), rate=half)
            if args.soak_seconds:
                print(f"soak: {args.soak_seconds} s at {half:.0f}/s", file=sys.stderr)
                report["spread"]["soak"] = bench.soak(half)
    finally:
        bench.close()

    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M")
    RESULTS.mkdir(parents=True, exist_ok=True)
    config = {k: v for k, v in vars(args).items()}
    print(f"\n{'scenario':<10}{'cmd/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'cpu s/1k':>10}"
          f"{'rss MiB':>9}{'/echo':>8}{'/sql':>8}")
    for name, summary in [("echo", echo), ("sql", sql), *report.items()]:
        m = summary["median"]
        ratios = ""
        if name in report:
            summary["ratio_to_echo"] = round(m["throughput"] / echo["median"]["throughput"], 3)
            summary["ratio_to_sql"] = round(m["throughput"] / sql["median"]["throughput"], 3)
            summary["baselines"] = {"echo": echo["median"], "sql": sql["median"]}
            summary["config"] = config
            label = f"-{args.label}" if args.label else ""
            (RESULTS / f"{stamp}-{name}{label}.json").write_text(json.dumps(summary, indent=2))
            ratios = f"{summary['ratio_to_echo']:>8}{summary['ratio_to_sql']:>8}"
        print(f"{name:<10}{m['throughput']:>9}{m.get('p50_ms', '-'):>9}{m.get('p95_ms', '-'):>9}"
              f"{m.get('p99_ms', '-'):>9}{m.get('worker_cpu_s_per_1000', '-'):>10}"
              f"{m.get('worker_peak_rss_mib', '-'):>9}{ratios}")
    if "spread" in report:
        spread = report["spread"]
        hot = report.get("hot", {}).get("median", {}).get("throughput", 0)
        print(f"\nspread at half rate: p99 {spread['half_rate']['p99_ms']} ms;"
              f" hot/spread = {hot / spread['median']['throughput']:.2f}")
        if "soak" in spread:
            print(f"soak: RSS growth {spread['soak']['rss_growth_pct']}% over {args.soak_seconds} s")


if __name__ == "__main__":
    main()
