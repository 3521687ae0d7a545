"""`booking ...`: the operator's command line. Each tool adds its own sub-command:
`booking dlq ...` (services.dlq.cli), `booking partitions ...` (services.partitions.cli)."""

import argparse
import sys

from services.dlq import cli as dlq_cli
from services.partitions import cli as partitions_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="booking", description="Operate the booking service.")
    tools = parser.add_subparsers(dest="tool", required=True)
    dlq_cli.add_parser(tools)
    partitions_cli.add_parser(tools)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.tool_main(args)


if __name__ == "__main__":
    sys.exit(main())
