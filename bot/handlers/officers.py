"""Officer handlers, composed: the commands, the ``o|…`` buttons, and the typed steps an officer owes.

Typed steps (a reason, a decision number) are caught by handlers in an earlier PTB handler group
(``EARLY_GROUP``): they look for the officer's row in ``officer_pending`` and, when there is one, take the
text and stop the update (``ApplicationHandlerStop``); when there is none they return and the update goes
on to the citizen handlers of the default group untouched. A filter could not do this (filters are
synchronous and cannot read the database), and a group keeps ``citizen.text`` unaware of officers.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import (
    ApplicationHandlerStop,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.context import Context
from bot.handlers import officer_roles, recognition, review
from bot.handlers.officer_buttons import PATTERN, BadOfficerButton, OVerb, decode
from bot.handlers.officer_scope import telegram_contact
from bot.handlers.officer_send import Replies, deliver
from locales import gettext
from storage import repo_people as rp
from storage import repo_review as rv
from storage.db import unit_of_work

log = logging.getLogger(__name__)

EARLY_GROUP = -1
OFFICER_COMMANDS = ("review", "recognise", "grant", "invite", "roles")


def handlers() -> list[BaseHandler]:
    """The officer commands and buttons, for the default group ahead of the citizen catch-alls."""
    private = filters.ChatType.PRIVATE
    return [
        CommandHandler("review", review.review_command, filters=private),
        CommandHandler(["recognise", "recognize"], recognition.recognise_command, filters=private),
        CommandHandler("grant", officer_roles.grant_command, filters=private),
        CommandHandler("invite", officer_roles.invite_command, filters=private),
        CommandHandler("roles", officer_roles.roles_command, filters=private),
        CallbackQueryHandler(button, pattern=PATTERN),
    ]


def early_handlers() -> list[BaseHandler]:
    """For ``EARLY_GROUP``: they act only when the sender owes a typed step, else let the update through."""
    private = filters.ChatType.PRIVATE
    return [
        CommandHandler("cancel", cancel, filters=private),
        MessageHandler(private & filters.TEXT & ~filters.COMMAND, pending_text),
    ]


async def button(update: Update, context: Context) -> None:
    """Routes an officer button to the review or the recognition handlers."""
    query = update.callback_query
    assert query is not None
    try:
        pressed = decode(query.data)
    except BadOfficerButton:
        log.info("refused officer button: forged")
        await query.answer()
        return
    if pressed.verb is OVerb.DECISION:
        await recognition.on_button(update, context, pressed)
    else:
        await review.on_button(update, context, pressed)


async def pending_text(update: Update, context: Context) -> None:
    """Takes typed text as the reason or decision an officer owes; otherwise does nothing."""
    message, user = update.effective_message, update.effective_user
    assert message is not None and message.text is not None and user is not None
    replies = Replies()
    async with unit_of_work(context.db) as session:
        asker = telegram_contact(user.id)
        officer = await rp.get_person(session=session, channel=asker.channel, external_id=asker.external_id)
        if officer is None:
            return
        pending = await rv.get_pending(session=session, person_id=officer.id or 0, now=context.now())
        if pending is None:
            return
        if pending.kind == "decision":
            await recognition.on_text(session, context, replies, officer, pending, message.text)
        else:
            await review.on_text(session, context, replies, officer, pending, message.text)
    await deliver(context, replies)
    raise ApplicationHandlerStop


async def cancel(update: Update, context: Context) -> None:
    """/cancel drops the typed step an officer owes; without one, the citizen's /cancel answers."""
    message, user = update.effective_message, update.effective_user
    assert message is not None and user is not None
    async with unit_of_work(context.db) as session:
        asker = telegram_contact(user.id)
        officer = await rp.get_person(session=session, channel=asker.channel, external_id=asker.external_id)
        if officer is None or not await rv.clear_pending(session=session, person_id=officer.id or 0):
            return
        locale = officer.locale
    await message.reply_html(gettext("officer.pending.cancelled", locale))
    raise ApplicationHandlerStop
