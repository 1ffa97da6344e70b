"""Every officer command starts here: parse ``[UNIT_CODE] [YEAR]``, load the officer, check role and scope.

``officer_scope`` either returns a session-free ``Scope`` (the officer's person id, the unit, the year and the
arguments left over) or has already replied with a polite refusal and returns None, having changed nothing.
A role held on a unit covers its whole subtree; admins (``ADMIN_IDS`` or an admin role) hold every role.
Without a unit code the officer's own unit is used when there is exactly one; otherwise they are asked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Update, User

from bot.context import BotData, Context
from bot.replies import Plan
from bot.sender import Sender
from conversations.identity import Channel, Contact, shown_name
from locales import gettext, negotiate
from storage import repo_people as rp
from storage import repo_roles as rr
from storage.db import unit_of_work
from storage.models import Person, RoleName, Unit

# Convenient role sets for callers.
VIEWERS = frozenset({RoleName.OFFICER, RoleName.REVIEWER, RoleName.HEAD})
OFFICERS = frozenset({RoleName.OFFICER})
REVIEWERS = frozenset({RoleName.REVIEWER})
HEADS = frozenset({RoleName.HEAD})

FIRST_YEAR = 2020
_YEAR = re.compile(r"^(19|20|21)\d\d$")


@dataclass(frozen=True)
class Scope:
    """Who asked, about which unit and year; plain values, safe to use after the transaction closed."""

    officer_id: int  # Person.id of the officer
    channel: str  # the officer's messenger and their id there
    external_id: str
    chat_id: str
    locale: str
    unit_id: int
    unit_code: str
    unit_name: str
    unit_path: str  # "/1/4/": everything in scope has a path starting with this
    year: int
    rest: tuple[str, ...] = ()  # arguments not consumed (flags such as "--csv", free text)
    is_admin: bool = False


@dataclass(frozen=True)
class Refusal:
    """Why the command was refused: a catalog key and its values, in the asker's language."""

    key: str
    locale: str
    values: tuple[tuple[str, object], ...] = ()

    def text(self) -> str:
        return gettext(self.key, self.locale, **dict(self.values))

    def plan(self) -> Plan:
        """The reply to a refused command: this text alone, nothing stored."""
        plan = Plan(locale=self.locale)
        plan.say(self.text())
        return plan


def split_args(args: Sequence[str]) -> tuple[str | None, int | None, tuple[str, ...]]:
    """``[CODE] [YEAR] rest…`` in any order: the first four-digit year, the first other word not starting
    with ``--`` is the unit code; everything else is returned as it came."""
    code: str | None = None
    year: int | None = None
    rest: list[str] = []
    for raw in args:
        word = raw.strip()
        if not word:
            continue
        if year is None and _YEAR.match(word):
            year = int(word)
        elif code is None and not word.startswith("-"):
            code = word.upper()
        else:
            rest.append(word)
    return code, year, tuple(rest)


async def resolve_scope(
    *,
    session: AsyncSession,
    asker: Contact,
    chat_id: str,
    fallback_locale: str,
    roles: Iterable[str],
    args: Sequence[str],
    current_year: int,
    admin_ids: Iterable[Contact],
    display_name: str | None = None,
) -> Scope | Refusal:
    """The scope for ``args`` inside an open session; a Refusal when the asker may not act there.
    ``display_name``, the messenger's name for the asker, is refreshed on their row."""
    admins = set(admin_ids)
    person = await asking_person(
        session=session, asker=asker, chat_id=chat_id, locale=fallback_locale, admin_ids=admins
    )
    locale = person.locale if person else fallback_locale
    if person is None:
        return Refusal("officer.scope.no_role", locale)
    refresh_name(person, display_name)
    code, year, rest = split_args(args)
    year = year or current_year
    if not FIRST_YEAR <= year <= current_year + 1:
        return Refusal("officer.scope.bad_year", locale, (("year", year),))
    wanted = set(roles)
    is_admin = await is_admin_person(session=session, person=person, admin_ids=admins)
    if code is None:
        chosen = await _default_unit(session, person, wanted, admins)
        if isinstance(chosen, Refusal):
            return Refusal(chosen.key, locale, chosen.values)
        unit = chosen
    else:
        found = await rp.find_unit(session=session, code=code)
        if found is None:
            return Refusal("officer.scope.unknown_unit", locale, (("code", code),))
        unit = found
    if not await rr.may(session=session, person=person, roles=wanted, unit=unit, admin_ids=admins):
        anywhere = await rr.scope_roots(session=session, person=person, roles=wanted, admin_ids=admins)
        key = "officer.scope.out_of_scope" if anywhere else "officer.scope.no_role"
        return Refusal(key, locale, (("code", unit.code),))
    assert person.id is not None and unit.id is not None
    return Scope(
        officer_id=person.id,
        channel=person.channel,
        external_id=person.external_id,
        chat_id=person.chat_id or chat_id,
        locale=locale,
        unit_id=unit.id,
        unit_code=unit.code,
        unit_name=unit.name,
        unit_path=unit.path,
        year=year,
        rest=rest,
        is_admin=is_admin,
    )


async def asking_person(
    *, session: AsyncSession, asker: Contact, chat_id: str, locale: str, admin_ids: Iterable[Contact]
) -> Person | None:
    """The person behind an officer command; an admin named in ADMIN_IDS may use officer commands before ever
    registering as a citizen, so their row is made here. None for a stranger."""
    person = await rp.get_person(session=session, channel=asker.channel, external_id=asker.external_id)
    if person is None and asker in set(admin_ids):
        person = await rp.create_person(
            session=session, channel=asker.channel, external_id=asker.external_id, chat_id=chat_id, locale=locale
        )
    return person


async def _default_unit(session: AsyncSession, person: Person, roles: set[str], admins: set[Contact]) -> Unit | Refusal:
    roots = await rr.scope_roots(session=session, person=person, roles=roles, admin_ids=admins)
    if roots is None:  # admin: the single top unit, if the tree has one
        roots = list((await session.exec(select(Unit).where(Unit.parent_id == None))).all())  # noqa: E711
        if not roots:
            return Refusal("officer.scope.no_units", "")
    if not roots:
        return Refusal("officer.scope.no_role", "")
    if len(roots) > 1:
        codes = ", ".join(sorted(u.code for u in roots))
        return Refusal("officer.scope.which_unit", "", (("codes", codes), ("example", min(u.code for u in roots))))
    return roots[0]


async def is_admin_person(*, session: AsyncSession, person: Person, admin_ids: Iterable[Contact]) -> bool:
    """Named in ADMIN_IDS or holding the admin role everywhere."""
    if person.contact in set(admin_ids):
        return True
    return any(
        r.role == RoleName.ADMIN and r.unit_id is None
        for r in await rr.roles_of(session=session, person_id=person.id or 0)
    )


async def scope_for(data: BotData, who: Sender, roles: Iterable[str], args: Sequence[str]) -> Scope | Refusal:
    """``officer_scope`` for any messenger: the scope, or the Refusal to show (nothing has changed)."""
    async with unit_of_work(data.sessions) as session:
        return await resolve_scope(
            session=session,
            asker=Contact(who.channel, who.external_id),
            chat_id=who.chat_id,
            fallback_locale=negotiate(who.language_code, data.settings.default_locale),
            roles=roles,
            args=list(args),
            current_year=data.year(),
            admin_ids=data.settings.admin_ids,
            display_name=who.display_name,
        )


async def officer_of_sender(session: AsyncSession, who: Sender) -> Person | None:
    """The person behind an officer's press or typed step, their display name refreshed; None for a stranger."""
    officer = await rp.get_person(session=session, channel=who.channel, external_id=who.external_id)
    if officer is not None:
        refresh_name(officer, who.display_name)
    return officer


def refresh_name(person: Person, name: str | None) -> None:
    """Keeps the messenger's display name (as ``shown_name`` gives it) on the row, for /roles and the export;
    assigned only when it changed, so an unchanged name costs no UPDATE."""
    if name and person.display_name != name:
        person.display_name = name


def telegram_contact(user_id: int) -> Contact:
    """A Telegram user as a person is known here: the channel and the id as text."""
    return Contact(Channel.TELEGRAM.value, str(user_id))


async def officer_of(session: AsyncSession, user: User) -> Person | None:
    """The person behind an officer's button press, their display name refreshed; None for a stranger."""
    asker = telegram_contact(user.id)
    officer = await rp.get_person(session=session, channel=asker.channel, external_id=asker.external_id)
    if officer is not None:
        refresh_name(officer, shown_name(user.full_name))
    return officer


def asker_locale(update: Update, context: Context) -> str:
    user = update.effective_user
    return negotiate(user.language_code if user else None, context.settings.default_locale)


async def officer_scope(
    update: Update, context: Context, roles: Iterable[str], args: Sequence[str] | None = None
) -> Scope | None:
    """Parses ``[UNIT_CODE] [YEAR]`` (default: ``context.args``), checks the sender holds one of ``roles``
    there; on refusal replies politely in the sender's language and returns None (nothing is changed)."""
    user, chat, message = update.effective_user, update.effective_chat, update.effective_message
    assert user is not None and chat is not None
    async with unit_of_work(context.db) as session:
        found = await resolve_scope(
            session=session,
            asker=telegram_contact(user.id),
            chat_id=str(chat.id),
            fallback_locale=asker_locale(update, context),
            roles=roles,
            args=list(context.args or []) if args is None else list(args),
            current_year=context.year(),
            admin_ids=context.settings.admin_ids,
            display_name=shown_name(user.full_name),
        )
    if isinstance(found, Refusal):
        if message is not None:
            await message.reply_html(found.text(), disable_web_page_preview=True)
        return None
    return found
