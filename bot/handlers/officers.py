"""Telegram's wiring of the officer handlers (written once for every messenger in bot.handlers.officer_desk):
the commands, the ``o|…`` buttons, and the typed steps an officer owes.

Typed steps (a reason, a decision number) are caught by handlers in an earlier PTB handler group
(``EARLY_GROUP``): when the officer owes one, they take the text and stop the update
(``ApplicationHandlerStop``); otherwise the update goes on to the citizen handlers of the default group
untouched (bot.telegram.officers).
"""

from __future__ import annotations

from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.handlers.batch_confirm import PREFIX as BATCH_PREFIX
from bot.handlers.officer_buttons import PATTERN
from bot.handlers.officer_roles import PRESS_PREFIX
from bot.telegram import officers as tg
from bot.telegram.officers import EARLY_GROUP

__all__ = ["EARLY_GROUP", "early_handlers", "handlers"]


def handlers() -> list[BaseHandler]:
    """The officer commands and buttons, for the default group ahead of the citizen catch-alls."""
    private = filters.ChatType.PRIVATE
    return [
        CommandHandler("review", tg.command("review"), filters=private),
        CommandHandler("confirmclean", tg.command("confirmclean"), filters=private),
        CommandHandler(["recognise", "recognize"], tg.command("recognise"), filters=private),
        CommandHandler("grant", tg.command("grant"), filters=private),
        CommandHandler("invite", tg.command("invite"), filters=private),
        CommandHandler("roles", tg.command("roles"), filters=private),
        CallbackQueryHandler(tg.press, pattern=PATTERN),
        CallbackQueryHandler(tg.press, pattern=rf"^{PRESS_PREFIX}\|"),  # /grant's and /roles' choices
        CallbackQueryHandler(tg.press, pattern=rf"^{BATCH_PREFIX}\|"),  # /confirmclean's choice
    ]


def early_handlers() -> list[BaseHandler]:
    """For ``EARLY_GROUP``: they act only when the sender owes a typed step, else let the update through."""
    private = filters.ChatType.PRIVATE
    return [
        CommandHandler("cancel", tg.cancel, filters=private),
        MessageHandler(private & filters.TEXT & ~filters.COMMAND, tg.typed),
    ]
