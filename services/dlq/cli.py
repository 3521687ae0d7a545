"""`booking dlq ...`: the command line of the dead-letter tool. Presentation only;
the broker work is in services.dlq.store."""

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TextIO, TypeVar

from aio_pika.exceptions import AMQPError, ChannelNotFoundEntity

from contracts.topology import DEAD_LETTER_QUEUE
from services.dlq.store import DeadLetter, DeadLetterStore, ReplayReport, Selection
from services.settings import get_settings

T = TypeVar("T")

TABLE_COLUMNS = ("ID", "REASON", "TYPE", "HOST", "AGE", "ATTEMPTS")
MAX_CELL = 40
# Below this many messages a replay is quick enough to need no progress bar.
PROGRESS_THRESHOLD = 20
PROGRESS_WIDTH = 30


def main(argv: list[str] | None = None) -> int:
    """The whole `booking` command line, which moved to services.cli."""
    from services.cli import main as booking

    return booking(argv)


def run(args: argparse.Namespace) -> int:
    # The tool reports a failed connection itself, in one line.
    logging.getLogger("aiormq").setLevel(logging.CRITICAL)
    amqp_url = args.amqp_url or get_settings().amqp_url
    try:
        return args.run(args, amqp_url)
    except ChannelNotFoundEntity as error:
        _fail(f"{error} (has a worker declared the topology on this vhost?)")
        return 2
    except (AMQPError, OSError) as error:
        _fail(f"cannot talk to RabbitMQ: {error!r}")
        return 2


def add_parser(tools: argparse._SubParsersAction) -> None:
    """`booking dlq ...`, added to the `booking` parser of services.cli."""
    dlq = tools.add_parser("dlq", help=f"the dead-letter queue {DEAD_LETTER_QUEUE}")
    dlq.set_defaults(tool_main=run)
    actions = dlq.add_subparsers(dest="action", required=True)
    connection = argparse.ArgumentParser(add_help=False)
    connection.add_argument("--amqp-url", help="the vhost to work on (default: BOOKING_AMQP_URL)")

    listing = actions.add_parser("list", parents=[connection], help="one line per dead letter")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(run=list_dead_letters)

    show = actions.add_parser("show", parents=[connection], help="headers and body of one dead letter")
    show.add_argument("id", help="an id from `booking dlq list`")
    show.set_defaults(run=show_dead_letter)

    replay = actions.add_parser("replay", parents=[connection], help="publish dead letters to booking.commands again")
    replay.add_argument("--type", help="only commands of this type")
    replay.add_argument("--reason", help="only this reason (any case)")
    replay.add_argument("--host", help="only commands with this hostId")
    replay.add_argument("--older-than", type=float, metavar="SECONDS", help="only this long since failing")
    replay.add_argument("--id", help="only the dead letter with this id")
    replay.add_argument("--dry-run", action="store_true", help="show what would be replayed, change nothing")
    replay.set_defaults(run=replay_dead_letters)

    purge = actions.add_parser("purge", parents=[connection], help="delete every dead letter")
    purge.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    purge.set_defaults(run=purge_dead_letters)


def list_dead_letters(args: argparse.Namespace, amqp_url: str) -> int:
    letters = _with_store(amqp_url, DeadLetterStore.read_all)
    now = datetime.now(UTC)
    if args.json:
        print(json.dumps([_summary(letter, now) for letter in letters], indent=2))
    else:
        print(_table(letters, now) if letters else f"{DEAD_LETTER_QUEUE} is empty")
    return 0


def show_dead_letter(args: argparse.Namespace, amqp_url: str) -> int:
    matches = [letter for letter in _with_store(amqp_url, DeadLetterStore.read_all) if letter.id == args.id]
    if not matches:
        _fail(f"no dead letter with id {args.id}")
        return 1
    print("\n\n".join(_details(letter) for letter in matches))
    return 0


def replay_dead_letters(args: argparse.Namespace, amqp_url: str) -> int:
    selection = Selection(type=args.type, reason=args.reason, host_id=args.host, older_than=args.older_than, id=args.id)
    progress = ProgressBar(sys.stderr, "replaying")
    report = _with_store(amqp_url, lambda store: store.replay(selection, args.dry_run, progress.update))
    if args.dry_run:
        if report.selected:
            print(_table(report.selected, datetime.now(UTC)))
        print(f"dry run: would replay {len(report.selected)} of {report.examined} dead letters")
        return 0
    print(_replay_summary(report))
    return 1 if report.failed else 0


def purge_dead_letters(args: argparse.Namespace, amqp_url: str) -> int:
    count = _with_store(amqp_url, DeadLetterStore.depth)
    if count == 0:
        print(f"{DEAD_LETTER_QUEUE} is empty: nothing to purge")
        return 0
    # The store is closed while waiting for an answer: a person may take longer
    # than the connection's heartbeat allows.
    if not args.yes and not _confirmed(f"Delete {count} dead letters from {DEAD_LETTER_QUEUE}? Type yes: "):
        print("nothing purged")
        return 1
    removed = _with_store(amqp_url, DeadLetterStore.purge)
    print(f"purged {removed} dead letters")
    return 0


class ProgressBar:
    """A one-line text bar, redrawn in place; only for runs long enough to need it."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream = stream
        self.label = label

    def update(self, done: int, total: int) -> None:
        if total < PROGRESS_THRESHOLD:
            return
        filled = PROGRESS_WIDTH * done // total
        bar = "#" * filled + "." * (PROGRESS_WIDTH - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{total}")
        if done == total:
            self.stream.write("\n")
        self.stream.flush()


def _with_store(amqp_url: str, operation: Callable[[DeadLetterStore], Awaitable[T]]) -> T:
    async def run() -> T:
        async with DeadLetterStore(amqp_url) as store:
            return await operation(store)

    return asyncio.run(run())


def _confirmed(question: str) -> bool:
    sys.stderr.write(question)
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() == "yes"


def _fail(message: str) -> None:
    print(f"booking dlq: {message}", file=sys.stderr)


def _summary(letter: DeadLetter, now: datetime) -> dict:
    age = letter.age(now)
    return {
        "id": letter.id,
        "reason": letter.reason,
        "type": letter.type,
        "hostId": letter.host_id,
        "ageSeconds": None if age is None else round(age),
        "attempts": letter.attempts,
        "firstFailure": letter.first_failure.isoformat() if letter.first_failure else None,
        "routingKey": letter.routing_key,
        "correlationId": letter.correlation_id,
    }


def _table(letters: list[DeadLetter], now: datetime) -> str:
    rows = [[letter.id, letter.reason, letter.type, letter.host_id, _age(letter.age(now)), letter.attempts] for letter in letters]
    cells = [list(TABLE_COLUMNS)] + [[_cell(value) for value in row] for row in rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(TABLE_COLUMNS))]
    return "\n".join("  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip() for row in cells)


def _cell(value: object) -> str:
    text = "-" if value is None else _printable(str(value))
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{max(int(seconds), 0)}s"


def _details(letter: DeadLetter) -> str:
    lines = [
        f"id:             {letter.id}",
        f"reason:         {letter.reason}",
        f"routing key:    {letter.routing_key}",
        f"content type:   {letter.content_type or '-'}",
        f"correlation id: {letter.correlation_id or '-'}",
        f"reply to:       {letter.reply_to or '-'}",
        f"message id:     {letter.message_id or '-'}",
        "headers:",
        *(f"  {name}: {_header_value(value)}" for name, value in sorted(letter.headers.items())),
        f"body ({len(letter.body)} bytes):",
        _body(letter.body),
    ]
    return "\n".join(_printable(line) for line in lines)


def _header_value(value: object) -> str:
    if isinstance(value, list | dict):
        return json.dumps(value, default=str, ensure_ascii=False)
    if isinstance(value, bytes):
        return value.decode(errors="backslashreplace")
    return str(value)


def _body(body: bytes) -> str:
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return body.decode(errors="backslashreplace")


def _printable(text: str) -> str:
    """Escapes control characters: a dead letter must not drive the terminal."""
    return "".join(char if char.isprintable() or char == "\n" else repr(char)[1:-1] for char in text)


def _replay_summary(report: ReplayReport) -> str:
    summary = f"replayed {report.replayed} of {report.examined} dead letters"
    if report.failed:
        ids = ", ".join(letter.id for letter in report.failed)
        summary += f"; {len(report.failed)} could not be published and stay in the queue: {ids}"
    return summary


if __name__ == "__main__":
    sys.exit(main())
