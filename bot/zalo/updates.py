"""Reads a Zalo update (a getUpdates ``result`` or a webhook body) into one small frozen value; pure.

Rule: parsing never raises on what Zalo sends. A missing or mistyped field becomes None (ids are made
strings, ``date`` milliseconds an aware UTC datetime), an unknown event is ``EventKind.OTHER``, and input
that is not an update at all (not a dict) is ``None``. Deciding what to do with the update is the caller's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    STICKER = "sticker"
    VOICE = "voice"
    UNSUPPORTED = "unsupported"  # files, locations, contact cards...: Zalo does not pass them to bots
    OTHER = "other"  # an event name this code does not know (yet)


_EVENTS = {
    "message.text.received": EventKind.TEXT,
    "message.image.received": EventKind.IMAGE,
    "message.sticker.received": EventKind.STICKER,
    "message.voice.received": EventKind.VOICE,
    "message.unsupported.received": EventKind.UNSUPPORTED,
}


@dataclass(frozen=True)
class ZaloUpdate:
    kind: EventKind
    event_name: str | None
    user_id: str | None
    display_name: str | None
    chat_id: str | None
    chat_type: str | None  # "PRIVATE" or "GROUP"
    message_id: str | None
    date: datetime | None
    text: str | None = None
    photo_url: str | None = None  # `photo_url`, or `photo` in older payloads
    caption: str | None = None


def parse_update(data: Any) -> ZaloUpdate | None:
    """The update in ``data``: either ``{"ok": true, "result": {...}}`` or the bare ``{...}``."""
    if isinstance(data, dict) and "result" in data and "event_name" not in data:
        data = data["result"]
    if not isinstance(data, dict):
        return None
    event_name = _str(data.get("event_name"))
    message = _dict(data.get("message"))
    sender, chat = _dict(message.get("from")), _dict(message.get("chat"))
    return ZaloUpdate(
        kind=_EVENTS.get(event_name or "", EventKind.OTHER),
        event_name=event_name,
        user_id=_id(sender.get("id")),
        display_name=_str(sender.get("display_name")),
        chat_id=_id(chat.get("id")),
        chat_type=_str(chat.get("chat_type")),
        message_id=_id(message.get("message_id")),
        date=_date(message.get("date")),
        text=_str(message.get("text")),
        photo_url=_str(message.get("photo_url")) or _str(message.get("photo")),
        caption=_str(message.get("caption")),
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _id(value: Any) -> str | None:
    """Ids are strings on Zalo; a number is accepted and made one (bool is not an id)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return _str(value)


def _date(value: Any) -> datetime | None:
    """Milliseconds since the epoch (a number or a string of digits) as an aware UTC datetime."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
