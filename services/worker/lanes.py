"""Where deliveries are grouped into transactions: the one grouping policy of the
worker.

Each partition submits everything it has received and not yet handled (at most its
prefetch), waits until that is done, then submits what has arrived meanwhile, so its
order is kept. A lane runs one transaction at a time; each takes the waiting
deliveries in the order they were submitted, whichever partitions they come from, up
to `max_group` (BOOKING_MAX_GROUP). Under load spread over many hosts each partition
holds one or two deliveries at a time, and a transaction so merges the submissions of
several partitions; a submission larger than what is left of `max_group` is split
over consecutive transactions. Lanes run side by side (partition p uses lane p mod L).

Once one of a submission's deliveries is not completed, its later deliveries are not
handled (NOT_COMPLETED as well): the partition gives them back together, in order."""

import asyncio
import logging
from collections.abc import Sequence

from aio_pika.abc import AbstractIncomingMessage

from services.worker.metrics import TASK_FAILURES
from services.worker.pipeline import Delivered, Pipeline

log = logging.getLogger("booking.worker")


class _Submission:
    __slots__ = ("messages", "partition", "results", "done")

    def __init__(self, messages: Sequence[AbstractIncomingMessage], partition: int, done: asyncio.Future) -> None:
        self.messages = list(messages)
        self.partition = partition
        self.results: list[Delivered] = []
        self.done = done

    @property
    def left(self) -> int:
        return len(self.messages) - len(self.results)

    def record(self, results: list[Delivered]) -> None:
        self.results += results
        if Delivered.NOT_COMPLETED in results:
            self.results += [Delivered.NOT_COMPLETED] * self.left
        if not self.left and not self.done.done():
            self.done.set_result(self.results)


class Lane:
    def __init__(self, pipeline: Pipeline, max_group: int) -> None:
        self.pipeline = pipeline
        self.max_group = max_group
        self._waiting: list[_Submission] = []
        self._runner: asyncio.Task | None = None

    async def submit(self, messages: Sequence[AbstractIncomingMessage], partition: int) -> list[Delivered]:
        """What became of each of `messages`, in their order, once all are handled."""
        submission = _Submission(messages, partition, asyncio.get_running_loop().create_future())
        if not submission.messages:
            return []
        self._waiting.append(submission)
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run())
        return await asyncio.shield(submission.done)

    def _next_group(self) -> list[tuple[_Submission, list[AbstractIncomingMessage]]]:
        """The grouping policy: waiting deliveries in submission order, up to max_group."""
        group, room = [], self.max_group
        for submission in self._waiting:
            if room <= 0:
                break
            start = len(submission.results)
            taken = submission.messages[start : start + room]
            group.append((submission, taken))
            room -= len(taken)
        return group

    async def _run(self) -> None:
        try:
            while self._waiting:
                group = self._next_group()
                try:
                    results = await self.pipeline.run([(m, s.partition) for s, taken in group for m in taken])
                except Exception:
                    # Nothing of it counts as done: its partitions give it back; the lane goes on.
                    partitions = sorted({s.partition for s, _ in group})
                    log.exception("lane failed a batch", extra={"partitions": partitions})
                    TASK_FAILURES.labels("lane").inc()
                    results = [Delivered.NOT_COMPLETED] * sum(len(taken) for _, taken in group)
                position = 0
                for submission, taken in group:
                    submission.record(results[position : position + len(taken)])
                    position += len(taken)
                self._waiting = [s for s in self._waiting if s.left]
        finally:  # cancelled: no partition waits for ever
            for submission in self._waiting:
                submission.record([Delivered.NOT_COMPLETED] * submission.left)
            self._waiting = []
