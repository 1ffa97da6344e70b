"""Helpers for officer tests: a seeded commune, citizens who submit, and reading one chat's messages."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import select

from bot.reminders import make_dispatcher, policy_for
from scheduler.dispatch import WaveStats
from storage import repo_people as rp
from storage import repo_roles as rr
from storage.db import Sessions, unit_of_work
from storage.models import AuditEvent, Person
from tests.bot.harness import Harness, User


async def seed_commune(sessions: Sessions) -> dict[str, int]:
    """XA1 (commune) with THON1 and THON2 below it, and XA2 beside it with THON3."""
    async with unit_of_work(sessions) as s:
        xa1 = await rp.add_unit(session=s, code="XA1", name="Xã Văn Bình", kind="commune", headcount=500)
        t1 = await rp.add_unit(session=s, code="THON1", name="Thôn Bình Vọng", parent=xa1, headcount=120)
        t2 = await rp.add_unit(session=s, code="THON2", name="Thôn Đông", parent=xa1, headcount=80)
        xa2 = await rp.add_unit(session=s, code="XA2", name="Xã Bên", kind="commune")
        t3 = await rp.add_unit(session=s, code="THON3", name="Thôn Ba", parent=xa2)
        return {u.code: u.id or 0 for u in (xa1, t1, t2, xa2, t3)}


async def give_role(sessions: Sessions, user_id: int, role: str, code: str | None, locale: str = "vi") -> None:
    """A role given at the desk (the person need not have opened the bot)."""
    async with unit_of_work(sessions) as s:
        person = await rp.get_person(session=s, channel="telegram", external_id=str(user_id))
        if person is None:
            person = await rp.create_person(
                session=s, channel="telegram", external_id=str(user_id), chat_id=str(user_id), locale=locale
            )
        unit = await rp.find_unit(session=s, code=code) if code else None
        await rr.grant(session=s, person=person, role=role, unit=unit)


async def register(user: User, code: str, name: str) -> None:
    await user.say(f"/start {code}")
    await press(user, "đồng ý" if user.language_code == "vi" else "I agree")
    await user.say(name)


async def submit_all(user: User, points: int, *, album_first: bool = False, document_second: bool = False) -> None:
    """Answers every indicator at ``points`` with evidence and submits."""
    group = "Người dân trong cộng đồng" if user.language_code == "vi" else "Community residents"
    label = f"{points} điểm" if user.language_code == "vi" else f"{points} points"
    await press(user, group)
    for n in range(1, 11):
        await press(user, label)
        if n == 1 and album_first:
            for i in range(2):
                await user.photo(f"album {user.id} {i}".encode(), media_group_id=f"alb{user.id}")
        elif n == 2 and document_second:
            await user.document("ke-hoach.pdf", "application/pdf", b"%PDF-1.4 plan")
        else:
            await user.photo(f"photo {user.id} {n}".encode())
        await press(user, "Xong" if user.language_code == "vi" else "Done")
    await press(user, "Nộp bản tự đánh giá" if user.language_code == "vi" else "Submit the self-assessment")
    await press(user, "Nộp" if user.language_code == "vi" else "Submit")


def sent_to(api: Any, chat_id: int, method: str = "sendMessage") -> list[dict[str, Any]]:
    return [c.params for c in api.sent(method) if int(c.params.get("chat_id", 0)) == chat_id]


MEDIA = ("sendPhoto", "sendDocument", "sendMediaGroup", "sendVideo", "sendAnimation")


def media_to(api: Any, chat_id: int) -> list[Any]:
    """The calls that sent files to ``chat_id`` (an album is one call, one message group), in order."""
    return [c for c in api.calls if c.method in MEDIA and int(c.params.get("chat_id", 0)) == chat_id]


def shown_to(api: Any, chat_id: int) -> list[dict[str, Any]]:
    """Messages sent to, or edited in, ``chat_id``, in order: what the chat shows last."""
    return [
        c.params
        for c in api.calls
        if c.method in ("sendMessage", "editMessageText") and int(c.params.get("chat_id", 0)) == chat_id
    ]


def texts_to(api: Any, chat_id: int) -> list[str]:
    return [p.get("text", "") for p in sent_to(api, chat_id)]


def markup_of(api: Any, chat_id: int) -> list[list[dict[str, Any]]]:
    """The inline keyboard of the last message with one sent to ``chat_id``."""
    for params in reversed(shown_to(api, chat_id)):
        markup = params.get("reply_markup")
        if markup:
            data = json.loads(markup) if isinstance(markup, str) else markup
            return data.get("inline_keyboard", [])
    return []


def button_data(user: User, contains: str) -> str:
    for row in markup_of(user.h.api, user.id):
        for b in row:
            if contains in b["text"]:
                return b["callback_data"]
    raise AssertionError(f"no button {contains!r} for {user.id}: {markup_of(user.h.api, user.id)}")


async def press(user: User, contains: str) -> str:
    """Presses the button labelled ``contains`` on the last keyboard this user was sent."""
    data = button_data(user, contains)
    await user.press(data)
    return data


def last_to(user: User) -> str:
    return shown_to(user.h.api, user.id)[-1].get("text", "")


async def person_id(sessions: Sessions, user_id: int) -> int:
    async with sessions() as s:
        person = (await s.exec(select(Person).where(Person.external_id == str(user_id)))).one()
        return person.id or 0


async def audit(sessions: Sessions) -> list[AuditEvent]:
    async with sessions() as s:
        return list((await s.exec(select(AuditEvent).order_by(AuditEvent.id))).all())


async def drain(h: Harness) -> WaveStats:
    """Sends what the outbox owes now, as the dispatch job would (a citizen's decision or return notice)."""
    data = h.app.bot_data
    return await make_dispatcher(h.app.bot, data, policy_for(data.settings)).run()


async def started(sessions: Sessions, tmp_path: Any, **settings: Any) -> Harness:
    return await Harness.start(sessions, tmp_path / "evidence", album_settle_seconds=0, **settings)
