"""Telegram's side of the officer handlers (bot.handlers.officer_desk): python-telegram-bot callbacks that
read who sent the update, call the neutral handler and send the plan it returns after its commit.

Typed steps (a reason, a decision number, a broadcast's text) are caught in an earlier handler group
(``EARLY_GROUP``): when the sender owes one, the text is taken and the update stops there
(``ApplicationHandlerStop``); otherwise it goes on to the citizen's handlers untouched. A filter could not
do this (filters are synchronous and cannot read the database).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram import Update
from telegram.ext import ApplicationHandlerStop

from bot.context import Context
from bot.handlers import officer_desk
from bot.telegram.citizen import sender_of
from bot.telegram.deliver import deliver
from bot.telegram.menus import apply_menus

EARLY_GROUP = -1


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


async def typed(update: Update, context: Context) -> None:
    """Text typed by someone who owes an officer step; anything else goes on to the citizen's handlers."""
    message = update.effective_message
    assert message is not None and message.text is not None
    plan = await officer_desk.typed(context.bot_data, sender_of(update), message.text)
    if plan is None:
        return
    await deliver(update, context, plan)
    raise ApplicationHandlerStop


async def cancel(update: Update, context: Context) -> None:
    """/cancel drops the step an officer owes; without one, the citizen's /cancel answers."""
    plan = await officer_desk.cancel(context.bot_data, sender_of(update))
    if plan is None:
        return
    await deliver(update, context, plan)
    raise ApplicationHandlerStop
