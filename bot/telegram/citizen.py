"""Telegram's side of the citizen handlers: reads who sent an update, calls the messenger-neutral handler
(bot.handlers.citizen), and sends the plan it returns once its transaction has committed: screens as
messages with inline buttons, the answer to a pressed button, the pressed message's spent buttons removed.

An album's files arrive as separate updates: their receipts are coalesced into one, sent after the last
file (only the reply waits in memory; the files are already stored).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Concatenate, ParamSpec

from telegram import Message, Update
from telegram.constants import ChatMemberStatus, ChatType

from bot import evidence as ev
from bot.context import Context
from bot.handlers import citizen, officer_roles
from bot.replies import Plan
from bot.telegram.deliver import deliver as telegram_deliver
from bot.telegram.deliver import send

CHANNEL = "telegram"
P = ParamSpec("P")


def sender_of(update: Update) -> citizen.Sender:
    user, chat = update.effective_user, update.effective_chat
    assert user is not None and chat is not None
    return citizen.Sender(
        channel=CHANNEL,
        external_id=str(user.id),
        chat_id=str(chat.id),
        display_name=user.full_name or None,
        language_code=user.language_code,
    )


async def deliver(update: Update, context: Context, plan: Plan) -> None:
    """Sends ``plan`` (after the handler's transaction has committed); an album's receipt waits for its last file."""
    chat = update.effective_chat
    assert chat is not None
    if plan.coalesce and context.settings.album_settle_seconds > 0:
        query = update.callback_query
        if query is not None:
            await query.answer(plan.toast)
        _after_album(context, chat.id, plan)
        return
    await telegram_deliver(update, context, plan)


def _after_album(context: Context, chat_id: int, plan: Plan) -> None:
    """Each file of an album postpones the album's reply a little, so the count is given once, after the last."""
    pending = context.bot_data.album_replies
    key = f"{chat_id}:{plan.coalesce}"
    earlier = pending.get(key)
    if earlier is not None and not earlier.done():
        earlier.cancel()

    async def reply_when_settled() -> None:
        await asyncio.sleep(context.settings.album_settle_seconds)
        pending.pop(key, None)
        await send(context, chat_id, plan.screens)

    pending[key] = context.application.create_task(reply_when_settled(), name=f"album:{key}")


def adapt(
    handler: Callable[Concatenate[citizen.BotData, citizen.Sender, P], Awaitable[Plan]],
) -> Callable[[Update, Context], Awaitable[None]]:
    """A python-telegram-bot callback for a neutral handler that needs nothing but the sender."""

    @functools.wraps(handler)
    async def callback(update: Update, context: Context) -> None:
        plan = await handler(context.bot_data, sender_of(update))  # type: ignore[call-arg]
        await deliver(update, context, plan)

    return callback


help_command = adapt(citizen.help_command)
status = adapt(citizen.status)
cancel = adapt(citizen.cancel)
language = adapt(citizen.language)
my_data = adapt(citizen.my_data)
delete_me = adapt(citizen.delete_me)
unknown_command = adapt(citizen.unknown_command)
other_media = adapt(citizen.other_media)


async def start(update: Update, context: Context) -> None:
    """Greets a newcomer with the consent request, or shows a returning person the step they are on."""
    if context.args and officer_roles.is_role_pass(context.args[0]):  # a one-time role link, not a join code
        await deliver(update, context, await officer_roles.redeem(context.bot_data, sender_of(update), context.args[0]))
        return
    await deliver(update, context, await citizen.start(context.bot_data, sender_of(update), context.args or ()))


async def text(update: Update, context: Context) -> None:
    """Takes a typed name or join code; elsewhere, points to the buttons and shows the step again."""
    message = update.effective_message
    assert message is not None and message.text is not None
    await deliver(update, context, await citizen.text(context.bot_data, sender_of(update), message.text))


async def button(update: Update, context: Context) -> None:
    """A pressed button: applied if it belongs to the presser and to the current step."""
    query = update.callback_query
    assert query is not None
    if not isinstance(query.message, Message):  # too old for Telegram to say where it was
        await query.answer()
        return
    await deliver(update, context, await citizen.press(context.bot_data, sender_of(update), query.data))


async def evidence(update: Update, context: Context) -> None:
    """A photo or document: downloaded through getFile, checked, and recorded for the current indicator."""
    message = update.effective_message
    assert message is not None
    try:
        item: ev.Candidate | ev.Refused | None = ev.candidate(message)
    except ev.Refused as refused:
        item = refused
    assert item is not None  # the handler's filter lets only photos and documents through

    async def fetch(root, where):  # type: ignore[no-untyped-def]
        assert isinstance(item, ev.Candidate)
        return await ev.download(context.bot, item, root, where)

    await deliver(update, context, await citizen.evidence(context.bot_data, sender_of(update), item, fetch))


async def membership(update: Update, context: Context) -> None:
    """Notes when a person blocks or unblocks the bot, so nothing is sent to someone who left."""
    change = update.my_chat_member
    if change is None or change.chat.type != ChatType.PRIVATE:
        return
    blocked = change.new_chat_member.status in (ChatMemberStatus.BANNED, ChatMemberStatus.LEFT)
    who = citizen.Sender(CHANNEL, str(change.from_user.id), str(change.chat.id))
    await citizen.set_blocked(context.bot_data, who, blocked)
