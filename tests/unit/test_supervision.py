"""Long-lived tasks of the worker are supervised: an unexpected exception is logged
with its traceback, counted, and the task started again."""

import asyncio
import logging

from prometheus_client import REGISTRY

from services.worker import supervision
from services.worker.supervision import start_supervised


def failures_counted(task: str) -> float:
    return REGISTRY.get_sample_value("booking_task_failures_total", {"task": task}) or 0.0


async def test_a_failing_task_is_logged_counted_and_started_again(caplog, monkeypatch):
    monkeypatch.setattr(supervision, "FIRST_DELAY", 0.01)
    runs = []

    async def flaky() -> None:
        runs.append(1)
        if len(runs) < 3:
            raise RuntimeError(f"failure {len(runs)}")
        await asyncio.sleep(3600)

    before = failures_counted("flaky")
    with caplog.at_level(logging.ERROR, logger="booking.worker"):
        task = start_supervised("flaky", flaky)
        for _ in range(200):
            if len(runs) == 3:
                break
            await asyncio.sleep(0.01)
        assert len(runs) == 3
        assert not task.done()
        task.cancel()
    failures = [r for r in caplog.records if r.getMessage() == "task failed; starting it again"]
    assert len(failures) == 2
    assert all(r.exc_info and r.task == "flaky" for r in failures)  # with the traceback
    assert failures_counted("flaky") - before == 2


async def test_a_task_that_returns_is_started_again(monkeypatch):
    monkeypatch.setattr(supervision, "FIRST_DELAY", 0.01)
    runs = []

    async def ends() -> None:
        runs.append(1)
        if len(runs) >= 2:
            await asyncio.sleep(3600)

    task = start_supervised("ends", ends)
    for _ in range(200):
        if len(runs) == 2:
            break
        await asyncio.sleep(0.01)
    assert len(runs) == 2
    task.cancel()


async def test_cancelling_stops_it_for_good():
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.sleep(3600)

    task = start_supervised("forever", forever)
    await started.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
