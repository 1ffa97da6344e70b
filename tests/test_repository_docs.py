"""What a person who clones the repository reads: the README's links stay inside it, .env.example names every
setting without a real secret, and SQLite's side files are never committed."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from bot import cli
from bot.settings import Settings
from conversations.units import CODE_MAX
from storage import unit_import

ROOT = Path(__file__).resolve().parents[1]


def test_readme_links_stay_inside_the_repository() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "../" not in text
    targets = re.findall(r"\]\(([^)]+)\)", text)
    assert "docs/architecture.md" in targets and "docs/units-example.csv" in targets and ".env.example" in targets
    for target in targets:
        assert "://" not in target, target
        path = (ROOT / target.split("#")[0]).resolve()
        assert path.is_relative_to(ROOT) and path.exists(), target


def test_env_example_names_every_setting_and_holds_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    example = ROOT / ".env.example"
    named = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", example.read_text(encoding="utf-8"), re.M))
    assert named == {name.upper() for name in Settings.model_fields}
    for name in named:
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=example)  # copied as it is, it loads, and its token counts as unset
    assert settings.bot_token is None and settings.webhook_secret is None and settings.zalo_bot_token is None


def test_sqlite_side_files_and_env_are_ignored() -> None:
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert {"*.db", "*.db-wal", "*.db-shm", ".env"} <= set(ignored)


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def test_readme_tells_an_operator_what_the_unit_commands_take() -> None:
    """Every ``cdht unit`` command is named, and the rules for unit files are those the code applies."""
    text = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    unit = _subcommands(_subcommands(cli.parser())["unit"])
    listed = re.search(r"`cdht unit ([a-z|]+)`", text)
    assert listed is not None and set(listed.group(1).split("|")) == set(unit)
    columns = ", ".join(names[0] for names in unit_import._HEADERS.values())
    assert f"reads CSV (UTF-8: in Excel use *CSV UTF-8*) or XLSX with columns `{columns}`" in text
    assert f"codes use A–Z a–z 0–9 _ - (at most {CODE_MAX}) because they go into join links" in text
    assert "a blank headcount cell keeps the stored figure" in text
    assert "an empty override cell removes the unit's overrides; without the column they stay" in text
    clear = next(a for a in unit["override"]._actions if "--clear" in a.option_strings)
    assert "`cdht unit override CODE BASE=PACK`, or `--clear BASE`" in text and clear.metavar == "BASE"
