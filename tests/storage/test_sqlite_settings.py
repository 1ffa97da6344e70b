"""The SQLite file a commune runs on: WAL, foreign keys, and commits synced at checkpoints (NORMAL), which a
killed process survives (storage.db.make_engine says why)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import pytest

from storage import db
from storage.db import make_engine


async def test_every_sqlite_connection_gets_wal_foreign_keys_and_normal_sync(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'cdht.db'}")
    try:
        async with engine.connect() as conn:
            read = {
                p: (await conn.exec_driver_sql(f"PRAGMA {p}")).scalar()
                for p in ("journal_mode", "foreign_keys", "synchronous")
            }
    finally:
        await engine.dispose()
    assert read == {"journal_mode": "wal", "foreign_keys": 1, "synchronous": 1}  # 1: NORMAL (2: FULL)


async def test_a_sqlite_file_is_checkpointed_aside_not_in_a_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cdht.db"
    rounds: list[str] = []
    real = db.checkpoint

    def counted(where: str) -> tuple[int, int, int]:
        rounds.append(where)
        return real(where)

    monkeypatch.setattr(db, "checkpoint", counted)
    monkeypatch.setattr(db, "CHECKPOINT_EVERY", 0.01)
    async with db.open_database(f"sqlite:///{path}") as engine:
        async with engine.connect() as conn:
            # A commit checkpoints by itself only past the safety net (the default, 1,000 pages, stalled updates).
            assert (await conn.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar() == db.WAL_SAFETY_NET
        async with engine.begin() as conn:
            await conn.exec_driver_sql("create table t (x integer)")
            await conn.exec_driver_sql("insert into t values (1)")
        for _ in range(500):
            if rounds:
                break
            await asyncio.sleep(0.01)
        assert rounds and rounds[0] == str(path)
    after = len(rounds)
    await asyncio.sleep(0.05)
    assert len(rounds) == after  # stopped with the engine


def test_a_checkpoint_copies_the_whole_log_into_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cdht.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute("create table t (x integer)")
        for n in range(20):
            conn.execute("insert into t values (?)", (n,))
            conn.commit()
        busy, logged, copied = db.checkpoint(str(path))
    assert busy == 0 and logged > 0 and copied == logged
