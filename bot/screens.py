"""What a step shows, whatever the messenger: text in a small HTML subset, and choices bound to events.

A ``Screen`` is built once by ``bot.render`` and drawn by each messenger's adapter: Telegram draws the
choices as inline buttons carrying ``data``; Zalo, which has no buttons, numbers them in the text and takes
the number, its keycap or one of the choice's ``words`` typed back. Either way the choice comes back as the
same ``data`` (``bot.callbacks``), so both messengers reach the same flow event and the same stale-or-forged
check. Text uses only ``<b>``, ``<i>`` and escaped entities, which both messengers show.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Choice:
    label: str  # short: a button's label, or the line after the number on Zalo
    data: str  # the encoded event this choice stands for (bot.callbacks)
    words: tuple[str, ...] = ()  # typed words that pick it besides its number ("xong", "nộp")


@dataclass(frozen=True)
class Screen:
    text: str
    rows: tuple[tuple[Choice, ...], ...] = ()  # Telegram keeps the rows; Zalo numbers them in order

    @property
    def choices(self) -> tuple[Choice, ...]:
        return tuple(choice for row in self.rows for choice in row)


def one_per_row(*choices: Choice) -> tuple[tuple[Choice, ...], ...]:
    return tuple((c,) for c in choices)
