"""The batch confirm (bot.handlers.batch_confirm) through the officer desk, on SQLite and PostgreSQL: it previews
and confirms exactly the submissions in the reviewer's scope whose files are all read and raised no warning,
each with its own audit event (and the citizen's notice where the team changed points, as a single confirm);
what changed or was flagged after the preview is skipped and named; only a reviewer in scope, once. Typed on
Zalo: tests/zalo/test_batch_confirm.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from bot.handlers import batch_confirm, officer_desk
from bot.replies import Plan
from scheduler import planning
from storage import repo_review as rv
from storage.db import Sessions, unit_of_work
from storage.models import Assessment, AuditEvent, Evidence, EvidenceReading, Outbox
from tests.bot.findings_desk import PACK, add_file, bot_data, officer, reviewer, seed_units, submitted
from tests.bot.harness import User
from tests.bot.officer_helpers import give_role, last_to, press, started, texts_to
from tests.fakes.certificate_images import certificate, jpeg


def text(plan: Plan) -> str:
    return "\n".join(s.text for s in plan.screens)


def choice(plan: Plan, label_start: str) -> str:
    found = [c.data for s in plan.screens for c in s.choices if c.label.startswith(label_start)]
    assert len(found) == 1, [c.label for s in plan.screens for c in s.choices]
    return found[0]


async def status_of(sessions: Sessions, *ids: int) -> list[str]:
    async with sessions() as s:
        return [(await s.get(Assessment, i)).status for i in ids]  # type: ignore[union-attr]


async def reviewed_audits(sessions: Sessions) -> list[tuple[int | None, int | None]]:
    async with sessions() as s:
        rows = await s.exec(select(AuditEvent).where(AuditEvent.action == "reviewed").order_by(AuditEvent.id))
        return sorted((e.assessment_id, e.actor_id) for e in rows.all())


async def clean_one(sessions: Sessions, folder: Path, name: str, code: str, seed: int) -> int:
    """A submission with two files read, dated and worded as the reader would have found them, no flag."""
    a = await submitted(sessions, name, code)
    for n in (1, 2):
        words = f"chứng nhận {name} số {seed + n} ngày 2/4/2026"
        await add_file(sessions, folder, a, n, jpeg(certificate(seed + n)), dates=["2026-04-02"], text=words)
    return a


async def test_confirms_exactly_the_clean_submissions_each_audited(sessions: Sessions, tmp_path: Path) -> None:
    await seed_units(sessions)
    desk = await reviewer(sessions, "901", "XA1", "vi")
    data = bot_data(sessions, tmp_path)
    an = await clean_one(sessions, tmp_path, "Nguyễn Văn An", "THON1", 100)
    binh = await clean_one(sessions, tmp_path, "Trần Thị Bình", "THON2", 110)
    cuong = await clean_one(sessions, tmp_path, "Lê Văn Cường", "THON1", 120)
    dung = await clean_one(sessions, tmp_path, "Phạm Thị Dung", "THON1", 130)
    await add_file(sessions, tmp_path, dung, 3, jpeg(certificate(131)), dates=["2024-01-01"], flags=["outside_year"])
    em = await clean_one(sessions, tmp_path, "Hoàng Văn Em", "THON2", 140)
    await add_file(sessions, tmp_path, em, 4, jpeg(certificate(141)), read=False)
    phuong = await clean_one(sessions, tmp_path, "Vũ Thị Phương", "THON1", 150)
    shared = jpeg(certificate(155))
    await add_file(sessions, tmp_path, phuong, 5, shared)
    giang = await submitted(sessions, "Đỗ Văn Giang", "THON3")  # outside the reviewer's scope: not listed
    await add_file(sessions, tmp_path, giang, 5, shared)
    async with unit_of_work(sessions) as s:  # the team already changed one of An's indicators
        a = await s.get(Assessment, an)
        assert a is not None
        lower = min(lv.points for lv in PACK.indicator(1).levels)
        me = await officer(sessions, desk)
        await rv.adjust(
            session=s, pack=PACK, assessment=a, indicator=1, points=lower, reason="thiếu", actor_id=me.id or 0
        )

    preview = await officer_desk.command(data, desk, "confirmclean", [])
    shown = text(preview)
    assert "Xác nhận 3 bài nộp không có cảnh báo</b> (Xã Văn Bình, năm 2026)" in shown
    for name in ("Nguyễn Văn An", "Trần Thị Bình", "Lê Văn Cường"):
        assert name in shown
    for name in ("Phạm Thị Dung", "Hoàng Văn Em", "Vũ Thị Phương", "Đỗ Văn Giang"):
        assert name not in shown
    assert "3 bài có cảnh báo hoặc minh chứng chưa đọc xong" in shown

    done = await officer_desk.press(data, desk, choice(preview, "✅ Xác nhận 3 bài"))
    assert text(done) == "✅ Đã xác nhận 3 bài nộp."
    assert await status_of(sessions, an, binh, cuong) == ["reviewed"] * 3
    assert await status_of(sessions, dung, em, phuong, giang) == ["submitted"] * 4
    me = await officer(sessions, desk)
    assert await reviewed_audits(sessions) == sorted((a, me.id) for a in (an, binh, cuong))
    async with sessions() as s:  # the single confirm's notice: only An's points were changed by the team
        owed = (await s.exec(select(Outbox).where(Outbox.kind == planning.REVIEWED))).all()
    assert [o.payload["assessment_id"] for o in owed] == [an]
    assert done.notices_owed

    again = await officer_desk.press(data, desk, choice(preview, "✅ Xác nhận 3 bài"))  # used once
    assert "đã cũ hoặc đã dùng" in text(again)
    assert len(await reviewed_audits(sessions)) == 3


async def test_what_changed_or_was_flagged_since_the_preview_is_skipped(sessions: Sessions, tmp_path: Path) -> None:
    await seed_units(sessions)
    desk = await reviewer(sessions, "901", "XA1", "en")
    data = bot_data(sessions, tmp_path)
    an = await clean_one(sessions, tmp_path, "Nguyễn Văn An", "THON1", 200)
    binh = await clean_one(sessions, tmp_path, "Trần Thị Bình", "THON2", 210)
    cuong = await clean_one(sessions, tmp_path, "Lê Văn Cường", "THON1", 220)
    preview = await officer_desk.command(data, desk, "confirmclean", ["XA1", "2026"])
    assert "Confirm 3 submissions with no warnings" in text(preview)

    me = await officer(sessions, desk)
    async with unit_of_work(sessions) as s:  # a teammate adjusted Bình's meanwhile: a new revision
        a = await s.get(Assessment, binh)
        assert a is not None
        await rv.adjust(
            session=s, pack=PACK, assessment=a, indicator=2, points=0, reason="no proof", actor_id=me.id or 0
        )
    async with unit_of_work(sessions) as s:  # and one of Cường's files was read again and flagged
        file_id = (await s.exec(select(Evidence.id).where(Evidence.assessment_id == cuong))).first()
        reading = await s.get(EvidenceReading, file_id)
        assert reading is not None
        reading.flags = ["outside_year"]

    done = await officer_desk.press(data, desk, choice(preview, "✅ Confirm 3"))
    assert text(done) == (
        "✅ 1 submissions confirmed.\n"
        "2 left out because they changed or raised a warning since the preview: Lê Văn Cường, Trần Thị Bình."
    )
    assert await status_of(sessions, an, binh, cuong) == ["reviewed", "submitted", "submitted"]
    assert [a for a, _ in await reviewed_audits(sessions)] == [an]


async def test_only_a_reviewer_in_scope_and_only_the_list_they_were_shown(sessions: Sessions, tmp_path: Path) -> None:
    units = await seed_units(sessions)
    desk = await reviewer(sessions, "901", "XA1", "vi")
    other = await reviewer(sessions, "902", "XA2", "vi")
    data = bot_data(sessions, tmp_path)
    an = await clean_one(sessions, tmp_path, "Nguyễn Văn An", "THON1", 300)

    refused = await officer_desk.command(data, other, "confirmclean", ["XA1"])
    assert not any(s.choices for s in refused.screens) and "An" not in text(refused)

    preview = await officer_desk.command(data, desk, "confirmclean", [])
    yes = choice(preview, "✅ Xác nhận 1 bài")
    assert "đã cũ hoặc đã dùng" in text(await officer_desk.press(data, other, yes))  # not the one shown it
    forged = yes.replace(f"|{units['XA1'].id}|", f"|{units['XA2'].id}|")
    assert "đã cũ" in text(await officer_desk.press(data, desk, forged))
    assert "forged" not in text(await officer_desk.press(data, desk, "bk|ok|x|2026")).lower()
    assert await status_of(sessions, an) == ["submitted"]

    preview = await officer_desk.command(data, desk, "confirmclean", [])
    assert text(await officer_desk.press(data, desk, choice(preview, "Để sau"))) == "Đã hủy, chưa xác nhận bài nào."
    assert await status_of(sessions, an) == ["submitted"] and await reviewed_audits(sessions) == []


async def test_on_telegram_one_command_and_one_button(sessions: Sessions, tmp_path: Path) -> None:
    await seed_units(sessions)
    evidence = tmp_path / "evidence"
    h = await started(sessions, tmp_path)
    try:
        await give_role(sessions, 901, "reviewer", "THON1")
        an = await clean_one(sessions, evidence, "Nguyễn Văn An", "THON1", 600)
        user = User(h, 901)
        await user.say("/confirmclean")
        assert "Xác nhận 1 bài nộp không có cảnh báo" in last_to(user)
        await press(user, "Xác nhận 1 bài")
        assert "✅ Đã xác nhận 1 bài nộp." in texts_to(h.api, 901)
        assert await status_of(sessions, an) == ["reviewed"]
    finally:
        await h.stop()


async def test_a_large_unit_is_taken_a_batch_at_a_time(
    sessions: Sessions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch_confirm, "MOST", 2)
    monkeypatch.setattr(batch_confirm, "STEP", 1)
    await seed_units(sessions)
    desk = await reviewer(sessions, "901", "XA1", "vi")
    data = bot_data(sessions, tmp_path)
    flagged = await clean_one(sessions, tmp_path, "An Thị Dung", "THON1", 700)  # listed first, by name
    await add_file(sessions, tmp_path, flagged, 3, jpeg(certificate(703)), flags=["unreadable"], status="unreadable")
    ids = [await clean_one(sessions, tmp_path, f"Người {k}", "THON1", 710 + 10 * k) for k in range(3)]

    preview = await officer_desk.command(data, desk, "confirmclean", [])
    shown = text(preview)
    assert "Xác nhận 2 bài nộp" in shown and "1 bài có cảnh báo" in shown and "1 bài còn lại chưa xem tới" in shown
    await officer_desk.press(data, desk, choice(preview, "✅ Xác nhận 2 bài"))
    preview = await officer_desk.command(data, desk, "confirmclean", [])
    assert "Xác nhận 1 bài nộp" in text(preview) and "chưa xem tới" not in text(preview)
    await officer_desk.press(data, desk, choice(preview, "✅ Xác nhận 1 bài"))
    assert await status_of(sessions, flagged, *ids) == ["submitted", "reviewed", "reviewed", "reviewed"]
