"""``cdht tally`` at a desk: the figures ``/tally`` shows, as lines or JSON, and ``cdht tally rebuild``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete

from bot.cli import main
from bot.cli_tally import rebuild, tally
from storage import tally_counters as tc
from storage.db import Sessions, make_engine, make_sessions, unit_of_work, upgrade
from storage.models import TallyCount
from tests.storage.test_repo_reports import seed

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")


async def test_tally_lines_and_json(sessions: Sessions) -> None:
    await seed(sessions)
    status, lines = await tally(sessions, "tinh", 2026, as_json=False, zone=ZONE)
    assert status == 0
    assert lines[0] == "TINH Đơn vị TINH — 2026"
    assert lines[1] == "headcount 380 (staff 20) · registered 14 · in progress 1"
    assert "recognised 4/380 = 1.1% (target 51.6%, 192 more needed)" in lines[3]
    assert lines[4] == "digital skills 3/4 = 75.0% of the recognised (target 90.0%)"
    assert lines[5].startswith("weakest indicators: 10 (7.44), ")
    assert "XA1\tĐơn vị XA1\t180\t12\t8\t3\t1.7%\t53.3%" in lines
    status, lines = await tally(sessions, "XA1", 2025, as_json=True, zone=ZONE)
    found = json.loads(lines[0])
    assert (found["total"]["registered"], found["total"]["recognised"], found["own"]["headcount"]) == (1, 1, 10)
    assert found["pack"] == {"id": "phu-luc-i", "version": 1}


async def test_unknown_unit_and_rebuild(sessions: Sessions) -> None:
    await seed(sessions)
    assert await tally(sessions, "NOPE", 2026, as_json=False, zone=ZONE) == (2, ["cdht: no unit with code NOPE"])
    async with unit_of_work(sessions) as s:
        kept = await tc.stored(s)
        await s.exec(delete(TallyCount))  # type: ignore[call-overload]
    status, lines = await rebuild(sessions)
    assert status == 0 and lines[0].startswith(f"tally counters rebuilt from the stored rows: {len(kept)} rows")
    async with sessions() as s:
        assert await tc.stored(s) == kept


def test_cdht_tally_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'cdht.db'}"

    async def prepare() -> None:
        engine = make_engine(url)
        await upgrade(engine)
        await seed(make_sessions(engine))
        await engine.dispose()

    asyncio.run(prepare())
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    assert main(["tally", "XA2", "--year", "2026"]) == 0
    assert "headcount 200 (staff 0) · registered 2 · in progress 0" in capsys.readouterr().out
    assert main(["tally", "rebuild"]) == 0
    assert "rebuilt" in capsys.readouterr().out
    assert main(["tally", "rebuild", "--json"]) == 2
    assert capsys.readouterr().err.startswith("cdht: tally rebuild takes no --year")
    assert main(["tally", "V9"]) == 2
    assert capsys.readouterr().err == "cdht: no unit with code V9\n"
