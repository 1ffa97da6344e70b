"""The migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from storage.db import current_revision, head_revision, make_engine, upgrade
from tests.conftest import PG_URL, Database


async def test_database_is_at_head(engine: AsyncEngine) -> None:
    assert await current_revision(engine) == head_revision()


async def test_models_and_migrations_agree(engine: AsyncEngine) -> None:
    def diff(conn):  # type: ignore[no-untyped-def]
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        return compare_metadata(ctx, SQLModel.metadata)

    async with engine.connect() as conn:
        changes = await conn.run_sync(diff)
    assert changes == []


# A Telegram citizen with an assessment and answers, an officer role and an owed reminder, as 0005 stored them.
AT_0005 = [
    "insert into unit (id, code, name, kind, path, headcount, targets, pack_overrides, created_at) "
    "values (1, 'XA1', 'Xã', 'commune', '/1/', 0, '{}', '{}', '2026-01-01')",
    "insert into person (id, telegram_id, chat_id, full_name, unit_id, locale, step, rev, reminders, created_at) "
    "values (7, 5123456789, 5123456789, 'Lan', 1, 'vi', 'ready', 3, true, '2026-01-01')",
    "insert into role (person_id, unit_id, role, created_at) values (7, 1, 'officer', '2026-01-01')",
    "insert into assessment (id, person_id, unit_id, year, step, indicator, editing, rev, status, "
    "returned_indicators, created_at, updated_at) values (3, 7, 1, 2026, 'evidence', 2, false, 4, 'draft', '[]', "
    "'2026-01-01', '2026-01-01')",
    "insert into answer (assessment_id, indicator, chosen, updated_at) values (3, 1, 8, '2026-01-01')",
    "insert into answer (assessment_id, indicator, chosen, updated_at) values (3, 2, 5, '2026-01-01')",
    "insert into outbox (person_id, kind, cycle, due_at, status, attempts, payload, created_at) "
    "values (7, 'reminder', '2026:d7', '2026-12-24', 'pending', 0, '{}', '2026-01-01')",
]


@pytest.fixture
async def fresh(database: Database) -> AsyncIterator[AsyncEngine]:
    """An empty database of this test's own (PostgreSQL: a new schema), not migrated yet."""
    schema = f"cdht_mig_{uuid.uuid4().hex[:8]}" if database.schema else None
    admin = make_engine(PG_URL) if schema else None
    if admin is not None:
        async with admin.begin() as conn:
            await conn.execute(text(f'create schema "{schema}"'))
    engine = make_engine(database.url, schema=schema)
    yield engine
    await engine.dispose()
    if admin is not None:
        async with admin.begin() as conn:
            await conn.execute(text(f'drop schema "{schema}" cascade'))
        await admin.dispose()


async def _rows(engine: AsyncEngine, sql: str) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        return [tuple(r) for r in (await conn.execute(text(sql))).all()]


async def test_telegram_people_keep_everything_when_a_person_becomes_channel_and_id(fresh: AsyncEngine) -> None:
    await upgrade(fresh, "0005")
    async with fresh.begin() as conn:
        for row in AT_0005:
            await conn.execute(text(row))

    assert await upgrade(fresh, "0006") == ["0006"]

    people = "select id, channel, external_id, chat_id, display_name, full_name, unit_id from person"
    assert await _rows(fresh, people) == [(7, "telegram", "5123456789", "5123456789", None, "Lan", 1)]
    assert await _rows(fresh, "select person_id, role from role") == [(7, "officer")]
    assert await _rows(fresh, "select id, person_id, status from assessment") == [(3, 7, "draft")]
    assert await _rows(fresh, "select assessment_id, indicator, chosen from answer order by indicator") == [
        (3, 1, 8),
        (3, 2, 5),
    ]
    assert await _rows(fresh, "select person_id, channel, cycle from outbox") == [(7, "telegram", "2026:d7")]
    async with fresh.begin() as conn:  # one person per (channel, id) from now on
        with pytest.raises(IntegrityError):
            await conn.execute(
                text(
                    "insert into person (channel, external_id, locale, step, rev, reminders, created_at) "
                    "values ('telegram', '5123456789', 'vi', 'consent', 0, true, '2026-01-02')"
                )
            )


async def test_readings_from_before_0009_keep_everything_and_wait_for_their_probes(fresh: AsyncEngine) -> None:
    await upgrade(fresh, "0005")
    async with fresh.begin() as conn:
        for row in AT_0005:
            await conn.execute(text(row))
    await upgrade(fresh, "0008")
    async with fresh.begin() as conn:
        await conn.execute(
            text(
                "insert into evidence (id, assessment_id, indicator, kind, file_id, file_unique_id, mime_type, size, "
                "sha256, path, created_at) values (11, 3, 2, 'photo', 'f', 'u', 'image/jpeg', 9, 'ab', "
                "'2026/3/2/1.jpg', '2026-01-01')"
            )
        )
        await conn.execute(
            text(
                "insert into evidence_reading (evidence_id, reader_version, status, dates, name_found, "
                "matched_indicators, phash, phash_b0, flags, read_at) values (11, 1, 'read', '[\"2026-05-12\"]', "
                "false, '[2]', '0123456789abcdef', 291, '[]', '2026-01-02')"
            )
        )

    assert await upgrade(fresh, "0009") == ["0009"]

    rows = await _rows(fresh, "select evidence_id, status, phash, phash_b0, phash_probes from evidence_reading")
    assert rows == [(11, "read", "0123456789abcdef", 291, None)]  # NULL: the reader probes the file later


async def test_inbox_rows_from_before_0010_keep_everything_and_have_no_sender(fresh: AsyncEngine) -> None:
    await upgrade(fresh, "0009")
    async with fresh.begin() as conn:
        await conn.execute(
            text(
                "insert into update_inbox (channel, key, payload, received_at) "
                "values ('telegram', '41', '{\"update_id\": 41}', '2026-01-01')"
            )
        )

    assert await upgrade(fresh, "0010") == ["0010"]

    rows = await _rows(fresh, "select channel, key, done_at, sender from update_inbox")
    assert rows == [("telegram", "41", None, None)]  # no sender: it holds no later update back
