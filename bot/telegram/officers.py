"""Telegram's side of the officer handlers (bot.handlers.officer_desk): python-telegram-bot callbacks that
read who sent the update, call the neutral handler and send the plan it returns after its commit.

Typed steps (a reason, a decision number, a broadcast's text) need no handler here: the citizen's text
handler loads the officer step owed with the person and hands such a line to officer_desk.answer_typed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram import Update

from bot.context import Context
from bot.handlers import officer_desk
from bot.telegram.citizen import sender_of
from bot.telegram.deliver import deliver
from bot.telegram.menus import apply_menus


def command(name: str) -> Callable[[Update, Context], Awaitable[None]]:
    """The callback for ``/name [args…]``."""

    async def callback(update: Update, context: Context) -> None:
        plan = await officer_desk.command(context.bot_data, sender_of(update), name, list(context.args or []))
        await deliver(update, context, plan)
        await apply_menus(context.bot, plan)

    callback.__name__ = f"officer_{name}"
    return callback


async def press(update: Update, context: Context) -> None:
    """A pressed officer button (``o|…``, ``bc|…``, ``rl|…``)."""
    query = update.callback_query
    assert query is not None
    plan = await officer_desk.press(context.bot_data, sender_of(update), query.data or "")
    await deliver(update, context, plan)
    await apply_menus(context.bot, plan)  # a role revoked: the holder's menu follows
