"""What one update owes the person, composed inside its transaction and sent only after the commit.

A handler fills a ``Plan`` while it holds the transaction (screens to show, a short toast for a pressed
button); the messenger's adapter sends it once the transaction has committed, so no row lock is held over a
network call and nobody is told of a change that was rolled back. The plan is neutral: Telegram draws its
screens with buttons, Zalo with numbered lines (bot.telegram.draw, bot.zalo.draw).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.screens import Screen


@dataclass
class Plan:
    screens: list[Screen] = field(default_factory=list)
    locale: str = "vi"  # the person's language: the adapter's own words (Zalo's reply hint) follow it
    toast: str | None = None  # Telegram: the answer to a pressed button; elsewhere a plain line before the screens
    retire_pressed: bool = False  # the pressed message's buttons are spent: remove them (Telegram)
    # Several files of one album arrive as separate updates: their replies coalesce under this key (Telegram).
    coalesce: str | None = None
    notices_owed: bool = False  # outbox rows were written: wake the dispatcher once committed

    def say(self, text: str) -> None:
        self.screens.append(Screen(text))

    def show(self, screen: Screen) -> None:
        self.screens.append(screen)
