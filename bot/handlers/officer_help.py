"""What a person can type, by the roles they hold: ``/help`` in sections (the citizen's, then officer, reviewer,
head and admin as held), and on Telegram a command menu of their own.

Telegram shows one menu to everyone (the citizen's, published at start-up by bot.app); a role holder's chat gets
a menu scoped to it (``BotCommandScopeChat``) with their roles' commands, set when they come to hold a role (a
role pass claimed, an ``ADMIN_IDS`` admin's first contact, their /help) and dropped when their last role goes.
Handlers only put a ``CommandMenu`` in the plan; the Telegram adapter makes the calls after the commit. Zalo has
no menu: its help names the words to type (``<key>.typed`` texts, the words of ``bot.zalo.runtime``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import BotData
from bot.handlers.officer_scope import refresh_name
from bot.replies import CommandMenu, Plan
from bot.screens import Screen
from bot.sender import Sender
from conversations.identity import Channel, Contact
from locales import gettext, gettext_typed, negotiate
from storage import repo_people as rp
from storage import repo_roles as rr
from storage.db import unit_of_work
from storage.models import Person, RoleName

CITIZEN_COMMANDS = ("start", "status", "help", "language", "reminders", "cancel", "mydata", "deleteme")
# What each role adds, in menu order: the roles the handlers check (review.REVIEWERS, reports.VIEW_ROLES and
# EXPORT_ROLES, broadcast.BROADCASTERS, officer_roles: officers).
ROLE_COMMANDS: dict[str, tuple[str, ...]] = {
    RoleName.OFFICER: ("invite", "grant", "roles", "broadcast", "tally", "export", "chart"),
    RoleName.REVIEWER: ("review", "confirmclean", "tally", "chart"),
    RoleName.HEAD: ("recognise", "tally", "export", "chart"),
}
# The sections of /help, in the order they are shown; spelled out so the catalog check sees each key.
SECTIONS: dict[str, str] = {
    RoleName.OFFICER: "officer.help.officer",
    RoleName.REVIEWER: "officer.help.reviewer",
    RoleName.HEAD: "officer.help.head",
}
DESCRIPTIONS: dict[str, str] = {
    "start": "command.start",
    "status": "command.status",
    "help": "command.help",
    "language": "command.language",
    "reminders": "command.reminders",
    "cancel": "command.cancel",
    "mydata": "command.mydata",
    "deleteme": "command.deleteme",
    "review": "command.review",
    "confirmclean": "command.confirmclean",
    "recognise": "command.recognise",
    "tally": "command.tally",
    "export": "command.export",
    "chart": "command.chart",
    "invite": "command.invite",
    "grant": "command.grant",
    "roles": "command.roles",
    "broadcast": "command.broadcast",
}


@dataclass(frozen=True)
class Held:
    """The roles a person holds somewhere (an admin holds them all)."""

    roles: frozenset[str] = frozenset()
    admin: bool = False

    @property
    def any(self) -> bool:
        return self.admin or bool(self.roles)

    def shown(self) -> tuple[str, ...]:
        """The role sections to show, in order."""
        return tuple(r for r in SECTIONS if self.admin or r in self.roles)


async def held_by(
    *, session: AsyncSession, person: Person | None, contact: Contact, admin_ids: Iterable[Contact]
) -> Held:
    """What ``person`` (None: not registered) holds; named in ``ADMIN_IDS`` is admin."""
    if contact in set(admin_ids):
        return Held(admin=True)
    if person is None or person.id is None:
        return Held()
    roles = await rr.roles_of(session=session, person_id=person.id)
    admin = any(r.role == RoleName.ADMIN and r.unit_id is None for r in roles)
    return Held(frozenset(r.role for r in roles if r.role in SECTIONS), admin)


def sections(held: Held, locale: str, *, typed: bool) -> list[str]:
    """The role sections of the help, officer first; an admin's closes with what only they may do."""
    found = [gettext_typed(SECTIONS[r], locale, typed=typed) for r in held.shown()]
    if held.admin:
        found.append(gettext_typed("officer.help.admin", locale, typed=typed))
    return found


def help_text(held: Held, locale: str, *, typed: bool) -> str:
    """/help: the citizen's part, then a section per role held."""
    return "\n\n".join([gettext_typed("help.text", locale, typed=typed), *sections(held, locale, typed=typed)])


def commands(held: Held, locale: str) -> tuple[tuple[str, str], ...]:
    """The menu for ``held``: the citizen's commands, then each role's, each once; () for someone without a role."""
    if not held.any:
        return ()
    names = list(CITIZEN_COMMANDS)
    for role in held.shown():
        names += [c for c in ROLE_COMMANDS[role] if c not in names]
    return tuple((name, gettext(DESCRIPTIONS[name], locale)) for name in names)


def menu_for(person: Person, held: Held) -> CommandMenu | None:
    """The command menu to give ``person`` (or to drop, when they hold nothing); None where there is no menu."""
    if person.channel != Channel.TELEGRAM.value or not person.chat_id:
        return None
    return CommandMenu(person.channel, person.chat_id, commands(held, person.locale))


async def menu_after_change(
    *, session: AsyncSession, person: Person, admin_ids: Iterable[Contact]
) -> CommandMenu | None:
    """The person's menu once their roles changed (granted, claimed or revoked)."""
    held = await held_by(session=session, person=person, contact=person.contact, admin_ids=admin_ids)
    return menu_for(person, held)


async def help_command(data: BotData, who: Sender) -> Plan:
    """/help: the citizen's commands and a section per role held; a role holder's menu is set again (it may
    have been granted at the desk, where no messenger is at hand)."""
    contact = Contact(who.channel, who.external_id)
    async with data.sessions() as session:
        person = await rp.get_person(session=session, channel=who.channel, external_id=who.external_id)
        held = await held_by(session=session, person=person, contact=contact, admin_ids=data.settings.admin_ids)
    locale = person.locale if person else negotiate(who.language_code, data.settings.default_locale)
    plan = Plan(locale=locale)
    plan.say(help_text(held, locale, typed=not who.buttons))
    if person is not None and held.any:
        menu = menu_for(person, held)
        if menu is not None:
            plan.menus.append(menu)
    if person is not None and who.display_name and person.display_name != who.display_name:
        async with unit_of_work(data.sessions) as session:  # only when the name changed: a read otherwise
            found = await rp.get_person(session=session, channel=who.channel, external_id=who.external_id)
            if found is not None:
                refresh_name(found, who.display_name)
    return plan


def welcome_admin(plan: Plan, person: Person, admin_ids: Iterable[Contact], *, typed: bool) -> None:
    """An ``ADMIN_IDS`` admin's first contact: the officer help after the greeting, and their menu."""
    if person.contact not in set(admin_ids):
        return
    held = Held(admin=True)
    # First, so the citizen's prompt with its choices stays the last message.
    plan.screens.insert(0, Screen("\n\n".join(sections(held, plan.locale, typed=typed))))
    menu = menu_for(person, held)
    if menu is not None:
        plan.menus.append(menu)
