"""Work that must run once per cluster, not once per worker process: each run of a scheduled job (planning,
closing broadcasts, the evidence sweep, pruning the inbox) takes a PostgreSQL advisory lock named after the
job; a worker that finds it taken skips that run, since another worker is doing it right now.

- The lock is session-level (``pg_try_advisory_lock``), held on one connection taken from the pool for the
  run and released at its end; if releasing fails the connection is dropped, which ends its server session
  and with it the lock, so a lock never outlives its run in the pool.
- The key is a 64-bit hash of the database, schema and job name, computed by the server: deployments (or
  test runs) in other schemas of one database never block each other.
- On SQLite there is one process by design: every run goes ahead, as before.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import Sessions

log = logging.getLogger(__name__)

_KEY = "hashtextextended(current_database() || '/' || current_schema() || '/' || :name, 0)"


def _engine(sessions: Sessions) -> AsyncEngine:
    engine = sessions.kw.get("bind")
    assert isinstance(engine, AsyncEngine), "sessions must be bound to an engine"
    return engine


@asynccontextmanager
async def once_per_cluster(sessions: Sessions, name: str) -> AsyncIterator[bool]:
    """``async with once_per_cluster(sessions, "reminders:plan") as mine: if mine: ...``: ``mine`` is False when
    another process is running ``name`` now (skip this run), True otherwise (the lock is held until the block
    ends)."""
    engine = _engine(sessions)
    if engine.dialect.name != "postgresql":
        yield True
        return
    async with engine.connect() as conn:
        taken = bool((await conn.execute(text(f"select pg_try_advisory_lock({_KEY})"), {"name": name})).scalar())
        await conn.commit()  # no transaction left open on the held connection while the job runs
        if not taken:
            log.debug("%s: running in another worker, skipped here", name)
            yield False
            return
        try:
            yield True
        finally:
            try:
                await conn.execute(text(f"select pg_advisory_unlock({_KEY})"), {"name": name})
                await conn.commit()
            except BaseException:
                # Cancelled or the connection broke: close its server session, which releases the lock.
                await conn.invalidate()
                raise
