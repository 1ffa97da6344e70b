"""One-time role links: stored hashed, usable once, until they expire; every grant is in the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from conversations.identity import parse_contact
from storage import repo_people as rp
from storage import repo_roles as rr
from storage.db import Sessions, unit_of_work
from storage.models import AuditEvent, OfficerPending, Role, RoleInvite, RoleName

NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)


async def _setup(sessions: Sessions) -> str:
    async with unit_of_work(sessions) as s:
        xa = await rp.add_unit(session=s, code="XA1", name="Xã", kind="commune")
        officer = await rp.create_person(session=s, channel="telegram", external_id="1", chat_id="1", locale="vi")
        await rr.grant(session=s, person=officer, role=RoleName.OFFICER, unit=xa)  # a link needs a maker who may
        await rp.create_person(session=s, channel="telegram", external_id="2", chat_id="2", locale="vi")
        await rp.create_person(session=s, channel="telegram", external_id="3", chat_id="3", locale="vi")
        return await rr.create_invite(
            session=s, role=RoleName.REVIEWER, unit=xa, created_by=officer, now=NOW, ttl=timedelta(hours=72)
        )


async def _redeem(sessions: Sessions, token: str, user_id: int, now: datetime) -> str:
    async with unit_of_work(sessions) as s:
        person = await rp.get_person(session=s, channel="telegram", external_id=str(user_id))
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
        roles = (await s.exec(select(Role).order_by(Role.id))).all()
        audit = (await s.exec(select(AuditEvent).order_by(AuditEvent.id))).all()
        used = (await s.exec(select(RoleInvite))).one()
    assert [(r.person_id, r.role, r.granted_by) for r in roles] == [(1, "officer", None), (2, "reviewer", 1)]
    assert [a.action for a in audit] == ["role_invited", "role_granted"]
    granted = audit[1]
    assert granted.actor_id == 2 and granted.after is not None
    assert (granted.after["role"], granted.after["unit"], granted.after["granted_by"]) == ("reviewer", "XA1", 1)
    assert used.used_by == 2 and used.used_at is not None


async def test_an_expired_invite_grants_nothing(sessions: Sessions) -> None:
    token = await _setup(sessions)
    assert await _redeem(sessions, token, 2, NOW + timedelta(hours=72)) == "expired"
    async with sessions() as s:
        assert (await s.exec(select(Role).where(Role.person_id == 2))).all() == []
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
        person = await rp.create_person(session=s, channel="telegram", external_id="9", chat_id="9", locale="vi")
        held = await rp.find_unit(session=s, code=on)
        await rr.grant(session=s, person=person, role=holder_role, unit=held)
        unit = await rp.find_unit(session=s, code=target)
        assert unit is not None
        assert await rr.may_grant(session=s, person=person, role=role, unit=unit) is allowed
        # Admins named in ADMIN_IDS may grant every role that links can carry.
        admins = [parse_contact("9")]
        assert await rr.may_grant(session=s, person=person, role=role, unit=unit, admin_ids=admins) is (role != "admin")


async def test_desk_grant_and_revoke_are_audited(sessions: Sessions) -> None:
    from bot import cli_officers

    someone = parse_contact("42")
    async with unit_of_work(sessions) as s:
        await rp.add_unit(session=s, code="XA1", name="Xã")
    assert await cli_officers.role_change(sessions, someone, "head", "XA1", grant=True) == (0, ["42 is head of XA1"])
    assert (await cli_officers.role_change(sessions, someone, "admin", None, grant=True))[0] == 0
    assert (await cli_officers.role_change(sessions, someone, "admin", "XA1", grant=True))[0] == 2
    assert (await cli_officers.role_change(sessions, someone, "head", "XA1", grant=False))[0] == 0
    assert (await cli_officers.role_change(sessions, someone, "head", "XA1", grant=False))[0] == 1
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
        for user_id in (1, 2):  # the link's maker and its user
            person = await rp.get_person(session=s, channel="telegram", external_id=str(user_id))
            assert person is not None
            await rp.delete_person(session=s, person=person)
    async with sessions() as s:
        invite = (await s.exec(select(RoleInvite))).one()
        assert (invite.created_by, invite.used_by) == (None, None)
        assert (await s.exec(select(OfficerPending))).all() == []


# --------------------------------------------------------------------------- a link dies with its maker's right


async def _officer_link(sessions: Sessions, maker: int, role: str, on: str, *, held: str = "XA1") -> str:
    """Person ``maker`` is officer of ``held`` and makes a link for ``role`` on ``on``."""
    async with unit_of_work(sessions) as s:
        if await rp.find_unit(session=s, code="XA1") is None:
            xa = await rp.add_unit(session=s, code="XA1", name="Xã")
            await rp.add_unit(session=s, code="THON1", name="Thôn 1", parent=xa)
            await rp.add_unit(session=s, code="XA2", name="Xã bên")
            for user_id in (1, 2, 3):
                await rp.create_person(
                    session=s, channel="telegram", external_id=str(user_id), chat_id=str(user_id), locale="vi"
                )
        person = await rp.get_person(session=s, channel="telegram", external_id=str(maker))
        assert person is not None
        await rr.grant(session=s, person=person, role=RoleName.OFFICER, unit=await rp.find_unit(session=s, code=held))
        unit = await rp.find_unit(session=s, code=on)
        assert unit is not None
        return await rr.create_invite(
            session=s, role=role, unit=unit, created_by=person, now=NOW, ttl=timedelta(hours=72)
        )


async def _revoke(sessions: Sessions, user_id: int, role: str, code: str) -> int | None:
    async with unit_of_work(sessions) as s:
        person = await rp.get_person(session=s, channel="telegram", external_id=str(user_id))
        assert person is not None
        return await rr.revoke_recorded(
            session=s,
            person=person,
            role=role,
            unit=await rp.find_unit(session=s, code=code),
            revoked_by=None,
            via="cli",
            now=NOW + timedelta(minutes=5),
        )


async def test_revoking_the_maker_voids_their_open_links(sessions: Sessions) -> None:
    on_commune = await _officer_link(sessions, 1, RoleName.OFFICER, "XA1")
    on_village = await _officer_link(sessions, 1, RoleName.REVIEWER, "THON1")
    used = await _officer_link(sessions, 1, RoleName.HEAD, "XA1")
    assert await _redeem(sessions, used, 3, NOW) == "head@XA1"
    assert await _revoke(sessions, 1, RoleName.OFFICER, "XA1") == 2
    for user_id in (2, 1):  # someone else, and the maker themselves
        assert await _redeem(sessions, on_commune, user_id, NOW + timedelta(hours=1)) == "revoked"
        assert await _redeem(sessions, on_village, user_id, NOW + timedelta(hours=1)) == "revoked"
    async with sessions() as s:
        roles = [(r.person_id, r.role) for r in (await s.exec(select(Role))).all()]
        invites = (await s.exec(select(RoleInvite).order_by(RoleInvite.id))).all()
        audit = (await s.exec(select(AuditEvent).order_by(AuditEvent.id))).all()
    assert roles == [(3, "head")]  # the link used before the revocation keeps its grant
    assert [(i.revoked_at is not None, i.used_by) for i in invites] == [(True, None), (True, None), (False, 3)]
    voided = audit[-1]
    assert [a.action for a in audit[-2:]] == ["role_revoked", "invite_voided"]
    assert voided.after == {"made_by": 1, "invite_ids": [invites[0].id, invites[1].id], "count": 2}


async def test_a_link_is_checked_against_its_makers_right_when_used(sessions: Sessions) -> None:
    # The role goes without the audited path (no voiding): the check at use time still refuses.
    token = await _officer_link(sessions, 1, RoleName.REVIEWER, "THON1")
    async with unit_of_work(sessions) as s:
        maker = await rp.get_person(session=s, channel="telegram", external_id="1")
        assert maker is not None
        await rr.revoke(session=s, person=maker, role=RoleName.OFFICER, unit=await rp.find_unit(session=s, code="XA1"))
    assert await _redeem(sessions, token, 2, NOW + timedelta(hours=1)) == "revoked"
    async with sessions() as s:
        assert (await s.exec(select(Role))).all() == []
        invite = (await s.exec(select(RoleInvite))).one()
        assert (invite.used_at, invite.revoked_at) == (None, None)  # refused, nothing changed
    # Given back the right, the maker's link works again.
    async with unit_of_work(sessions) as s:
        maker = await rp.get_person(session=s, channel="telegram", external_id="1")
        assert maker is not None
        await rr.grant(session=s, person=maker, role=RoleName.OFFICER, unit=await rp.find_unit(session=s, code="XA1"))
    assert await _redeem(sessions, token, 2, NOW + timedelta(hours=1)) == "reviewer@THON1"


async def test_links_another_role_still_backs_stay_open(sessions: Sessions) -> None:
    village = await _officer_link(sessions, 1, RoleName.REVIEWER, "THON1", held="THON1")
    await _officer_link(sessions, 1, RoleName.REVIEWER, "XA1")  # now officer of XA1 as well
    elsewhere = await _officer_link(sessions, 1, RoleName.REVIEWER, "XA2", held="XA2")
    # Officer of XA1 still covers THON1; the XA2 link lies outside the revoked subtree.
    assert await _revoke(sessions, 1, RoleName.OFFICER, "THON1") == 0
    assert await _redeem(sessions, village, 2, NOW + timedelta(hours=1)) == "reviewer@THON1"
    assert await _redeem(sessions, elsewhere, 3, NOW + timedelta(hours=1)) == "reviewer@XA2"
    async with sessions() as s:
        assert all(i.revoked_at is None for i in (await s.exec(select(RoleInvite))).all())
        assert "invite_voided" not in [a.action for a in (await s.exec(select(AuditEvent))).all()]


async def test_another_makers_link_outlives_a_colleagues_revocation(sessions: Sessions) -> None:
    await _officer_link(sessions, 1, RoleName.REVIEWER, "THON1")
    colleague = await _officer_link(sessions, 3, RoleName.REVIEWER, "THON1")
    assert await _revoke(sessions, 1, RoleName.OFFICER, "XA1") == 1
    assert await _redeem(sessions, colleague, 2, NOW + timedelta(hours=1)) == "reviewer@THON1"


async def test_a_link_whose_maker_was_erased_grants_nothing(sessions: Sessions) -> None:
    token = await _officer_link(sessions, 1, RoleName.REVIEWER, "THON1")
    async with unit_of_work(sessions) as s:
        maker = await rp.get_person(session=s, channel="telegram", external_id="1")
        assert maker is not None
        await rp.delete_person(session=s, person=maker)
    assert await _redeem(sessions, token, 2, NOW + timedelta(hours=1)) == "revoked"
