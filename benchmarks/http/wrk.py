"""Running wrk with booking.lua: the data file the script reads, and the summary it
prints (see the script's header for both)."""

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from benchmarks.scenarios import BASE_DAY, SLOT_MINUTES

SCRIPT = Path(__file__).with_name("booking.lua")
MARK = "BENCH-JSON "


@dataclass
class Fixture:
    hosts: list[str]  # host ids
    users: list[tuple[str, str]]  # (user id, bearer token)


def write_data(path: Path, fixture: Fixture, first: int, threads: int) -> None:
    header = f"{first} {threads} {int(BASE_DAY.timestamp())} {SLOT_MINUTES * 60} {len(fixture.hosts)} {len(fixture.users)}"
    lines = [header, *fixture.hosts, *(f"{user} {token}" for user, token in fixture.users)]
    path.write_text("\n".join(lines) + "\n")


def command(url: str, connections: int, threads: int, seconds: float, timeout: float) -> list[str]:
    return ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{round(seconds)}s", "--timeout", f"{round(timeout)}s",
            "-s", str(SCRIPT), url]


def run(url: str, data: Path, connections: int, threads: int, seconds: float, timeout: float) -> dict:
    """One wrk run of POST /booking; the script's summary, its `booking_ids` included."""
    done = subprocess.run(command(url, connections, threads, seconds, timeout), capture_output=True, text=True,
                          env={**os.environ, "BENCH_HTTP_DATA": str(data)}, timeout=seconds + timeout + 60)
    for line in done.stdout.splitlines():
        if line.startswith(MARK):
            summary = json.loads(line[len(MARK):])
            summary["statuses"] = summary["statuses"] or {}  # the script writes an empty table as []
            for key in ("seconds", "rps", "p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms"):
                summary[key] = round(summary[key], 3)
            return summary
    raise RuntimeError(f"wrk printed no summary (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
