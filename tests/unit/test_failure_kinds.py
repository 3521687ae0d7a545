"""Whose fault a failure is (contract section 5): judged by SQLSTATE class and the
kind of error, so an outage is waited out and only a message's own failure is
dead-lettered."""


import asyncpg
import pytest
from asyncpg import exceptions as pg

from services.booking.failures import FailureKind, failure_kind
from services.booking.store import ConstraintViolated

INFRASTRUCTURE = [
    pg.DiskFullError("disk full"),  # 53100
    pg.OutOfMemoryError("out of memory"),  # 53200
    pg.TooManyConnectionsError("too many connections"),  # 53300
    pg.ReadOnlySQLTransactionError("read-only"),  # 25006, a standby during failover
    pg.QueryCanceledError("canceling statement"),  # 57014
    pg.AdminShutdownError("terminating connection"),  # 57P01
    pg.CannotConnectNowError("the database system is starting up"),  # 57P03
    pg.SerializationError("could not serialize"),  # 40001
    pg.DeadlockDetectedError("deadlock"),  # 40P01
    pg.LockNotAvailableError("lock timeout"),  # 55P03
    pg.ConnectionDoesNotExistError("connection was closed"),  # 08003
    pg.PostgresIOError("could not write block"),  # 58030
    ConnectionRefusedError(111, "refused"),
    ConnectionResetError(104, "reset"),
    TimeoutError(),
    OSError(28, "No space left on device"),
]

MESSAGE = [
    pg.ExclusionViolationError("conflicting key value"),  # 23P01
    pg.UniqueViolationError("duplicate key"),  # 23505
    pg.CheckViolationError("check"),  # 23514
    pg.InvalidTextRepresentationError("invalid input syntax"),  # 22P02
    pg.UndefinedColumnError("column does not exist"),  # 42703: a bug
    TypeError("'<' not supported"),
    KeyError("hostId"),
    asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
]


@pytest.mark.parametrize("error", INFRASTRUCTURE, ids=lambda e: f"{type(e).__name__}")
def test_an_unwell_database_or_network_is_infrastructure(error):
    assert failure_kind(error) is FailureKind.INFRASTRUCTURE


@pytest.mark.parametrize("error", MESSAGE, ids=lambda e: f"{type(e).__name__}")
def test_anything_else_may_be_the_message(error):
    assert failure_kind(error) is FailureKind.MESSAGE


def test_a_refused_write_is_the_message_not_a_transient_hiccup():
    """The old rule retried every constraint violation for ever: a rule bug that made
    the database refuse a write wedged its partition."""
    try:
        try:
            raise pg.ExclusionViolationError("conflicting key value violates exclusion constraint")
        except pg.ExclusionViolationError as cause:
            raise ConstraintViolated(str(cause)) from cause
    except ConstraintViolated as wrapped:
        assert failure_kind(wrapped) is FailureKind.MESSAGE


def test_the_cause_carries_the_sqlstate_of_a_wrapped_error():
    try:
        try:
            raise pg.ReadOnlySQLTransactionError("cannot execute INSERT in a read-only transaction")
        except pg.ReadOnlySQLTransactionError as cause:
            raise RuntimeError("write failed") from cause
    except RuntimeError as wrapped:
        assert failure_kind(wrapped) is FailureKind.INFRASTRUCTURE
