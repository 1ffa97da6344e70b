"""The team's review and the head's recognition typed on Zalo, over real HTTP against the fake Zalo Bot API:
Zalo citizens submit by typing, a Zalo reviewer reads the card alone and asks for an indicator's evidence by
its number, confirms, adjusts (a typed reason) and returns (indicators toggled by number, then a reason); the
citizen gets the notices (what the team changed; what to fix) from Zalo's dispatcher; a Zalo head
records the decision typed. A typed answer made stale by a teammate changes nothing, a reviewer out of scope
sees nothing, and a Telegram reviewer gets a Zalo citizen's photo uploaded from EVIDENCE_DIR."""

from __future__ import annotations

import json
from pathlib import Path

from sqlmodel import select

from bot.replies import OutFile, StoredFile
from bot.zalo.outbox import make_dispatcher
from bot.zalo.runtime import ZaloBot
from storage import repo_review as rv
from storage.db import Sessions, unit_of_work
from storage.models import Answer, Assessment, AuditEvent, Evidence, OfficerPending, Outbox, Person
from tests.bot.harness import User
from tests.bot.officer_helpers import give_role, press, seed_commune, sent_to, started
from tests.fakes.zalo_api import FakeZaloApi
from tests.zalo.people import MAX, Typist, give_zalo_role, jpeg, make_bot


class FakeLinks:
    """Signed links as the product makes them (bot.file_links), here served by the fake Zalo API itself so
    its sendPhoto can fetch them; records who each link was made for."""

    def __init__(self, api: FakeZaloApi, evidence_dir: Path) -> None:
        self.api, self.evidence_dir = api, evidence_dir
        self.made: list[tuple[int, int]] = []  # (evidence id, officer id)

    def file_url(self, file: OutFile, *, officer_id: int) -> str:
        return self.api.add_photo(file.content, file.mime)

    def evidence_url(self, file: StoredFile, *, officer_id: int) -> str:
        self.made.append((file.evidence_id, officer_id))
        return self.api.add_photo((self.evidence_dir / file.path).read_bytes())


def photo_of(user_id: str, n: int) -> bytes:
    return jpeg(sum(map(ord, user_id)) * 10 + n)


async def submit_typed(bot: ZaloBot, api: FakeZaloApi, user_id: str, name: str, code: str = "THON1") -> None:
    """A Zalo citizen types the whole journey: 10 points and one photo for every indicator, then submits."""
    citizen = Typist(bot, api, user_id)
    for typed in ("Xin chào", "đồng ý", name, code, "1"):
        await citizen.say(typed)
    for n in range(1, 11):
        await citizen.say("1")  # the first level: 10 points
        assert await citizen.photo(photo_of(user_id, n))  # a receipt, whatever its wording
        await citizen.say("Xong")
    await citizen.say("nộp")
    assert "100" in await citizen.say("1")
    async with citizen.bot.data.sessions() as s:
        person = (await s.exec(select(Person).where(Person.external_id == user_id))).one()
        assessment = (await s.exec(select(Assessment).where(Assessment.person_id == person.id))).one()
        stored = (await s.exec(select(Evidence).where(Evidence.assessment_id == assessment.id))).all()
    assert (assessment.status, len(stored)) == ("submitted", 10)


async def assessment_of(sessions: Sessions, user_id: str) -> Assessment:
    async with sessions() as s:
        person = (await s.exec(select(Person).where(Person.external_id == user_id))).one()
        return (await s.exec(select(Assessment).where(Assessment.person_id == person.id))).one()


async def person_id(sessions: Sessions, user_id: str) -> int:
    async with sessions() as s:
        return (await s.exec(select(Person).where(Person.external_id == user_id))).one().id or 0


async def actions(sessions: Sessions) -> list[str]:
    async with sessions() as s:
        return [e.action for e in (await s.exec(select(AuditEvent).order_by(AuditEvent.id))).all()]


def within_limit(api: FakeZaloApi) -> bool:
    return all(0 < len(t) <= MAX for t in api.texts())


async def test_review_and_recognition_typed_on_zalo(zalo_api: FakeZaloApi, sessions: Sessions, tmp_path: Path) -> None:
    await seed_commune(sessions)
    evidence = tmp_path / "evidence"
    links = FakeLinks(zalo_api, evidence)
    bot = make_bot(zalo_api, sessions, evidence, links=links)
    for user_id, name in (("an", "Nguyễn Văn An"), ("binh", "Trần Thị Bình"), ("chi", "Lê Thị Chi")):
        await submit_typed(bot, zalo_api, user_id, name)
    await give_zalo_role(sessions, "ba", "reviewer", "XA1")
    await give_zalo_role(sessions, "cuong", "head", "XA1")
    ba, cuong, chi = Typist(bot, zalo_api, "ba"), Typist(bot, zalo_api, "cuong"), Typist(bot, zalo_api, "chi")
    ba_id = await person_id(sessions, "ba")

    # The first card alone (no photo), its choices numbered: the four actions, then one per indicator's evidence.
    photos_before = len(zalo_api.photos)
    card = await ba.say("duyệt")
    assert zalo_api.photos[photos_before:] == [] and links.made == []
    assert "Nguyễn Văn An" in card and "Tổng tự chấm: <b>100</b>/100" in card and "Bản <b>1</b>/3" in card
    assert "<b>1.</b> ✅ Xác nhận kết quả" in card and "<b>4.</b> ⏭ Bản tiếp theo" in card
    assert "<b>5.</b> 📎 Xem minh chứng CT1" in card and "<b>14.</b> 📎 Xem minh chứng CT10" in card
    assert "Bấm" not in card  # Telegram's hint for its buttons
    assert len(zalo_api.texts("ba")[-1]) <= MAX and "Tổng tự chấm" in zalo_api.texts("ba")[-1]  # one message
    # "5" shows indicator 1's photo by a signed link bound to the reviewer, the choices again under it.
    shown_again = await ba.say("5")
    [shown] = zalo_api.photos[photos_before:]
    assert shown.photo == photo_of("an", 1) and "Minh chứng chỉ tiêu 1 — Nguyễn Văn An" in (shown.caption or "")
    assert links.made == [(links.made[0][0], ba_id)]
    assert "Minh chứng chỉ tiêu 1 của Nguyễn Văn An: 1 tệp" in shown_again and "<b>1.</b> ✅ Xác nhận" in shown_again
    await ba.say("minh chứng 7")  # its words pick it too
    assert zalo_api.photos[-1].photo == photo_of("an", 7) and len(zalo_api.photos) == photos_before + 2

    # "xác nhận" typed confirms An; Bình's card follows.
    answer = await ba.say("xác nhận")
    assert "Đã xác nhận bản của Nguyễn Văn An: <b>100</b>/100" in answer and "Trần Thị Bình" in answer
    assert (await assessment_of(sessions, "an")).status == "reviewed"

    # Adjust: 2 (adjust), 5 (indicator 5), 2 (its second level, 8 points), then the reason typed.
    assert "Chọn chỉ tiêu cần điều chỉnh" in await ba.say("2")
    levels = await ba.say("5")
    assert "<b>Chỉ tiêu 5.</b>" in levels and "<b>2.</b> 8 điểm" in levels and "<b>5.</b> ⬅️ Quay lại" in levels
    assert "từ 1 đến 5" in await ba.say("8")  # a number the screen does not have: nothing changes
    assert "lý do" in await ba.say("8 điểm")  # the level's words pick it too
    assert "quá ngắn" in await ba.say("ok")
    adjusted = await ba.say("Ảnh chưa cho thấy hoạt động ở thôn")
    assert "Đã điều chỉnh chỉ tiêu 5: 10 → 8 điểm" in adjusted and "Tổng sau rà soát: <b>98</b>/100" in adjusted
    binh = await assessment_of(sessions, "binh")
    async with sessions() as s:
        five = (await s.exec(select(Answer).where(Answer.assessment_id == binh.id, Answer.indicator == 5))).one()
    assert (binh.status, five.reviewer_points, five.reviewer_reason) == (
        "submitted",
        8,
        "Ảnh chưa cho thấy hoạt động ở thôn",
    )
    assert (await actions(sessions))[-1] == "adjusted"
    assert "Đã xác nhận bản của Trần Thị Bình: <b>98</b>/100" in await ba.say("1")
    # Bình hears on Zalo what the team changed and why.
    seen = len(zalo_api.texts("binh"))
    assert (await make_dispatcher(bot.client, bot.data).run()).sent == 1
    [told] = zalo_api.texts("binh")[seen:]
    assert "Tổ đánh giá đã xem xét bản tự đánh giá năm 2026 của bạn" in told and len(told) <= MAX
    assert "Chỉ tiêu 5: bạn chấm 10, tổ chấm 8 — lý do: Ảnh chưa cho thấy hoạt động ở thôn" in told

    # Return Chi's for indicators 3 and 7: numbers toggle, text is refused, the reason choice, the reason.
    picker = await ba.say("3")
    assert "Gõ số của từng chỉ tiêu" in picker and "<b>11.</b> ✍️ Nhập lý do trả lại" in picker
    assert "Đã chọn: chỉ tiêu 3" in await ba.say("3")
    assert "Đã chọn: chỉ tiêu 3, 7" in await ba.say("7")
    assert "gõ số của chỉ tiêu" in (await ba.say("chỉ tiêu bảy")).lower()
    again = await ba.say("15")
    assert "từ 1 đến 12" in again and "Đã chọn: chỉ tiêu 3, 7" in again
    assert "lý do trả lại</b> chỉ tiêu 3, 7" in await ba.say("nhập lý do")
    assert (await assessment_of(sessions, "chi")).status == "submitted"  # nothing changes before the reason
    returned = await ba.say("Ảnh chỉ tiêu 3 và 7 bị mờ, chụp lại giúp")
    assert "Đã trả lại bản của Lê Thị Chi để bổ sung chỉ tiêu 3, 7" in returned
    assert "Không còn bản tự đánh giá nào chờ rà soát" in returned
    chi_a = await assessment_of(sessions, "chi")
    assert (chi_a.status, chi_a.returned_indicators) == ("returned", [3, 7])
    async with sessions() as s:
        [row] = (await s.exec(select(Outbox).where(Outbox.kind == "returned"))).all()
    assert row.channel == "zalo"
    # The citizen's notice goes from the outbox, on Zalo.
    seen = len(zalo_api.texts("chi"))
    assert (await make_dispatcher(bot.client, bot.data).run()).sent == 1
    [notice] = zalo_api.texts("chi")[seen:]
    assert "trả lại bản tự đánh giá năm 2026" in notice and "chỉ tiêu 3, 7" in notice and "bị mờ" in notice

    # The head records the decision typed: the listing, its one choice, the number and date.
    listing = await cuong.say("công nhận")
    assert "Đã rà soát: <b>2</b> · Đủ điều kiện: <b>2</b>" in listing and "<b>1.</b> 📝 Ghi số quyết định" in listing
    assert "số và ngày quyết định" in await cuong.say("1")
    assert "Chưa đọc được" in await cuong.say("20/12")
    done = await cuong.say("12/QĐ-UBND ngày 20/12/2026")
    assert "Đã ghi Quyết định số <b>12/QĐ-UBND</b> ngày 20/12/2026: <b>2</b> người được công nhận" in done
    assert (await assessment_of(sessions, "an")).decision_no == "12/QĐ-UBND"
    assert (await make_dispatcher(bot.client, bot.data).run()).sent == 2
    assert "Chúc mừng" in zalo_api.texts("an")[-1] and "Chúc mừng" in zalo_api.texts("binh")[-1]
    assert "Chúc mừng" not in zalo_api.texts("chi")[-1]
    assert (await actions(sessions))[-2:] == ["recognised", "recognised"]
    # Chi's own journey is untouched by her typing nothing: /status shows the returned indicators.
    assert "3, 7" in await chi.say("trạng thái")
    assert within_limit(zalo_api)
    await bot.close()


async def test_a_typed_answer_made_stale_by_a_teammate_changes_nothing(
    zalo_api: FakeZaloApi, sessions: Sessions, tmp_path: Path
) -> None:
    await seed_commune(sessions)
    evidence = tmp_path / "evidence"
    bot = make_bot(zalo_api, sessions, evidence, links=FakeLinks(zalo_api, evidence))
    await submit_typed(bot, zalo_api, "an", "Nguyễn Văn An")
    await submit_typed(bot, zalo_api, "binh", "Trần Thị Bình")
    await give_zalo_role(sessions, "ba", "reviewer", "XA1")
    await give_zalo_role(sessions, "de", "reviewer", "THON1")
    ba, de = Typist(bot, zalo_api, "ba"), Typist(bot, zalo_api, "de")

    assert "Nguyễn Văn An" in await ba.say("/review")
    assert "Nguyễn Văn An" in await de.say("/review")
    await ba.say("1")  # Ba confirms An's; Dê's "1" on the same card is now stale
    before = await actions(sessions)
    stale = await de.say("1")
    assert "Lựa chọn này đã cũ" in stale and "Trần Thị Bình" in stale  # the current state: the next card
    an = await assessment_of(sessions, "an")
    assert (an.status, an.reviewed_by) == ("reviewed", await person_id(sessions, "ba"))
    assert await actions(sessions) == before

    # Dê owes a reason for Bình's indicator 1 when Ba confirms Bình's: the reason changes nothing.
    await de.say("2")
    await de.say("1")
    assert "lý do" in await de.say("2")
    await ba.say("1")
    before = await actions(sessions)
    stale = await de.say("Chỉ tham gia một buổi")
    assert "Lựa chọn này đã cũ" in stale and "Không còn bản tự đánh giá nào chờ rà soát" in stale
    assert await actions(sessions) == before
    binh = await assessment_of(sessions, "binh")
    async with sessions() as s:
        one = (await s.exec(select(Answer).where(Answer.assessment_id == binh.id, Answer.indicator == 1))).one()
        assert (await s.exec(select(OfficerPending).where(OfficerPending.kind == "adjust"))).all() == []
    assert (binh.reviewed_by, one.reviewer_points, one.reviewer_reason) == (await person_id(sessions, "ba"), 10, None)
    await bot.close()


async def test_a_reviewer_out_of_scope_sees_nothing(zalo_api: FakeZaloApi, sessions: Sessions, tmp_path: Path) -> None:
    await seed_commune(sessions)
    evidence = tmp_path / "evidence"
    links = FakeLinks(zalo_api, evidence)
    bot = make_bot(zalo_api, sessions, evidence, links=links)
    await submit_typed(bot, zalo_api, "an", "Nguyễn Văn An")  # in THON1
    await give_zalo_role(sessions, "sibling", "reviewer", "THON2")
    await give_zalo_role(sessions, "other", "reviewer", "XA2")
    sibling, other, an = (Typist(bot, zalo_api, u) for u in ("sibling", "other", "an"))
    photos = len(zalo_api.photos)

    assert "không thuộc phạm vi" in await sibling.say("/review THON1")
    assert "không thuộc phạm vi" in await other.say("duyệt XA1")
    assert "Không còn bản tự đánh giá nào chờ rà soát trong <b>Thôn Đông</b>" in await sibling.say("/review")
    assert "Nguyễn Văn An" not in await other.say("/review")
    assert "chưa được giao vai trò" in await an.say("/review")  # a citizen
    assert "chưa được giao vai trò" in await sibling.say("/recognise")  # a reviewer is no head
    assert len(zalo_api.photos) == photos and links.made == []
    assert not any("Nguyễn Văn An" in t for u in ("sibling", "other") for t in zalo_api.texts(u))
    # A typed "1" with no card of theirs on screen is the citizen's, not a review's.
    await sibling.say("1")
    assert (await assessment_of(sessions, "an")).status == "submitted"
    await bot.close()


async def test_a_card_with_long_reasons_fits_one_zalo_message(
    zalo_api: FakeZaloApi, sessions: Sessions, tmp_path: Path
) -> None:
    await seed_commune(sessions)
    evidence = tmp_path / "evidence"
    bot = make_bot(zalo_api, sessions, evidence, links=FakeLinks(zalo_api, evidence))
    await submit_typed(bot, zalo_api, "an", "Nguyễn Văn An")
    await give_zalo_role(sessions, "ba", "reviewer", "XA1")
    a, ba_id = await assessment_of(sessions, "an"), await person_id(sessions, "ba")
    async with unit_of_work(sessions) as s:
        person = (await s.exec(select(Person).where(Person.external_id == "an"))).one()
        person.full_name = "Nguyễn " * 11 + "An"  # 79 characters, near the limit
        assessment = await s.get(Assessment, a.id)
        assert assessment is not None
        assessment.return_reason = "Thiếu ảnh & giấy xác nhận " * 38  # returned once before, at length
        pack = rv.pack_of(bot.data.registry, assessment)
        assert pack is not None
        for n in pack.numbers:  # every indicator adjusted, each with the longest reason allowed
            await rv.adjust(
                session=s,
                pack=pack,
                assessment=assessment,
                indicator=n,
                points=5,
                reason="Lý do " * 166,
                actor_id=ba_id,
            )
    await Typist(bot, zalo_api, "ba").say("/review")
    card = zalo_api.texts("ba")[-1]
    assert len(card) <= MAX and "Tổng sau rà soát: <b>50</b>/100" in card and "<b>1.</b> ✅ Xác nhận" in card
    for n in range(1, 11):  # points and evidence counts kept for every indicator
        assert f"<b>{n}.</b>" in card and "tổ chấm <b>5</b> điểm · 📎 1" in card
    assert card.count("📎 1") == 10
    assert "Lý do" in card  # shortened, not dropped
    await bot.close()


async def test_a_telegram_reviewer_gets_a_zalo_citizens_photo_uploaded(
    zalo_api: FakeZaloApi, sessions: Sessions, tmp_path: Path
) -> None:
    await seed_commune(sessions)
    zalo = make_bot(zalo_api, sessions, tmp_path / "evidence")
    await submit_typed(zalo, zalo_api, "an", "Nguyễn Văn An")
    await zalo.close()
    await give_role(sessions, 600, "reviewer", "XA1")
    h = await started(sessions, tmp_path)  # the same EVIDENCE_DIR
    try:
        reviewer = User(h, 600)
        await reviewer.say("/review")
        assert sent_to(h.api, reviewer.id, "sendPhoto") == []
        await press(reviewer, "📎 CT 3")
        [upload] = sent_to(h.api, reviewer.id, "sendPhoto")
        [sent] = [c for c in h.api.calls if c.method == "sendPhoto"]
        assert sent.files["photo"][1] == photo_of("an", 3)
        assert "Minh chứng chỉ tiêu 3 — Nguyễn Văn An" in upload["caption"]
        # Two photos of one indicator go up as one album, each file uploaded from EVIDENCE_DIR.
        async with unit_of_work(sessions) as s:
            five = (await s.exec(select(Evidence).where(Evidence.indicator == 5))).one()
            s.add(Evidence(**{**five.model_dump(exclude={"id"}), "file_unique_id": "a second photo"}))
        await press(reviewer, "📎 CT 5")
        [album] = [c for c in h.api.calls if c.method == "sendMediaGroup"]
        assert sorted(content for _, content in album.files.values()) == [photo_of("an", 5)] * 2
        await press(reviewer, "Xác nhận")
        assert (await assessment_of(sessions, "an")).status == "reviewed"
        card = [p for p in sent_to(h.api, reviewer.id) if "reply_markup" in p]
        assert card and "o|rc|" in json.dumps(card[0]["reply_markup"])
    finally:
        await h.stop()


async def test_without_public_base_url_a_card_says_once_that_files_need_it(
    zalo_api: FakeZaloApi, sessions: Sessions, tmp_path: Path
) -> None:
    await seed_commune(sessions)
    bot = make_bot(zalo_api, sessions, tmp_path / "evidence")  # polling in development: no links
    await submit_typed(bot, zalo_api, "an", "Nguyễn Văn An")
    await give_zalo_role(sessions, "ba", "reviewer", "XA1")
    ba = Typist(bot, zalo_api, "ba")
    card = await ba.say("/review")
    assert "Nguyễn Văn An" in card and "PUBLIC_BASE_URL" not in card  # no file goes with a card
    shown = await ba.say("5")
    assert shown.count("PUBLIC_BASE_URL") == 1 and "<b>1.</b> ✅ Xác nhận" in shown
    assert zalo_api.photos == []
    await bot.close()


async def test_a_notice_of_ten_long_changes_reaches_a_zalo_citizen_within_the_limit(
    zalo_api: FakeZaloApi, sessions: Sessions, tmp_path: Path
) -> None:
    await seed_commune(sessions)
    evidence = tmp_path / "evidence"
    bot = make_bot(zalo_api, sessions, evidence, links=FakeLinks(zalo_api, evidence))
    await submit_typed(bot, zalo_api, "an", "Nguyễn Văn An")
    await give_zalo_role(sessions, "ba", "reviewer", "XA1")
    a, ba_id = await assessment_of(sessions, "an"), await person_id(sessions, "ba")
    async with unit_of_work(sessions) as s:
        citizen = (await s.exec(select(Person).where(Person.external_id == "an"))).one()
        citizen.locale = "en"  # the notice follows the citizen's language
        assessment = await s.get(Assessment, a.id)
        assert assessment is not None
        pack = rv.pack_of(bot.data.registry, assessment)
        assert pack is not None
        for n in pack.numbers:  # every indicator adjusted, each with the longest reason allowed
            reason = (f"Reason {n}: " + "the certificate is missing " * 40)[:1000]
            await rv.adjust(
                session=s, pack=pack, assessment=assessment, indicator=n, points=5, reason=reason, actor_id=ba_id
            )
    ba = Typist(bot, zalo_api, "ba")
    assert "Nguyễn Văn An" in await ba.say("/review")
    assert "Đã xác nhận bản của Nguyễn Văn An: <b>50</b>/100" in await ba.say("1")
    seen = len(zalo_api.texts("an"))
    assert (await make_dispatcher(bot.client, bot.data).run()).sent == 1
    told = zalo_api.texts("an")[seen:]
    assert told and all(len(t) <= MAX for t in told)
    whole = "\n".join(told)
    assert "The assessment team has reviewed your 2026 self-assessment" in whole
    for n in range(1, 11):
        assert f"Ind. {n}: you 10 → team 5 — Reason {n}: the certificate" in whole  # ten changes: short lines
    await bot.close()
