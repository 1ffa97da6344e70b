"""Issue 10, item 13 and the rest of item 1, on Telegram: a review card comes alone and each indicator's
evidence only when asked for (an album for several photos); the card says "Bản 1/2" / "Assessment 1/2"; pickers
hold four short labels a row; a forged, stale or out-of-scope press for evidence sends no file and says why
politely; and a confirmation that changed points tells the citizen what changed and why, in their language,
within Telegram's 4096 characters however long the reasons."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import delete
from sqlmodel import col, select

from bot.message_split import TELEGRAM_LIMIT
from storage import repo_review as rv
from storage.db import Sessions, unit_of_work
from storage.models import Assessment, Evidence, Outbox, Person
from tests.bot.chat_view import visible
from tests.bot.harness import Harness, User
from tests.bot.officer_helpers import (
    button_data,
    drain,
    give_role,
    last_to,
    markup_of,
    media_to,
    person_id,
    press,
    register,
    seed_commune,
    started,
    submit_all,
    texts_to,
)


@pytest.fixture
async def bot(sessions: Sessions, tmp_path: Path):  # type: ignore[no-untyped-def]
    h = await started(sessions, tmp_path)
    yield h
    await h.stop()


async def _assessment(sessions: Sessions, user_id: int) -> Assessment:
    pid = await person_id(sessions, user_id)
    async with sessions() as s:
        return (await s.exec(select(Assessment).where(Assessment.person_id == pid))).one()


def _labels(bot: Harness, user: User) -> list[list[str]]:
    return [[b["text"] for b in row] for row in markup_of(bot.api, user.id)]


def _toast(bot: Harness) -> str:
    return bot.api.sent("answerCallbackQuery")[-1].params.get("text", "")


async def test_an_english_card_alone_then_an_album_on_demand(bot: Harness, sessions: Sessions) -> None:
    await seed_commune(sessions)
    await give_role(sessions, 600, "reviewer", "XA1", locale="en")
    lan, hoa, ba = User(bot, 1001), User(bot, 1003), User(bot, 600, "en")
    await register(lan, "THON1", "Nguyễn Thị Lan")
    await submit_all(lan, 10, album_first=True, document_second=True)
    await register(hoa, "THON2", "Lê Thị Hoa")
    await submit_all(hoa, 10)

    await ba.say("/review")
    assert media_to(bot.api, ba.id) == []  # no file with the card
    card = last_to(ba)
    assert "Nguyễn Thị Lan" in card and "Assessment <b>1</b>/2 awaiting review in Xã Văn Bình" in card
    assert "📎 Press «📎 Ind. number» to see that indicator's evidence." in card
    assert len(card) <= TELEGRAM_LIMIT
    labels = _labels(bot, ba)
    assert labels[:3] == [["✅ Confirm"], ["✏️ Adjust points", "↩️ Return to the citizen"], ["⏭ Next one"]]
    assert labels[3:] == [[f"📎 Ind. {n}" for n in range(i, min(i + 4, 11))] for i in (1, 5, 9)]

    # Indicator 1: its two photos as one album, captioned once; the choices below it, the card's retired.
    await press(ba, "📎 Ind. 1")
    [album] = media_to(bot.api, ba.id)
    media = album.params["media"]
    media = json.loads(media) if isinstance(media, str) else media
    assert album.method == "sendMediaGroup" and [m["type"] for m in media] == ["photo", "photo"]
    assert "Evidence for indicator 1 — Nguyễn Thị Lan" in media[0]["caption"] and "caption" not in media[1]
    assert "⬆️ Evidence for indicator 1 of Nguyễn Thị Lan: 2 file(s). What next?" in last_to(ba)
    assert _labels(bot, ba) == labels
    retired = bot.api.sent("editMessageReplyMarkup")
    assert retired and not retired[-1].params.get("reply_markup")
    # Indicator 2: its one document, as a document.
    await press(ba, "📎 Ind. 2")
    assert [c.method for c in media_to(bot.api, ba.id)] == ["sendMediaGroup", "sendDocument"]
    # The next card (Hoa's) again comes alone: "2/2".
    await press(ba, "⏭ Next one")
    assert "Lê Thị Hoa" in last_to(ba) and "Assessment <b>2</b>/2" in last_to(ba)
    assert len(media_to(bot.api, ba.id)) == 2

    # The pickers: four short labels a row, "Ind. 10" typed long too.
    await press(ba, "Adjust points")
    assert _labels(bot, ba) == [
        ["Ind. 1", "Ind. 2", "Ind. 3", "Ind. 4"],
        ["Ind. 5", "Ind. 6", "Ind. 7", "Ind. 8"],
        ["Ind. 9", "Ind. 10"],
        ["⬅️ Back"],
    ]
    await press(ba, "⬅️ Back")
    await press(ba, "Return to the citizen")
    assert _labels(bot, ba)[:3] == [
        ["Ind. 1", "Ind. 2", "Ind. 3", "Ind. 4"],
        ["Ind. 5", "Ind. 6", "Ind. 7", "Ind. 8"],
        ["Ind. 9", "Ind. 10"],
    ]


async def test_forged_stale_and_foreign_presses_for_evidence_send_no_file(bot: Harness, sessions: Sessions) -> None:
    await seed_commune(sessions)
    await give_role(sessions, 600, "reviewer", "XA1")
    await give_role(sessions, 601, "reviewer", "XA1")
    await give_role(sessions, 602, "reviewer", "THON2")  # a sibling village: Lan's is not theirs
    lan, ba, be, sibling = User(bot, 1001), User(bot, 600), User(bot, 601), User(bot, 602)
    await register(lan, "THON1", "Nguyễn Thị Lan")
    await submit_all(lan, 10)
    a = await _assessment(sessions, lan.id)
    async with unit_of_work(sessions) as s:  # indicator 10's file gone (say, removed while returned)
        await s.exec(delete(Evidence).where(col(Evidence.assessment_id) == a.id, col(Evidence.indicator) == 10))

    await ba.say("/review")
    card = last_to(ba)
    assert "📎 CT 9" in json.dumps(markup_of(bot.api, ba.id), ensure_ascii=False)
    assert "📎 CT 10" not in json.dumps(markup_of(bot.api, ba.id), ensure_ascii=False)
    assert "Bản <b>1</b>/1" in card
    three = button_data(ba, "📎 CT 3")
    prefix = three.rsplit(":", 1)[0]

    # An indicator the pack does not have, or data this bot never made: a polite line, no file.
    for forged in (prefix + ":11", prefix + ":x", three.replace("|re|", "|zz|")):
        await ba.press(forged)
        assert _toast(bot) == "Nút này không hợp lệ.", forged
    # An indicator without files (the card offered none): said so.
    await ba.press(prefix + ":10")
    assert "Chỉ tiêu này không có minh chứng nào để xem." in last_to(ba)
    # Someone out of scope, and a citizen, pressing the real choice: refused, no file.
    await sibling.press(three)
    assert "chưa được giao vai trò" in last_to(sibling)
    await lan.press(three)
    assert "chưa được giao vai trò" in last_to(lan)
    assert media_to(bot.api, ba.id) == media_to(bot.api, sibling.id) == media_to(bot.api, lan.id) == []

    # A teammate confirms: the old choice is out of date; no file, the current state (nothing left) instead.
    await be.say("/review")
    await press(be, "Xác nhận")
    await ba.press(three)
    assert any("Nút này đã cũ" in t for t in texts_to(bot.api, ba.id)[-2:])
    assert "Không còn bản tự đánh giá nào chờ rà soát" in last_to(ba)
    assert media_to(bot.api, ba.id) == []


@pytest.mark.parametrize("lang", ["vi", "en"])
async def test_a_confirmation_with_changes_tells_the_citizen_what_changed_and_why(
    bot: Harness, sessions: Sessions, lang: str
) -> None:
    await seed_commune(sessions)
    await give_role(sessions, 600, "reviewer", "XA1")
    citizen, other, ba = User(bot, 1001, lang), User(bot, 1002), User(bot, 600)
    await register(citizen, "THON1", "Nguyễn Thị Lan")
    await submit_all(citizen, 10)
    await register(other, "THON1", "Lê Thị Hoa")
    await submit_all(other, 10)

    # Lan: indicator 2 from 10 to 8 with a reason typed, then confirmed.
    await ba.say("/review")
    await press(ba, "Điều chỉnh")
    await press(ba, "CT 2")
    await press(ba, "8 điểm")
    await ba.say("Kế hoạch học tập chưa ghi ngày")
    await press(ba, "Xác nhận")
    # Hoa: confirmed as she stood: nothing owed to her.
    await press(ba, "Xác nhận")
    async with sessions() as s:
        rows = (await s.exec(select(Outbox).where(Outbox.kind == "reviewed"))).all()
    assert [r.person_id for r in rows] == [await person_id(sessions, citizen.id)]
    assert (await drain(bot)).sent == 1
    [notice] = texts_to(bot.api, citizen.id)[-1:]
    shown = visible(notice)
    if lang == "vi":
        assert "Tổ đánh giá đã xem xét bản tự đánh giá năm 2026 của bạn và chấm lại một số chỉ tiêu." in shown
        assert "Tự chấm: 100/100 · Tổ đánh giá chấm: 98/100" in shown
        assert "Chỉ tiêu 2: bạn chấm 10, tổ chấm 8 — lý do: Kế hoạch học tập chưa ghi ngày" in shown
        assert "thủ trưởng đơn vị sẽ ra quyết định" in shown
    else:
        assert "The assessment team has reviewed your 2026 self-assessment and changed the points" in shown
        assert "Your score: 100/100 · The team's score: 98/100" in shown
        assert "Indicator 2: you gave 10, the team gave 8 — reason: Kế hoạch học tập chưa ghi ngày" in shown
    assert "đã xem xét" not in " ".join(texts_to(bot.api, other.id))
    assert (await drain(bot)).claimed == 0  # once


async def test_notices_of_ten_long_changes_fit_one_telegram_message(bot: Harness, sessions: Sessions) -> None:
    await seed_commune(sessions)
    await give_role(sessions, 600, "reviewer", "XA1")
    lan, ba = User(bot, 1001), User(bot, 600)
    await register(lan, "THON1", "Nguyễn Thị Lan")
    await submit_all(lan, 10)
    a = await _assessment(sessions, lan.id)
    async with unit_of_work(sessions) as s:  # every indicator adjusted, each with the longest reason allowed
        assessment = await s.get(Assessment, a.id)
        reviewer = (await s.exec(select(Person).where(Person.external_id == "600"))).one()
        assert assessment is not None
        pack = rv.pack_of(bot.app.bot_data.registry, assessment)
        assert pack is not None
        for n in pack.numbers:
            await rv.adjust(
                session=s,
                pack=pack,
                assessment=assessment,
                indicator=n,
                points=5,
                reason=(f"Lý do {n}: " + "thiếu giấy xác nhận " * 50)[:1000],
                actor_id=reviewer.id or 0,
            )
    await ba.say("/review")
    assert len(last_to(ba)) <= TELEGRAM_LIMIT
    await press(ba, "Xác nhận")
    assert (await drain(bot)).sent == 1
    [notice] = texts_to(bot.api, lan.id)[-1:]
    # The head's decision lists the same changes: it fits too.
    await give_role(sessions, 700, "head", "XA1")
    await User(bot, 700).say("/recognise XA1 2026 --decision 12/QĐ-UBND 20/12/2026")
    assert (await drain(bot)).sent == 1
    decision = texts_to(bot.api, lan.id)[-1]
    assert decision != notice and "12/QĐ-UBND" in decision and "50/100" in decision
    for text in (notice, decision):
        assert len(text) <= TELEGRAM_LIMIT
        for n in range(1, 11):
            assert f"CT {n}: bạn 10 → tổ 5 — Lý do {n}: thiếu giấy" in text  # ten changes: one short line each


async def test_eleven_photos_go_as_an_album_of_ten_and_one(bot: Harness, sessions: Sessions) -> None:
    await seed_commune(sessions)
    await give_role(sessions, 600, "reviewer", "XA1")
    lan, ba = User(bot, 1001), User(bot, 600)
    await register(lan, "THON1", "Nguyễn Thị Lan")
    await submit_all(lan, 10)
    async with unit_of_work(sessions) as s:  # indicator 4 holds eleven photos
        four = (await s.exec(select(Evidence).where(Evidence.indicator == 4))).one()
        for i in range(10):
            s.add(Evidence(**{**four.model_dump(exclude={"id"}), "file_unique_id": f"more {i}", "file_id": f"f{i}"}))
    await ba.say("/review")
    assert "📎 11" in last_to(ba) and media_to(bot.api, ba.id) == []
    await press(ba, "📎 CT 4")
    album, single = media_to(bot.api, ba.id)
    media = album.params["media"]
    media = json.loads(media) if isinstance(media, str) else media
    assert (album.method, len(media), single.method) == ("sendMediaGroup", 10, "sendPhoto")
    assert "Minh chứng chỉ tiêu 4" in media[0]["caption"] and "caption" not in single.params
    assert "Minh chứng chỉ tiêu 4 của Nguyễn Thị Lan: 11 tệp" in last_to(ba)
