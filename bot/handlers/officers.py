"""Telegram's wiring of the officer handlers (written once for every messenger in bot.handlers.officer_desk):
the commands and the ``o|…`` buttons. The typed steps an officer owes reach officer_desk through the
citizen's text handler, which loads the step owed with the person (no handler group of their own).
"""

from __future__ import annotations

from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, filters

from bot.handlers.batch_confirm import PREFIX as BATCH_PREFIX
from bot.handlers.officer_buttons import PATTERN
from bot.handlers.officer_roles import PRESS_PREFIX
from bot.telegram import officers as tg

__all__ = ["handlers"]


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
