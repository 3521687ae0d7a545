"""Reading the dead-letter queue without consuming it (management API, requeue)."""

import time
from urllib.parse import quote

from contracts.topology import DEAD_LETTER_QUEUE


def peek_dead_letters(sandbox, count: int = 5000) -> list[dict]:
    with sandbox.management() as api:
        response = api.post(
            f"/api/queues/{quote(sandbox.vhost, safe='')}/{DEAD_LETTER_QUEUE}/get",
            json={"count": count, "ackmode": "ack_requeue_true", "encoding": "auto"},
        )
        response.raise_for_status()
        return response.json()


def wait_for_dead_letter(sandbox, correlation_id: str, timeout: float = 10) -> dict:
    """Dead-lettering lands a little after the reject, so poll."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in peek_dead_letters(sandbox):
            if message["properties"].get("correlation_id") == correlation_id:
                return message
        time.sleep(0.1)
    raise AssertionError(f"no dead letter with correlation id {correlation_id}")
