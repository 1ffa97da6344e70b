"""What a person who clones the repository reads: the README's links stay inside it, .env.example names every
setting without a real secret, and SQLite's side files are never committed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.settings import Settings

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
