"""The team's half of the year as one journey through the real Application: roles by one-time link, review
(the card alone, each indicator's evidence on demand), return to the citizen, the citizen's fix and
resubmission, an adjustment with a reason, confirmation (the citizen told what changed and why), and the
head's decision, with the audit trail checked after every change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import select

from storage.db import Sessions
from storage.models import Answer, Assessment, Role
from tests.bot.chat_view import visible
from tests.bot.harness import Harness, User
from tests.bot.officer_helpers import (
    audit,
    drain,
    give_role,
    last_to,
    markup_of,
    media_to,
    person_id,
    press,
    register,
    seed_commune,
    sent_to,
    started,
    submit_all,
    texts_to,
)


@pytest.fixture
async def bot(sessions: Sessions, tmp_path: Path):
    h = await started(sessions, tmp_path)
    yield h
    await h.stop()


async def _assessment(sessions: Sessions, user_id: int) -> Assessment:
    pid = await person_id(sessions, user_id)
    async with sessions() as s:
        return (await s.exec(select(Assessment).where(Assessment.person_id == pid))).one()


async def _link_from(officer: User) -> str:
    text = last_to(officer)
    assert "t.me/cdht_test_bot?start=role-" in text, text
    return text.split("?start=", 1)[1].split()[0]


async def test_review_return_resubmit_adjust_confirm_recognise(bot: Harness, sessions: Sessions) -> None:
    await seed_commune(sessions)
    api = bot.api
    lan = User(bot, 1001, "vi")
    minh = User(bot, 1002, "en", first_name="Minh")
    oanh = User(bot, 500)  # the commune's Khuyến học officer
    ba = User(bot, 600)  # assessment team
    cuong = User(bot, 700)  # the head who signs
    dung = User(bot, 800)  # someone who finds a used link
    await give_role(sessions, oanh.id, "officer", "XA1")

    # Roles by one-time links made with /grant.
    await oanh.say("/grant reviewer XA1")
    link = await _link_from(oanh)
    assert "một lần" in last_to(oanh)
    await ba.say(f"/start {link}")
    assert "thành viên tổ đánh giá" in last_to(ba) and "/review" in last_to(ba)
    await dung.say(f"/start {link}")
    assert "đã được sử dụng" in last_to(dung)
    await oanh.say("/grant head XA1")
    await cuong.say(f"/start {await _link_from(oanh)}")
    async with sessions() as s:
        roles = {(r.person_id, r.role) for r in (await s.exec(select(Role))).all()}
    assert (await person_id(sessions, ba.id), "reviewer") in roles
    assert (await person_id(sessions, cuong.id), "head") in roles
    dung_id = await person_id(sessions, dung.id)
    assert not any(pid == dung_id for pid, _ in roles)
    assert [e.action for e in await audit(sessions)] == ["role_invited", "role_granted", "role_invited", "role_granted"]

    # Two citizens submit: Lan with an album and a document, Minh (in English) with low points.
    await register(lan, "THON1", "Nguyễn Thị Lan")
    await submit_all(lan, 10, album_first=True, document_second=True)
    await register(minh, "THON2", "Trần Văn Minh")
    await submit_all(minh, 5)
    assert (await _assessment(sessions, lan.id)).status == "submitted"
    assert (await _assessment(sessions, minh.id)).status == "submitted"

    # The reviewer sees Lan's card alone: no file comes with it; each indicator's evidence is a choice.
    api.clear()
    await ba.say("/review")
    assert media_to(api, ba.id) == []
    card = last_to(ba)
    assert "Nguyễn Thị Lan" in card and "Thôn Bình Vọng" in card
    assert "Tổng tự chấm: <b>100</b>/100" in card and "Đủ điều kiện" in card
    assert "Bản <b>1</b>/2 chờ rà soát trong Xã Văn Bình" in card and "Còn" not in card
    labels = [[b["text"] for b in row] for row in markup_of(api, ba.id)]
    assert labels[3:] == [[f"📎 CT {n}" for n in range(i, min(i + 4, 11))] for i in (1, 5, 9)]
    # On demand: indicator 1's two photos as one album, indicator 2's document as a document, the choices below.
    await press(ba, "📎 CT 1")
    [album] = media_to(api, ba.id)
    media = album.params["media"]
    media = json.loads(media) if isinstance(media, str) else media
    assert album.method == "sendMediaGroup" and [m["type"] for m in media] == ["photo", "photo"]
    assert "Minh chứng chỉ tiêu 1 — Nguyễn Thị Lan" in media[0]["caption"]
    assert "Minh chứng chỉ tiêu 1 của Nguyễn Thị Lan: 2 tệp" in last_to(ba)
    await press(ba, "📎 CT 2")
    document = media_to(api, ba.id)[-1]
    assert document.method == "sendDocument" and "chỉ tiêu 2" in document.params["caption"]
    assert len(media_to(api, ba.id)) == 2
    # /review again: the card, and still no file.
    await ba.say("/review")
    assert len(media_to(api, ba.id)) == 2 and "Bản <b>1</b>/2" in last_to(ba)

    # Return indicators 3 and 5 with a reason.
    await press(ba, "Trả lại")
    picker = [[b["text"] for b in row] for row in markup_of(api, ba.id)]
    assert picker[:3] == [["CT 1", "CT 2", "CT 3", "CT 4"], ["CT 5", "CT 6", "CT 7", "CT 8"], ["CT 9", "CT 10"]]
    messages = len(sent_to(api, ba.id))
    await press(ba, "CT 3")
    await press(ba, "CT 5")
    assert len(sent_to(api, ba.id)) == messages  # the picker is redrawn in place
    assert len(sent_to(api, ba.id, "editMessageText")) == 2
    assert "Đã chọn: chỉ tiêu 3, 5" in last_to(ba)
    assert [b["text"] for b in markup_of(api, ba.id)[0]] == ["CT 1", "CT 2", "✅ CT 3", "CT 4"]
    await press(ba, "Nhập lý do")
    assert "lý do trả lại" in last_to(ba)
    assert (await _assessment(sessions, lan.id)).status == "submitted"  # nothing changes before the reason
    api.clear()
    await ba.say("Ảnh minh chứng chỉ tiêu 3 và 5 bị mờ, đề nghị chụp lại")
    assert texts_to(api, lan.id) == []  # owed in the outbox, sent by the dispatcher
    assert (await drain(bot)).sent == 1
    notice = texts_to(api, lan.id)
    assert len(notice) == 1 and "trả lại bản tự đánh giá năm 2026" in notice[0]
    assert "chỉ tiêu 3, 5" in notice[0] and "bị mờ" in notice[0]
    assert any("Đã trả lại bản của Nguyễn Thị Lan" in t for t in texts_to(api, ba.id))
    assert "Trần Văn Minh" in last_to(ba) and "Bản <b>1</b>/1" in last_to(ba)  # on to the next one
    returned = await _assessment(sessions, lan.id)
    assert (returned.status, returned.returned_indicators) == ("returned", [3, 5])
    event = (await audit(sessions))[-1]
    assert (event.action, event.actor_id, event.assessment_id) == (
        "returned",
        await person_id(sessions, ba.id),
        returned.id,
    )
    assert event.before == {"status": "submitted", "total": 100}
    assert event.after == {"status": "returned", "indicators": [3, 5]}
    assert event.reason == "Ảnh minh chứng chỉ tiêu 3 và 5 bị mờ, đề nghị chụp lại"

    # Minh is confirmed as he stands: 50 points, not qualifying.
    await press(ba, "Xác nhận")
    assert "Trần Văn Minh" in texts_to(api, ba.id)[-2] and "<b>50</b>/100" in texts_to(api, ba.id)[-2]
    assert "Không còn bản tự đánh giá nào chờ rà soát" in last_to(ba)
    minh_a = await _assessment(sessions, minh.id)
    assert (minh_a.status, minh_a.reviewed_total, minh_a.reviewed_by) == (
        "reviewed",
        50,
        await person_id(sessions, ba.id),
    )
    event = (await audit(sessions))[-1]
    assert (event.action, event.after["reviewed_total"], event.after["qualifies"]) == ("reviewed", 50, False)

    # Lan fixes exactly 3 and 5 from the notice's button, and resubmits.
    await press(lan, "Tiếp tục")
    summary = last_to(lan)
    assert "đề nghị bạn sửa chỉ tiêu: 3, 5" in summary
    labels = [b["text"] for row in markup_of(api, lan.id) for b in row]
    assert [x for x in labels if x.startswith("✏️")] == ["✏️ 3", "✏️ 5"]
    await press(lan, "✏️ 3")
    await press(lan, "8 điểm")
    await lan.photo(b"clearer photo 3")
    await press(lan, "Xong")
    await press(lan, "✏️ 5")
    await press(lan, "10 điểm")
    await lan.photo(b"clearer photo 5")
    await press(lan, "Xong")
    await press(lan, "Nộp bản tự đánh giá")
    await press(lan, "Nộp")
    resubmitted = await _assessment(sessions, lan.id)
    assert (resubmitted.status, resubmitted.total, resubmitted.returned_indicators) == ("submitted", 98, [])
    assert (await audit(sessions))[-1].action == "submitted"

    # Second review: adjust indicator 4 from 10 to 5 with a reason, then confirm.
    await ba.say("/review")
    card = last_to(ba)
    assert "đã được trả lại một lần" in card and "Tổng tự chấm: <b>98</b>/100" in card
    await press(ba, "Điều chỉnh điểm")
    assert max(len(row) for row in markup_of(api, ba.id)) == 4
    await press(ba, "CT 4")
    await press(ba, "5 điểm")
    assert "lý do" in last_to(ba)
    await ba.say("ok")  # too short: asked again, nothing stored
    assert "quá ngắn" in last_to(ba)
    async with sessions() as s:
        answer = (
            await s.exec(select(Answer).where(Answer.assessment_id == resubmitted.id, Answer.indicator == 4))
        ).one()
        assert answer.reviewer_points is None
    await ba.say("Chỉ tham gia 1 buổi sinh hoạt, chưa đủ mức 10")
    assert any("Đã điều chỉnh chỉ tiêu 4: 10 → 5 điểm" in t for t in texts_to(api, ba.id)[-3:])
    card = last_to(ba)
    assert "Tổng sau rà soát: <b>93</b>/100" in card and "Chỉ tham gia 1 buổi" in card
    event = (await audit(sessions))[-1]
    assert (event.action, event.indicator, event.before, event.after) == (
        "adjusted",
        4,
        {"points": 10, "chosen": 10},
        {"points": 5},
    )
    assert event.reason == "Chỉ tham gia 1 buổi sinh hoạt, chưa đủ mức 10"
    await press(ba, "Xác nhận")
    lan_a = await _assessment(sessions, lan.id)
    assert (lan_a.status, lan_a.reviewed_total) == ("reviewed", 93)
    async with sessions() as s:
        points = {
            a.indicator: a.reviewer_points
            for a in (await s.exec(select(Answer).where(Answer.assessment_id == lan_a.id))).all()
        }
    assert points == {1: 10, 2: 10, 3: 8, 4: 5, 5: 10, 6: 10, 7: 10, 8: 10, 9: 10, 10: 10}
    assert (await audit(sessions))[-1].after["reviewed_total"] == 93
    # Lan hears at once what the team changed and why (Minh, confirmed as he stood, hears nothing yet).
    assert (await drain(bot)).sent == 1
    notice = texts_to(api, lan.id)[-1]
    assert "Tổ đánh giá đã xem xét bản tự đánh giá năm 2026 của bạn" in notice
    assert "Tự chấm: 98/100 · Tổ đánh giá chấm: 93/100" in visible(notice)
    assert "Chỉ tiêu 4: bạn chấm 10, tổ chấm 5 — lý do: Chỉ tham gia 1 buổi sinh hoạt, chưa đủ mức 10" in notice
    assert not any("đã xem xét" in t for t in texts_to(api, minh.id))

    # The head sees who qualifies, then records the decision by button and typed text.
    api.clear()
    await cuong.say("/recognise")
    listing = last_to(cuong)
    assert "Đã rà soát: <b>2</b> · Đủ điều kiện: <b>1</b> · Chưa đủ: <b>1</b>" in listing
    assert "✅ Nguyễn Thị Lan (Thôn Bình Vọng) — 93/100" in listing
    assert "❌ Trần Văn Minh (Thôn Đông) — 50/100" in listing
    await press(cuong, "Ghi số quyết định")
    await cuong.say("20/12")  # unreadable: asked again
    assert "Chưa đọc được" in last_to(cuong)
    assert (await _assessment(sessions, lan.id)).status == "reviewed"
    await cuong.say("12/QĐ-UBND ngày 20/12/2026")
    assert "Đã ghi Quyết định số <b>12/QĐ-UBND</b> ngày 20/12/2026: <b>1</b> người được công nhận" in last_to(cuong)
    assert (await drain(bot)).sent == 2
    assert "Chúc mừng" in last_to(lan) and "12/QĐ-UBND" in last_to(lan) and "20/12/2026" in last_to(lan)
    assert "not enough for recognition" in last_to(minh) and "20 December 2026" in last_to(minh)
    lan_a, minh_a = await _assessment(sessions, lan.id), await _assessment(sessions, minh.id)
    assert (lan_a.status, lan_a.recognised, lan_a.decision_no) == ("recognised", True, "12/QĐ-UBND")
    assert (minh_a.status, minh_a.recognised) == ("not_recognised", False)
    assert (
        lan_a.decision_date is not None
        and lan_a.decision_date.astimezone(bot.app.bot_data.settings.zone).date().isoformat() == "2026-12-20"
    )
    decided = [e for e in await audit(sessions) if e.action in ("recognised", "not_recognised")]
    assert {(e.assessment_id, e.action, e.reason) for e in decided} == {
        (lan_a.id, "recognised", "12/QĐ-UBND"),
        (minh_a.id, "not_recognised", "12/QĐ-UBND"),
    }
    cuong_id = await person_id(sessions, cuong.id)
    assert all(e.actor_id == cuong_id for e in decided)
    assert decided[0].before["status"] == "reviewed" and decided[0].after["decision_date"] == "2026-12-20"

    # Lan's /status now says recognised; her answers stay locked.
    await lan.say("/status")
    assert "công nhận" in last_to(lan).lower()


async def test_decision_given_in_one_command(bot: Harness, sessions: Sessions) -> None:
    await seed_commune(sessions)
    lan, ba, cuong = User(bot, 1001), User(bot, 600), User(bot, 700)
    await give_role(sessions, ba.id, "reviewer", "THON1")
    await give_role(sessions, cuong.id, "head", "XA1")
    await register(lan, "THON1", "Nguyễn Thị Lan")
    await submit_all(lan, 10)
    await ba.say("/review THON1 2026")
    await press(ba, "Xác nhận")
    await cuong.say("/recognise XA1 2026 --decision 7/QĐ-UBND 2026-12-21")
    assert "<b>1</b> người được công nhận" in last_to(cuong)
    assert (await drain(bot)).sent == 1
    assert "Chúc mừng" in last_to(lan) and "21/12/2026" in last_to(lan)
    assert (await _assessment(sessions, lan.id)).decision_no == "7/QĐ-UBND"
    # Nothing left to decide: a second decision touches nobody.
    await cuong.say("/recognise XA1 2026 --decision 8/QĐ-UBND 2026-12-22")
    assert "Chưa có bản tự đánh giá nào đã rà soát" in last_to(cuong)
    assert (await drain(bot)).claimed == 0
    assert (await _assessment(sessions, lan.id)).decision_no == "7/QĐ-UBND"
