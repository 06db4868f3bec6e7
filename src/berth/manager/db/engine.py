"""Database engine, sessions and migrations."""

from __future__ import annotations

import asyncio
import sqlite3
import weakref
from collections.abc import AsyncIterator, Callable, Generator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import await_only

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    # We emit BEGIN ourselves (see _sqlite_begin), so the driver must not.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # Safe with WAL: a power cut may lose the last commits, never corrupt; heartbeats repair.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


#: Execution option of a connection that only reads (see :func:`reading`).
READ_ONLY = "berth_read_only"


#: Longest wait of a writer for its turn (as SQLite's busy timeout above).
WRITER_WAIT = 10.0


class _Writers:
    """SQLite has one writer at a time, and its busy handler lets waiting writers poll with
    growing sleeps, so under load one can starve past the busy timeout ("database is
    locked") while others keep getting in. The writers of this process queue here instead,
    first come first served, and only the one whose turn it is asks SQLite for its lock (the
    busy timeout still covers other processes). The turn ends when the transaction does, or
    at the latest when its connection goes back to the pool."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.holder: object | None = None
        self.held: asyncio.Lock | None = None

    def _lock(self) -> asyncio.Lock:
        queues = _QUEUES.setdefault(asyncio.get_running_loop(), {})
        lock = queues.get(self.path)
        if lock is None:
            lock = queues[self.path] = asyncio.Lock()
        return lock

    async def _acquire(self) -> None:
        lock = self._lock()
        try:
            async with asyncio.timeout(WRITER_WAIT):
                await lock.acquire()
            self.held = lock
        except TimeoutError:
            raise sqlite3.OperationalError(
                f"database is locked (no turn to write within {WRITER_WAIT:g} s)") from None

    def begin(self, conn: Connection) -> None:
        # Every transaction takes SQLite's write lock at its start, so a read-then-write
        # cannot act on a row another transaction changed meanwhile (PostgreSQL uses FOR
        # UPDATE). A reader (WAL) needs no lock at all: it must not queue behind writers.
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
            return
        dbapi = conn.connection.dbapi_connection
        await_only(self._acquire())
        self.holder = dbapi
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            self.release(dbapi)
            raise

    def release(self, dbapi: object) -> None:
        if self.holder is not None and self.holder is dbapi and self.held is not None:
            self.holder, lock, self.held = None, self.held, None
            lock.release()

    def end(self, conn: Connection) -> None:
        self.release(conn.connection.dbapi_connection)

    def checkin(self, dbapi: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        self.release(dbapi)


class InlineSqlite(aiosqlite.Connection):
    """aiosqlite's connection, with each call run at once on the event loop's thread instead
    of being handed to a thread of its own. A query on this database takes microseconds,
    while the hand-over to the thread and back cost ~200 µs of CPU (measured: a primary-key
    select through SQLAlchemy Core fell from ~470 to ~115 µs; docs/scale.md). This is safe
    because no statement waits here: readers never wait under WAL, and this process's
    writers queue in :class:`_Writers` before they ask SQLite for its lock, so only another
    process holding the lock (an operator's hand edit) could make SQLite's busy handler
    pause the loop, for at most its busy timeout."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, 64)
        self._tx = _RunNow()  # type: ignore[assignment]

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._connection is None:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    async def _connect(self) -> InlineSqlite:
        if self._connection is None:
            self._connection = self._connector()
        return self

    def __await__(self) -> Generator[Any, None, InlineSqlite]:
        return self._connect().__await__()

    def stop(self) -> None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def close(self) -> None:
        self.stop()


class _RunNow:
    """Stands in for aiosqlite's queue to its thread, which SQLAlchemy's adapter also uses
    directly (to set the isolation level): runs the call at once and settles its future."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, call = item
        try:
            result = call()
        except BaseException as e:  # noqa: BLE001 - handed to the waiter, as aiosqlite does
            if future is not None and not future.done():
                future.set_exception(e)
            return
        if future is not None and not future.done():
            future.set_result(result)


def _sqlite_path(url: str) -> str:
    return url.split("///", 1)[1]


#: The writers' queue of each database file, per event loop: engines of one process on one
#: file (tests, the scheduler race) must queue together, since with :class:`InlineSqlite` a
#: writer waiting in SQLite's busy handler would hold up the loop its lock holder runs on.
_QUEUES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary())


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = _sqlite_path(url)
        # A pool as large as the requests in flight: a connection opened for one request and
        # closed after it costs more than the request's statements.
        engine = create_async_engine(url, async_creator=lambda: InlineSqlite(
            lambda: sqlite3.connect(path, check_same_thread=False)), pool_size=32,
            max_overflow=32)
        writers = _Writers(path)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", writers.begin)
        event.listen(engine.sync_engine, "commit", writers.end)
        event.listen(engine.sync_engine, "rollback", writers.end)
        event.listen(engine.sync_engine.pool, "checkin", writers.checkin)
        event.listen(engine.sync_engine.pool, "close", writers.checkin)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def upgrade_sync(url: str) -> None:
    """Bring the schema to the newest revision. Idempotent. Call with no running loop."""
    if url.startswith("sqlite"):
        path = _sqlite_path(url)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), "head")


async def upgrade(url: str) -> None:
    """:func:`upgrade_sync` from inside an event loop (Alembic runs its own loop)."""
    await asyncio.to_thread(upgrade_sync, url)


@asynccontextmanager
async def reading(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for reading only (it must never write): on SQLite it does not take the
    write lock, so lists and lookups never wait for writers, nor writers for them."""
    async with maker() as db:
        await db.connection(execution_options={READ_ONLY: True})
        yield db


@asynccontextmanager
async def transaction(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commits on success, rolls back on any error."""
    async with maker() as db, db.begin():
        yield db
