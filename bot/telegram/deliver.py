"""Sends a reply plan on Telegram, after the handler's transaction has committed: the answer to a pressed
button, evidence a reviewer asked for (re-sent by Telegram's file_id, or uploaded from EVIDENCE_DIR when it
came by another messenger; albums where Telegram allows them), the screens with inline buttons (the first
redrawing the pressed message when the plan says so), then files made for the person (uploaded: a photo for
an image, a document otherwise; several of a kind in a row as one album).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

from telegram import InputFile, InputMediaDocument, InputMediaPhoto, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot.context import Context
from bot.message_split import TELEGRAM_LIMIT, split_message
from bot.replies import EvidenceSet, OutFile, Plan, StoredFile
from bot.screens import Screen
from bot.telegram.draw import keyboard

log = logging.getLogger(__name__)

CHANNEL = "telegram"
ALBUM_LIMIT = 10  # items in one media group


async def deliver(update: Update, context: Context, plan: Plan) -> None:
    """Sends ``plan`` to the update's chat."""
    query = update.callback_query
    pressed = query.message if query is not None and isinstance(query.message, Message) else None
    if query is not None:
        await query.answer(plan.toast)
        if plan.retire_pressed and pressed is not None:
            with contextlib.suppress(BadRequest):  # already gone, or too old to edit: harmless
                await pressed.edit_reply_markup(reply_markup=None)
    chat = update.effective_chat
    assert chat is not None
    await send_plan(context, chat.id, plan, pressed=pressed)


async def send_plan(context: Context, chat_id: int | str, plan: Plan, *, pressed: Message | None = None) -> None:
    for found in plan.evidence:
        await _send_evidence(context, chat_id, found)
    screens = list(plan.screens)
    if screens and plan.replace_pressed and pressed is not None and await _redrawn(pressed, screens[0]):
        screens = screens[1:]
    await send(context, chat_id, screens)
    for album in _albums(plan.files):
        await _send_files(context, chat_id, album)
    if plan.notices_owed:
        context.bot_data.wake_dispatchers()


async def send(context: Context, chat_id: int | str, screens: list[Screen]) -> list[Message]:
    """Each screen as one message, or several at paragraph breaks past Telegram's limit (buttons on the last);
    returns, per screen, the message that carries its buttons (its last part)."""
    sent = []
    for screen in screens:
        parts = split_message(screen.full_text, TELEGRAM_LIMIT)
        for i, part in enumerate(parts):
            message = await context.bot.send_message(
                chat_id,
                part,
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard(screen) if i == len(parts) - 1 else None,
                disable_web_page_preview=True,
            )
        sent.append(message)
    return sent


async def _redrawn(pressed: Message, screen: Screen) -> bool:
    """The pressed message edited to ``screen``; False when Telegram refuses (too old, deleted)."""
    try:
        await pressed.edit_text(
            screen.full_text, parse_mode=ParseMode.HTML, reply_markup=keyboard(screen), disable_web_page_preview=True
        )
    except BadRequest as exc:
        return "not modified" in str(exc).lower()
    return True


def _albums(files: list[OutFile]) -> list[list[OutFile]]:
    """Files in order, next ones of a kind (images, or other files) grouped, ten at most: Telegram's albums
    take photos or documents, not both (three charts arrive as one album, two CSV files as another)."""
    out: list[list[OutFile]] = []
    for file in files:
        last = out[-1] if out else None
        if last is not None and last[0].is_image == file.is_image and len(last) < ALBUM_LIMIT:
            last.append(file)
        else:
            out.append([file])
    return out


async def _send_files(context: Context, chat_id: int | str, files: list[OutFile]) -> None:
    """One file on its own, several as an album, each with its own caption."""
    if len(files) == 1:
        await _send_file(context, chat_id, files[0])
        return
    kind = InputMediaPhoto if files[0].is_image else InputMediaDocument
    media = [kind(f.content, filename=f.name, caption=f.caption or None, parse_mode=ParseMode.HTML) for f in files]
    await context.bot.send_media_group(chat_id, media)


async def _send_file(context: Context, chat_id: int | str, file: OutFile) -> None:
    upload = InputFile(file.content, filename=file.name)
    caption = file.caption or None
    if file.is_image:
        await context.bot.send_photo(chat_id, upload, caption=caption, parse_mode=ParseMode.HTML)
    else:
        await context.bot.send_document(chat_id, upload, caption=caption, parse_mode=ParseMode.HTML)


@dataclass(frozen=True)
class _Media:
    """What Telegram is given for one evidence file: its own file id, or the stored copy's bytes to upload."""

    ref: str | bytes
    filename: str | None = None


def _media(context: Context, file: StoredFile) -> _Media | None:
    """Telegram's own file by its id; another messenger's from the stored copy (None when it is gone)."""
    if file.channel == CHANNEL:
        return _Media(file.file_id)
    path = Path(context.settings.evidence_dir) / file.path
    try:
        return _Media(path.read_bytes(), file.name or path.name)
    except OSError:
        log.warning("an evidence file is missing from EVIDENCE_DIR: id=%s", file.evidence_id)
        return None


async def _send_evidence(context: Context, chat_id: int | str, found: EvidenceSet) -> None:
    """One indicator's files, asked for beside a review card: photos as albums, documents as albums of
    documents (Telegram groups one kind at a time, 10 at most), a lone file on its own; the caption once,
    on the first."""
    photos = [m for f in found.files if f.kind == "photo" and (m := _media(context, f)) is not None]
    documents = [m for f in found.files if f.kind != "photo" and (m := _media(context, f)) is not None]
    caption: str | None = found.caption
    html = ParseMode.HTML
    try:
        for kind, items in ((InputMediaPhoto, photos), (InputMediaDocument, documents)):
            for start in range(0, len(items), ALBUM_LIMIT):
                chunk = items[start : start + ALBUM_LIMIT]
                one = chunk[0]
                if len(chunk) > 1:
                    media = [
                        kind(m.ref, caption=caption if i == 0 else None, parse_mode=html, filename=m.filename)
                        for i, m in enumerate(chunk)
                    ]
                    await context.bot.send_media_group(chat_id, media)
                elif kind is InputMediaPhoto:
                    await context.bot.send_photo(
                        chat_id, one.ref, caption=caption, parse_mode=html, filename=one.filename
                    )
                else:
                    await context.bot.send_document(
                        chat_id, one.ref, caption=caption, parse_mode=html, filename=one.filename
                    )
                caption = None
    except BadRequest:
        # A file Telegram no longer serves (deleted account …): the card still says how many there were.
        log.warning("could not re-send an evidence file")
