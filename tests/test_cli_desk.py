"""Desk commands as an operator meets them when something is wrong: one line on stderr saying what and what to do,
a non-zero exit, never a traceback and never the password from DATABASE_URL."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy.exc import IntegrityError, OperationalError

from bot.cli import main
from bot.cli_desk import DeskError, failure
from bot.cli_reports import choose_format
from storage.db import alembic_config, explain, head_revision, make_engine, upgrade, where
from tests.conftest import PG_URL
from tests.test_cli import _create_db, _drop_db

ROOT = Path(__file__).resolve().parents[1]
SECRET = "sekret"
# Every desk command that opens the database (the ids are only for the test names).
COMMANDS = [
    ["unit", "list"],
    ["unit", "add", "X1", "Xóm 1"],
    ["units", "rename", "X1", "Xóm Một"],
    ["units", "move", "X1", "-"],
    ["units", "import", "units.csv"],
    ["person", "move", "42", "X1"],
    ["grant", "42", "admin"],
    ["revoke", "42", "admin"],
    ["export", "--unit", "X1"],
    ["reminders", "status"],
    ["reminders", "plan"],
    ["tally", "X1"],
    ["tally", "rebuild"],
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("BOT_TOKEN", "DATABASE_URL", "ADMIN_IDS", "DEFAULT_LOCALE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env, and the default SQLite file lands here
    (tmp_path / "units.csv").write_text("code,name\nX1,Xóm 1\n", encoding="utf-8")


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    err = captured.err
    assert err.count("\n") == 1 and err.startswith("cdht: "), err
    assert SECRET not in err + captured.out
    return err.strip()


@pytest.fixture
def empty_postgres(postgres_schema: str) -> Iterator[str]:  # postgres_schema: skips (or fails in CI) without a server
    name = f"cdht_desk_{uuid.uuid4().hex[:8]}"
    asyncio.run(_create_db(name))
    # Trust authentication accepts any password: this one must never be printed.
    yield PG_URL.rsplit("/", 1)[0].replace("postgres@", f"postgres:{SECRET}@") + "/" + name
    asyncio.run(_drop_db(name))


# --------------------------------------------------------------------------- the schema (item 10)


def test_every_desk_command_on_an_unmigrated_postgres_names_db_upgrade(
    empty_postgres: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", empty_postgres)
    for argv in COMMANDS:
        assert main(argv) == 3, argv
        assert "run `cdht db upgrade`" in _one_line(capsys), argv
    assert main(["db", "upgrade"]) == 0
    assert main(["unit", "list"]) == 0


# --------------------------------------------------------------------------- DATABASE_URL (item 10)

UNUSABLE = [
    ("postgresql://u:sekret@127.0.0.1:1/x", "cannot reach PostgreSQL at 127.0.0.1:1/x (connection refused)"),
    ("mysql://u:sekret@127.0.0.1/x", "names a mysql database; cdht works with SQLite or PostgreSQL"),
    ("sekret", "DATABASE_URL is not a database URL"),
    ("postgresql://u:sek@ret@127.0.0.1:1/x", "write it as %40"),
    ("postgresql://u:sekret@127.0.0.1:99999/x", "port 99999"),
    (
        "sqlite:///{tmp}/missing/cdht.db",
        "cannot open the SQLite file {tmp}/missing/cdht.db: the folder {tmp}/missing does not",
    ),
    ("sqlite:///{tmp}", "is a folder: name a file"),
    ("sqlite:///{tmp}/notes.db", "notes.db is not a SQLite database"),
]


@pytest.mark.parametrize(("url", "says"), UNUSABLE, ids=[u.split(":")[0] + str(i) for i, (u, _) in enumerate(UNUSABLE)])
def test_an_unusable_database_url_is_one_line_without_the_password(
    url: str, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.db").write_text("not a database, but it holds: sekret")
    monkeypatch.setenv("DATABASE_URL", url.format(tmp=tmp_path))
    for argv in [*COMMANDS, ["db", "upgrade"]]:
        assert main(argv) == 4, argv
        assert says.format(tmp=tmp_path) in _one_line(capsys), argv


def test_a_missing_postgres_database(
    empty_postgres: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = empty_postgres.rsplit("/", 1)[0] + "/cdht_no_such_db"
    monkeypatch.setenv("DATABASE_URL", missing)
    for argv in (["unit", "list"], ["db", "upgrade"], ["export", "--unit", "X1"]):
        assert main(argv) == 4
        assert "database 'cdht_no_such_db' does not exist: create it" in _one_line(capsys)


@pytest.mark.parametrize(
    ("argv", "url", "names"),
    [
        (["unit", "list"], "postgresql://u:sekret@127.0.0.1:1/x", "127.0.0.1:1"),
        (["db", "upgrade"], "postgresql://u:sekret@127.0.0.1:1/x", "127.0.0.1:1"),
        (["export", "--unit", "X1", "--csv"], "postgresql://u:sekret@127.0.0.1:1/x", "127.0.0.1:1"),
        (["run"], "postgresql://u:sekret@127.0.0.1:1/x", "127.0.0.1:1"),
        (["reminders", "status"], "sqlite:///missing/cdht.db", "missing/cdht.db"),
    ],
)
def test_as_a_process_only_the_line_reaches_stderr(argv: list[str], url: str, names: str, tmp_path: Path) -> None:
    """The real process: no traceback, no warning from a driver left half-open, exactly one line."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ADMIN_IDS")}
    env |= {"DATABASE_URL": url, "BOT_TOKEN": "123:abc", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", *argv], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("cdht: "), done.stderr
    assert names in done.stderr
    assert SECRET not in done.stderr + done.stdout


# --------------------------------------------------------------------------- db upgrade (item 14)


def test_db_upgrade_says_what_it_applied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'cdht.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    newest_first = [r.revision for r in ScriptDirectory.from_config(alembic_config()).walk_revisions()]
    revisions = newest_first[::-1]

    async def to_second() -> None:
        engine = make_engine(url)
        await upgrade(engine, revisions[1])
        await engine.dispose()

    asyncio.run(to_second())
    head = head_revision()
    assert main(["db", "upgrade"]) == 0
    assert capsys.readouterr().out.strip() == f"applied {len(revisions) - 2} migrations (now at {head})"
    assert main(["db", "upgrade"]) == 0
    assert capsys.readouterr().out.strip() == f"already up to date ({head})"


def test_a_database_from_a_newer_cdht_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "cdht.db"
    assert main(["db", "upgrade"]) == 0
    with sqlite3.connect(db) as conn:
        conn.execute("update alembic_version set version_num = '9999'")
    capsys.readouterr()
    for argv in (["unit", "list"], ["db", "upgrade"]):
        assert main(argv) == 3
        assert "at migration 9999, which this version of cdht does not know" in _one_line(capsys)


# --------------------------------------------------------------------------- export --out (items 10, 14)


def test_export_into_a_missing_folder_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for out, says in [
        (tmp_path / "missing" / "r.xlsx", f"the folder {tmp_path / 'missing'} does not exist"),
        (tmp_path / "missing", f"the folder {tmp_path / 'missing'} does not exist"),
        (tmp_path / "r.xlsx", "--csv writes CSV files but --out"),
        (tmp_path / "r.txt", "name a .xlsx or .csv file"),
    ]:
        argv = ["export", "--unit", "X1", "--out", str(out)]
        assert main([*argv, "--csv"] if out.suffix == ".xlsx" else argv) == 2
        assert says in _one_line(capsys)
    assert not (tmp_path / "cdht.db").exists()  # refused before the database is opened


@pytest.mark.parametrize(
    ("out", "flag", "as_csv"),
    [
        (None, False, False),
        (None, True, True),
        ("r.csv", False, True),  # the suffix chooses: no XLSX bytes in a .csv
        ("r.CSV", True, True),
        ("r.xlsx", False, False),
        (".", True, True),  # an existing folder: the flag chooses
        (".", False, False),
    ],
)
def test_the_suffix_chooses_the_format(out: str | None, flag: bool, as_csv: bool) -> None:
    assert choose_format(Path(out) if out else None, as_csv=flag) is as_csv


def test_no_format_guess_for_a_contradiction() -> None:
    with pytest.raises(DeskError, match="drop --csv"):
        choose_format(Path("r.xlsx"), as_csv=True)


def test_export_to_a_csv_name_writes_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["unit", "add", "X1", "Xóm 1", "--headcount", "10"]) == 0
    assert main(["export", "--unit", "X1", "--year", "2026", "--out", "r.csv"]) == 0
    written = sorted(p.name for p in tmp_path.glob("r*.csv"))
    assert written == ["r-danh-sach-X1-2026.csv", "r-tong-hop-X1-2026.csv"]
    assert (tmp_path / written[1]).read_bytes().startswith(b"\xef\xbb\xbf")  # CSV with BOM, not a ZIP (XLSX)
    assert not (tmp_path / "r.csv").exists()


# --------------------------------------------------------------------------- what the repository tells (item 15)


def test_version_comes_from_the_package(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"cdht {metadata.version('cdht')}"


def test_headcount_is_explained_in_unit_add_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["unit", "add", "--help"])
    assert "directly to this unit" in " ".join(capsys.readouterr().out.split())


def test_a_bug_in_sql_keeps_its_traceback() -> None:
    """Only failures to reach or use the database become one line; an integrity error is a bug to see whole."""
    duplicate = IntegrityError("insert into unit", {}, sqlite3.IntegrityError("UNIQUE constraint failed: unit.code"))
    assert explain(duplicate, "sqlite:///cdht.db") is None and failure(duplicate) is None
    locked = OperationalError("select 1", {}, sqlite3.OperationalError("database is locked"))
    assert failure(locked) == (
        4,
        f"{where('sqlite:///cdht.db')} stayed locked by another process: try again when it has finished",
    )
