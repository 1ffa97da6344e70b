"""The right to be deleted holds for officers too: one who granted roles, made role links, reviewed, broadcast
and left a draft erases themselves with /deleteme; what they did for others stays without their name."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from scheduler import jobs
from storage.db import Sessions
from storage.models import Assessment, AuditEvent, Broadcast, Outbox, Person, Role, RoleInvite
from tests.bot.harness import User
from tests.bot.officer_helpers import (
    drain,
    give_role,
    last_to,
    person_id,
    press,
    register,
    seed_commune,
    started,
    submit_all,
)


async def test_an_officer_who_did_everything_can_erase_themselves(sessions: Sessions, tmp_path: Path) -> None:
    bot = await started(sessions, tmp_path)
    evidence = tmp_path / "evidence"
    try:
        await seed_commune(sessions)
        oanh, ba, lan = User(bot, 500), User(bot, 600), User(bot, 1001)
        await give_role(sessions, oanh.id, "officer", "XA1")
        await give_role(sessions, oanh.id, "reviewer", "XA1")
        # Oanh is also a citizen of THON1 with evidence of her own.
        await register(oanh, "THON1", "Lê Thị Oanh")
        await press(oanh, "Người dân trong cộng đồng")
        await press(oanh, "8 điểm")
        await oanh.photo(b"oanh's own evidence")
        # She grants a role by link (used), and makes another link nobody uses.
        await oanh.say("/grant reviewer XA1")
        link = last_to(oanh).split("?start=", 1)[1].split()[0]
        await ba.say(f"/start {link}")
        await oanh.say("/grant head XA1")
        # She reviews Lan.
        await register(lan, "THON1", "Nguyễn Thị Lan")
        await submit_all(lan, 10)
        await oanh.say("/review XA1")
        await press(oanh, "Xác nhận")
        # She broadcasts to the commune, then leaves a second broadcast as an unsent draft.
        await oanh.say("/broadcast XA1")
        await oanh.say("Họp thôn lúc 8 giờ")
        await press(oanh, "Gửi")
        await oanh.say("/broadcast XA1")
        await oanh.say("Bản nháp chưa gửi")
        oanh_id, ba_id = await person_id(sessions, oanh.id), await person_id(sessions, ba.id)
        async with sessions() as s:
            oanh_assessment = (await s.exec(select(Assessment).where(Assessment.person_id == oanh_id))).one()
        oanh_folder = evidence / str(oanh_assessment.year) / str(oanh_assessment.id)
        assert any(p.is_file() for p in oanh_folder.rglob("*"))
        lan_files = [p for p in evidence.rglob("*") if p.is_file() and oanh_folder not in p.parents]
        assert len(lan_files) == 10

        await oanh.say("/deleteme")
        await press(oanh, "Xóa toàn bộ")
        assert "Đã xóa toàn bộ dữ liệu của bạn (1 tệp" in last_to(oanh)

        async with sessions() as s:
            assert (await s.get(Person, oanh_id)) is None
            roles = (await s.exec(select(Role))).all()
            assert {(r.person_id, r.role, r.granted_by) for r in roles} == {(ba_id, "reviewer", None)}
            invites = (await s.exec(select(RoleInvite).order_by(RoleInvite.id))).all()
            assert [(i.created_by, i.used_by) for i in invites] == [(None, ba_id), (None, None)]
            reviewed = (await s.exec(select(Assessment))).one()  # Lan's; Oanh's went with her
            assert (reviewed.status, reviewed.reviewed_total, reviewed.reviewed_by) == ("reviewed", 100, None)
            review_audit = (await s.exec(select(AuditEvent).where(AuditEvent.action == "reviewed"))).one()
            assert (review_audit.assessment_id, review_audit.actor_id) == (reviewed.id, None)
            broadcasts = (await s.exec(select(Broadcast))).all()
            assert [(b.status, b.officer_id, b.text) for b in broadcasts] == [("queued", None, "Họp thôn lúc 8 giờ")]
            owed = (await s.exec(select(Outbox).where(Outbox.kind == "broadcast"))).all()
            assert {o.person_id for o in owed} == {await person_id(sessions, lan.id)}
        # Her folders are gone; Lan's files are untouched.
        assert not oanh_folder.exists()
        assert all(p.exists() for p in lan_files)
        # What she queued still reaches Lan; nobody is left to receive the summary.
        assert (await drain(bot)).sent == 1
        assert "Họp thôn lúc 8 giờ" in last_to(lan)
        assert await jobs.close_broadcasts(sessions=sessions, now=bot.app.bot_data.clock()) == 1
        assert (await drain(bot)).claimed == 0
    finally:
        await bot.stop()
