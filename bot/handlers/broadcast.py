"""/broadcast: an officer writes to everyone in a unit subtree, on whichever messenger each of them uses.

A broadcast is a conversation kept in the database, like everything else. ``/broadcast CODE`` makes the
text the step the officer owes (``officer_pending`` of kind "broadcast", on the unit); the line they type
next becomes the Broadcast "draft" the step points at, shown back as a preview with the recipient count and
Send / Cancel choices (buttons on Telegram, numbers or "gửi" on Zalo). Another line replaces the draft's
text. Send queues one outbox row per recipient, each on their own messenger's channel, and wakes the
dispatchers; when all rows have an outcome the officer gets a summary.

The step is what keeps a draft alive: once it is gone (``/cancel``, another step begun, two hours passed),
Send under the old preview says the broadcast was already handled and sends nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from html import escape

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import BotData
from bot.handlers.officer_scope import Refusal, officer_of_sender, scope_for
from bot.reminders import broadcast_text, policy_for
from bot.render import Renderer
from bot.replies import Plan
from bot.screens import Choice, Screen
from bot.sender import Sender
from conversations import officer_steps as steps
from locales import gettext, gettext_typed, negotiate
from scheduler import jobs
from storage import repo_outbox as ro
from storage import repo_people as rp
from storage import repo_review as rv
from storage import repo_roles as rr
from storage import repo_units as ru
from storage.db import unit_of_work
from storage.models import Broadcast, OfficerPending, Person, RoleName

log = logging.getLogger(__name__)

BROADCASTERS = frozenset({RoleName.OFFICER})  # admins too: repo_roles.may counts them in
# As sent, after escaping: Telegram allows 4096 characters, with room for the header (the typed-step limit).
MAX_TEXT = steps.TEXT_LIMITS[steps.StepKind.BROADCAST][1]
PREFIX = "bc"
_CHOICE = re.compile(r"^bc\|(\d+)\|(ok|no)$")
DRAFT_KEY = "broadcast"  # officer_pending.data[DRAFT_KEY]: the id of the draft the step points at


async def broadcast_command(data: BotData, who: Sender, args: Sequence[str]) -> Plan:
    """Checks the officer may write to the unit, then asks for the text."""
    scope = await scope_for(data, who, BROADCASTERS, args)
    if isinstance(scope, Refusal):
        return scope.plan()
    plan = Plan(locale=scope.locale, viewer_id=scope.officer_id)
    async with unit_of_work(data.sessions) as session:
        unit = await rp.get_unit(session=session, unit_id=scope.unit_id)
        assert unit is not None
        count = await ro.count_recipients(session=session, unit=unit)
        alone = not await ru.has_units_below(session=session, unit=unit)
        if count:
            await ro.cancel_open_broadcasts(session=session, officer_id=scope.officer_id)  # one at a time
            await rv.set_pending(
                session=session,
                person_id=scope.officer_id,
                kind=steps.StepKind.BROADCAST,
                now=data.now(),
                unit_id=scope.unit_id,
            )
    key = ("broadcast.ask_text.alone" if alone else "broadcast.ask_text") if count else "broadcast.no_recipients"
    plan.say(gettext(key, scope.locale, unit=escape(scope.unit_name), count=count))
    return plan


async def on_text(
    session: AsyncSession,
    data: BotData,
    plan: Plan,
    officer: Person,
    pending: OfficerPending,
    reading: steps.Reading,
) -> None:
    """The typed text of the broadcast the officer opened: stored as its draft and shown back as a preview."""
    locale = plan.locale
    if not isinstance(reading, steps.Text):
        plan.say(gettext("broadcast.bad_length", locale, max=MAX_TEXT))
        return
    body = escape(reading.text, quote=False)  # plain text: any markup the officer typed is shown as typed
    if len(body) > MAX_TEXT:
        plan.say(gettext("broadcast.too_long", locale, length=len(body), max=MAX_TEXT))
        return
    unit = await rp.get_unit(session=session, unit_id=pending.unit_id or 0)
    if unit is None:  # the unit was removed meanwhile
        await rv.clear_pending(session=session, person_id=officer.id or 0)
        plan.say(gettext("broadcast.stale", locale))
        return
    draft = await _draft_of(session, officer, pending)
    if draft is None:
        assert officer.id is not None and unit.id is not None
        draft = await ro.start_broadcast(session=session, officer_id=officer.id, unit_id=unit.id)
    draft.text = body
    draft.status = ro.BroadcastStatus.DRAFT
    session.add(draft)
    await session.flush()
    pending.data = {**pending.data, DRAFT_KEY: draft.id}  # a new dict: the JSON column notices the change
    session.add(pending)
    count = await ro.count_recipients(session=session, unit=unit)
    below = await ru.has_units_below(session=session, unit=unit)
    plan.show(_preview(data, locale, unit.name, body, count, draft.id or 0, below=below))


async def _draft_of(session: AsyncSession, officer: Person, pending: OfficerPending) -> Broadcast | None:
    """The draft the step already points at (the officer typed the text again), if it is still one."""
    draft_id = pending.data.get(DRAFT_KEY)
    if not isinstance(draft_id, int):
        return None
    draft = await ro.get_broadcast(session=session, broadcast_id=draft_id, lock=True)
    if draft is None or draft.officer_id != officer.id or draft.status != ro.BroadcastStatus.DRAFT:
        return None
    return draft


def _preview(
    data: BotData, locale: str, unit_name: str, body: str, count: int, broadcast_id: int, *, below: bool
) -> Screen:
    render = Renderer(locale, data.registry, data.settings.zone)
    key = "broadcast.preview" if below else "broadcast.preview.alone"  # no "and the units below" when none
    lines = [gettext(key, locale, unit=escape(unit_name), count=count)]
    when = _deferred_until(data, render)
    if when:
        lines.append(gettext("broadcast.deferred", locale, when=when))
    lines += ["", broadcast_text(render, unit_name, body), "", gettext("broadcast.retype", locale)]
    # Typed words besides the numbers (Zalo); "hủy" is /cancel's own word there, which drops the draft too.
    send = Choice(gettext("broadcast.btn.send", locale), f"{PREFIX}|{broadcast_id}|ok", ("gửi", "send"))
    cancel = Choice(gettext("broadcast.btn.cancel", locale), f"{PREFIX}|{broadcast_id}|no", ("không gửi", "discard"))
    return Screen("\n".join(lines), ((send, cancel),))


def _deferred_until(data: BotData, render: Renderer) -> str | None:
    """When sending now would fall in the quiet hours: the time it will start, formatted for the officer."""
    now = data.now()
    start = policy_for(data.settings).next_allowed(now)
    return render.when(start) if start != now else None


async def press(data: BotData, who: Sender, payload: str) -> Plan:
    """Send or Cancel under a preview: only the officer who wrote it, only while the draft is the step they owe."""
    plan = Plan(locale=negotiate(who.language_code, data.settings.default_locale), retire_pressed=True)
    matched = _CHOICE.match(payload)
    if matched is None:  # forged: this bot never showed it
        log.info("refused broadcast choice: forged")
        plan.toast = gettext_typed("officer.forged", plan.locale, typed=not who.buttons)
        plan.retire_pressed = False
        return plan
    broadcast_id, verb = int(matched.group(1)), matched.group(2)
    async with unit_of_work(data.sessions) as session:
        person = await officer_of_sender(session, who)
        draft = await ro.get_broadcast(session=session, broadcast_id=broadcast_id, lock=True)
        if person is not None:
            plan.locale = person.locale
            plan.viewer_id = person.id
        if person is None or draft is None or draft.officer_id != person.id:
            plan.say(gettext("broadcast.not_yours", plan.locale))
            return plan
        pending = await rv.get_pending(session=session, person_id=person.id or 0, now=data.now())
        owed = (
            pending is not None and pending.kind == steps.StepKind.BROADCAST and pending.data.get(DRAFT_KEY) == draft.id
        )
        if draft.status != ro.BroadcastStatus.DRAFT or not owed:
            if draft.status in (ro.BroadcastStatus.AWAITING_TEXT, ro.BroadcastStatus.DRAFT):
                draft.status = ro.BroadcastStatus.CANCELLED  # its step is gone: it can never be sent
                session.add(draft)
            plan.say(gettext("broadcast.stale", plan.locale))
            return plan
        await rv.clear_pending(session=session, person_id=person.id or 0)
        if verb == "no":
            draft.status = ro.BroadcastStatus.CANCELLED
            session.add(draft)
            plan.say(gettext("broadcast.cancelled", plan.locale))
            return plan
        plan.say(await _queue(session, data, plan, person, draft))
    return plan


async def _queue(session: AsyncSession, data: BotData, plan: Plan, person: Person, draft: Broadcast) -> str:
    locale = plan.locale
    unit = await rp.get_unit(session=session, unit_id=draft.unit_id)
    assert unit is not None
    # Roles may have changed since /broadcast: check again at the moment it counts.
    if not await rr.may(
        session=session, person=person, roles=BROADCASTERS, unit=unit, admin_ids=data.settings.admin_ids
    ):
        draft.status = ro.BroadcastStatus.CANCELLED
        session.add(draft)
        return gettext("broadcast.not_allowed", locale, unit=escape(unit.name))
    count = await jobs.queue_broadcast(
        session=session, broadcast=draft, unit=unit, due_at=policy_for(data.settings).next_allowed(data.now())
    )
    plan.notices_owed = True  # each recipient's row is on their own messenger's channel: wake every dispatcher
    log.info("broadcast %s queued for %d recipients", draft.id, count)
    text = gettext("broadcast.queued", locale, count=count, unit=escape(unit.name))
    when = _deferred_until(data, Renderer(locale, data.registry, data.settings.zone))
    return text + ("\n" + gettext("broadcast.deferred", locale, when=when) if when else "")
