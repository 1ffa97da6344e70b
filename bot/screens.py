"""What a step shows, whatever the messenger: text in a small HTML subset, and choices bound to events.

A ``Screen`` is built once by ``bot.render`` and drawn by each messenger's adapter: Telegram draws the
choices as inline buttons carrying ``data``; Zalo, which has no buttons, numbers them in the text and takes
the number, its keycap or one of the choice's ``words`` typed back. Either way the choice comes back as the
same ``data`` (``bot.callbacks``), so both messengers reach the same flow event and the same stale-or-forged
check. Text uses only ``<b>``, ``<i>`` and escaped entities, which both messengers show.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Choice:
    label: str  # short: a button's label, or the line after the number on Zalo
    data: str  # the encoded event this choice stands for (bot.callbacks)
    words: tuple[str, ...] = ()  # typed words that pick it besides its number ("xong", "nộp")
    # What the choice stands for when the label cannot say it ("10 điểm": what a person at that level does).
    # Where choices are written out (Zalo) it follows the number and label; where they are buttons, which hold
    # about 25 characters (Telegram), it is a line of the text (``Screen.full_text``).
    detail: str = ""


@dataclass(frozen=True)
class Screen:
    text: str
    rows: tuple[tuple[Choice, ...], ...] = ()  # Telegram keeps the rows; Zalo numbers them in order

    @property
    def choices(self) -> tuple[Choice, ...]:
        return tuple(choice for row in self.rows for choice in row)

    @property
    def full_text(self) -> str:
        """The text where the choices are buttons: each choice's detail as a line after it."""
        details = [f"• <b>{c.label}</b>: {c.detail}" for c in self.choices if c.detail]
        return f"{self.text}\n\n" + "\n".join(details) if details else self.text

    def without_details(self) -> Screen:
        """The same choices with their labels alone (shown again under another text)."""
        rows = tuple(tuple(replace(c, detail="") for c in row) for row in self.rows)
        return replace(self, rows=rows)


def one_per_row(*choices: Choice) -> tuple[tuple[Choice, ...], ...]:
    return tuple((c,) for c in choices)
