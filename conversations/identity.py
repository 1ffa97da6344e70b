"""Who a person is: a messenger (channel) and the id that messenger gives them, never a bare number.

Telegram ids are positive whole numbers; Zalo ids are opaque strings. Operators write a person as the
messenger's id alone for Telegram (``123456789``, the long-standing form) or as ``channel:id``
(``zalo:8f3a...``, ``telegram:123``); ``parse_contact`` is the one place that reads that form, and
``str(contact)`` writes it back the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

EXTERNAL_ID_MAX = 64  # Person.external_id and chat_id
DISPLAY_NAME_MAX = 128  # Person.display_name
_TELEGRAM_ID = re.compile(r"[0-9]+")
_WHITESPACE = re.compile(r"\s")


class Channel(StrEnum):
    TELEGRAM = "telegram"
    ZALO = "zalo"


_CHANNELS = frozenset(c.value for c in Channel)


@dataclass(frozen=True)
class Contact:
    """One person on one messenger."""

    channel: str
    external_id: str

    def __str__(self) -> str:
        return self.external_id if self.channel == Channel.TELEGRAM else f"{self.channel}:{self.external_id}"


CONTACT_FORMS = "a Telegram id (123456789) or channel:id (zalo:abc123, telegram:123456789)"


def parse_contact(text: str) -> Contact:
    """``"123"`` and ``"telegram:123"`` are Telegram, ``"zalo:abc"`` Zalo; anything else raises ValueError
    with one line saying what is wrong."""
    raw = text.strip()
    channel, sep, external_id = raw.partition(":")
    if not sep:
        channel, external_id = Channel.TELEGRAM.value, raw
    channel = channel.strip().lower()
    external_id = external_id.strip()
    if channel not in _CHANNELS:
        known = ", ".join(sorted(_CHANNELS))
        raise ValueError(f"{raw!r}: unknown messenger {channel!r} (known: {known}); write {CONTACT_FORMS}")
    if not external_id:
        raise ValueError(f"{raw!r} names no one: write {CONTACT_FORMS}")
    if channel == Channel.TELEGRAM:
        if _TELEGRAM_ID.fullmatch(external_id) is None or int(external_id) == 0:
            raise ValueError(f"{raw!r} is not a Telegram id (a positive whole number, e.g. 123456789)")
        return Contact(Channel.TELEGRAM.value, str(int(external_id)))
    if len(external_id) > EXTERNAL_ID_MAX or _WHITESPACE.search(external_id):
        raise ValueError(f"{raw!r} is not a {channel} id (at most {EXTERNAL_ID_MAX} characters, no spaces)")
    return Contact(Channel(channel).value, external_id)


def shown_name(name: str | None) -> str | None:
    """A messenger's display name as stored: trimmed, cut to the column, None when empty."""
    name = (name or "").strip()[:DISPLAY_NAME_MAX].strip()
    return name or None
