"""Migration 0004 on a database that already holds people: every row survives the change of delete rules
(SQLite rebuilds the tables), and afterwards erasing an officer keeps what they did for others."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import make_engine, upgrade
from tests.conftest import PG_URL, Database

ROWS = [
    "insert into unit (id, code, name, kind, path, headcount, targets, pack_overrides, created_at) "
    "values (1, 'XA1', 'Xã', 'commune', '/1/', 0, '{}', '{}', '2026-01-01')",
    *(
        "insert into person (id, telegram_id, locale, step, rev, reminders, created_at) "
        f"values ({n}, {n}0, 'vi', 'ready', 0, true, '2026-01-01')"
        for n in (1, 2)
    ),
    # Person 1 is an officer: granted person 2's role, reviewed person 2, broadcast, made a link.
    "insert into role (person_id, unit_id, role, granted_by, created_at) values (1, 1, 'officer', null, '2026-01-01')",
    "insert into role (person_id, unit_id, role, granted_by, created_at) values (2, 1, 'reviewer', 1, '2026-01-01')",
    "insert into assessment (id, person_id, year, step, indicator, editing, rev, status, returned_indicators, "
    "reviewed_by, created_at, updated_at) values (1, 2, 2026, 'done', 0, false, 0, 'reviewed', '[]', 1, "
    "'2026-01-01', '2026-01-01')",
    "insert into assessment (id, person_id, year, step, indicator, editing, rev, status, returned_indicators, "
    "created_at, updated_at) values (2, 1, 2026, 'evidence', 1, false, 0, 'draft', '[]', '2026-01-01', '2026-01-01')",
    "insert into answer (assessment_id, indicator, chosen, updated_at) values (1, 1, 8, '2026-01-01')",
    "insert into answer (assessment_id, indicator, chosen, updated_at) values (2, 1, 5, '2026-01-01')",
    "insert into evidence (assessment_id, indicator, kind, file_id, file_unique_id, mime_type, size, sha256, path, "
    "created_at) values (2, 1, 'photo', 'f', 'u', 'image/jpeg', 1, 'x', '2026/2/1/u.jpg', '2026-01-01')",
    "insert into auditevent (actor_id, assessment_id, action, at) values (1, 1, 'reviewed', '2026-01-01')",
    "insert into auditevent (actor_id, assessment_id, action, at) values (1, 2, 'submitted', '2026-01-01')",
    "insert into broadcast (officer_id, unit_id, text, status, created_at) values (1, 1, 'Họp', 'done', '2026-01-01')",
    "insert into outbox (person_id, kind, cycle, due_at, status, attempts, payload, created_at) "
    "values (1, 'reminder', '2026', '2026-01-01', 'pending', 0, '{}', '2026-01-01')",
    "insert into role_invite (token_hash, role, unit_id, created_by, expires_at, created_at) "
    "values ('h', 'head', 1, 1, '2026-01-01', '2026-01-01')",
    "insert into officer_pending (person_id, kind, assessment_id, data, created_at) "
    "values (1, 'adjust', 1, '{}', '2026-01-01')",
]
TABLES = ("person", "role", "assessment", "answer", "evidence", "auditevent", "broadcast", "outbox", "officer_pending")


@pytest.fixture
async def at_0003(database: Database) -> AsyncIterator[AsyncEngine]:
    """A database of its own migrated to 0003 (before the delete rules), holding an officer and a citizen."""
    schema = f"cdht_rules_{uuid.uuid4().hex[:8]}" if database.schema else None
    if schema:
        admin = make_engine(PG_URL)
        async with admin.begin() as conn:
            await conn.execute(text(f'create schema "{schema}"'))
    engine = make_engine(database.url, schema=schema)
    await upgrade(engine, "0003")
    async with engine.begin() as conn:
        for row in ROWS:
            await conn.execute(text(row))
    yield engine
    await engine.dispose()
    if schema:
        async with admin.begin() as conn:
            await conn.execute(text(f'drop schema "{schema}" cascade'))
        await admin.dispose()


async def _counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {t: (await conn.execute(text(f"select count(*) from {t}"))).scalar_one() for t in TABLES}


async def test_the_rules_arrive_without_losing_a_row_and_then_hold(at_0003: AsyncEngine) -> None:
    before = await _counts(at_0003)
    assert await upgrade(at_0003, "0004") == ["0004"]
    assert await _counts(at_0003) == before
    async with at_0003.begin() as conn:
        await conn.execute(text("delete from person where id = 1"))
    async with at_0003.connect() as conn:

        async def rows(sql: str) -> list[tuple]:
            return [tuple(r) for r in (await conn.execute(text(sql))).all()]

        assert await rows("select id from person") == [(2,)]
        assert await rows("select person_id, granted_by from role") == [(2, None)]
        assert await rows("select id, status, reviewed_by from assessment") == [(1, "reviewed", None)]
        assert await rows("select assessment_id from answer") == [(1,)]
        assert await rows("select count(*) from evidence") == [(0,)]
        assert await rows("select actor_id, assessment_id, action from auditevent") == [(None, 1, "reviewed")]
        assert await rows("select officer_id, text from broadcast") == [(None, "Họp")]
        assert await rows("select count(*) from outbox") == [(0,)]
        assert await rows("select created_by from role_invite") == [(None,)]
        assert await rows("select count(*) from officer_pending") == [(0,)]


async def test_downgrade_and_upgrade_again(at_0003: AsyncEngine) -> None:
    before = await _counts(at_0003)
    await upgrade(at_0003)
    from alembic import command

    from storage.db import alembic_config

    def down(conn):  # type: ignore[no-untyped-def]
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0003")

    # As storage.db.upgrade does: SQLite rebuilds tables with key enforcement off, or rows would cascade away.
    async with at_0003.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            await conn.commit()
        async with conn.begin():
            await conn.run_sync(down)
        if sqlite:
            await conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            await conn.commit()
    assert await _counts(at_0003) == before
    await upgrade(at_0003)
    assert await _counts(at_0003) == before
