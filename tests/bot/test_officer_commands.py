"""Officers find their commands, see names, revoke and grant by choice (issue 10, items 10-12), on Telegram
through the real Application and the fake Bot API: /help in sections per role held, the chat's own command menu
set and dropped, an ADMIN_IDS admin's first /start, /roles by name with revoke and its confirmation, /grant with
Vietnamese role words or with no arguments at all, the export's reviewer named. Both languages; SQLite and PG."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import select

from bot import cli_officers
from bot.handlers.officer_help import CITIZEN_COMMANDS
from bot.message_split import TELEGRAM_LIMIT
from conversations.identity import parse_contact
from locales import gettext
from storage import repo_people as rp
from storage import repo_reports
from storage.db import Sessions, unit_of_work
from storage.models import Assessment, AuditEvent, Person, Role
from tests.bot.harness import Harness, User, make_settings
from tests.bot.officer_helpers import (
    audit,
    give_role,
    last_to,
    markup_of,
    person_id,
    press,
    seed_commune,
    started,
    texts_to,
)
from tests.fakes.telegram_api import FakeBotApi

ADMIN = 4900


@pytest.fixture
async def bot(sessions: Sessions, tmp_path: Path):
    await seed_commune(sessions)
    h = await started(sessions, tmp_path, admin_ids=[str(ADMIN)])
    yield h
    await h.stop()


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def menus(h: Harness | FakeBotApi, chat_id: int) -> list[tuple[str, list[str]]]:
    """The chat-scoped menu calls for ``chat_id``, in order: ("set", commands) or ("delete", [])."""
    found = []
    for call in (h.api if isinstance(h, Harness) else h).calls:
        if call.method not in ("setMyCommands", "deleteMyCommands"):
            continue
        scope = _json(call.params.get("scope")) or {}
        if scope.get("type") != "chat" or int(scope.get("chat_id", 0)) != chat_id:
            continue
        names = [c["command"] for c in _json(call.params.get("commands") or [])]
        found.append(("set" if call.method == "setMyCommands" else "delete", names))
    return found


def buttons(user: User) -> list[str]:
    return [b["text"] for row in markup_of(user.h.api, user.id) for b in row]


# --------------------------------------------------------------------------- item 10: /help and the menu


async def test_help_shows_the_sections_of_the_roles_held_and_the_chat_gets_its_menu(
    bot: Harness, sessions: Sessions
) -> None:
    citizen = User(bot, 4101)
    await citizen.say("/help")
    text = last_to(citizen)
    assert "/status" in text and "Lệnh của cán bộ" not in text and "/review" not in text
    assert menus(bot, citizen.id) == []  # everyone else keeps the default (citizen) menu

    await give_role(sessions, 4102, "officer", "XA1")
    await give_role(sessions, 4102, "reviewer", "THON1")
    both = User(bot, 4102)
    await both.say("/help")
    text = last_to(both)
    assert text.index("/status") < text.index("Lệnh của cán bộ") < text.index("Lệnh của tổ đánh giá")
    assert "/grant" in text and "/review" in text and "thủ trưởng" not in text and len(text) <= TELEGRAM_LIMIT
    [(kind, names)] = menus(bot, both.id)
    assert kind == "set" and names[: len(CITIZEN_COMMANDS)] == list(CITIZEN_COMMANDS)
    assert {"grant", "roles", "invite", "review", "tally", "export"} <= set(names) and "recognise" not in names
    assert len(names) == len(set(names))

    await give_role(sessions, 4103, "head", "XA1", locale="en")
    head = User(bot, 4103, "en")
    await head.say("/help")
    text = last_to(head)
    assert "Head commands" in text and "/recognise" in text and "Officer commands" not in text
    [(_, names)] = menus(bot, head.id)
    assert "recognise" in names and "grant" not in names
    described = _json(bot.api.sent("setMyCommands")[-1].params["commands"])
    assert {"command": "recognise", "description": "Record the recognition decision"} in described


async def test_a_role_holders_menu_follows_their_language(bot: Harness, sessions: Sessions) -> None:
    await give_role(sessions, 4105, "reviewer", "THON1")
    reviewer, citizen = User(bot, 4105), User(bot, 4106)
    await citizen.say("/start THON1")
    for user in (reviewer, citizen):
        await user.say("/language")
        await user.press_label("English")
    assert menus(bot, citizen.id) == []  # no role, no menu call: everyone's default menu stays
    [(kind, names)] = menus(bot, reviewer.id)
    assert kind == "set" and "review" in names
    described = _json(bot.api.sent("setMyCommands")[-1].params["commands"])
    assert {"command": "review", "description": gettext("command.review", "en")} in described


async def test_an_admin_ids_admin_gets_the_officer_help_and_menu_on_first_contact(bot: Harness) -> None:
    admin = User(bot, ADMIN, first_name="Quản trị")
    await admin.say("/start")
    shown = texts_to(bot.api, admin.id)
    help_text = next(t for t in shown if "Lệnh của cán bộ" in t)
    for part in ("Lệnh của tổ đánh giá", "Lệnh của thủ trưởng", "Quản trị viên"):
        assert part in help_text
    assert len(help_text) <= TELEGRAM_LIMIT
    assert "đồng ý" in " ".join(buttons(admin)).lower()  # the citizen's consent still comes last, with its buttons
    [(kind, names)] = menus(bot, admin.id)
    assert kind == "set" and {"review", "recognise", "grant", "broadcast"} <= set(names)
    # A second /start is no first contact: no second copy.
    await admin.say("/start")
    assert sum("Lệnh của cán bộ" in t for t in texts_to(bot.api, admin.id)) == 1
    await admin.say("/help")
    assert "Quản trị viên" in last_to(admin)
    await admin.say("/grant cán bộ")  # an admin picks among the top units and those right below them
    assert buttons(admin) == [
        "Xã Văn Bình (XA1)",
        "Thôn Bình Vọng (THON1)",
        "Thôn Đông (THON2)",
        "Xã Bên (XA2)",
        "Thôn Ba (THON3)",
    ]

    other = User(bot, 4199)
    await other.say("/start")
    assert not any("Lệnh của cán bộ" in t for t in texts_to(bot.api, other.id)) and menus(bot, other.id) == []


# --------------------------------------------------------------------------- item 12: /grant by words and choices


async def _pass_of(text: str) -> str:
    assert "?start=role-" in text, text
    return text.split("?start=", 1)[1].split()[0]


@pytest.mark.parametrize(
    ("words", "label"),
    [
        ("cán bộ THON1", "cán bộ Khuyến học"),
        ("can bo THON1", "cán bộ Khuyến học"),
        ("Tổ Đánh Giá THON1", "thành viên tổ đánh giá"),
        ("thu truong THON1", "người ký quyết định công nhận"),
        ("reviewer THON1", "thành viên tổ đánh giá"),
    ],
)
async def test_grant_takes_vietnamese_role_words_without_accents_too(
    bot: Harness, sessions: Sessions, words: str, label: str
) -> None:
    await give_role(sessions, 4201, "officer", "XA1")
    officer = User(bot, 4201)
    await officer.say(f"/grant {words}")
    text = last_to(officer)
    assert f"<b>{label}</b>" in text and "Thôn Bình Vọng" in text and "?start=role-" in text


async def test_grant_without_arguments_offers_the_role_then_the_units_in_scope(
    bot: Harness, sessions: Sessions
) -> None:
    await give_role(sessions, 4202, "officer", "XA1")
    officer, newcomer = User(bot, 4202), User(bot, 4203, first_name="Hùng")
    await officer.say("/grant")
    assert "Giao vai trò nào?" in last_to(officer)
    assert buttons(officer) == ["cán bộ Khuyến học", "thành viên tổ đánh giá", "người ký quyết định công nhận"]
    await press(officer, "tổ đánh giá")
    assert "Giao vai trò <b>thành viên tổ đánh giá</b> tại đơn vị nào?" in last_to(officer)
    offered = buttons(officer)
    assert offered == ["Xã Văn Bình (XA1)", "Thôn Bình Vọng (THON1)", "Thôn Đông (THON2)"]  # not XA2: out of scope
    await press(officer, "THON2")
    role_pass = await _pass_of(last_to(officer))
    await newcomer.say(f"/start {role_pass}")
    assert "thành viên tổ đánh giá</b> tại <b>Thôn Đông" in last_to(newcomer)
    assert "Lệnh của tổ đánh giá" in last_to(newcomer) and "/review" in last_to(newcomer)
    [(kind, names)] = menus(bot, newcomer.id)  # the claimed role's commands in their own menu
    assert kind == "set" and "review" in names and "grant" not in names

    # A forged unit (out of scope) in a choice: refused, no pass.
    async with sessions() as s:
        xa2 = await rp.find_unit(session=s, code="XA2")
    assert xa2 is not None
    await officer.press(f"rl|u|reviewer|{xa2.id}")
    assert "chưa được giao vai trò" in last_to(officer)
    await officer.press("rl|g|admin")  # never offered
    assert bot.api.sent("answerCallbackQuery")[-1].params.get("text") == "Nút này không hợp lệ."


async def test_grant_in_english_and_its_refusals(bot: Harness, sessions: Sessions) -> None:
    await give_role(sessions, 4204, "officer", "THON1", locale="en")
    officer, stranger = User(bot, 4204, "en"), User(bot, 4205, "en")
    await officer.say("/grant")
    assert "Which role do you want to give?" in last_to(officer)
    assert buttons(officer) == ["Khuyến học officer", "assessment team member", "head (signs the recognition decision)"]
    await press(officer, "head")
    assert "Give the role <b>head (signs the recognition decision)</b> in which unit?" in last_to(officer)
    assert buttons(officer) == ["Thôn Bình Vọng (THON1)"]  # only their own unit
    await press(officer, "THON1")
    assert "A pass granting the role <b>head" in last_to(officer)
    await officer.say("/grant tổ đánh giá THON1")  # the Vietnamese word in an English chat
    assert "<b>assessment team member</b> in <b>Thôn Bình Vọng</b>" in last_to(officer)
    await officer.say("/grant boss THON1")
    assert "/grant ROLE UNIT_CODE" in last_to(officer) and "tổ đánh giá" in last_to(officer)
    await stranger.say("/grant")
    assert "you have no role that allows this command" in last_to(stranger)


# --------------------------------------------------------------------------- item 11: names and revoking from /roles


async def test_roles_lists_names_and_revokes_with_a_confirmation(bot: Harness, sessions: Sessions) -> None:
    await give_role(sessions, 4301, "officer", "XA1")
    await give_role(sessions, 4302, "reviewer", "THON1")
    officer, ba = User(bot, 4301, first_name="Oanh"), User(bot, 4302, first_name="Ba")
    await ba.say("/help")  # Ba writes once: their Telegram name is kept
    await officer.say("/roles")
    text = last_to(officer)
    assert "1. Oanh — cán bộ Khuyến học, XA1" in text and "2. Ba — thành viên tổ đánh giá, THON1" in text
    assert "id 4302" not in text and buttons(officer) == ["❌ 1", "❌ 2"]

    await press(officer, "❌ 2")
    assert "Thu hồi vai trò <b>thành viên tổ đánh giá</b> của <b>Ba</b> tại <b>Thôn Bình Vọng</b> (THON1)?" in (
        last_to(officer)
    )
    keep = await press(officer, "Không")
    assert "Không thu hồi" in last_to(officer)
    async with sessions() as s:
        assert len((await s.exec(select(Role))).all()) == 2
    revoke = keep.replace("|n|", "|y|")
    await officer.press(revoke)
    assert "Đã thu hồi vai trò <b>thành viên tổ đánh giá</b> của <b>Ba</b> tại <b>Thôn Bình Vọng</b>." in last_to(
        officer
    )
    assert menus(bot, ba.id)[-1] == ("delete", [])  # their last role: back to the default menu
    events = [e for e in await audit(sessions) if e.action == "role_revoked"]
    assert len(events) == 1 and events[0].actor_id == await person_id(sessions, officer.id)
    assert events[0].before == {
        "person_id": await person_id(sessions, ba.id),
        "role": "reviewer",
        "unit": "THON1",
        "via": "chat",
    }

    await officer.press(revoke)  # stale: revoked already
    assert "đã được thu hồi hoặc không còn" in last_to(officer)
    await officer.press("rl|y|abc")  # forged
    assert bot.api.sent("answerCallbackQuery")[-1].params.get("text") == "Nút này không hợp lệ."


async def test_only_someone_who_may_grant_the_role_there_may_revoke_it(bot: Harness, sessions: Sessions) -> None:
    await give_role(sessions, 4311, "officer", "XA1", locale="en")
    await give_role(sessions, 4312, "officer", "THON1", locale="en")
    await give_role(sessions, 4313, "reviewer", "XA1", locale="en")
    async with sessions() as s:
        above = (await s.exec(select(Role).where(Role.person_id == await person_id(sessions, 4311)))).one()
    village = User(bot, 4312, "en")
    await village.press(f"rl|x|{above.id}")  # a role above their unit, never shown to them
    assert "you may not revoke this role" in last_to(village)
    await village.press(f"rl|y|{above.id}")
    assert "you may not revoke this role" in last_to(village)
    reviewer = User(bot, 4313, "en")
    await reviewer.press(f"rl|y|{above.id}")
    assert "may not revoke" in last_to(reviewer)
    async with sessions() as s:
        assert len((await s.exec(select(Role))).all()) == 3
        assert not (await s.exec(select(AuditEvent).where(AuditEvent.action == "role_revoked"))).all()

    # In English, the whole way through; their other role keeps a (smaller) menu.
    await give_role(sessions, 4312, "head", "THON1", locale="en")
    commune = User(bot, 4311, "en")
    await commune.say("/roles THON1")
    text = last_to(commune)
    assert "Roles in" in text and "Press ❌" in text
    await press(commune, "❌ 2")  # THON1: 4312 head, then officer (role order)
    assert "Revoke the role" in last_to(commune)
    await press(commune, "Revoke")
    assert "is revoked" in last_to(commune)
    kind, names = menus(bot, 4312)[-1]
    assert kind == "set" and len(names) > len(CITIZEN_COMMANDS)


# --------------------------------------------------------------------------- item 11: the display name, cheaply


async def test_display_name_is_written_only_when_it_changed(bot: Harness, sessions: Sessions, engine) -> None:
    await give_role(sessions, 4401, "officer", "XA1")
    officer = User(bot, 4401, first_name="Oanh")
    await officer.say("/roles")
    updates: list[str] = []

    def seen(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("UPDATE PERSON"):
            updates.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        await officer.say("/roles")
        await officer.say("/help")
        assert updates == []  # the same name: no write
        officer.first_name = "Oanh Lê"
        await officer.say("/help")
        assert len(updates) == 1
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", seen)
    async with sessions() as s:
        assert (await s.exec(select(Person.display_name).where(Person.external_id == "4401"))).one() == "Oanh Lê"


async def test_the_exports_reviewer_column_names_an_officer_who_never_registered(sessions: Sessions) -> None:
    await seed_commune(sessions)
    async with unit_of_work(sessions) as s:
        unit = await rp.find_unit(session=s, code="THON1")
        assert unit is not None
        reviewer = await rp.create_person(
            session=s, channel="telegram", external_id="4501", chat_id="4501", locale="vi"
        )
        reviewer.display_name = "Trần Ba"
        citizen = await rp.create_person(session=s, channel="telegram", external_id="4502", chat_id="4502", locale="vi")
        citizen.full_name, citizen.unit_id = "Nguyễn Lan", unit.id
        await s.flush()
        s.add(
            Assessment(
                person_id=citizen.id or 0, unit_id=unit.id, year=2026, status="reviewed", reviewed_by=reviewer.id
            )
        )
    async with sessions() as s:
        xa1 = await rp.find_unit(session=s, code="XA1")
        assert xa1 is not None
        [row] = await repo_reports.list_rows(session=s, unit=xa1, year=2026)
    assert (row.person, row.reviewer) == ("Nguyễn Lan", "Trần Ba")


async def test_a_role_changed_at_the_desk_brings_the_telegram_menu_along(sessions: Sessions, tmp_path: Path) -> None:
    await seed_commune(sessions)
    api, settings = FakeBotApi(), make_settings(tmp_path)
    lines = await cli_officers.role_change_and_menu(
        sessions, settings, parse_contact("4601"), "reviewer", "THON1", grant=True, request=api
    )
    assert lines == (0, ["4601 is reviewer of THON1"])
    [(kind, names)] = menus(api, 4601)
    assert kind == "set" and "review" in names and "grant" not in names
    described = _json(api.sent("setMyCommands")[-1].params["commands"])
    assert {"command": "review", "description": "Rà soát bản tự đánh giá đã nộp"} in described
    await cli_officers.role_change_and_menu(
        sessions, settings, parse_contact("4601"), "reviewer", "THON1", grant=False, request=api
    )
    assert menus(api, 4601)[-1] == ("delete", [])
    # Zalo has no menu; an unchanged role asks nothing of Telegram; Telegram away: one more line, the role stands.
    calls = len(api.calls)
    await cli_officers.role_change_and_menu(
        sessions, settings, parse_contact("zalo:z46"), "officer", "XA1", grant=True, request=api
    )
    assert (
        await cli_officers.role_change_and_menu(
            sessions, settings, parse_contact("4601"), "head", "XA2", grant=False, request=api
        )
    )[0] == 1
    assert len(api.calls) == calls
    api.fail_next("getMe", 502, "Bad Gateway")
    status, lines = await cli_officers.role_change_and_menu(
        sessions, settings, parse_contact("4602"), "officer", "XA1", grant=True, request=api
    )
    assert status == 0 and lines[0] == "4602 is officer of XA1" and "menu was not updated" in lines[1]
