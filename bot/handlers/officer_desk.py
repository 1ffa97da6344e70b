"""The officer's side, written once for every messenger: commands, chosen options and typed steps in, a
reply plan out (sent by the messenger's adapter after the handler's transaction has committed).

Three registries, filled by the modules that own each part (review, recognition, reports, roles, broadcast):
- ``COMMANDS``: ``/review``, ``/tally`` … → ``handler(data, who, args) -> Plan``;
- ``PRESSES``: the prefix of a choice's data (``o``, ``bc``) → ``handler(data, who, payload) -> Plan``;
- ``TEXTS``: the kind of step an officer owes → ``handler(session, data, plan, officer, pending, reading)``,
  inside the transaction that loaded the step; ``reading`` is what ``conversations.officer_steps.read``
  made of the line (``Text``, ``TooShort`` or ``TooLong``).

Where choices are typed (Zalo), the choices of the last screen shown to an officer are kept with the step
they owe (``officer_pending``), so "2" means the second choice of that screen; a line that is none of
them, when nothing else is owed, is the citizen's (an officer is a citizen too) and the menu is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import BotData
from bot.handlers import batch_confirm, broadcast, officer_roles, recognition, reports, review
from bot.replies import Plan
from bot.screens import Choice, Screen, one_per_row
from bot.sender import Sender
from conversations import officer_steps as steps
from locales import gettext, gettext_typed, negotiate
from storage import repo_people as rp
from storage import repo_review as rv
from storage.db import unit_of_work
from storage.models import OfficerPending, Person

log = logging.getLogger(__name__)

OfficerCommand = Callable[[BotData, Sender, Sequence[str]], Awaitable[Plan]]
OfficerPress = Callable[[BotData, Sender, str], Awaitable[Plan]]
OfficerText = Callable[[AsyncSession, BotData, Plan, Person, OfficerPending, steps.Reading], Awaitable[None]]

# One registry each (rules-bot's single registry): the modules that own a command add their lines here.
COMMANDS: dict[str, OfficerCommand] = {
    # review and recognition (bot.handlers.review, bot.handlers.recognition)
    "review": review.review_command,
    "confirmclean": batch_confirm.confirm_clean_command,  # the submissions with no warning, at once
    "recognise": recognition.recognise_command,
    "recognize": recognition.recognise_command,
    # reports (bot.handlers.reports)
    "tally": reports.tally,
    "export": reports.export,
    "chart": reports.chart,
    # roles (bot.handlers.officer_roles) and broadcasts (bot.handlers.broadcast)
    "grant": officer_roles.grant_command,
    "invite": officer_roles.invite_command,
    "roles": officer_roles.roles_command,
    "broadcast": broadcast.broadcast_command,
}
PRESSES: dict[str, OfficerPress] = {
    # "o": review and recognition
    "o": review.press,  # the decision's choice is handed on to recognition
    # "bc": broadcasts
    "bc": broadcast.press,
    # "bk": the batch confirm's one choice
    batch_confirm.PREFIX: batch_confirm.press,
    # "rl": roles (a role, then a unit, for /grant; revoke from /roles)
    officer_roles.PRESS_PREFIX: officer_roles.press,
}
TEXTS: dict[str, OfficerText] = {
    # adjust, return_pick, return_reason: review; decision: recognition
    steps.StepKind.ADJUST: review.on_text,
    steps.StepKind.RETURN_PICK: review.on_text,
    steps.StepKind.RETURN_REASON: review.on_text,
    steps.StepKind.DECISION: recognition.on_text,
    # broadcast: broadcasts
    steps.StepKind.BROADCAST: broadcast.on_text,
}


def owns(payload: str | None) -> bool:
    """Whether a choice's data belongs to an officer handler (else it is the citizen's)."""
    return (payload or "").split("|", 1)[0] in PRESSES


async def command(data: BotData, who: Sender, name: str, args: Sequence[str]) -> Plan:
    """Runs an officer command; where choices are typed, keeps the choices it ends on."""
    plan = await COMMANDS[name](data, who, args)
    await _remember(data, who, plan)
    return plan


async def press(data: BotData, who: Sender, payload: str) -> Plan:
    """A chosen option (a pressed button, or a typed number on Zalo) of an officer's screen."""
    handler = PRESSES.get(payload.split("|", 1)[0])
    if handler is None:  # forged: this bot never showed it
        log.info("refused officer choice: unknown prefix")
        plan = Plan(locale=negotiate(who.language_code, data.settings.default_locale))
        plan.toast = gettext_typed("officer.forged", plan.locale, typed=not who.buttons)
        return plan
    plan = await handler(data, who, payload)
    await _remember(data, who, plan)
    return plan


# Whether someone owes a typed step is read with the person, in the one statement that loads them for the
# citizen's handlers (storage.journey: the officer_pending row, none for a citizen), so citizens pay nothing for
# officers' steps: the citizen's text handler hands such a line here (``answer_typed`` in its transaction, then
# ``answered``), its /cancel asks ``cancel_in`` and its commands ``forget_menu_in``.
# An officer's step, once taken, is checked against their role and scope by the handler that answers it.


@dataclass
class Answered:
    """An officer's typed line answered in the loading transaction: the plan, or the choice it picked (run,
    like a pressed one, once that transaction has committed)."""

    plan: Plan
    chosen: str | None = None


async def answer_typed(
    session: AsyncSession, data: BotData, who: Sender, officer: Person, text: str
) -> Answered | None:
    """A line typed by someone who owes an officer step, in the transaction that loaded them: what answers it,
    or None when the line is not for an officer step (the citizen's handlers take it)."""
    plan = Plan()
    chosen: str | None = None
    pending = await rv.get_pending(session=session, person_id=officer.id or 0, now=data.now())
    if pending is None:
        return None
    plan.locale = officer.locale
    plan.viewer_id = officer.id
    menu = pending.data.get("menu", ()) if not who.buttons else ()
    reading = steps.read(steps.Step.of(pending.kind, menu), text)
    match reading:
        case steps.NotMine():
            if pending.kind == steps.StepKind.MENU:
                await session.delete(pending)
            return None
        case steps.Pick(data=payload):
            chosen = payload
        case steps.OutOfMenu(count=count):
            plan.say(gettext("zalo.out_of_range", plan.locale, count=count))
            again = _menu_screen(pending)
            if again is not None:
                plan.show(again)
        case steps.UseChoices():
            key = "officer.review.use_buttons" if who.buttons else "officer.zalo.use_numbers"
            plan.say(gettext(key, plan.locale))
            again = _menu_screen(pending)  # typed choices: the picker again, so its menu stays remembered
            if again is not None:
                plan.show(again)
        case _:
            handler = TEXTS.get(pending.kind)
            if handler is None:
                return None
            await handler(session, data, plan, officer, pending, reading)
    return Answered(plan, chosen)


async def answered(data: BotData, who: Sender, answer: Answered) -> Plan:
    """Once the answering transaction has committed: the choice picked, or the choices shown remembered."""
    if answer.chosen is not None:
        return await press(data, who, answer.chosen)
    await _remember(data, who, answer.plan)
    return answer.plan


async def cancel_in(session: AsyncSession, officer: Person, now: datetime) -> Plan | None:
    """``/cancel`` drops the step an officer owes, in the transaction that loaded them; None when they owe none
    (the citizen's /cancel answers)."""
    pending = await rv.get_pending(session=session, person_id=officer.id or 0, now=now)
    if pending is None or pending.kind == steps.StepKind.MENU:
        return None
    await rv.clear_pending(session=session, person_id=officer.id or 0)
    plan = Plan(locale=officer.locale)
    plan.say(gettext("officer.pending.cancelled", plan.locale))
    return plan


async def forget_menu(data: BotData, who: Sender) -> None:
    """``forget_menu_in`` for a handler that loads nobody through the citizen's turn (it reads the person)."""
    if who.buttons:
        return
    async with unit_of_work(data.sessions) as session:
        person = await rp.get_person(session=session, channel=who.channel, external_id=who.external_id)
        if person is not None:
            await forget_menu_in(session, person, data.now())


async def forget_menu_in(session: AsyncSession, person: Person, now: datetime) -> None:
    """The person moved on to a citizen's screen: a number they type now is not for the officer's menu."""
    await rv.remember_menu(session=session, person_id=person.id or 0, menu=[], now=now)


async def _remember(data: BotData, who: Sender, plan: Plan) -> None:
    """Where choices are typed: the last screen's choices (or none) become what a number typed next means."""
    if who.buttons or not plan.screens:
        return
    last = plan.screens[-1]
    menu = steps.menu_of([(c.data, c.words, c.label) for c in last.choices])
    async with unit_of_work(data.sessions) as session:
        person = await rp.get_person(session=session, channel=who.channel, external_id=who.external_id)
        if person is None:
            return
        await rv.remember_menu(
            session=session, person_id=person.id or 0, menu=menu, text=last.text if menu else "", now=data.now()
        )


def _menu_screen(pending: OfficerPending) -> Screen | None:
    """The screen whose choices are kept, drawn again (after a number it does not have)."""
    menu = pending.data.get("menu") or []
    if not menu:
        return None
    choices = (Choice(str(m[2]) if len(m) > 2 else "", str(m[0]), tuple(m[1])) for m in menu)
    return Screen(str(pending.data.get("menu_text", "")), one_per_row(*choices))
