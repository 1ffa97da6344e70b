"""Engines, sessions and the schema check: the one place that knows how to reach the database.

SQLite (the default, a file in the working folder) is migrated automatically at start; any other database
must be migrated by its operator, and the bot refuses to start until it is (``cdht db upgrade``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import repo_inbox

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

Sessions = async_sessionmaker[AsyncSession]


class SchemaNotReady(RuntimeError):
    """The database is not at the newest migration; the message names the command to run."""


def normalise_url(url: str) -> str:
    """Picks the async driver for plain URLs: postgresql:// -> asyncpg, sqlite:// -> aiosqlite."""
    parsed = make_url(url)
    driver = {"postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg", "sqlite": "sqlite+aiosqlite"}
    if parsed.drivername in driver:
        parsed = parsed.set(drivername=driver[parsed.drivername])
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str, *, schema: str | None = None) -> AsyncEngine:
    """An async engine; ``schema`` (PostgreSQL) puts every table in that schema, as tests running side by
    side on one database need."""
    url = normalise_url(url)
    if is_sqlite(url):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        return engine
    connect_args = {"server_settings": {"search_path": schema}} if schema else {}
    return create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, connect_args=connect_args)


def make_sessions(engine: AsyncEngine) -> Sessions:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


@asynccontextmanager
async def unit_of_work(sessions: Sessions) -> AsyncIterator[AsyncSession]:
    """One transaction: commits when the block ends normally, rolls back on any error.

    Opened while an update is being handled (``repo_inbox.current``), it also marks that update done in
    the inbox, so the update's effects and its "handled" mark commit together or not at all."""
    handling = repo_inbox.current.get()
    async with sessions() as session:
        async with session.begin():
            yield session
            if handling is not None and not handling.done:
                await repo_inbox.mark_done(
                    session=session, channel=handling.channel, key=handling.key, now=datetime.now(UTC)
                )
        if handling is not None:
            handling.done = True


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


def _upgrade(conn: Connection, target: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, target)


async def upgrade(engine: AsyncEngine, target: str = "head") -> None:
    """Runs the migrations up to ``target`` on the engine's database."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, target)


async def ensure_schema(engine: AsyncEngine, *, auto_upgrade: bool) -> None:
    """Migrates (SQLite) or checks (others) that the schema is current; raises SchemaNotReady if not."""
    if await current_revision(engine) == head_revision():
        return
    if auto_upgrade:
        await upgrade(engine)
        return
    raise SchemaNotReady(
        "The database schema is not up to date. Run `cdht db upgrade` (with the same DATABASE_URL) first."
    )
