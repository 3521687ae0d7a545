"""Long-lived tasks that do not end quietly. An unexpected exception (or a return) of
one is logged with its traceback, counted in /metrics, and the task started again
after a capped backoff, so one bug or one odd broker state cannot silently leave
the worker without its relay, its balancer or a partition."""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from services.worker.metrics import TASK_FAILURES

log = logging.getLogger("booking.worker")

FIRST_DELAY, MAX_DELAY = 0.1, 5.0
# A task that ran this long before failing starts again from the first delay.
STEADY_SECONDS = 60.0


async def supervised(name: str, run: Callable[[], Awaitable[None]]) -> None:
    loop = asyncio.get_running_loop()
    delay = FIRST_DELAY
    while True:
        started = loop.time()
        try:
            await run()
            log.error("task returned; starting it again", extra={"task": name})
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("task failed; starting it again", extra={"task": name})
        TASK_FAILURES.labels(name).inc()
        if loop.time() - started > STEADY_SECONDS:
            delay = FIRST_DELAY
        await asyncio.sleep(delay)
        delay = min(delay * 2, MAX_DELAY)


def start_supervised(name: str, run: Callable[[], Awaitable[None]]) -> asyncio.Task:
    return asyncio.create_task(supervised(name, run), name=name)
