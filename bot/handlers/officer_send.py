"""Sending for officer handlers: messages collected inside a transaction are sent after it commits.

A handler fills a ``Replies`` while it holds the transaction and calls ``deliver`` once it has committed,
so nobody is told of a change that was rolled back. What a citizen is owed because of the change (a
decision, a return) is not sent here but written to the outbox in the same transaction; ``deliver`` then
only wakes the dispatcher, which sends it within Telegram's limits without holding up this update.

Evidence is re-sent by Telegram file_id: several photos of one indicator go as an album (a media group),
documents as documents.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from telegram import InlineKeyboardMarkup, InputMediaPhoto
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot.context import Context
from bot.reminders import dispatch_soon

log = logging.getLogger(__name__)

TEXT_LIMIT = 4000  # Telegram's limit is 4096 characters a message
ALBUM_LIMIT = 10  # items in one media group


@dataclass(frozen=True)
class File:
    kind: str  # photo | document
    file_id: str


@dataclass(frozen=True)
class EvidenceSet:
    """One indicator's files, with the caption that names the indicator."""

    caption: str
    files: tuple[File, ...]


@dataclass
class Message:
    chat_id: str
    text: str = ""
    markup: InlineKeyboardMarkup | None = None
    evidence: tuple[EvidenceSet, ...] = ()
    edit_id: int | None = None  # replace this message (a keyboard whose choices changed) instead of sending


@dataclass
class Replies:
    items: list[Message] = field(default_factory=list)
    notices_owed: bool = False  # outbox rows were written: wake the dispatcher once committed

    def owed(self) -> None:
        self.notices_owed = True

    def say(self, chat_id: str, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        self.items.append(Message(chat_id, text, markup))

    def lines(self, chat_id: str, lines: list[str], markup: InlineKeyboardMarkup | None = None) -> None:
        """A long list, split into as many messages as it takes; the buttons go with the last."""
        chunks: list[list[str]] = [[]]
        size = 0
        for line in lines:
            if chunks[-1] and size + len(line) + 1 > TEXT_LIMIT:
                chunks.append([])
                size = 0
            chunks[-1].append(line)
            size += len(line) + 1
        for i, chunk in enumerate(chunks):
            self.say(chat_id, "\n".join(chunk), markup if i == len(chunks) - 1 else None)

    def edit(self, chat_id: str, message_id: int, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        self.items.append(Message(chat_id, text, markup, edit_id=message_id))

    def evidence(self, chat_id: str, sets: tuple[EvidenceSet, ...]) -> None:
        if sets:
            self.items.append(Message(chat_id, evidence=sets))


async def deliver(context: Context, replies: Replies) -> None:
    # Only the officer's own chat is answered here; citizens are told through the outbox.
    for item in replies.items:
        for found in item.evidence:
            await _send_evidence(context, item.chat_id, found)
        if item.text and item.edit_id is not None and await _edited(context, item):
            continue
        if item.text:
            await context.bot.send_message(
                item.chat_id,
                item.text,
                parse_mode=ParseMode.HTML,
                reply_markup=item.markup,
                disable_web_page_preview=True,
            )
    if replies.notices_owed:
        dispatch_soon(context.application)


async def _edited(context: Context, item: Message) -> bool:
    """Edits the message in place; False when Telegram refuses (too old, deleted), so it is sent anew."""
    try:
        await context.bot.edit_message_text(
            item.text,
            chat_id=item.chat_id,
            message_id=item.edit_id,
            parse_mode=ParseMode.HTML,
            reply_markup=item.markup,
            disable_web_page_preview=True,
        )
    except BadRequest as exc:
        return "not modified" in str(exc).lower()
    return True


async def _send_evidence(context: Context, chat_id: str, found: EvidenceSet) -> None:
    photos = [f for f in found.files if f.kind == "photo"]
    documents = [f for f in found.files if f.kind != "photo"]
    try:
        if len(photos) == 1:
            await context.bot.send_photo(chat_id, photos[0].file_id, caption=found.caption, parse_mode=ParseMode.HTML)
        for start in range(0, len(photos) if len(photos) > 1 else 0, ALBUM_LIMIT):
            chunk = photos[start : start + ALBUM_LIMIT]
            media = [
                InputMediaPhoto(f.file_id, caption=found.caption if i == 0 else None, parse_mode=ParseMode.HTML)
                for i, f in enumerate(chunk)
            ]
            if len(media) == 1:
                await context.bot.send_photo(chat_id, chunk[0].file_id, caption=found.caption)
            else:
                await context.bot.send_media_group(chat_id, media)
        for doc in documents:
            await context.bot.send_document(chat_id, doc.file_id, caption=found.caption, parse_mode=ParseMode.HTML)
    except BadRequest:
        # A file Telegram no longer serves (deleted account …): the card still says how many there were.
        log.warning("could not re-send an evidence file")
