"""BOOKING_GATEWAYS: several gateway processes accepting on one port."""

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx

from tests.e2e.test_gateway import book, new_host
from tests.support.commands import at
from tests.support.http_client import sign_up
from tests.support.processes import child_pids, free_port, gateway_process

STARTED = '"gateway started"'


def wait_for(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def running(pid: int) -> bool:
    """Exists and is not a zombie (which only waits to be reaped)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


async def test_two_gateway_processes_serve_one_port_and_a_killed_one_is_replaced(worker, sandbox, tmp_path):
    port = free_port()
    gateway = gateway_process(sandbox.env(BOOKING_GATEWAYS="2"), tmp_path / "gateway.log", port).start()
    try:
        wait_for(lambda: gateway.new_log().count(STARTED) == 2, "two gateway processes")
        serving = child_pids(gateway.pid)
        assert len(serving) >= 2

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            host_id, _ = await new_host(http)
            user = await sign_up(http)
            answers = await asyncio.gather(*(book(http, host_id, user, at(9 + i // 2, 30 * (i % 2)),
                                                  at(9 + (i + 1) // 2, 30 * ((i + 1) % 2))) for i in range(6)))
            assert [a.status_code for a in answers] == [201] * 6

            victim = max(serving)
            os.kill(victim, signal.SIGKILL)
            wait_for(lambda: gateway.new_log().count(STARTED) == 3, "a replacement process")
            assert (await http.get("/health")).status_code == 200
            serving |= child_pids(gateway.pid)
    finally:
        assert gateway.terminate() == 0
    # multiprocessing's helper processes notice their parent's end a moment later
    wait_for(lambda: not [pid for pid in serving if running(pid)], "every gateway process to stop", timeout=10)
