"""A person is (channel, external id) on SQLite and PostgreSQL: the same id on two messengers is two people,
one messenger's id is one person, ADMIN_IDS match both parts, and an outbox row carries its person's channel."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from conversations.identity import parse_contact
from storage import repo_outbox as ro
from storage import repo_people as rp
from storage import repo_roles as rr
from storage.db import Sessions, unit_of_work
from storage.models import Outbox, RoleName

NOW = datetime(2026, 12, 24, 2, 0, tzinfo=UTC)


async def test_the_same_id_on_telegram_and_zalo_is_two_people(sessions: Sessions) -> None:
    async with unit_of_work(sessions) as s:
        lan = await rp.create_person(session=s, channel="telegram", external_id="42", chat_id="42", locale="vi")
        minh = await rp.create_person(
            session=s, channel="zalo", external_id="42", chat_id=None, locale="en", display_name="Minh"
        )
        assert lan.id != minh.id
    async with sessions() as s:
        found = await rp.get_person(session=s, channel="zalo", external_id="42")
        assert found is not None and (found.id, found.locale, found.display_name) == (minh.id, "en", "Minh")
        found = await rp.get_person(session=s, channel="telegram", external_id="42")
        assert found is not None and found.id == lan.id
        assert await rp.get_person(session=s, channel="zalo", external_id="43") is None
    with pytest.raises(IntegrityError):
        async with unit_of_work(sessions) as s:
            await rp.create_person(session=s, channel="zalo", external_id="42", chat_id=None, locale="vi")


async def test_admin_ids_match_channel_and_id(sessions: Sessions) -> None:
    async with unit_of_work(sessions) as s:
        unit = await rp.add_unit(session=s, code="XA1", name="Xã")
        on_telegram = await rp.create_person(session=s, channel="telegram", external_id="7", chat_id="7", locale="vi")
        on_zalo = await rp.create_person(session=s, channel="zalo", external_id="7", chat_id=None, locale="vi")
        admins = [parse_contact("zalo:7")]
        assert await rr.may(session=s, person=on_zalo, roles={RoleName.OFFICER}, unit=unit, admin_ids=admins)
        assert not await rr.may(session=s, person=on_telegram, roles={RoleName.OFFICER}, unit=unit, admin_ids=admins)
        assert await rr.scope_roots(session=s, person=on_zalo, roles={RoleName.OFFICER}, admin_ids=admins) is None


async def test_an_outbox_row_takes_its_persons_channel(sessions: Sessions) -> None:
    async with unit_of_work(sessions) as s:
        lan = await rp.create_person(session=s, channel="telegram", external_id="1", chat_id="1", locale="vi")
        minh = await rp.create_person(session=s, channel="zalo", external_id="z1", chat_id="c1", locale="vi")
        owed = [ro.Owed(p.id or 0, "reminder", "2026:d7", NOW) for p in (lan, minh)]
        assert await ro.enqueue_many(session=s, rows=owed) == 2
    async with sessions() as s:
        found = {r.person_id: r.channel for r in (await s.exec(select(Outbox))).all()}
    assert found == {lan.id: "telegram", minh.id: "zalo"}
