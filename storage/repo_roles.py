"""Roles and scope: who may see and change what. A role on a unit covers its whole subtree.

Units carry a materialised path ("/1/4/9/"), so "is unit U inside the subtree of V" is a prefix test and
"everything under V" is one indexed LIKE query, however deep the tree.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Person, Role, RoleName, Unit

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
    *, session: AsyncSession, person: Person, roles: Iterable[str], unit: Unit, admin_ids: Iterable[int] = ()
) -> bool:
    """Whether ``person`` holds one of ``roles`` on ``unit`` or an ancestor of it (admins hold every role)."""
    if person.telegram_id in set(admin_ids):
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
    *, session: AsyncSession, person: Person, roles: Iterable[str], admin_ids: Iterable[int] = ()
) -> list[Unit] | None:
    """The top units of the person's scope for ``roles``; None means everywhere (admin)."""
    if person.telegram_id in set(admin_ids):
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
