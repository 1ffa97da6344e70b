"""Engines, sessions and the schema check: the one place that knows how to reach the database.

SQLite (the default, a file in the working folder) is migrated automatically at start; any other database
must be migrated by its operator, and the bot refuses to start until it is (``cdht db upgrade``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sqlite3
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import repo_inbox

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

Sessions = async_sessionmaker[AsyncSession]
T = TypeVar("T")
log = logging.getLogger(__name__)


class SchemaNotReady(RuntimeError):
    """The database is not at the newest migration; the message names the command to run."""


class DatabaseUnavailable(RuntimeError):
    """``DATABASE_URL`` cannot be used: not a URL, another database than SQLite or PostgreSQL, or the server or
    file cannot be reached. The message says what is wrong and what to do, and never holds the password."""


EXAMPLE_URLS = "sqlite:///cdht.db or postgresql://user:password@host:5432/dbname"
# PostgreSQL error classes that mean "the database cannot be used now": connection, login, no such database,
# out of resources, shut down (https://www.postgresql.org/docs/current/errcodes-appendix.html).
_UNAVAILABLE = ("08", "28", "3D", "53", "57")


def _parse(url: str) -> URL:
    """The URL, or DatabaseUnavailable naming the problem (the text itself is never repeated: it may hold a
    password)."""
    try:
        parsed = make_url(url)
        port = parsed.port
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise DatabaseUnavailable(f"DATABASE_URL is not a database URL: write it like {EXAMPLE_URLS}") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise DatabaseUnavailable(
            f"DATABASE_URL names a {backend} database; cdht works with SQLite or PostgreSQL: {EXAMPLE_URLS}"
        )
    if port is not None and not 0 < port < 65536:
        raise DatabaseUnavailable(f"DATABASE_URL names port {port}: a port lies between 1 and 65535")
    if parsed.host and "@" in parsed.host:  # an unescaped @ in the password: the host would show part of it
        raise DatabaseUnavailable(
            "DATABASE_URL has an '@' in its user or password: write it as %40 (e.g. postgresql://u:p%40ss@host/db)"
        )
    return parsed


def where(url: str) -> str:
    """The database ``url`` names, for an operator: a file path, or host:port/dbname without user or password."""
    parsed = _parse(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            return "the in-memory SQLite database"
        return f"the SQLite file {Path(parsed.database).resolve()}"
    return f"PostgreSQL at {parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


def explain(exc: BaseException, url: str) -> str | None:
    """One line for a failure to reach or open the database at ``url`` (what is wrong, what to do), or None
    when ``exc`` is not such a failure. Never holds the password."""
    if isinstance(exc, DatabaseUnavailable):
        return str(exc)
    try:
        place = where(url)
    except DatabaseUnavailable as bad_url:
        return str(bad_url)
    password = make_url(url).password
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    sqlstate = getattr(orig, "sqlstate", None)
    detail = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    if isinstance(orig, sqlite3.Error):
        if "unable to open" in detail:
            message = f"cannot open {place}: its folder must exist and be writable, or set DATABASE_URL"
        elif "not a database" in detail:
            message = f"{place} is not a SQLite database: point DATABASE_URL at another file"
        elif "readonly" in detail:
            message = f"{place} is read-only: make it and its folder writable"
        elif "locked" in detail:
            message = f"{place} stayed locked by another process: try again when it has finished"
        elif isinstance(orig, sqlite3.OperationalError):  # a full disk, an I/O error...
            message = f"{place}: {detail}"
        else:  # an integrity or programming error is a bug: it keeps its traceback
            return None
    elif sqlstate == "3D000":  # invalid_catalog_name
        name = make_url(url).database
        message = f"{place}: database {name!r} does not exist: create it (createdb {name}) or fix DATABASE_URL"
    elif sqlstate in ("28000", "28P01"):  # invalid authorization / password
        message = f"{place} refused the login ({detail}): fix the user or password in DATABASE_URL"
    elif isinstance(orig, socket.gaierror):
        message = f"cannot find the host of {place}: fix the host in DATABASE_URL"
    elif isinstance(orig, OSError):  # refused, timed out, no route...
        reason = {ConnectionRefusedError: "connection refused", TimeoutError: "timed out"}.get(type(orig))
        reason = reason or orig.strerror or type(orig).__name__
        message = f"cannot reach {place} ({reason}): start the server, or fix host and port in DATABASE_URL"
    elif isinstance(exc, OperationalError | InterfaceError) or str(sqlstate or "")[:2] in _UNAVAILABLE:
        message = f"{place}: {detail}"
    else:  # an integrity or programming error is a bug: it keeps its traceback
        return None
    # No source above quotes the password; this guards against a driver that one day does.
    return message.replace(password, "***") if password and len(password) >= 4 else message


def normalise_url(url: str) -> str:
    """Picks the async driver for plain URLs: postgresql:// -> asyncpg, sqlite:// -> aiosqlite. Refuses (with
    DatabaseUnavailable) a text that is no URL, and databases other than SQLite and PostgreSQL."""
    parsed = _parse(url)
    driver = {"postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg", "sqlite": "sqlite+aiosqlite"}
    if parsed.drivername in driver:
        parsed = parsed.set(drivername=driver[parsed.drivername])
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return _parse(url).get_backend_name() == "sqlite"


def _check_sqlite_file(url: str) -> None:
    """Refuses a SQLite path that cannot be opened before aiosqlite tries: its failed connect leaves a worker
    thread that reports "Event loop is closed" on stderr once the command has ended (aiosqlite issue #241)."""
    name = make_url(url).database
    if name in (None, "", ":memory:"):
        return
    path = Path(name)
    if not path.parent.is_dir():
        raise DatabaseUnavailable(
            f"cannot open {where(url)}: the folder {path.parent.resolve()} does not exist: create it, "
            "or set DATABASE_URL"
        )
    if path.is_dir():
        raise DatabaseUnavailable(f"{where(url)} is a folder: name a file in DATABASE_URL, e.g. sqlite:///cdht.db")


POOL_SIZE = 10
SPARE_CONNECTIONS = 4  # beyond the updates handled at once: the dispatchers, scheduled jobs, /healthz


def pool_for(concurrent_updates: int) -> int:
    """Connections a process needs: one per update handled at once, and a few for everything else."""
    return max(POOL_SIZE, concurrent_updates + SPARE_CONNECTIONS)


def make_engine(url: str, *, schema: str | None = None, pool_size: int = POOL_SIZE) -> AsyncEngine:
    """An async engine; ``schema`` (PostgreSQL) puts every table in that schema, as tests running side by
    side on one database need; ``pool_size`` connections are kept (and as many again may be opened).
    Statements' values stay out of error texts (``hide_parameters``): a failed update's logged traceback
    would otherwise carry a name, a messenger id or an answer into the logs."""
    url = normalise_url(url)
    if is_sqlite(url):
        _check_sqlite_file(url)
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL syncs at checkpoints, not at every commit: a commit survives the process
            # being killed (the durability a restart needs) and only a power cut or an OS crash may take back
            # the last ones, never corrupting the file. FULL cost an fsync (~4 ms here) per commit, about
            # half of a button press's time on SQLite (bench/updates.py).
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA wal_autocheckpoint={WAL_SAFETY_NET}")  # checkpoints run aside: ``checkpointing``
            cur.close()

        return engine
    connect_args = {"server_settings": {"search_path": schema}} if schema else {}
    engine = create_async_engine(
        url, pool_size=pool_size, max_overflow=pool_size, connect_args=connect_args, hide_parameters=True
    )
    _ping_when_idle(engine)
    return engine


WAL_SAFETY_NET = 10_000  # pages (~40 MB): SQLite checkpoints in a commit itself only should ``checkpointing`` stop
CHECKPOINT_EVERY = 1.0  # seconds between background checkpoints of a SQLite file


@asynccontextmanager
async def checkpointing(engine: AsyncEngine) -> AsyncIterator[None]:
    """SQLite: copies the write-ahead log into the database file every CHECKPOINT_EVERY, in a thread and on a
    connection of its own, PASSIVE (it never waits for nor blocks a reader or a writer). Left to SQLite, the
    checkpoint ran inside whichever commit crossed 1,000 pages, its fsync included, while every other update
    waited for the one writer: stalls of 100-300 ms, most of the open loop's p95 (bench/updates.py).
    PostgreSQL: nothing to do."""
    path = engine.url.database
    if engine.dialect.name != "sqlite" or not path or path == ":memory:":
        yield
        return
    task = asyncio.create_task(_checkpoint_every(path), name="sqlite checkpoints")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _checkpoint_every(path: str) -> None:
    while True:
        await asyncio.sleep(CHECKPOINT_EVERY)
        try:
            await asyncio.to_thread(checkpoint, path)
        except sqlite3.Error as exc:  # busy or away for a moment: the next round, or SQLite's own, catches up
            log.debug("SQLite checkpoint skipped: %s", type(exc).__name__)


def checkpoint(path: str) -> tuple[int, int, int]:
    """One PASSIVE checkpoint of the SQLite file at ``path``: (busy, pages in the log, pages copied)."""
    with contextlib.closing(sqlite3.connect(path, timeout=1)) as conn:
        busy, logged, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return busy, logged, copied


IDLE_PING = 30.0  # seconds: a pooled connection unused this long is tested before it is handed out


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Tests a pooled PostgreSQL connection before use only when it has sat idle (a server restarted, a
    firewall's idle cut overnight). ``pool_pre_ping`` tested every checkout: three round trips (BEGIN, ;,
    ROLLBACK with asyncpg) twice an update, about a quarter of an update's CPU (bench/updates.py). A connection
    in steady use that the server dropped fails its first statement instead: SQLAlchemy then renews the whole
    pool, and the update is handled once more (``lost_connection``: bot.inbox, bot.zalo.runtime)."""
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    @event.listens_for(pool, "connect")
    def _fresh(_dbapi_conn: Any, record: Any) -> None:
        record.info["used_at"] = time.monotonic()

    @event.listens_for(pool, "checkin")
    def _used(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info["used_at"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _test_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("used_at", 0.0) < IDLE_PING:
            return
        try:
            dialect.do_ping(dbapi_conn)
        except Exception as exc:  # the pool drops this one and checks out another (SQLAlchemy's own contract)
            raise DisconnectionError(type(exc).__name__) from exc
        record.info["used_at"] = time.monotonic()


def lost_connection(exc: BaseException) -> bool:
    """The database connection broke under a statement (the server restarted or cut it): nothing was
    written, the pool has been renewed, and the same work may be tried once more."""
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


async def once_more_if_lost(work: Callable[[], Awaitable[T]]) -> T:
    """``work()``, and once more should its database connection break under it (``lost_connection``)."""
    try:
        return await work()
    except Exception as exc:
        if not lost_connection(exc):
            raise
        log.warning("a database connection was lost (%s): trying once more", type(exc).__name__)
        return await work()


def make_sessions(engine: AsyncEngine) -> Sessions:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


@asynccontextmanager
async def unit_of_work(sessions: Sessions) -> AsyncIterator[AsyncSession]:
    """One transaction: commits when the block ends normally, rolls back on any error.

    Opened while an update is being handled (``repo_inbox.current``) and having changed something, it also
    marks that update done in the inbox, so the update's effects and its "handled" mark commit together or
    not at all. (A transaction that only looked, as a handler letting the update through does, marks nothing,
    unless it says it ends the update: ``repo_inbox.settle``.)
    If another worker marked it first, ``repo_inbox.AlreadyHandled`` rolls these effects back."""
    handling = repo_inbox.current.get()
    marked = False
    async with _one_writer(sessions), sessions() as session:
        async with session.begin():
            yield session
            if handling is not None and not handling.done and repo_inbox.settles(session):
                if (
                    not await repo_inbox.mark_done(
                        session=session, channel=handling.channel, key=handling.key, now=datetime.now(UTC)
                    )
                    and handling.recorded
                ):
                    raise repo_inbox.AlreadyHandled(f"{handling.channel} update {handling.key}")
                marked = True
        if handling is not None and marked:
            handling.done = True


# SQLite has one writer at a time; a transaction that finds the file locked sleeps in SQLite's busy handler
# (up to 100 ms a try), so concurrent updates in one process waited seconds for each other. Taking turns
# in the process instead costs nothing: only the network sends, outside the transactions, overlap.
_sqlite_turns: weakref.WeakKeyDictionary[AsyncEngine, tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)
_holder: ContextVar[asyncio.Task[Any] | None] = ContextVar("sqlite_turn_holder", default=None)


@asynccontextmanager
async def _one_writer(sessions: Sessions) -> AsyncIterator[None]:
    """On SQLite, one transaction of this process at a time (a transaction nested in the same task goes on);
    on PostgreSQL, nothing: row locks do the work."""
    engine = getattr(sessions, "kw", {}).get("bind")  # a test's stand-in for sessions may have none
    task = asyncio.current_task()
    if not isinstance(engine, AsyncEngine) or engine.dialect.name != "sqlite" or _holder.get() is task:
        yield
        return
    loop = asyncio.get_running_loop()
    found = _sqlite_turns.get(engine)
    if found is None or found[0] is not loop:
        found = (loop, asyncio.Lock())
        _sqlite_turns[engine] = found
    async with found[1]:
        token = _holder.set(task)
        try:
            yield
        finally:
            _holder.reset(token)


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


def _current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current_revision)


def _known(current: str | None) -> None:
    """Refuses a database migrated by a newer cdht: no migration here leads on from its revision."""
    script = ScriptDirectory.from_config(alembic_config())
    if current is not None and current not in {rev.revision for rev in script.walk_revisions()}:
        raise SchemaNotReady(
            f"the database is at migration {current}, which this version of cdht does not know "
            f"(its newest is {head_revision()}): run the cdht version that migrated it"
        )


def _upgrade(conn: Connection, target: str) -> list[str]:
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    script = ScriptDirectory.from_config(cfg)
    current = _current_revision(conn)
    _known(current)
    pending = script.iterate_revisions(target, current or "base")  # newest first
    applied = [rev.revision for rev in reversed(list(pending))]
    command.upgrade(cfg, target)
    return applied


async def upgrade(engine: AsyncEngine, target: str = "head") -> list[str]:
    """Runs the migrations up to ``target`` on the engine's database; returns the revisions applied, oldest
    first (none when it was already there)."""
    async with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # SQLite changes a table's keys by rebuilding it (batch mode); with keys enforced, dropping the old
            # table would delete the rows pointing at it, or refuse. Enforcement can only be switched outside a
            # transaction: off before the migrations, checked at their end, on again after.
            await _pragma(conn, "foreign_keys=OFF")
        try:
            async with conn.begin():
                applied = await conn.run_sync(_upgrade, target)
                if sqlite and (await conn.exec_driver_sql("PRAGMA foreign_key_check")).first() is not None:
                    raise RuntimeError("a migration left rows pointing at nothing: nothing was changed")
                return applied
        finally:
            if sqlite:
                await _pragma(conn, "foreign_keys=ON")


async def _pragma(conn: AsyncConnection, setting: str) -> None:
    await conn.exec_driver_sql(f"PRAGMA {setting}")
    await conn.commit()


async def ensure_schema(engine: AsyncEngine, *, auto_upgrade: bool) -> None:
    """Migrates (SQLite) or checks (others) that the schema is current; raises SchemaNotReady if not."""
    current = await current_revision(engine)
    if current == head_revision():
        return
    _known(current)
    if auto_upgrade:
        await upgrade(engine)
        return
    raise SchemaNotReady(
        f"the database schema is not up to date (at {current or 'no migration'}, needs {head_revision()}): "
        "run `cdht db upgrade` (with the same DATABASE_URL) first"
    )


@asynccontextmanager
async def open_database(
    url: str, *, check_schema: bool = True, pool_size: int = POOL_SIZE
) -> AsyncIterator[AsyncEngine]:
    """An engine on ``url`` for one command, disposed at the end. Connects once first, so an unusable URL or an
    unreachable database raises DatabaseUnavailable with one line to show; then (``check_schema``) migrates
    SQLite or raises SchemaNotReady for a PostgreSQL database that is not migrated."""
    engine = make_engine(url, pool_size=pool_size)
    try:
        try:
            async with engine.connect():
                pass
        except Exception as exc:
            message = explain(exc, url)
            if message is None:
                raise
            raise DatabaseUnavailable(message) from exc
        if check_schema:
            await ensure_schema(engine, auto_upgrade=is_sqlite(url))
        async with checkpointing(engine):
            yield engine
    finally:
        await engine.dispose()
