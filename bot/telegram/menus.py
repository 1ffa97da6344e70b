"""Per-chat command menus on Telegram: a role holder's chat gets the commands of their roles
(``BotCommandScopeChat``), dropped again when they hold none; everyone else sees the default menu (bot.app).
The neutral handlers put ``CommandMenu`` values in the plan (bot.handlers.officer_help); they are set here once
the reply has been sent, after the commit."""

from __future__ import annotations

import logging

from telegram import Bot, BotCommand, BotCommandScopeChat
from telegram.error import TelegramError

from bot.replies import Plan

log = logging.getLogger(__name__)

CHANNEL = "telegram"


async def apply_menus(bot: Bot, plan: Plan) -> None:
    """Sets or drops each Telegram chat menu the plan changes; a refused call is logged, the reply stands."""
    for menu in plan.menus:
        if menu.channel != CHANNEL:
            continue
        try:
            scope = BotCommandScopeChat(int(menu.chat_id))
            if menu.commands:
                await bot.set_my_commands([BotCommand(name, about) for name, about in menu.commands], scope=scope)
            else:
                await bot.delete_my_commands(scope=scope)
        except (TelegramError, ValueError) as exc:  # a chat that blocked the bot, or an id that is no chat
            log.warning("a chat's command menu was not changed: %s", type(exc).__name__)
