"""Draws a neutral ``Screen`` for Zalo, which has no buttons: the choices become numbered lines under the text
(a choice's detail after its label: "3. 5 điểm: Thỉnh thoảng …") and a hint says to reply with the number;
the whole is cut into messages of at most 2000 characters, at paragraph boundaries (bot.message_split), so
the numbered lines a person answers always arrive last.
"""

from __future__ import annotations

from bot.message_split import split_message
from bot.screens import Screen
from locales import gettext

TEXT_LIMIT = 2000  # Zalo's sendMessage limit, in characters


def lines(screen: Screen, locale: str) -> str:
    """The screen as one text: the message, then "1. label" per choice and the reply hint."""
    choices = screen.choices
    if not choices:
        return screen.text
    numbered = "\n".join(
        f"<b>{i}. {c.label}</b>: {c.detail}" if c.detail else f"<b>{i}.</b> {c.label}"
        for i, c in enumerate(choices, start=1)
    )
    hint = (
        gettext("zalo.reply_hint_one", locale)
        if len(choices) == 1
        else gettext("zalo.reply_hint", locale, count=len(choices))
    )
    return f"{screen.text}\n\n{numbered}\n\n<i>{hint}</i>"


def messages(screen: Screen, locale: str) -> list[str]:
    """The screen as the Zalo messages to send, each within the limit."""
    return split_message(lines(screen, locale), TEXT_LIMIT)
