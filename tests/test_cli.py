"""The ``cdht`` command as an operator meets it."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text

from bot.cli import main
from conversations.criteria import PACKS_DIR
from storage.db import current_revision, ensure_schema, head_revision, make_engine
from tests.conftest import PG_URL


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("BOT_TOKEN", "DATABASE_URL", "ADMIN_IDS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env, and the default SQLite file lands here


def test_run_without_token_says_what_to_set(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "BOT_TOKEN" in err


def test_placeholder_token_counts_as_missing(monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("BOT_TOKEN", "changeme")
    assert main(["run"]) == 2
    assert "BOT_TOKEN" in capsys.readouterr().err


def test_bad_timezone_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIMEZONE", "Mars/Olympus")
    with pytest.raises(SystemExit, match="TIMEZONE"):
        main(["run"])


def test_criteria_check_accepts_the_shipped_packs(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(str(p) for p in PACKS_DIR.glob("*.yaml"))
    assert main(["criteria", "check", *files]) == 0
    out = capsys.readouterr().out
    assert out.count("OK") == len(files) and "reconstructed" in out


def test_criteria_check_lists_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = yaml.safe_load((PACKS_DIR / "phu-luc-i.yaml").read_text(encoding="utf-8"))
    data["indicators"][0]["levels"][0]["points"] = 11
    del data["indicators"][1]["text"]["en"]
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert main(["criteria", "check", str(broken)]) == 1
    out = capsys.readouterr().out
    assert "3 problem(s)" in out  # 11 points, so also no level gives the maximum
    assert "indicators[0].levels[0].points: 11 is outside 0..10" in out
    assert "indicators[1].text.en: missing or empty" in out


async def _create_db(name: str) -> None:
    engine = make_engine(PG_URL)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'create database "{name}"'))
    await engine.dispose()


async def _drop_db(name: str) -> None:
    engine = make_engine(PG_URL)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'drop database if exists "{name}" with (force)'))
    await engine.dispose()


@pytest.fixture
def empty_postgres(postgres_schema: str) -> str:  # postgres_schema: skips (or fails in CI) without a server
    name = f"cdht_cli_{uuid.uuid4().hex[:8]}"
    asyncio.run(_create_db(name))
    yield PG_URL.rsplit("/", 1)[0] + "/" + name
    asyncio.run(_drop_db(name))


def test_run_refuses_an_unmigrated_postgres_and_names_the_command(
    empty_postgres: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOT_TOKEN", "123:abc")
    monkeypatch.setenv("DATABASE_URL", empty_postgres)
    assert main(["run"]) == 3
    assert "cdht db upgrade" in capsys.readouterr().err
    assert main(["db", "upgrade"]) == 0
    assert asyncio.run(_revision(empty_postgres)) == head_revision()


async def _revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        await ensure_schema(engine, auto_upgrade=False)
        return await current_revision(engine)
    finally:
        await engine.dispose()


def test_fresh_sqlite_is_migrated_automatically(tmp_path: Path) -> None:
    async def go() -> str | None:
        engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
        await ensure_schema(engine, auto_upgrade=True)
        revision = await current_revision(engine)
        await engine.dispose()
        return revision

    assert asyncio.run(go()) == head_revision()


def test_unit_add(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["unit", "add", "thon1", "Thôn Một", "--headcount", "120"]) == 0
    assert "THON1" in capsys.readouterr().out
    assert (tmp_path / "cdht.db").exists()
