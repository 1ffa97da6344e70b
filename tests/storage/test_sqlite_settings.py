"""The SQLite file a commune runs on: WAL, foreign keys, and commits synced at checkpoints (NORMAL), which a
killed process survives (storage.db.make_engine says why)."""

from __future__ import annotations

from pathlib import Path

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
