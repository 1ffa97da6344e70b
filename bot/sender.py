"""Who sent an update, as the messenger names them: the one value every neutral handler starts from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sender:
    channel: str  # "telegram" | "zalo"
    external_id: str
    chat_id: str
    display_name: str | None = None
    language_code: str | None = None  # the messenger's, if it says (Telegram does, Zalo does not)
    buttons: bool = True  # False: choices are typed back by number (Zalo)
