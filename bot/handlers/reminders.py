"""Telegram's wiring of /reminders (a person switches reminders off and on), the reminders' Continue button,
and /broadcast (an officer writes to everyone in a unit subtree: bot.handlers.broadcast, written once for
every messenger and reached through bot.handlers.officer_desk; its typed text is the officers' typed step,
answered through the citizen's text handler, which loads the step owed)."""

from __future__ import annotations

import re

from telegram import Message, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, filters

from bot.context import Context
from bot.handlers import citizen
from bot.reminders import CONTINUE_DATA
from bot.telegram import citizen as tg
from bot.telegram import officers as tg_officers


def handlers() -> list[BaseHandler]:
    """The ordinary handlers, to be placed before the catch-all ones (the button patterns before the
    citizen's button handler, which takes every callback)."""
    private = filters.ChatType.PRIVATE
    return [
        CommandHandler("reminders", toggle, filters=private),
        CommandHandler("broadcast", tg_officers.command("broadcast"), filters=private),
        CallbackQueryHandler(tg_officers.press, pattern=r"^bc\|"),
        CallbackQueryHandler(continue_button, pattern=f"^{re.escape(CONTINUE_DATA)}$"),
    ]


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
