"""A revoked officer's role links die with the role: the issue's repro through the real Application, with the
desk commands (`cdht grant`/`cdht revoke`) and `/grant` and `/start role-…` as people would use them."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import col, select

from bot import cli_officers
from conversations.identity import parse_contact
from storage.db import Sessions
from storage.models import Role, RoleInvite
from tests.bot.harness import Harness, User
from tests.bot.officer_helpers import audit, last_to, person_id, seed_commune, started


@pytest.fixture
async def bot(sessions: Sessions, tmp_path: Path):
    h = await started(sessions, tmp_path)
    yield h
    await h.stop()


async def _link(officer: User, command: str) -> str:
    await officer.say(command)
    text = last_to(officer)
    assert "?start=role-" in text, text
    return text.split("?start=", 1)[1].split()[0]


async def _roles_of(sessions: Sessions, user_id: int) -> list[tuple[str, int | None]]:
    pid = await person_id(sessions, user_id)
    async with sessions() as s:
        return [(r.role, r.unit_id) for r in (await s.exec(select(Role).where(Role.person_id == pid))).all()]


async def test_a_revoked_officers_link_grants_nothing(bot: Harness, sessions: Sessions) -> None:
    units = await seed_commune(sessions)
    now = bot.app.bot_data.clock()
    officer, colleague = User(bot, 1004), User(bot, 1005)
    lan, minh = User(bot, 1006, "vi"), User(bot, 1007, "en")

    assert (await cli_officers.role_change(sessions, parse_contact("1004"), "officer", "XA1", grant=True))[0] == 0
    assert (await cli_officers.role_change(sessions, parse_contact("1005"), "officer", "XA1", grant=True))[0] == 0
    revoked_link = await _link(officer, "/grant officer XA1")
    second = await _link(officer, "/grant reviewer THON1")
    kept_link = await _link(colleague, "/grant reviewer THON1")

    status, lines = await cli_officers.role_change(
        sessions, parse_contact("1004"), "officer", "XA1", grant=False, now=now
    )
    assert (status, lines) == (0, ["1004 is no longer officer of XA1; 2 open role link(s) they made there voided"])

    # Someone else, in either language, gets a clear refusal and no role.
    await lan.say(f"/start {revoked_link}")
    assert "không còn hiệu lực" in last_to(lan) and "chưa được giao vai trò" in last_to(lan)
    await minh.say(f"/start {second}")
    assert "no longer valid" in last_to(minh) and "No role was given" in last_to(minh)
    # Nor does the revoked officer get their role back through their own link.
    await officer.say(f"/start {revoked_link}")
    assert "không còn hiệu lực" in last_to(officer)
    assert await _roles_of(sessions, lan.id) == []
    assert await _roles_of(sessions, minh.id) == []
    assert await _roles_of(sessions, officer.id) == []

    # A link made by someone who still holds the role keeps working.
    await lan.say(f"/start {kept_link}")
    assert "thành viên tổ đánh giá" in last_to(lan)
    assert await _roles_of(sessions, lan.id) == [("reviewer", units["THON1"])]

    events = await audit(sessions)
    voided = [e for e in events if e.action == "invite_voided"]
    async with sessions() as s:
        void_ids = [
            i.id for i in (await s.exec(select(RoleInvite).where(col(RoleInvite.revoked_at).is_not(None)))).all()
        ]
    assert len(voided) == 1 and len(void_ids) == 2
    assert voided[0].after == {"made_by": await person_id(sessions, 1004), "invite_ids": sorted(void_ids), "count": 2}
    assert [e.action for e in events].count("role_granted") == 3  # two at the desk, one by the kept link
