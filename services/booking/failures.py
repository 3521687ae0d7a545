"""Whose fault a failure is (contract section 5). A failure of the infrastructure (the
database or the way to it unwell) says nothing about the command: it is retried for
as long as it lasts and nothing is dead-lettered for it. Any other failure may be the
message's own (a bug, an impossible row, a write the database keeps refusing): it is
retried a few times and then dead-lettered, so its partition goes on.

Judged by the error's kind and SQLSTATE class, not by a list of exception names, and
by the connection's state: the worker asks the database whether it answers at all
before it blames a message (Pipeline)."""

from enum import Enum

import asyncpg


class FailureKind(Enum):
    INFRASTRUCTURE = "infrastructure"
    MESSAGE = "message"


# SQLSTATE classes of an unwell database: connection exception, transaction rollback
# (serialization failure, deadlock), insufficient resources (disk full, out of memory,
# too many connections), operator intervention (a cancelled statement, shutdown,
# cannot connect now) and system error (I/O).
INFRASTRUCTURE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
# ... and single states of other classes: a read-only server (a standby during a
# failover) and a lock that could not be had in time.
INFRASTRUCTURE_STATES = frozenset({"25006", "55P03"})


def sqlstate(error: BaseException) -> str | None:
    for candidate in (error, getattr(error, "__cause__", None)):
        state = getattr(candidate, "sqlstate", None)
        if state:
            return state
    return None


def failure_kind(error: BaseException) -> FailureKind:
    if isinstance(error, OSError | TimeoutError | asyncpg.PostgresConnectionError):
        return FailureKind.INFRASTRUCTURE  # refused, reset, timed out, or lost on the way
    state = sqlstate(error)
    if state and (state[:2] in INFRASTRUCTURE_CLASSES or state in INFRASTRUCTURE_STATES):
        return FailureKind.INFRASTRUCTURE
    return FailureKind.MESSAGE
