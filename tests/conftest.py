"""Shared test plumbing: a migrated database per test, on SQLite and (where reachable) PostgreSQL.

PostgreSQL tests run in a schema of their own per test session, so several runs can share the server's
``test`` database. CI sets CDHT_REQUIRE_POSTGRES=1: there an unreachable server fails the run instead of
skipping the PostgreSQL half.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from storage.db import Sessions, make_engine, make_sessions, upgrade

PG_URL = os.environ.get("CDHT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("CDHT_REQUIRE_POSTGRES") == "1"


@dataclass(frozen=True)
class Database:
    url: str
    schema: str | None

    @property
    def backend(self) -> str:
        return "postgresql" if self.schema else "sqlite"


async def _pg_reachable() -> str | None:
    engine = make_engine(PG_URL)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("select 1"))
        return None
    except Exception as exc:  # any failure means: not reachable
        return f"{type(exc).__name__}: {exc}"
    finally:
        await engine.dispose()


async def _pg_create(schema: str) -> None:
    engine = make_engine(PG_URL)
    async with engine.begin() as conn:
        await conn.execute(text(f'create schema "{schema}"'))
    await engine.dispose()
    engine = make_engine(PG_URL, schema=schema)
    await upgrade(engine)
    await engine.dispose()


async def _pg_drop(schema: str) -> None:
    engine = make_engine(PG_URL)
    async with engine.begin() as conn:
        await conn.execute(text(f'drop schema if exists "{schema}" cascade'))
    await engine.dispose()


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[str]:
    """A freshly migrated schema on the PostgreSQL server, for this test session."""
    problem = asyncio.run(_pg_reachable())
    if problem:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL at {PG_URL} is required but not reachable: {problem}")
        pytest.skip(f"PostgreSQL not reachable: {problem}")
    schema = f"cdht_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_create(schema))
    yield schema
    asyncio.run(_pg_drop(schema))


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Database:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "cdht.db"
        return Database(f"sqlite:///{path}", None)
    return Database(PG_URL, request.getfixturevalue("postgres_schema"))


@pytest.fixture
def sqlite_database(tmp_path_factory: pytest.TempPathFactory) -> Database:
    return Database(f"sqlite:///{tmp_path_factory.mktemp('db') / 'cdht.db'}", None)


async def _empty_tables(engine: AsyncEngine) -> None:
    names = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"truncate {names} restart identity cascade"))


@pytest.fixture
async def engine(database: Database) -> AsyncIterator[AsyncEngine]:
    """A migrated, empty database (SQLite: a new file; PostgreSQL: the session's schema, emptied)."""
    eng = make_engine(database.url, schema=database.schema)
    if database.schema:
        await _empty_tables(eng)
    else:
        await upgrade(eng)
    yield eng
    await eng.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> Sessions:
    return make_sessions(engine)
