"""Scheduled jobs run once per cluster (storage.cluster): while one process runs a job, another process's run of
the same job is skipped; the lock goes with the run (finished, failed or killed); SQLite runs everything."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot.reminders import PLAN_LOCK, _plan_job, policy_for
from storage.cluster import once_per_cluster
from storage.db import Sessions, make_engine, make_sessions
from storage.models import Outbox
from tests.bot.harness import make_settings
from tests.conftest import Database
from tests.scheduler.builders import make_people

NOW = datetime(2026, 12, 24, 2, 0, tzinfo=UTC)  # 09:00 in Hà Nội on 24/12: the 7-days-before reminders are due
ROOT = Path(__file__).resolve().parents[2]


def other_process_sessions(database: Database) -> tuple[AsyncEngine, Sessions]:
    """A second engine (its own pool and server sessions), as another worker process has."""
    engine = make_engine(database.url, schema=database.schema)
    return engine, make_sessions(engine)


async def test_a_job_running_in_one_process_is_skipped_in_another(database: Database, sessions: Sessions) -> None:
    engine, others = other_process_sessions(database)
    running, finish = asyncio.Event(), asyncio.Event()
    ran: list[str] = []

    async def job(who: Sessions, name: str, *, hold: bool = False) -> None:
        async with once_per_cluster(who, "test:job") as mine:
            if mine:
                ran.append(name)
                if hold:  # a long run: until the test says it is over
                    running.set()
                    await finish.wait()

    try:
        first = asyncio.create_task(job(sessions, "a", hold=True))
        await asyncio.wait_for(running.wait(), 10)
        await job(others, "b")  # meanwhile: b's run
        finish.set()
        await first
        await job(others, "c")  # afterwards: the lock is free again
    finally:
        finish.set()
        await engine.dispose()
    if database.backend == "postgresql":
        assert ran == ["a", "c"]  # b skipped while a ran
    else:
        assert ran == ["a", "b", "c"]  # SQLite: one process by design, nothing changes


async def test_a_failed_run_releases_the_lock(database: Database, sessions: Sessions) -> None:
    with pytest.raises(RuntimeError):
        async with once_per_cluster(sessions, "test:fails") as mine:
            assert mine
            raise RuntimeError("the job failed")
    async with once_per_cluster(sessions, "test:fails") as mine:
        assert mine


async def test_other_jobs_and_other_schemas_do_not_block(database: Database, sessions: Sessions) -> None:
    if database.backend != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    public = make_engine(database.url)  # another deployment in the same database, another schema
    try:
        async with once_per_cluster(sessions, "test:a") as mine:
            assert mine
            async with once_per_cluster(sessions, "test:b") as other_job:
                assert other_job
            async with once_per_cluster(make_sessions(public), "test:a") as other_schema:
                assert other_schema
    finally:
        await public.dispose()


HOLDER = textwrap.dedent(
    """
    import asyncio, sys
    from storage.cluster import once_per_cluster
    from storage.db import make_engine, make_sessions

    async def main() -> None:
        engine = make_engine(sys.argv[1], schema=sys.argv[2])
        async with once_per_cluster(make_sessions(engine), sys.argv[3]) as mine:
            print("held" if mine else "skipped", flush=True)
            sys.stdin.readline()  # until told to finish (or killed)
        await engine.dispose()

    asyncio.run(main())
    """
)


def start_holder(database: Database, name: str) -> subprocess.Popen[str]:
    assert database.schema is not None
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, database.url, database.schema, name],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    return holder


async def planned(sessions: Sessions) -> int:
    async with sessions() as s:
        return len((await s.exec(select(Outbox))).all())


async def test_planning_runs_in_one_worker_process_while_the_other_skips(
    database: Database, sessions: Sessions, tmp_path: Path
) -> None:
    """Another process holds the planning lock (it is planning): this process's planning job skips its run; once
    that process is killed mid-run, the lock is gone with its connection and the next run here plans."""
    if database.backend != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    await make_people(sessions, 5)
    settings = make_settings(tmp_path / "ev")
    context = SimpleNamespace(
        job=SimpleNamespace(data=policy_for(settings)), db=sessions, now=lambda: NOW, settings=settings
    )
    holder = await asyncio.to_thread(start_holder, database, PLAN_LOCK)
    try:
        await _plan_job(context)  # type: ignore[arg-type]
        assert await planned(sessions) == 0  # skipped: the other process is planning
    finally:
        holder.send_signal(signal.SIGKILL)  # killed while holding the lock
        await asyncio.to_thread(holder.wait, 10)
    for _ in range(50):  # the server ends the dead session's locks as soon as it notices the closed socket
        await _plan_job(context)  # type: ignore[arg-type]
        if await planned(sessions):
            break
        await asyncio.sleep(0.1)
    assert await planned(sessions) == 5
