"""One-time role links: stored hashed, usable once, until they expire; every grant is in the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from storage import repo_people as rp
from storage import repo_roles as rr
from storage.db import Sessions, unit_of_work
from storage.models import AuditEvent, OfficerPending, Role, RoleInvite, RoleName

NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)


async def _setup(sessions: Sessions) -> str:
    async with unit_of_work(sessions) as s:
        xa = await rp.add_unit(session=s, code="XA1", name="Xã", kind="commune")
        officer = await rp.create_person(session=s, telegram_id=1, chat_id=1, locale="vi")
        await rp.create_person(session=s, telegram_id=2, chat_id=2, locale="vi")
        await rp.create_person(session=s, telegram_id=3, chat_id=3, locale="vi")
        return await rr.create_invite(
            session=s, role=RoleName.REVIEWER, unit=xa, created_by=officer, now=NOW, ttl=timedelta(hours=72)
        )


async def _redeem(sessions: Sessions, token: str, telegram_id: int, now: datetime) -> str:
    async with unit_of_work(sessions) as s:
        person = await rp.get_person(session=s, telegram_id=telegram_id)
        assert person is not None
        try:
            role, unit = await rr.redeem_invite(session=s, token=token, person=person, now=now)
        except rr.InviteError as exc:
            return exc.reason
        return f"{role.role}@{unit.code}"


async def test_an_invite_works_once(sessions: Sessions) -> None:
    token = await _setup(sessions)
    async with sessions() as s:
        stored = (await s.exec(select(RoleInvite))).one()
    assert stored.token_hash == rr.token_hash(token) and token not in stored.token_hash
    assert await _redeem(sessions, token, 2, NOW + timedelta(hours=1)) == "reviewer@XA1"
    assert await _redeem(sessions, token, 3, NOW + timedelta(hours=2)) == "used"
    assert await _redeem(sessions, token + "x", 3, NOW) == "unknown"
    async with sessions() as s:
        roles = (await s.exec(select(Role))).all()
        audit = (await s.exec(select(AuditEvent).order_by(AuditEvent.id))).all()
        used = (await s.exec(select(RoleInvite))).one()
    assert [(r.person_id, r.role, r.granted_by) for r in roles] == [(2, "reviewer", 1)]
    assert [a.action for a in audit] == ["role_invited", "role_granted"]
    granted = audit[1]
    assert granted.actor_id == 2 and granted.after is not None
    assert (granted.after["role"], granted.after["unit"], granted.after["granted_by"]) == ("reviewer", "XA1", 1)
    assert used.used_by == 2 and used.used_at is not None


async def test_an_expired_invite_grants_nothing(sessions: Sessions) -> None:
    token = await _setup(sessions)
    assert await _redeem(sessions, token, 2, NOW + timedelta(hours=72)) == "expired"
    async with sessions() as s:
        assert (await s.exec(select(Role))).all() == []
        assert (await s.exec(select(RoleInvite))).one().used_at is None


@pytest.mark.parametrize(
    ("holder_role", "on", "role", "target", "allowed"),
    [
        ("officer", "XA1", "reviewer", "THON1", True),
        ("officer", "XA1", "officer", "XA1", True),
        ("officer", "XA1", "admin", "XA1", False),  # admins come from ADMIN_IDS or the command line
        ("officer", "THON1", "head", "XA1", False),  # above their own unit
        ("officer", "THON1", "reviewer", "THON2", False),  # a sibling
        ("reviewer", "XA1", "reviewer", "THON1", False),  # reviewers grant nothing
        ("head", "XA1", "reviewer", "THON1", False),
    ],
)
async def test_who_may_grant(
    sessions: Sessions, holder_role: str, on: str, role: str, target: str, allowed: bool
) -> None:
    async with unit_of_work(sessions) as s:
        xa = await rp.add_unit(session=s, code="XA1", name="Xã")
        await rp.add_unit(session=s, code="THON1", name="Thôn 1", parent=xa)
        await rp.add_unit(session=s, code="THON2", name="Thôn 2", parent=xa)
        person = await rp.create_person(session=s, telegram_id=9, chat_id=9, locale="vi")
        held = await rp.find_unit(session=s, code=on)
        await rr.grant(session=s, person=person, role=holder_role, unit=held)
        unit = await rp.find_unit(session=s, code=target)
        assert unit is not None
        assert await rr.may_grant(session=s, person=person, role=role, unit=unit) is allowed
        # Admins named in ADMIN_IDS may grant every role that links can carry.
        assert await rr.may_grant(session=s, person=person, role=role, unit=unit, admin_ids=[9]) is (role != "admin")


async def test_desk_grant_and_revoke_are_audited(sessions: Sessions) -> None:
    from bot import cli_officers

    async with unit_of_work(sessions) as s:
        await rp.add_unit(session=s, code="XA1", name="Xã")
    assert await cli_officers.role_change(sessions, 42, "head", "XA1", grant=True) == (0, ["42 is head of XA1"])
    assert (await cli_officers.role_change(sessions, 42, "admin", None, grant=True))[0] == 0
    assert (await cli_officers.role_change(sessions, 42, "admin", "XA1", grant=True))[0] == 2
    assert (await cli_officers.role_change(sessions, 42, "head", "XA1", grant=False))[0] == 0
    assert (await cli_officers.role_change(sessions, 42, "head", "XA1", grant=False))[0] == 1
    async with sessions() as s:
        roles = [(r.role, r.unit_id) for r in (await s.exec(select(Role))).all()]
        audit = [(a.action, (a.after or a.before or {}).get("role")) for a in (await s.exec(select(AuditEvent)))]
    assert roles == [("admin", None)]
    assert audit == [("role_granted", "head"), ("role_granted", "admin"), ("role_revoked", "head")]


async def test_an_officer_with_links_and_a_pending_step_can_still_be_erased(sessions: Sessions) -> None:
    from storage import repo_review as rv

    token = await _setup(sessions)
    assert await _redeem(sessions, token, 2, NOW) == "reviewer@XA1"
    async with unit_of_work(sessions) as s:
        await rv.set_pending(session=s, person_id=2, kind="decision", now=NOW, year=2026)
    async with unit_of_work(sessions) as s:
        for telegram_id in (1, 2):  # the link's maker and its user
            person = await rp.get_person(session=s, telegram_id=telegram_id)
            assert person is not None
            await rp.delete_person(session=s, person=person)
    async with sessions() as s:
        invite = (await s.exec(select(RoleInvite))).one()
        assert (invite.created_by, invite.used_by) == (None, None)
        assert (await s.exec(select(OfficerPending))).all() == []
