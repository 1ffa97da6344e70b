"""Who sent an update, as the messenger names them: the one value every neutral handler starts from."""

from __future__ import annotations

from dataclasses import dataclass

from conversations.identity import shown_name


@dataclass(frozen=True)
class Sender:
    channel: str  # "telegram" | "zalo"
    external_id: str
    chat_id: str
    display_name: str | None = None  # as stored (trimmed, cut to the column): compared with the row as it is
    language_code: str | None = None  # the messenger's, if it says (Telegram does, Zalo does not)
    buttons: bool = True  # False: choices are typed back by number (Zalo)

    def __post_init__(self) -> None:
        # One form of the name for every handler, so a refresh writes only when the name really changed.
        object.__setattr__(self, "display_name", shown_name(self.display_name))
