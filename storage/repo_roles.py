"""Roles and scope: who may see and change what. A role on a unit covers its whole subtree.

Units carry a materialised path ("/1/4/9/"), so "is unit U inside the subtree of V" is a prefix test and
"everything under V" is one indexed LIKE query, however deep the tree.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import Select, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.identity import Contact
from storage.models import Person, Role, RoleInvite, RoleName, Unit
from storage.repo_assessments import record_audit

OFFICER_ROLES = frozenset({RoleName.ADMIN, RoleName.OFFICER, RoleName.REVIEWER, RoleName.HEAD})


def contains(ancestor: Unit, unit: Unit) -> bool:
    """True when ``unit`` is ``ancestor`` or lies below it."""
    return unit.path.startswith(ancestor.path)


def subtree_ids(unit: Unit) -> Select:
    """A subquery of the ids of ``unit`` and every unit below it."""
    return select(Unit.id).where(col(Unit.path).startswith(unit.path))


async def roles_of(*, session: AsyncSession, person_id: int) -> list[Role]:
    return list((await session.exec(select(Role).where(Role.person_id == person_id))).all())


async def grant(
    *, session: AsyncSession, person: Person, role: str, unit: Unit | None, granted_by: Person | None = None
) -> Role:
    """Gives ``role`` on ``unit`` (None: everywhere, for admins); granting an existing role changes nothing."""
    unit_id = unit.id if unit else None
    existing = (
        await session.exec(select(Role).where(Role.person_id == person.id, Role.role == role, Role.unit_id == unit_id))
    ).first()
    if existing is not None:
        return existing
    found = Role(person_id=person.id, unit_id=unit_id, role=role, granted_by=granted_by.id if granted_by else None)
    session.add(found)
    await session.flush()
    return found


async def revoke(*, session: AsyncSession, person: Person, role: str, unit: Unit | None) -> bool:
    unit_id = unit.id if unit else None
    found = (
        await session.exec(select(Role).where(Role.person_id == person.id, Role.role == role, Role.unit_id == unit_id))
    ).first()
    if found is None:
        return False
    await session.delete(found)
    await session.flush()
    return True


async def may(
    *, session: AsyncSession, person: Person, roles: Iterable[str], unit: Unit, admin_ids: Iterable[Contact] = ()
) -> bool:
    """Whether ``person`` holds one of ``roles`` on ``unit`` or an ancestor of it (admins hold every role)."""
    if person.contact in set(admin_ids):
        return True
    wanted = set(roles) | {RoleName.ADMIN}
    for role in await roles_of(session=session, person_id=person.id or 0):
        if role.role not in wanted:
            continue
        if role.unit_id is None and role.role == RoleName.ADMIN:
            return True
        if role.unit_id is None:
            continue
        held = await session.get(Unit, role.unit_id)
        if held is not None and contains(held, unit):
            return True
    return False


async def scope_roots(
    *, session: AsyncSession, person: Person, roles: Iterable[str], admin_ids: Iterable[Contact] = ()
) -> list[Unit] | None:
    """The top units of the person's scope for ``roles``; None means everywhere (admin)."""
    if person.contact in set(admin_ids):
        return None
    wanted = set(roles) | {RoleName.ADMIN}
    units = []
    for role in await roles_of(session=session, person_id=person.id or 0):
        if role.role not in wanted:
            continue
        if role.unit_id is None:
            if role.role == RoleName.ADMIN:
                return None
            continue
        held = await session.get(Unit, role.unit_id)
        if held is not None:
            units.append(held)
    # Drop units already covered by another root.
    return [u for u in units if not any(o is not u and contains(o, u) and o.path != u.path for o in units)]


# --------------------------------------------------------------------------- granting, with the audit trail

GRANTABLE = frozenset({RoleName.OFFICER, RoleName.REVIEWER, RoleName.HEAD})  # by invite link; admins: ADMIN_IDS/CLI


class InviteError(ValueError):
    """A role link that cannot be used; ``reason`` is unknown, used, revoked (its maker may no longer grant
    the role) or expired."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def may_grant(
    *, session: AsyncSession, person: Person, role: str, unit: Unit, admin_ids: Iterable[Contact] = ()
) -> bool:
    """Admins grant any role; an officer grants officer, reviewer and head roles inside their own subtree."""
    if role not in GRANTABLE:
        return False
    return await may(session=session, person=person, roles={RoleName.OFFICER}, unit=unit, admin_ids=admin_ids)


async def grant_recorded(
    *, session: AsyncSession, person: Person, role: str, unit: Unit | None, granted_by: Person | None, via: str
) -> Role:
    """``grant``, written to the audit trail (``via``: cli, invite …)."""
    held = await grant(session=session, person=person, role=role, unit=unit, granted_by=granted_by)
    await record_audit(
        session=session,
        action="role_granted",
        actor_id=granted_by.id if granted_by else None,
        assessment_id=None,
        after={"person_id": person.id, "role": role, "unit": unit.code if unit else None, "via": via},
    )
    return held


async def revoke_recorded(
    *,
    session: AsyncSession,
    person: Person,
    role: str,
    unit: Unit | None,
    revoked_by: Person | None,
    via: str,
    now: datetime,
    admin_ids: Iterable[Contact] = (),
) -> int | None:
    """``revoke``, written to the audit trail, voiding the role links the person can no longer back.

    Returns None when the person did not hold the role, else how many of their open links were voided.
    """
    if not await revoke(session=session, person=person, role=role, unit=unit):
        return None
    await record_audit(
        session=session,
        action="role_revoked",
        actor_id=revoked_by.id if revoked_by else None,
        assessment_id=None,
        before={"person_id": person.id, "role": role, "unit": unit.code if unit else None, "via": via},
    )
    voided = await void_invites(
        session=session, person=person, unit=unit, voided_by=revoked_by, now=now, admin_ids=admin_ids
    )
    return len(voided)


async def void_invites(
    *,
    session: AsyncSession,
    person: Person,
    unit: Unit | None,
    voided_by: Person | None,
    now: datetime,
    admin_ids: Iterable[Contact] = (),
) -> list[int]:
    """Voids the open links ``person`` made on ``unit``'s subtree (None: everywhere) that they may no longer
    grant, and records it; returns the voided links' ids. Links another role of theirs still backs stay open."""
    admin_ids = list(admin_ids)
    stmt = (
        select(RoleInvite, Unit)
        .join(Unit, col(Unit.id) == RoleInvite.unit_id)
        .where(
            RoleInvite.created_by == person.id,
            col(RoleInvite.used_at).is_(None),
            col(RoleInvite.revoked_at).is_(None),
            col(RoleInvite.expires_at) > now,
        )
        .order_by(col(RoleInvite.id))
    )
    if unit is not None:
        stmt = stmt.where(col(Unit.path).startswith(unit.path))
    unbacked = [
        invite.id
        for invite, at in (await session.exec(stmt)).all()
        if not await may_grant(session=session, person=person, role=invite.role, unit=at, admin_ids=admin_ids)
    ]
    if not unbacked:
        return []
    # One guarded statement: a link redeemed a moment ago stays redeemed, and is not counted as voided.
    marked = await session.exec(
        update(RoleInvite)
        .where(
            col(RoleInvite.id).in_(unbacked), col(RoleInvite.used_at).is_(None), col(RoleInvite.revoked_at).is_(None)
        )
        .values(revoked_at=now)
        .returning(col(RoleInvite.id))
        .execution_options(synchronize_session=False)
    )
    voided = sorted(marked.scalars().all())
    if voided:
        await record_audit(
            session=session,
            action="invite_voided",
            actor_id=voided_by.id if voided_by else None,
            assessment_id=None,
            after={"made_by": person.id, "invite_ids": voided, "count": len(voided)},
        )
    return voided


async def create_invite(
    *, session: AsyncSession, role: str, unit: Unit, created_by: Person | None, now: datetime, ttl: timedelta
) -> str:
    """A one-time token granting ``role`` on ``unit`` until ``now + ttl``; only its hash is stored."""
    token = secrets.token_urlsafe(18)  # 24 characters of [A-Za-z0-9_-]: fits a /start payload
    invite = RoleInvite(
        token_hash=token_hash(token),
        role=role,
        unit_id=unit.id,
        created_by=created_by.id if created_by else None,
        expires_at=now + ttl,
        created_at=now,
    )
    session.add(invite)
    await session.flush()
    await record_audit(
        session=session,
        action="role_invited",
        actor_id=created_by.id if created_by else None,
        assessment_id=None,
        after={"invite_id": invite.id, "role": role, "unit": unit.code, "expires_at": invite.expires_at.isoformat()},
    )
    return token


async def redeem_invite(
    *, session: AsyncSession, token: str, person: Person, now: datetime, admin_ids: Iterable[Contact] = ()
) -> tuple[Role, Unit]:
    """Uses a role link once: grants its role to ``person``; raises InviteError (changing nothing) otherwise.

    The link carries its maker's right, so that right is checked now, not when the link was made: a link whose
    maker has since lost it (role revoked, unit moved away, person erased) grants nothing.
    """
    invite = (await session.exec(select(RoleInvite).where(RoleInvite.token_hash == token_hash(token)))).first()
    if invite is None:
        raise InviteError("unknown")
    if invite.used_at is not None:
        raise InviteError("used")
    if invite.revoked_at is not None:
        raise InviteError("revoked")
    if invite.expires_at <= now:
        raise InviteError("expired")
    unit = await session.get(Unit, invite.unit_id)
    assert unit is not None
    granter = await session.get(Person, invite.created_by) if invite.created_by else None
    if granter is None or not await may_grant(
        session=session, person=granter, role=invite.role, unit=unit, admin_ids=admin_ids
    ):
        raise InviteError("revoked")
    # Claim it in one statement: of two people pressing the same link at once, one wins, and a link voided
    # by a revocation that committed meanwhile is not claimed.
    claimed = await session.exec(
        update(RoleInvite)
        .where(col(RoleInvite.id) == invite.id, col(RoleInvite.used_at).is_(None), col(RoleInvite.revoked_at).is_(None))
        .values(used_at=now, used_by=person.id)
        .execution_options(synchronize_session=False)
    )
    if not claimed.rowcount:
        await session.refresh(invite)
        raise InviteError("revoked" if invite.revoked_at is not None else "used")
    held = await grant(session=session, person=person, role=invite.role, unit=unit, granted_by=granter)
    await record_audit(
        session=session,
        action="role_granted",
        actor_id=person.id,
        assessment_id=None,
        after={
            "person_id": person.id,
            "role": invite.role,
            "unit": unit.code,
            "via": "invite",
            "invite_id": invite.id,
            "granted_by": invite.created_by,
        },
    )
    return held, unit


async def holders(*, session: AsyncSession, unit: Unit) -> list[tuple[Role, Person, Unit]]:
    """The roles held on ``unit`` and the units below it, with their holders."""
    stmt = (
        select(Role, Person, Unit)
        .join(Person, col(Person.id) == Role.person_id)
        .join(Unit, col(Unit.id) == Role.unit_id)
        .where(col(Unit.path).startswith(unit.path))
        .order_by(Unit.path, Role.role, Person.id)
    )
    return [(r, p, u) for r, p, u in (await session.exec(stmt)).all()]


async def units_to_offer(*, session: AsyncSession, roots: list[Unit] | None, limit: int) -> list[Unit]:
    """The units a granter picks from: the tops of their scope (None: everywhere, the tree's top units) and the
    units right below them, in tree order, at most ``limit``."""
    if roots is None:
        tops = select(Unit.id).where(col(Unit.parent_id).is_(None))
        stmt = select(Unit).where(or_(col(Unit.parent_id).is_(None), col(Unit.parent_id).in_(tops)))
    else:
        ids = [u.id for u in roots]
        stmt = select(Unit).where(or_(col(Unit.id).in_(ids), col(Unit.parent_id).in_(ids)))
    return list((await session.exec(stmt.order_by(col(Unit.path), col(Unit.id)).limit(limit))).all())
