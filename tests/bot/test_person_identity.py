"""Over the fake Bot API: a Telegram user is the person (telegram, their id as text), their display name is
refreshed on every contact, /mydata shows the messenger and id, /roles names people by name and id, and
ADMIN_IDS match channel and id together."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from bot import cli_officers
from conversations.identity import parse_contact
from storage.db import Sessions
from storage.models import Person
from tests.bot.harness import User
from tests.bot.officer_helpers import give_role, last_to, seed_commune, started
from tests.bot.test_citizen_journey import register


async def _person(sessions: Sessions, external_id: str) -> Person:
    async with sessions() as s:
        return (await s.exec(select(Person).where(Person.external_id == external_id))).one()


async def test_a_citizens_display_name_follows_telegram_and_mydata_shows_channel_and_id(
    sessions: Sessions, tmp_path: Path
) -> None:
    await seed_commune(sessions)
    h = await started(sessions, tmp_path)
    lan = User(h, 3101, first_name="Lan")
    await register(lan)
    person = await _person(sessions, "3101")
    assert (person.channel, person.external_id, person.chat_id, person.display_name) == (
        "telegram",
        "3101",
        "3101",
        "Lan",
    )
    lan.first_name = "Lan Anh"  # renamed in Telegram: the next contact brings the new name
    await lan.say("/status")
    assert (await _person(sessions, "3101")).display_name == "Lan Anh"
    await lan.say("/mydata")
    shown = lan.last_text()
    assert "Telegram, ID 3101, tên hiển thị: Lan Anh" in shown and "{" not in shown
    await h.stop()


async def test_roles_names_people_and_admin_ids_match_channel_and_id(sessions: Sessions, tmp_path: Path) -> None:
    await seed_commune(sessions)
    h = await started(sessions, tmp_path, admin_ids=["zalo:2002", "telegram:2003"])
    await give_role(sessions, 2001, "officer", "XA1")  # named on the desk: no name known yet
    assert (await cli_officers.role_change(sessions, parse_contact("zalo:z9"), "reviewer", "THON1", grant=True)) == (
        0,
        ["zalo:z9 is reviewer of THON1"],
    )
    minh = User(h, 2001, first_name="Minh")
    await minh.say("/roles XA1")
    shown = last_to(minh)
    # Names, not ids: the id only for someone whose name nobody knows yet.
    assert "1. Minh — cán bộ Khuyến học, XA1" in shown and "(chưa rõ tên, id zalo:z9) — thành viên" in shown
    assert "id 2001" not in shown
    assert (await _person(sessions, "2001")).display_name == "Minh"  # loaded by the officer command

    # ADMIN_IDS names Zalo's 2002, not Telegram's: the Telegram user 2002 is nobody here.
    stranger = User(h, 2002)
    await stranger.say("/roles XA1")
    assert "chưa được giao vai trò" in last_to(stranger)
    admin = User(h, 2003, first_name="Quản trị")
    await admin.say("/roles XA1")
    assert "Vai trò trong" in last_to(admin)
    await h.stop()
