"""Engines and sessions for SQLite (embedded default) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from store.errors import StoreUnavailable

# Connections kept open between bursts. SQLAlchemy's default (5, then up to 10 opened and closed
# again) made the service open a PostgreSQL connection (a forked backend) in the middle of
# requests whenever more than five were in flight; the pool opens connections only on demand.
POOL = {"pool_size": 20, "max_overflow": 10}
# How long a SQLite connection waits for another one's write lock, unless the URL says
# (``sqlite:///path/pairloop.db?timeout=5``); then it reports the database busy (:func:`_busy`).
SQLITE_BUSY_TIMEOUT_S = 30.0


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _busy(context: ExceptionContext) -> None:
    """A wait for another connection's lock that ran out becomes one clear line
    (:class:`StoreUnavailable`: exit 1, HTTP 503) instead of a driver traceback: SQLite's
    "database is locked" after the busy timeout, PostgreSQL's lock_not_available (55P03) after
    a ``lock_timeout`` set on the connection."""
    error = context.original_exception
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    sqlite_busy = context.dialect.name == "sqlite" and "is locked" in message
    if sqlite_busy or getattr(error, "sqlstate", None) == "55P03":
        raise StoreUnavailable(f"the database is busy: another process holds a lock on it for longer than this "
                               f"command waits ({message}); retry when that process has finished") from None


def make_engine(url: str) -> Engine:
    """Create an engine; for a SQLite file, create its folder first."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreUnavailable(f"invalid database URL {url!r}: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        in_file = bool(parsed.database) and parsed.database != ":memory:"
        if in_file:
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # The busy timeout is set as the connection opens, before the pragmas (journal_mode=WAL
        # needs the lock too: many processes opening a new file at once would fail at once).
        waits = {} if "timeout" in parsed.query else {"timeout": SQLITE_BUSY_TIMEOUT_S}
        engine = create_engine(url, **(POOL if in_file else {}), connect_args=waits)
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        try:
            engine = create_engine(url, pool_pre_ping=True, **POOL, connect_args=_connect_args(parsed))
        except ModuleNotFoundError as exc:
            raise StoreUnavailable(f"no database driver for {parsed.drivername!r}: {exc}") from None
    event.listen(engine, "handle_error", _busy)
    return engine


def _connect_args(parsed) -> dict:
    return {"connect_timeout": 5} if parsed.get_backend_name() == "postgresql" else {}


def check_connection(engine: Engine) -> None:
    """Raise :class:`StoreUnavailable` with one readable line when the database cannot be reached."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        shown = engine.url.render_as_string(hide_password=True)
        raise StoreUnavailable(f"cannot reach the database at {shown}: {reason}") from None


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with session_factory(engine)() as session, session.begin():
        yield session
