"""Where the CPU goes during a run: the CPU seconds of each part of the system (the
gateway, the worker or its stand-in, RabbitMQ, the PostgreSQL processes serving the
benchmark's database, wrk), of the whole machine and the rest (`other`), as % of one
core over the run."""

import os
import resource
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.run import cpu_seconds

TICKS = os.sysconf("SC_CLK_TCK")


def pids_named(comm: str, keep: Callable[[str], bool] = lambda _: True) -> list[int]:
    """Processes whose command name is `comm` and whose command line passes `keep`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == comm:
                if keep((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")):
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def rabbitmq_pids() -> list[int]:
    return pids_named("beam.smp")


def postgres_pids(database: str) -> list[int]:
    """The server's own processes and the backends of `database` (not other tests' backends)."""
    return pids_named("postgres", lambda cmdline: database in cmdline or "(" not in cmdline)


def _cpu(pids: list[int]) -> dict[int, float]:
    seconds = {}
    for pid in pids:
        try:
            seconds[pid] = cpu_seconds(pid)
        except OSError:
            continue
    return seconds


def _machine_busy() -> float:
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / TICKS  # all but idle and iowait


class CpuMeter:
    """snapshot() before and after a run; shares() of the two. Children this process
    waited for in between (wrk) are counted as `wrk`."""

    def __init__(self, parts: dict[str, Callable[[], list[int]]]) -> None:
        self.parts = parts

    def snapshot(self) -> dict:
        return {
            "at": time.monotonic(),
            "parts": {name: _cpu(pids()) for name, pids in self.parts.items()},
            "wrk": sum(resource.getrusage(resource.RUSAGE_CHILDREN)[:2]),
            "machine": _machine_busy(),
        }

    @staticmethod
    def shares(before: dict, after: dict) -> dict[str, float]:
        wall = after["at"] - before["at"]

        def pct(seconds: float) -> float:
            return round(100 * seconds / wall, 1)

        shares = {
            name: pct(sum(s - before["parts"][name].get(pid, 0.0) for pid, s in after["parts"][name].items()))
            for name in after["parts"]
        }
        shares["wrk"] = pct(after["wrk"] - before["wrk"])
        shares["machine"] = pct(after["machine"] - before["machine"])
        # the rest: the kernel's own work, short-lived processes, and whatever else shares the machine
        shares["other"] = round(shares["machine"] - sum(v for k, v in shares.items() if k != "machine"), 1)
        return shares
