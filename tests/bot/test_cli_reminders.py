"""``cdht reminders status|plan`` and the reminder settings as an operator meets them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.cli import main
from bot.cli_reminders import outbox_status, plan_now
from bot.settings import Settings
from storage.db import Sessions
from tests.scheduler.builders import make_people, owe

NOW = datetime(2026, 12, 24, 2, 0, tzinfo=UTC)  # 09:00 in Hà Nội


async def test_status_and_plan_on_both_databases(sessions: Sessions) -> None:
    settings = Settings(_env_file=None)
    assert await outbox_status(sessions, settings) == ["outbox: empty"]
    ids = await make_people(sessions, 3)
    [line] = await plan_now(sessions, settings, NOW)
    assert line.startswith("planned 3 reminders and 0 officer notices")
    await owe(sessions, ids[:1], NOW, kind="broadcast", cycle="broadcast:1")
    lines = await outbox_status(sessions, settings)
    assert lines[1].split() == ["broadcast", "pending", "1", "24/12/2026", "09:00"]
    assert lines[2].split() == ["reminder", "pending", "3", "24/12/2026", "09:00"]


def test_the_command_runs_on_a_fresh_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cdht.db'}")
    assert main(["reminders", "status"]) == 0
    assert capsys.readouterr().out.strip() == "outbox: empty"
    assert main(["reminders", "plan"]) == 0
    assert "planned 0 reminders" in capsys.readouterr().out


def test_reminder_settings_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMINDER_OFFSETS", "7, 30,1,7")
    monkeypatch.setenv("QUIET_HOURS_START", "21:30")
    settings = Settings(_env_file=None)
    assert settings.reminder_offsets == [30, 7, 1] and settings.quiet_hours_start.hour == 21
    monkeypatch.setenv("REMINDER_TIME", "22:00")
    with pytest.raises(ValidationError, match="REMINDER_TIME falls inside the quiet hours"):
        Settings(_env_file=None)
    monkeypatch.delenv("REMINDER_TIME")
    monkeypatch.setenv("SEND_RATE", "30")
    with pytest.raises(ValidationError, match="SEND_RATE"):
        Settings(_env_file=None)
