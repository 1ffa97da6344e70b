"""Bad input gets a polite message in the person's language and changes nothing already saved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from bot.callbacks import Button, Verb
from storage.db import Sessions
from storage.models import Answer, Assessment, Evidence, Person
from tests.bot.harness import Harness, User, jpeg
from tests.bot.test_citizen_journey import make_unit, register
from tests.fakes import documents


@pytest.fixture
async def bot(sessions: Sessions, tmp_path: Path):
    h = await Harness.start(sessions, tmp_path / "evidence")
    yield h
    await h.stop()


async def at_evidence_step(user: User) -> None:
    await register(user)
    await user.press_label("Người dân trong cộng đồng")
    await user.press_label("8 điểm")
    assert "minh chứng cho chỉ tiêu 1" in user.last_text()


async def snapshot(sessions: Sessions) -> tuple:
    async with sessions() as s:
        people = [(p.external_id, p.step, p.rev, p.full_name) for p in (await s.exec(select(Person))).all()]
        assessments = [
            (a.person_id, a.step, a.indicator, a.rev, a.status) for a in (await s.exec(select(Assessment))).all()
        ]
        answers = [(a.assessment_id, a.indicator, a.chosen) for a in (await s.exec(select(Answer))).all()]
        files = [(e.assessment_id, e.indicator, e.file_unique_id) for e in (await s.exec(select(Evidence))).all()]
    return people, assessments, answers, files


async def test_unknown_command(bot: Harness, sessions: Sessions) -> None:
    await make_unit(sessions)
    lan = User(bot, 2001)
    await at_evidence_step(lan)
    before = await snapshot(sessions)
    await lan.say("/frobnicate")
    assert "không hiểu lệnh" in lan.last_text()
    assert await snapshot(sessions) == before


async def test_unknown_command_in_english_for_a_stranger(bot: Harness) -> None:
    stranger = User(bot, 2002, language_code="en-US")
    await stranger.say("/frobnicate")
    assert "does not know that command" in stranger.last_text()


async def test_text_where_a_button_is_expected(bot: Harness, sessions: Sessions) -> None:
    await make_unit(sessions)
    lan = User(bot, 2003)
    await register(lan)
    before = await snapshot(sessions)
    await lan.say("tôi là nông dân")
    texts = bot.api.texts()
    assert "dùng các nút" in texts[-2]
    assert "nhóm đối tượng" in texts[-1]  # the step is shown again
    assert await snapshot(sessions) == before


async def test_stale_button_changes_nothing(bot: Harness, sessions: Sessions) -> None:
    await make_unit(sessions)
    lan = User(bot, 2004)
    await register(lan)
    await lan.press_label("Người dân trong cộng đồng")
    old_level_button = next(b["callback_data"] for row in bot.api.last_markup() for b in row if "10 điểm" in b["text"])
    await lan.press_label("8 điểm")
    await lan.photo(b"x")
    await lan.press_label("Xong")
    assert "Chỉ tiêu 2/10" in lan.last_text()
    before = await snapshot(sessions)
    await lan.press(old_level_button)  # indicator 1's keyboard, pressed again later
    assert "Nút này đã cũ" in bot.api.texts()[-2]
    assert "Chỉ tiêu 2/10" in lan.last_text()
    assert await snapshot(sessions) == before
    answered = [c for c in bot.api.sent("answerCallbackQuery")]
    assert answered and "cũ" in answered[-1].params.get("text", "")


async def test_forged_callback_for_another_persons_assessment(bot: Harness, sessions: Sessions) -> None:
    await make_unit(sessions)
    lan, binh = User(bot, 2005), User(bot, 2006)
    await at_evidence_step(lan)
    await at_evidence_step(binh)
    async with sessions() as s:
        lan_assessment = (
            await s.exec(
                select(Assessment).join(Person, Person.id == Assessment.person_id).where(Person.external_id == "2005")
            )
        ).one()
    before = await snapshot(sessions)
    forged = Button("a", lan_assessment.id, lan_assessment.rev, Verb.DONE, "1").encode()
    await binh.press(forged)
    assert "không thuộc về bạn" in bot.api.texts()[-2]
    for garbage in ("garbage", "1|a|x|y|l|1:10", "1|a|999999|0|l|1:10", "2|p|1|1|cy|", "1|p|1|0|zz|"):
        await binh.press(garbage)
        assert "không thuộc về bạn" in bot.api.texts()[-2], garbage
    assert await snapshot(sessions) == before


async def test_forged_level_points_refused(bot: Harness, sessions: Sessions) -> None:
    await make_unit(sessions)
    lan = User(bot, 2007)
    await register(lan)
    await lan.press_label("Người dân trong cộng đồng")
    data = next(b["callback_data"] for row in bot.api.last_markup() for b in row if "10 điểm" in b["text"])
    before = await snapshot(sessions)
    await lan.press(data.replace(":10", ":9"))  # 9 is not a level of this indicator
    assert "không hợp lệ" in bot.api.texts()[-2]
    assert await snapshot(sessions) == before


@pytest.mark.parametrize("send", ["sticker", "voice", "location", "text"])
async def test_not_evidence_at_the_evidence_step(bot: Harness, sessions: Sessions, send: str) -> None:
    await make_unit(sessions)
    lan = User(bot, 2010)
    await at_evidence_step(lan)
    await lan.photo(b"first")
    before = await snapshot(sessions)
    if send == "text":
        await lan.say("đây là minh chứng")
    else:
        await getattr(lan, send)()
    assert "Nhãn dán, tin nhắn thoại" in bot.api.texts()[-2]
    assert await snapshot(sessions) == before


async def test_wrong_file_type(bot: Harness, sessions: Sessions) -> None:
    await make_unit(sessions)
    lan = User(bot, 2011)
    await at_evidence_step(lan)
    before = await snapshot(sessions)
    await lan.document("virus.exe", "application/x-msdownload", b"MZ")
    assert "Loại tệp này không nhận được" in lan.last_text()
    assert not bot.api.sent("getFile")
    assert await snapshot(sessions) == before


async def test_office_file_sent_as_octet_stream_is_accepted_by_its_name(bot: Harness, sessions: Sessions) -> None:
    await make_unit(sessions)
    lan = User(bot, 2012)
    await at_evidence_step(lan)
    await lan.document("chung-chi.docx", "application/octet-stream", documents.docx())
    async with sessions() as s:
        ev = (await s.exec(select(Evidence))).one()
    assert ev.mime_type.endswith("wordprocessingml.document") and ev.path.endswith(".docx")


async def test_oversized_file_refused_before_get_file(bot: Harness, sessions: Sessions) -> None:
    await make_unit(sessions)
    lan = User(bot, 2013)
    await at_evidence_step(lan)
    before = await snapshot(sessions)
    await lan.document("scan.pdf", "application/pdf", b"%PDF small", size=25 * 1024 * 1024)
    await lan.photo(b"big photo", size=21 * 1024 * 1024)
    assert "Tệp quá lớn" in bot.api.texts()[-1] and "Tệp quá lớn" in bot.api.texts()[-2]
    assert not bot.api.sent("getFile")
    assert await snapshot(sessions) == before


async def test_same_file_twice_is_stored_once(bot: Harness, sessions: Sessions) -> None:
    await make_unit(sessions)
    lan = User(bot, 2014)
    await at_evidence_step(lan)
    file = lan.serve(jpeg(b"the same photo"))
    await lan.photo(file=file)
    await lan.photo(file=file)
    assert "đã có trong minh chứng" in lan.last_text()
    async with sessions() as s:
        assert len((await s.exec(select(Evidence))).all()) == 1
    assert len(bot.api.downloads) == 1


async def test_photo_before_the_evidence_step(bot: Harness, sessions: Sessions) -> None:
    await make_unit(sessions)
    lan = User(bot, 2015)
    await register(lan)
    await lan.press_label("Người dân trong cộng đồng")
    await lan.photo(b"too early")
    assert "Chưa đến bước gửi minh chứng" in bot.api.texts()[-2]
    async with sessions() as s:
        assert (await s.exec(select(Evidence))).all() == []


async def test_unknown_join_code_then_a_good_one(bot: Harness, sessions: Sessions) -> None:
    await make_unit(sessions)
    lan = User(bot, 2016)
    await register(lan, code=None)
    assert "mã đơn vị" in lan.last_text()
    await lan.say("KHONGCO")
    assert "Không tìm thấy đơn vị" in bot.api.texts()[-2]
    await lan.say("thon1")
    assert "Thôn Bình Vọng" in bot.api.texts()[-2]
    assert "nhóm đối tượng" in lan.last_text()


async def test_invalid_name_is_asked_again(bot: Harness, sessions: Sessions) -> None:
    await make_unit(sessions)
    lan = User(bot, 2017)
    await lan.say("/start THON1")
    await lan.press_label("đồng ý")
    await lan.say("12345")
    assert "Họ tên chưa hợp lệ" in bot.api.texts()[-2]
    async with sessions() as s:
        assert (await s.exec(select(Person))).one().full_name is None


async def test_database_error_asks_to_try_again_and_keeps_saved_work(
    bot: Harness, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_unit(sessions)
    lan = User(bot, 2018)
    await at_evidence_step(lan)
    await lan.photo(b"kept")
    before = await snapshot(sessions)

    from storage import repo_assessments

    async def broken(**_kw):
        raise OperationalError("UPDATE answer", {}, Exception("database is locked"))

    monkeypatch.setattr(repo_assessments, "set_level", broken)
    await lan.press_label("Xong")
    await lan.press_label("10 điểm")  # indicator 2: storing the level fails
    assert "hệ thống đang bận" in lan.last_text()
    after = await snapshot(sessions)
    # Indicator 1's answer and evidence are intact; indicator 2 recorded nothing.
    assert after[2] == before[2] and after[3] == before[3]
    monkeypatch.undo()
    await lan.press_label("10 điểm")
    assert "minh chứng cho chỉ tiêu 2" in lan.last_text()


async def test_group_chat_is_ignored(bot: Harness) -> None:
    await bot.feed(
        {
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": -100, "type": "group", "title": "g"},
                "from": {"id": 5, "is_bot": False, "first_name": "X"},
                "text": "/start",
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            }
        }
    )
    assert bot.api.sent() == []


def test_callback_data_fits_telegram_limit() -> None:
    data = Button("a", 2**31, 10**6, Verb.CONFIRM_SUBMIT, "phu-luc-iv-i67-community").encode()
    assert len(data.encode()) <= 64
    assert json.dumps(data)


async def test_failed_download_asks_to_send_again(bot: Harness, sessions: Sessions) -> None:
    await make_unit(sessions)
    lan = User(bot, 2019)
    await at_evidence_step(lan)
    bot.api.fail_next("getFile", 400, "Bad Request: file is temporarily unavailable")
    await lan.photo(b"lost")
    assert "Không tải được tệp" in lan.last_text()
    async with sessions() as s:
        assert (await s.exec(select(Evidence))).all() == []
    await lan.photo(b"again")
    assert "Đã nhận: 1 ảnh" in lan.last_text()


async def test_blocking_the_bot_is_noted_and_unblocking_clears_it(bot: Harness, sessions: Sessions) -> None:
    await make_unit(sessions)
    lan = User(bot, 2020)
    await register(lan)

    me = {"id": 7000000001, "is_bot": True, "first_name": "CDHT"}

    def status(name: str) -> dict:
        return {"status": name, "user": me, **({"until_date": 0} if name == "kicked" else {})}

    async def member(old: str, new: str) -> None:
        who = {"id": 2020, "is_bot": False, "first_name": "Lan"}
        await bot.feed(
            {
                "my_chat_member": {
                    "chat": {"id": 2020, "type": "private"},
                    "from": who,
                    "date": 0,
                    "old_chat_member": status(old),
                    "new_chat_member": status(new),
                }
            }
        )

    await member("member", "kicked")
    async with sessions() as s:
        assert (await s.exec(select(Person))).one().blocked_at is not None
    await member("kicked", "member")
    async with sessions() as s:
        assert (await s.exec(select(Person))).one().blocked_at is None
