"""Which database errors are transient, decided in one place, and their translation."""

from __future__ import annotations

import psycopg
from psycopg import errors as pg_errors

from rota.errors import DatabaseError

_TRANSIENT = (
    pg_errors.DeadlockDetected,
    pg_errors.SerializationFailure,
    pg_errors.LockNotAvailable,
    pg_errors.AdminShutdown,
    pg_errors.CannotConnectNow,
    pg_errors.QueryCanceled,
)


def is_transient(error: BaseException) -> bool:
    """True when retrying the same operation later may succeed."""
    if isinstance(error, DatabaseError):
        return True
    if isinstance(error, _TRANSIENT):
        return True
    return isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)


def translate(error: psycopg.Error) -> DatabaseError:
    return DatabaseError(f"database error: {str(error).strip().splitlines()[0]}")
