"""A Telegram chat as the person sees it now, read back from the fake Bot API: each message the bot sent with
its latest text and buttons (edits applied), and a citizen who presses the button on the message that shows it
(so the bot's edits of the pressed message land where a real chat would show them)."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from typing import Any

from tests.bot.harness import User, _update_ids

_TAG = re.compile(r"<[^>]+>")


def visible(text: str) -> str:
    """What a person reads of a message: tags dropped, entities as the characters they stand for."""
    return html.unescape(_TAG.sub("", text))


def _buttons(markup: Any) -> list[dict[str, Any]]:
    if not markup:
        return []
    data = json.loads(markup) if isinstance(markup, str) else markup
    return [b for row in data.get("inline_keyboard", []) for b in row]


@dataclass
class Shown:
    message_id: int
    text: str
    buttons: list[dict[str, Any]] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        return [b["text"] for b in self.buttons]


def chat(api: Any, chat_id: int) -> list[Shown]:
    """The bot's messages in ``chat_id``, oldest first, as they read now."""
    shown: dict[int, Shown] = {}
    for call in api.calls:
        p = call.params
        if str(p.get("chat_id", "")) != str(chat_id):
            continue
        if call.method == "sendMessage" and isinstance(call.result, dict):
            mid = call.result["message_id"]
            shown[mid] = Shown(mid, p.get("text", ""), _buttons(p.get("reply_markup")))
        elif call.method == "editMessageText" and int(p.get("message_id", 0)) in shown:
            message = shown[int(p["message_id"])]
            message.text, message.buttons = p.get("text", ""), _buttons(p.get("reply_markup"))
        elif call.method == "editMessageReplyMarkup" and int(p.get("message_id", 0)) in shown:
            shown[int(p["message_id"])].buttons = _buttons(p.get("reply_markup"))
    return list(shown.values())


def received(api: Any, chat_id: int) -> list[str]:
    """Every text the person was given to read, in order: each message sent and each edit of one."""
    out = []
    for call in api.calls:
        p = call.params
        if str(p.get("chat_id", "")) == str(chat_id) and call.method in ("sendMessage", "editMessageText"):
            labels = " ".join(b["text"] for b in _buttons(p.get("reply_markup")))
            out.append(visible(p.get("text", "")) + ("\n" + labels if labels else ""))
    return out


class Citizen(User):
    """A Telegram user who presses buttons where the chat shows them."""

    def view(self) -> list[Shown]:
        return chat(self.h.api, self.id)

    def now(self) -> str:
        """The newest message of the chat, as it reads now."""
        return self.view()[-1].text

    def live(self) -> list[Shown]:
        """The messages that still carry buttons."""
        return [m for m in self.view() if m.buttons]

    async def press_label(self, contains: str) -> str:
        """Presses the button labelled ``contains`` on the newest message that carries one."""
        for message in reversed(self.view()):
            exact = [b for b in message.buttons if b["text"] == contains]
            for b in exact or [b for b in message.buttons if contains in b["text"]]:
                await self.press_on(message, b["callback_data"])
                return b["callback_data"]
        raise AssertionError(f"no button {contains!r} in the chat: {[m.labels for m in self.live()]}")

    async def press_on(self, message: Shown, data: str) -> None:
        bot = {"id": 7000000001, "is_bot": True, "first_name": "CDHT"}
        await self.h.feed(
            {
                "callback_query": {
                    "id": str(next(_update_ids)),
                    "from": self._from(),
                    "chat_instance": "ci",
                    "data": data,
                    "message": {
                        "message_id": message.message_id,
                        "date": 0,
                        "from": bot,
                        "chat": {"id": self.id, "type": "private"},
                        "text": visible(message.text),
                    },
                }
            }
        )
