"""`booking partitions migrate`: the command line of the migration (presentation
only; the broker work is in services.partitions.migration)."""

import argparse
import asyncio
import logging
import sys

import httpx
from aio_pika.exceptions import AMQPError

from services.partitions.broker_state import partition_index
from services.partitions.migration import Migration, MigrationPaused, MigrationRefused, MigrationReport
from services.partitions.moving import MoveFailed
from services.settings import get_settings

EXIT_REFUSED = 1  # going on could break a host's order or lose commands; nothing more was changed
EXIT_BROKER = 2  # RabbitMQ or its management API did not answer as expected
EXIT_PAUSED = 3  # --timeout while waiting for the partitions to drain; re-running resumes
DEFAULT_TIMEOUT = 300.0


def add_parser(tools: argparse._SubParsersAction) -> None:
    partitions = tools.add_parser("partitions", help="the partition queues of booking.commands")
    partitions.set_defaults(tool_main=run)
    actions = partitions.add_subparsers(dest="action", required=True)
    migrate = actions.add_parser(
        "migrate",
        help="change the partition count or move off the old x-consistent-hash exchange, keeping every host's order",
        description="Re-routes booking.commands to booking.commands.0..N-1 (x-modulus-hash) while the running "
        "workers keep consuming: new commands wait, the old partitions drain, the waiting commands move in order. "
        "Re-running resumes a paused or interrupted migration. docs/partitioning.md",
    )
    migrate.add_argument("--partitions", type=int, required=True, metavar="N", help="the new partition count")
    migrate.add_argument("--amqp-url", help="the vhost to work on (default: BOOKING_AMQP_URL)")
    migrate.add_argument("--management-url", help="management API (default: BOOKING_RABBITMQ_MANAGEMENT_URL)")
    migrate.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
        help=f"how long to wait for the old partitions to drain before pausing (default {DEFAULT_TIMEOUT:g})",
    )
    migrate.set_defaults(run=migrate_partitions)


def run(args: argparse.Namespace) -> int:
    logging.getLogger("aiormq").setLevel(logging.CRITICAL)
    return args.run(args)


def migrate_partitions(args: argparse.Namespace) -> int:
    if not 1 <= args.partitions <= 1024:
        _fail("--partitions must be between 1 and 1024")
        return EXIT_REFUSED
    settings = get_settings()
    migration = Migration(
        args.amqp_url or settings.amqp_url,
        args.management_url or settings.rabbitmq_management_url,
        args.partitions,
        args.timeout,
        progress=_progress,
    )
    try:
        report = asyncio.run(migration.run())
    except MigrationPaused as paused:
        _fail(str(paused))
        return EXIT_PAUSED
    except MigrationRefused as refusal:
        _fail(f"refused: {refusal}")
        return EXIT_REFUSED
    except MoveFailed as error:
        _fail(f"{error}. Publishers get NOT_FOUND until the migration finishes: run the same command again now")
        return EXIT_BROKER
    except (AMQPError, OSError, httpx.HTTPError) as error:
        _fail(f"cannot talk to RabbitMQ: {error!r}. Run the same command again to resume")
        return EXIT_BROKER
    print(summary(report))
    return 0


def summary(report: MigrationReport) -> str:
    n = report.partitions
    if report.nothing_to_do:
        return f"nothing to do: booking.commands is x-modulus-hash bound to exactly booking.commands.0..{n - 1}"
    lines = [f"migrated booking.commands to x-modulus-hash over booking.commands.0..{n - 1} in {report.seconds:.1f} s"]
    if report.resumed_from:
        lines.append(f"  resumed at {report.resumed_from}")
    if report.former:
        lines.append(f"  routed before to {len(report.former)} queues: {_names(report.former)}")
    lines.append(f"  drained by the workers: {report.drained} commands; moved in order: {report.moved} commands")
    if report.declared:
        lines.append(f"  declared {_names(report.declared)}")
    if report.deleted:
        lines.append(f"  deleted (empty) {_names(report.deleted)}")
    lines.append(
        f"  booking.commands missing (publishes got NOT_FOUND): {report.unpublishable * 1000:.0f} ms; "
        f"bound to fewer queues than now: {report.partially_bound * 1000:.0f} ms"
    )
    lines.append("  steps: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in report.steps.items()))
    lines.append(f"Now restart every worker with BOOKING_PARTITIONS={n}.")
    return "\n".join(lines)


def _names(names: list[str]) -> str:
    indexes = [partition_index(name) for name in names]
    if None not in indexes and indexes == list(range(indexes[0], indexes[0] + len(indexes))):
        return f"booking.commands.{indexes[0]}..{indexes[-1]}"
    return ", ".join(names)


def _progress(line: str) -> None:
    print(f"booking partitions: {line}", file=sys.stderr, flush=True)


def _fail(message: str) -> None:
    print(f"booking partitions migrate: {message}", file=sys.stderr)
