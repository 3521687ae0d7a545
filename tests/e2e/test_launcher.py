"""`make run` (services.launcher) on the real services: a dead worker or gateway is
restarted and the system keeps answering; a child that keeps dying at start makes
the launcher give up; Ctrl-C / SIGTERM stops every child, killing one that does not
stop in time."""

import asyncio
import json
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import asyncpg
import httpx
import pytest

from services.launcher import Child, Supervisor
from tests.support.amqp_client import CommandClient
from tests.support.commands import at, availability, booking, register
from tests.support.processes import ROOT, child_pids
from tests.support.services import create_sandbox, destroy_sandbox

FAST_BALANCE = {"BOOKING_BALANCE_INTERVAL": "0.5", "BOOKING_MEMBER_TTL": "3", "BOOKING_STANDBY_DELAY": "0.5"}
HOSTS, SLOTS, TRIES = 60, 10, 5  # 600 slots, each booked by 5 users: 3,000 contended bookings


def quiet_ports(count: int) -> int:
    """A port p with p .. p + count - 1 free, below the ephemeral range: a restarted
    child binds its port again, and an outgoing connection may meanwhile have taken
    a free ephemeral port as its local port."""
    low, _ = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    while True:
        port = random.randrange(20000, low - count)
        try:
            for p in range(port, port + count):
                with socket.socket() as sock:
                    sock.bind(("0.0.0.0", p))
        except OSError:
            continue
        return port


def _alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


class Launcher:
    """`python -m services.launcher` in its own session, its output (and its
    children's) in one file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = {**env, "PYTHONUNBUFFERED": "1"}
        self.log_path = log_path
        self.metrics_base = int(self.env["BOOKING_METRICS_PORT"])
        self.http_port = int(self.env["BOOKING_HTTP_PORT"])
        self.seen: set[int] = set()
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.launcher"], cwd=ROOT, env=self.env, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def records(self, msg: str) -> list[dict]:
        found = []
        for line in self.log().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("msg") == msg:
                found.append(record)
        return found

    def workers(self) -> dict[int, int]:
        """Worker index (from its metrics port) -> pid, of the live worker children."""
        found = {}
        for pid in child_pids(self.process.pid):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"services.worker" in argv and _alive(pid):
                port = next(int(e.split(b"=", 1)[1]) for e in environ if e.startswith(b"BOOKING_METRICS_PORT="))
                found[port - self.metrics_base] = pid
        self.seen |= set(found.values())
        return found

    def gateway(self) -> int:
        [pid] = [pid for pid in self.family() if b"services.gateway" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        return pid

    def family(self) -> set[int]:
        pids = child_pids(self.process.pid)
        self.seen |= pids
        return pids

    def healthy(self, workers: int) -> bool:
        """Every worker answers /health on its own metrics port and the gateway answers HTTP."""
        ports = [self.metrics_base + i for i in range(workers)]
        urls = [f"http://127.0.0.1:{p}/health" for p in ports] + [f"http://127.0.0.1:{self.http_port}/health"]
        try:
            return all(httpx.get(url, timeout=2).status_code == 200 for url in urls)
        except httpx.HTTPError:
            return False

    def wait_healthy(self, workers: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"launcher exited {self.process.returncode}:\n{self.log()[-4000:]}"
            if len(self.workers()) == workers and self.healthy(workers):
                return
            time.sleep(0.2)
        raise AssertionError(f"not every child healthy in {timeout}s:\n{self.log()[-4000:]}")

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"launcher still running after {timeout}s:\n{self.log()[-4000:]}") from None

    def clean_up(self) -> None:
        self.family()
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        for pid in self.seen:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def launch(servers, tmp_path):
    box = create_sandbox(servers, "launcher")
    started: list[Launcher] = []

    def start(workers: int = 2, **extra: str) -> Launcher:
        env = box.env(
            BOOKING_WORKERS=str(workers), BOOKING_HTTP_PORT=str(quiet_ports(1)),
            BOOKING_METRICS_PORT=str(quiet_ports(workers)), **FAST_BALANCE,
        )
        env.update(extra)
        started.append(Launcher(env, tmp_path / f"launcher-{len(started)}.log"))
        return started[-1]

    start.sandbox = box
    yield start
    for launcher in started:
        launcher.clean_up()
    destroy_sandbox(box)


async def _wait_for(condition, timeout: float, what: str, launcher: Launcher) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(condition):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what} within {timeout}s:\n{launcher.log()[-4000:]}")


async def test_sigkilled_workers_are_restarted_and_every_contended_booking_is_answered(launch):
    launcher = launch(workers=2)
    await asyncio.to_thread(launcher.wait_healthy, 2)
    first = launcher.workers()
    async with CommandClient(launch.sandbox.amqp_url) as client:
        hosts = [r["user"]["userId"] for r in await asyncio.gather(*[client.request(register("HOST")) for _ in range(HOSTS)])]
        users = [r["user"]["userId"] for r in await asyncio.gather(*[client.request(register()) for _ in range(TRIES)])]
        await asyncio.gather(*[client.request(availability(h, at(9), at(9 + SLOTS // 2))) for h in hosts])
        commands = [
            booking(host, user, at(9, 30 * s), at(9, 30 * s + 30)) for user in users for host in hosts for s in range(SLOTS)
        ]
        chunk = len(commands) // 3
        waiters = [await client.send(c) for c in commands[:chunk]]
        await _wait_for(lambda: sum(w.done() for w in waiters) >= chunk // 3, 30, "first replies", launcher)
        os.kill(first[0], signal.SIGKILL)
        waiters += [await client.send(c) for c in commands[chunk : 2 * chunk]]
        await _wait_for(
            lambda: launcher.workers().get(0, first[0]) != first[0] and launcher.healthy(2), 30,
            "worker 0 restarted", launcher,
        )
        os.kill(first[1], signal.SIGKILL)
        waiters += [await client.send(c) for c in commands[2 * chunk :]]
        replies = await asyncio.wait_for(asyncio.gather(*waiters), 120)
        await _wait_for(
            lambda: launcher.workers().get(1, first[1]) != first[1] and launcher.healthy(2), 30,
            "worker 1 restarted", launcher,
        )

    assert len(replies) == len(commands) == HOSTS * SLOTS * TRIES
    outcomes = Counter(r["type"] if r["type"] == "BookingConfirmed" else r.get("reason") for r in replies)
    assert outcomes == {"BookingConfirmed": HOSTS * SLOTS, "SLOT_TAKEN": HOSTS * SLOTS * (TRIES - 1)}
    confirmed = Counter((r["booking"]["hostId"], r["booking"]["startTime"]) for r in replies if r["type"] == "BookingConfirmed")
    assert len(confirmed) == HOSTS * SLOTS and set(confirmed.values()) == {1}
    conn = await asyncpg.connect(launch.sandbox.database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM bookings WHERE status = 'CONFIRMED'") == HOSTS * SLOTS
    finally:
        await conn.close()

    # a killed gateway comes back too, and gets commands through
    gateway = launcher.gateway()
    os.kill(gateway, signal.SIGKILL)
    await _wait_for(lambda: not _alive(gateway) and launcher.healthy(2), 30, "gateway restarted", launcher)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{launcher.http_port}", timeout=10) as http:
        signed_up = await http.post("/users", json={"name": "Ada", "email": "ada-launcher@example.com", "role": "USER"})
    assert signed_up.status_code == 201, signed_up.text
    deaths = {(r["child"], r.get("signal")) for r in launcher.records("child exited")}
    assert deaths == {("worker-0", "SIGKILL"), ("worker-1", "SIGKILL"), ("gateway", "SIGKILL")}
    assert launcher.process.poll() is None

    children = launcher.family()
    launcher.process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(launcher.wait_exit, 30) == 0
    assert not [pid for pid in children if _alive(pid)]
    assert launcher.log().count('"worker stopped"') >= 2


def test_a_child_that_keeps_dying_at_start_makes_the_launcher_give_up(launch):
    with socket.socket() as taken:  # the gateway's port is taken: it exits at every start
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        launcher = launch(workers=1, BOOKING_HTTP_PORT=str(taken.getsockname()[1]))
        started = time.monotonic()
        code = launcher.wait_exit(60)
    elapsed = time.monotonic() - started
    assert code != 0
    deaths = launcher.records("child exited")
    assert [r["child"] for r in deaths] == ["gateway"] * 5
    [exit_code] = {r["exitCode"] for r in deaths}  # uvicorn's start-up failure, every time
    assert exit_code != 0
    assert launcher.log().lower().count("address already in use") == 5
    [gave_up] = launcher.records("giving up")
    assert gave_up["child"] == "gateway" and gave_up["deaths"] == 5 and gave_up["exitCode"] == exit_code
    assert "5 times in a row" in gave_up["reason"]
    assert elapsed >= 0.5 + 1 + 2 + 4  # with backoff between the attempts
    assert not [pid for pid in launcher.seen if _alive(pid)]


def test_ctrl_c_stops_every_child_and_kills_one_that_does_not_stop_in_time(launch):
    launcher = launch(workers=2)
    launcher.wait_healthy(2)
    workers = launcher.workers()
    children = launcher.family()
    os.kill(workers[0], signal.SIGSTOP)  # cannot handle SIGTERM: it must be killed after the timeout
    started = time.monotonic()
    os.killpg(launcher.process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    assert launcher.wait_exit(40) == 0
    assert time.monotonic() - started < 30
    assert not [pid for pid in children if _alive(pid)]
    assert launcher.log().count('"worker stopped"') == 1  # worker 1 stopped gracefully
    [killed] = launcher.records("child killed")
    assert killed["child"] == "worker-0"
    assert not launcher.records("child exited")  # stopping is not dying: nothing restarted


def _exits(caplog) -> list[dict]:
    return [vars(r) for r in caplog.records if r.name == "booking.launcher" and r.getMessage() == "child exited"]


def _supervise(supervisor: Supervisor, seconds: float) -> int:
    stopper = threading.Timer(seconds, supervisor.request_stop)
    stopper.start()
    try:
        return supervisor.run()
    finally:
        stopper.cancel()


def test_restart_backoff_doubles_up_to_its_cap(caplog):
    caplog.set_level(logging.INFO, "booking.launcher")
    dies = Child("dies", [sys.executable, "-c", "raise SystemExit(7)"], dict(os.environ))
    supervisor = Supervisor([dies], backoff=(0.05, 0.2), give_up_after=7)
    assert _supervise(supervisor, 30) == 1
    exits = _exits(caplog)
    assert [e["restartIn"] for e in exits] == [0.05, 0.1, 0.2, 0.2, 0.2, 0.2, None]
    assert {e["exitCode"] for e in exits} == {7}


def test_a_child_that_stayed_up_a_while_starts_over_with_the_shortest_backoff(caplog):
    caplog.set_level(logging.INFO, "booking.launcher")
    lasts = Child("lasts", [sys.executable, "-c", "import time; time.sleep(0.4)"], dict(os.environ))
    supervisor = Supervisor([lasts], backoff=(0.05, 30), stable_after=0.2, give_up_after=2)
    assert _supervise(supervisor, 2.5) == 0  # never gives up: no death came soon after a start
    exits = _exits(caplog)
    assert len(exits) >= 3 and {e["restartIn"] for e in exits} == {0.05}
