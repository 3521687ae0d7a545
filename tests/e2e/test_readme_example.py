"""The README's example of publishing commands from another service works as printed."""

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parents[2] / "README.md"


def publishing_example() -> str:
    section = README.read_text().split("## Publishing a command from another service", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


async def test_the_publishing_example_books_a_slot(sandbox, worker):
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", publishing_example()],
        env=sandbox.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    replies = [json.loads(line) for line in done.stdout.splitlines()]
    assert [reply["type"] for reply in replies] == [
        "UserRegistered",
        "UserRegistered",
        "AvailabilityCreated",
        "BookingConfirmed",
    ]
