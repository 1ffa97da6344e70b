"""/reminders (a person switches reminders off and on), the reminders' Continue button, and /broadcast (an
officer writes to everyone in a unit subtree).

A broadcast is a conversation kept in the database, like everything else: ``/broadcast CODE`` stores a
Broadcast "awaiting_text" owned by the officer; their next typed message becomes its text ("draft") and
comes back as a preview with the recipient count and Send / Cancel buttons; Send queues one outbox row
per recipient, and the dispatcher sends them and, when all have an outcome, the officer's summary.

Why a separate handler group: the officer's typed text must reach the broadcast before the citizen's
catch-all text handler, but only while that officer has a broadcast waiting for text, which only the
database knows (no in-memory filter could, with several bot processes). So ``early_handlers()`` run in
their own group before the ordinary ones: they take the update and stop (ApplicationHandlerStop) when a
broadcast is waiting, and otherwise return, letting the update go on to the ordinary handlers.
"""

from __future__ import annotations

import contextlib
import logging
import re
from html import escape

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest
from telegram.ext import (
    ApplicationHandlerStop,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.context import Context
from bot.handlers import citizen
from bot.handlers.officer_scope import asker_locale, officer_of, officer_scope, telegram_contact
from bot.reminders import CONTINUE_DATA, broadcast_text, policy_for
from bot.render import Renderer
from bot.telegram import citizen as tg
from locales import gettext
from scheduler import jobs
from storage import repo_outbox as ro
from storage import repo_people as rp
from storage import repo_roles as rr
from storage.db import unit_of_work
from storage.models import Broadcast, Person, RoleName

log = logging.getLogger(__name__)

TEXT_GROUP = -4  # before the ordinary handlers (group 0); see the module docstring
BROADCASTERS = frozenset({RoleName.OFFICER})  # admins too: repo_roles.may counts them in
MAX_TEXT = 3500  # Telegram allows 4096 characters; room for the header
_BUTTON = re.compile(r"^bc\|(\d+)\|(ok|no)$")


def handlers() -> list[BaseHandler]:
    """The ordinary handlers, to be placed before the catch-all ones (the button pattern before the
    citizen's button handler, which takes every callback)."""
    private = filters.ChatType.PRIVATE
    return [
        CommandHandler("reminders", toggle, filters=private),
        CommandHandler("broadcast", broadcast, filters=private),
        CallbackQueryHandler(broadcast_button, pattern=_BUTTON),
        CallbackQueryHandler(continue_button, pattern=f"^{re.escape(CONTINUE_DATA)}$"),
    ]


def early_handlers() -> list[BaseHandler]:
    """Handlers for group TEXT_GROUP: they act only when the sender has a broadcast open."""
    private = filters.ChatType.PRIVATE
    return [
        CommandHandler("cancel", cancel_broadcast, filters=private),
        MessageHandler(private & filters.TEXT & ~filters.COMMAND, broadcast_body),
    ]


async def _say(message: Message, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    await message.reply_html(text, reply_markup=markup, disable_web_page_preview=True)


# --------------------------------------------------------------------------- /reminders


async def toggle(update: Update, context: Context) -> None:
    """Switches the person's reminders off or on (``/reminders off`` / ``on``; no argument: the other way)."""
    plan = await citizen.reminders(context.bot_data, tg.sender_of(update), context.args[0] if context.args else "")
    await tg.deliver(update, context, plan)


async def continue_button(update: Update, context: Context) -> None:
    """A reminder's Continue button: shows the step the person is on now, however old the reminder."""
    query = update.callback_query
    assert query is not None
    if not isinstance(query.message, Message):  # too old for Telegram to say where it was
        await query.answer()
        return
    await tg.deliver(update, context, await citizen.resume(context.bot_data, tg.sender_of(update)))


# --------------------------------------------------------------------------- /broadcast


async def broadcast(update: Update, context: Context) -> None:
    """Checks the officer may write to the unit, then asks for the text."""
    message = update.effective_message
    assert message is not None
    scope = await officer_scope(update, context, BROADCASTERS)
    if scope is None:
        return  # refused politely by officer_scope; nothing stored
    async with unit_of_work(context.db) as session:
        unit = await rp.get_unit(session=session, unit_id=scope.unit_id)
        assert unit is not None
        count = await ro.count_recipients(session=session, unit=unit)
        if count:
            await ro.start_broadcast(session=session, officer_id=scope.officer_id, unit_id=scope.unit_id)
    if not count:
        await _say(message, gettext("broadcast.no_recipients", scope.locale, unit=escape(scope.unit_name)))
        return
    await _say(message, gettext("broadcast.ask_text", scope.locale, unit=escape(scope.unit_name), count=count))


async def broadcast_body(update: Update, context: Context) -> None:
    """Takes the typed text of a broadcast the officer opened; any other text goes on to other handlers."""
    message, user = update.effective_message, update.effective_user
    assert message is not None and user is not None and message.text is not None
    async with unit_of_work(context.db) as session:
        asker = telegram_contact(user.id)
        found = await ro.awaiting_text(session=session, channel=asker.channel, external_id=asker.external_id)
        if found is None:
            return  # not a broadcast: the ordinary handlers take this text
        person, draft = found
        locale = person.locale
        body = message.text_html  # the officer's bold, italics and links, as safe Telegram HTML
        unit = await rp.get_unit(session=session, unit_id=draft.unit_id)
        assert unit is not None
        if len(body) <= MAX_TEXT:
            draft.text = body
            draft.status = ro.BroadcastStatus.DRAFT
            session.add(draft)
            count = await ro.count_recipients(session=session, unit=unit)
            preview, markup = _preview(context, locale, unit.name, body, count, draft.id or 0)
    if len(body) > MAX_TEXT:
        await _say(message, gettext("broadcast.too_long", locale, length=len(body), max=MAX_TEXT))
    else:
        await _say(message, preview, markup)
    raise ApplicationHandlerStop


def _preview(
    context: Context, locale: str, unit_name: str, body: str, count: int, broadcast_id: int
) -> tuple[str, InlineKeyboardMarkup]:
    render = Renderer(locale, context.registry, context.settings.zone)
    lines = [gettext("broadcast.preview", locale, unit=escape(unit_name), count=count)]
    when = _deferred_until(context, render)
    if when:
        lines.append(gettext("broadcast.deferred", locale, when=when))
    lines += ["", broadcast_text(render, unit_name, body)]
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(gettext("broadcast.btn.send", locale), callback_data=f"bc|{broadcast_id}|ok"),
                InlineKeyboardButton(gettext("broadcast.btn.cancel", locale), callback_data=f"bc|{broadcast_id}|no"),
            ]
        ]
    )
    return "\n".join(lines), markup


def _deferred_until(context: Context, render: Renderer) -> str | None:
    """When sending now would fall in the quiet hours: the time it will start, formatted for the officer."""
    policy = policy_for(context.settings)
    now = context.now()
    start = policy.next_allowed(now)
    return render.when(start) if start != now else None


async def broadcast_button(update: Update, context: Context) -> None:
    """Send or Cancel under a preview: only the officer who wrote it, only while it is a draft."""
    query, user = update.callback_query, update.effective_user
    assert query is not None and user is not None
    matched = _BUTTON.match(query.data or "")
    assert matched is not None
    broadcast_id, verb = int(matched.group(1)), matched.group(2)
    async with unit_of_work(context.db) as session:
        person = await officer_of(session, user)
        draft = await ro.get_broadcast(session=session, broadcast_id=broadcast_id, lock=True)
        locale = person.locale if person else asker_locale(update, context)
        reply: str
        if person is None or draft is None or draft.officer_id != person.id:
            reply = gettext("broadcast.not_yours", locale)
        elif draft.status != ro.BroadcastStatus.DRAFT:
            reply = gettext("broadcast.stale", locale)
        elif verb == "no":
            draft.status = ro.BroadcastStatus.CANCELLED
            session.add(draft)
            reply = gettext("broadcast.cancelled", locale)
        else:
            reply = await _queue(session, context, person, draft, locale)
    await query.answer()
    if isinstance(query.message, Message):
        with contextlib.suppress(BadRequest):  # too old or already gone: harmless
            await query.message.edit_reply_markup(reply_markup=None)
    await context.bot.send_message(user.id, reply, parse_mode="HTML")


async def _queue(session: AsyncSession, context: Context, person: Person, draft: Broadcast, locale: str) -> str:
    unit = await rp.get_unit(session=session, unit_id=draft.unit_id)
    assert unit is not None
    # Roles may have changed since /broadcast: check again at the moment it counts.
    if not await rr.may(
        session=session, person=person, roles=BROADCASTERS, unit=unit, admin_ids=context.settings.admin_ids
    ):
        return gettext("broadcast.not_allowed", locale, unit=escape(unit.name))
    policy = policy_for(context.settings)
    count = await jobs.queue_broadcast(
        session=session, broadcast=draft, unit=unit, due_at=policy.next_allowed(context.now())
    )
    log.info("broadcast %s queued for %d recipients", draft.id, count)
    text = gettext("broadcast.queued", locale, count=count, unit=escape(unit.name))
    when = _deferred_until(context, Renderer(locale, context.registry, context.settings.zone))
    return text + ("\n" + gettext("broadcast.deferred", locale, when=when) if when else "")


async def cancel_broadcast(update: Update, context: Context) -> None:
    """/cancel while writing a broadcast drops it; otherwise /cancel goes on to the citizen's handler."""
    message, user = update.effective_message, update.effective_user
    assert message is not None and user is not None
    async with unit_of_work(context.db) as session:
        asker = telegram_contact(user.id)
        person = await rp.get_person(session=session, channel=asker.channel, external_id=asker.external_id)
        dropped = await ro.cancel_open_broadcasts(session=session, officer_id=person.id) if person else 0
        locale = person.locale if person else ""
    if not dropped:
        return
    await _say(message, gettext("broadcast.cancelled", locale))
    raise ApplicationHandlerStop
