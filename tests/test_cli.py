"""The ``cdht`` command as an operator meets it."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
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


# --------------------------------------------------------------------------- units: one line per refusal


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("cdht: ") and "Traceback" not in err, err
    return err.strip()


def test_unit_add_refusals_are_one_line_and_non_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["unit", "add", "XA1", "Xã Một"]) == 0
    capsys.readouterr()
    for argv, words in [
        (["unit", "add", "X2", "Xóm 2", "--override", "phu-luc-iv=nonexistent"], "no criteria pack nonexistent"),
        (["unit", "add", "X2", "Xóm 2", "--override", "garbage"], "must be BASE=PACK"),
        (["unit", "add", "X2", "Xóm 2", "--override", "phu-luc-4=phu-luc-iv-i67"], "phu-luc-4 is not a pack"),
        (["unit", "add", "X2", "Xóm 2", "--parent", "NOPE"], "no unit with code NOPE"),
        (["unit", "add", "xa1", "Xã trùng"], "a unit with code XA1 already exists"),
        (
            ["unit", "add", "Thôn Một", "Thôn Một"],
            'unit code "Thôn Một" may only use A-Z a-z 0-9 _ - (at most 32); try THON-MOT',
        ),
        (["unit", "add", "X2", " "], "the unit name is empty"),
    ]:
        assert main(argv) == 2, argv
        assert words in _one_error_line(capsys), argv
    assert main(["units", "list"]) == 0
    assert capsys.readouterr().out.splitlines() == ["XA1\tXã Một\tcommunity\theadcount 0"]


@pytest.mark.parametrize(
    "argv",
    [
        ["unit", "add", "X2", "Xóm 2", "--headcount", "-3"],
        ["unit", "add", "X2", "Xóm 2", "--headcount", "12.5"],
        ["person", "move", "0", "XA1"],
        ["person", "move", "-5", "XA1"],
        ["grant", "-5", "admin"],
        ["revoke", "0", "reviewer", "XA1"],
    ],
)
def test_numbers_that_cannot_be_are_refused_by_the_parser(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_unit_override_set_show_clear(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["unit", "add", "X2", "Xóm 2", "--override", "phu-luc-iv=phu-luc-iv-i67"]) == 0
    assert main(["unit", "override", "X2"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "unit X2: phu-luc-iv=phu-luc-iv-i67"
    assert main(["unit", "override", "X2", "phu-luc-iv=phu-luc-i"]) == 2
    assert "phu-luc-i is not an override of phu-luc-iv" in _one_error_line(capsys)
    assert main(["unit", "override", "X2", "--clear", "phu-luc-iv"]) == 0
    assert capsys.readouterr().out == "unit X2: no overrides (the group packs)\n"
    assert main(["unit", "override", "X2", "phu-luc-iv=phu-luc-iv-i67"]) == 0
    assert main(["units", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith("\toverride phu-luc-iv=phu-luc-iv-i67")


# --------------------------------------------------------------------------- a broken criteria folder


@pytest.fixture
def packs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A criteria folder holding a copy of the shipped packs, used in place of the shipped one."""
    folder = tmp_path / "criteria"
    folder.mkdir()
    for path in PACKS_DIR.glob("*.yaml"):
        (folder / path.name).write_bytes(path.read_bytes())
    monkeypatch.setattr("conversations.criteria.PACKS_DIR", folder)
    return folder


def test_a_broken_pack_file_is_named_on_one_line(packs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (packs / "x.yaml").write_text("id: phu-luc-x\nindicators: [1, 2\n  - : : :\n", encoding="utf-8")
    assert main(["criteria", "list"]) == 1
    out, err = capsys.readouterr()
    assert err.startswith("cdht: criteria/x.yaml: not valid YAML: line ") and err.count("\n") == 1
    assert "phu-luc-iv-i67@1" in out  # the good packs are still listed
    # Checking an unrelated good file still works, and says what is wrong in the folder.
    assert main(["criteria", "check", str(packs / "phu-luc-i.yaml")]) == 1
    out, err = capsys.readouterr()
    assert "phu-luc-i.yaml: OK" in out and err.startswith("cdht: criteria/x.yaml: ")
    # Commands that need the packs refuse with the same line.
    assert main(["unit", "add", "X2", "Xóm 2", "--override", "phu-luc-iv=phu-luc-iv-i67"]) == 2
    assert _one_error_line(capsys).startswith("cdht: criteria/x.yaml: not valid YAML")


def test_a_second_file_with_the_same_id_and_version(packs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = packs.parent / "phu-luc-i-copy.yaml"
    copy.write_bytes((packs / "phu-luc-i.yaml").read_bytes())
    assert main(["criteria", "check", str(copy)]) == 1
    assert "phu-luc-i version 1 is already loaded from criteria/phu-luc-i.yaml" in capsys.readouterr().out
    (packs / "z-copy.yaml").write_bytes(copy.read_bytes())
    assert main(["criteria", "list"]) == 1
    err = capsys.readouterr().err
    assert err == "cdht: criteria/z-copy.yaml: phu-luc-i version 1 is already loaded from criteria/phu-luc-i.yaml\n"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_run_and_export_name_a_broken_pack_file_on_one_line(
    packs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["unit", "add", "X1", "Xóm 1"]) == 0
    capsys.readouterr()
    (packs / "x.yaml").write_text("id: phu-luc-x\nindicators: [1, 2\n  - : : :\n", encoding="utf-8")
    monkeypatch.setattr("conversations.criteria._default", {})  # each cdht command is a process of its own
    monkeypatch.setenv("BOT_TOKEN", "123:abc")
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", f"http://127.0.0.1:{_closed_port()}/bot")  # never the internet
    for argv in (["run"], ["export", "--unit", "X1", "--out", str(packs.parent)]):
        assert main(argv) == 2, argv
        assert _one_error_line(capsys).startswith("cdht: criteria/x.yaml: not valid YAML: line "), argv


# --------------------------------------------------------------------------- cdht run and the units' overrides


def test_run_refuses_units_whose_override_no_pack_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pack removed after units were set up to use it: one line per unit and pack, naming the fix, and the bot
    does not start (Telegram is never called: a closed port would be a different line)."""
    assert main(["unit", "add", "A1", "Ấp 1"]) == 0
    assert main(["unit", "add", "B2", "Trường B", "--override", "phu-luc-iv=phu-luc-iv-i67"]) == 0
    assert main(["unit", "add", "C3", "Xóm 3"]) == 0
    capsys.readouterr()
    with sqlite3.connect(tmp_path / "cdht.db") as db:  # `unit add` refuses such overrides now; older data has them
        db.execute("update unit set pack_overrides = ? where code = 'A1'", ['{"phu-luc-iv": "phu-luc-iv-old"}'])
        db.execute("update unit set pack_overrides = ? where code = 'C3'", ['{"phu-luc-4": "phu-luc-iv-i67"}'])
    monkeypatch.setenv("BOT_TOKEN", "123:abc")
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", f"http://127.0.0.1:{_closed_port()}/bot")
    assert main(["run"]) == 1
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert out == "" and "Traceback" not in err and len(lines) == 2, err
    assert lines[0].startswith("cdht: unit A1 uses phu-luc-iv-old instead of phu-luc-iv: no criteria pack ")
    assert lines[0].endswith(
        "(fix: cdht unit override A1 phu-luc-iv=PACK, or cdht unit override A1 --clear phu-luc-iv)"
    )
    assert lines[1].startswith("cdht: unit C3 uses phu-luc-iv-i67 instead of phu-luc-4: ")
    assert "cdht unit override C3 --clear phu-luc-4" in lines[1]
    # Cleared as the line says, the bot gets as far as Telegram (closed here): the units no longer stop it.
    assert main(["unit", "override", "A1", "--clear", "phu-luc-iv"]) == 0
    assert main(["unit", "override", "C3", "--clear", "phu-luc-4"]) == 0
    capsys.readouterr()
    assert main(["run"]) == 1
    assert _one_error_line(capsys).startswith("cdht: cannot reach Telegram at http://127.0.0.1:")


# --------------------------------------------------------------------------- people: a Telegram id or channel:id


def test_people_are_a_telegram_number_or_channel_and_id(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["unit", "add", "XA1", "Xã Một"]) == 0
    capsys.readouterr()
    assert main(["grant", "zalo:8f3a2c", "officer", "XA1"]) == 0
    assert main(["grant", "telegram:42", "admin"]) == 0
    assert main(["revoke", "42", "admin"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "zalo:8f3a2c is officer of XA1",
        "42 is admin of everywhere",
        "42 is no longer admin of everywhere",
    ]
    assert main(["person", "move", "zalo:8f3a2c", "XA1"]) == 0
    assert main(["person", "move", "42", "XA1"]) == 0  # Telegram's 42, named by the grant above
    assert capsys.readouterr().out.splitlines()[0].startswith("person zalo:8f3a2c moved to XA1")
    assert main(["person", "move", "zalo:someone", "XA1"]) == 2
    assert _one_error_line(capsys) == "cdht: nobody with Zalo id someone has used the bot"


@pytest.mark.parametrize(
    ("argv", "why"),
    [
        (["grant", "zalo:", "admin"], "names no one"),
        (["grant", "facebook:1", "admin"], "unknown messenger 'facebook'"),
        (["person", "move", "telegram:0", "XA1"], "not a Telegram id"),
        (["revoke", "telegram:-5", "admin"], "not a Telegram id"),
        (["revoke", "8f3a2c", "officer", "XA1"], "not a Telegram id"),  # a Zalo id needs its zalo: prefix
    ],
)
def test_a_person_the_parser_refuses(argv: list[str], why: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert why in err and "Traceback" not in err


def test_help_says_how_to_name_a_person(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["grant", "--help"], ["person", "move", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        assert "zalo:" in capsys.readouterr().out


def test_admin_ids_take_both_forms(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["unit", "add", "XA1", "Xã Một"]) == 0
    monkeypatch.setenv("ADMIN_IDS", "123, zalo:8f3a2c")
    assert main(["grant", "zalo:8f3a2c", "officer", "XA1"]) == 0
    monkeypatch.setenv("ADMIN_IDS", "123,-5")
    with pytest.raises(SystemExit, match=r"ADMIN_IDS.*'-5' is not a Telegram id"):
        main(["grant", "zalo:8f3a2c", "officer", "XA1"])
