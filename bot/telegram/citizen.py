"""Telegram's side of the citizen handlers: reads who sent an update, calls the messenger-neutral handler
(bot.handlers.citizen), and sends the plan it returns once its transaction has committed: screens as
messages with inline buttons, the answer to a pressed button, the pressed message's spent buttons removed.

The chat reads as a record of the journey: a pressed message becomes the choice made on it ("➡️ Bạn chọn: 10
điểm"), only the newest prompt keeps its buttons, and the evidence step has one receipt, updated in place
("Đã nhận: 2 ảnh"). Which message that is lives in the process's memory of recent chats (``BotData.shown``):
it is only how the chat looks, so a restarted process, another worker or a chat long forgotten sends a new
message where this one would have edited, and a button left on an old message is still refused as stale by
the flow.

An album's files arrive as separate updates: their receipts are coalesced into one, sent after the last
file (only the reply waits in memory; the files are already stored).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable
from typing import Concatenate, ParamSpec

from telegram import Message, Update
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import BadRequest

from bot import evidence as ev
from bot.context import Context
from bot.handlers import citizen, officer_roles
from bot.replies import Plan
from bot.screens import Screen
from bot.telegram.deliver import deliver as telegram_deliver
from bot.telegram.deliver import send
from bot.telegram.draw import keyboard
from bot.telegram.menus import apply_menus

CHANNEL = "telegram"
P = ParamSpec("P")
LIVE = "citizen.live"  # BotData.shown: the id of the newest citizen prompt sent with buttons
RECEIPT = "citizen.receipt"  # BotData.shown: (receipt key, message id) of the evidence step's receipt


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
    if plan.evidence or plan.files or plan.replace_pressed:  # an officer's plan (a role link's answer)
        await telegram_deliver(update, context, plan)
        return
    query = update.callback_query
    pressed = query.message if query is not None and isinstance(query.message, Message) else None
    if query is not None:
        await query.answer(plan.toast)
    await _send_tidy(context, chat.id, plan, pressed)
    await apply_menus(context.bot, plan)  # /help, a role pass claimed, an admin's first /start


async def _send_tidy(context: Context, chat_id: int, plan: Plan, pressed: Message | None) -> None:
    """Sends a citizen's plan so the chat stays a record: the pressed message keeps the choice made (or loses its
    spent buttons), the buttons of the previous prompt go when a new prompt comes, and a receipt of the same
    evidence step replaces the last one while that is still the newest prompt."""
    shown = context.bot_data.shown.of(chat_id)
    live: int | None = shown.get(LIVE)
    if pressed is not None:
        if plan.record:
            with contextlib.suppress(BadRequest):  # too old to edit, or deleted: harmless
                await pressed.edit_text(plan.record, parse_mode=ParseMode.HTML, reply_markup=None)
        elif plan.retire_pressed:
            with contextlib.suppress(BadRequest):
                await pressed.edit_reply_markup(reply_markup=None)
        if (plan.record or plan.retire_pressed) and pressed.message_id == live:
            live = None
    screens = list(plan.screens)
    receipt_id = None
    last_receipt = shown.get(RECEIPT)
    in_place = screens and plan.receipt and live is not None and last_receipt == (plan.receipt, live)
    if in_place and live is not None and await _edited(context, chat_id, live, screens[0]):
        receipt_id, screens = live, screens[1:]
    if live is not None and live != receipt_id and any(screen.rows for screen in screens):
        with contextlib.suppress(BadRequest):  # the previous prompt's buttons: spent once a new prompt comes
            await context.bot.edit_message_reply_markup(chat_id, live, reply_markup=None)
        live = None
    for i, message in enumerate(await send(context, chat_id, screens)):
        if screens[i].rows:
            live = message.message_id
        if i == 0 and plan.receipt and receipt_id is None:
            receipt_id = message.message_id
    shown[LIVE] = live
    shown[RECEIPT] = (plan.receipt, receipt_id) if plan.receipt and receipt_id is not None else None
    if plan.notices_owed:
        context.bot_data.wake_dispatchers()


async def _edited(context: Context, chat_id: int, message_id: int, screen: Screen) -> bool:
    """The message edited to ``screen``; False when Telegram refuses (too old, deleted)."""
    try:
        await context.bot.edit_message_text(
            screen.full_text,
            chat_id=chat_id,
            message_id=message_id,
            parse_mode=ParseMode.HTML,
            reply_markup=keyboard(screen),
            disable_web_page_preview=True,
        )
    except BadRequest as exc:
        return "not modified" in str(exc).lower()
    return True


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
        await _send_tidy(context, chat_id, plan, None)

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
    plan = await citizen.text(context.bot_data, sender_of(update), message.text)
    if plan.viewer_id is not None:  # a step owed as an officer, answered: sent as the officer's answers are
        await telegram_deliver(update, context, plan)
        return
    await deliver(update, context, plan)


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
