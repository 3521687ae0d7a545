"""Which failures are worth retrying. A transient failure says nothing about the
command (the database or broker hiccuped); anything else may be a poison message."""

import asyncio

import asyncpg
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from services.booking.db.repository import ConstraintViolated

# serialization failure, deadlock, admin shutdown / crash shutdown / cannot connect now,
# too many connections, and every connection exception (class 08)
TRANSIENT_SQLSTATES = {"40001", "40P01", "57P01", "57P02", "57P03", "53300"}


def _sqlstate(error: BaseException) -> str | None:
    for candidate in (error, getattr(error, "orig", None), getattr(error, "__cause__", None)):
        state = getattr(candidate, "sqlstate", None)
        if state:
            return state
    return None


def is_transient(error: BaseException) -> bool:
    if isinstance(error, ConstraintViolated):
        return True  # handling again re-reads the state another writer left
    if isinstance(error, OSError | ConnectionError | asyncio.TimeoutError | TimeoutError):
        return True
    if isinstance(error, asyncpg.PostgresConnectionError | asyncpg.InterfaceError):
        return True
    if isinstance(error, OperationalError | InterfaceError):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    state = _sqlstate(error)
    return bool(state) and (state in TRANSIENT_SQLSTATES or state.startswith("08"))
