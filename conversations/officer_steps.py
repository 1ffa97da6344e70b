"""What a line an officer types means, given the one step they owe: a pure machine, like ``flow``.

On Telegram an officer's choices are buttons and only reasons are typed; on Zalo every step is typed. An
officer owes at most one step at a time (one ``officer_pending`` row): a reason for an adjustment or a
return, a decision number, a broadcast's text, or a choice among those of the last screen shown to them
(its ``menu``, kept only where choices are typed). ``read(step, typed)`` says what the line is:

- ``Pick(data)``: a number, keycap or word of the menu (the same data a pressed button carries);
- ``OutOfRange(count)``: a number the menu does not have: "type a number from 1 to N", nothing changes;
- ``Text(text)``: the free text the step waits for, blanks collapsed (a broadcast keeps its lines), within
  the step's length limits;
- ``TooShort(min)`` / ``TooLong(max)``: free text outside them, nothing changes;
- ``UseChoices()``: text where only a choice fits (the return picker);
- ``NotMine()``: the step is a plain menu and the line is none of its choices: it is the citizen's (an
  officer is a citizen too), and the stale menu is dropped by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from conversations.typed_choice import Chosen, OutOfRange, match_choice


class StepKind(StrEnum):
    MENU = "menu"  # only a choice of the last screen
    ADJUST = "adjust"  # the reason for a reviewer's new points
    RETURN_PICK = "return_pick"  # indicators to return, ticked one by one
    RETURN_REASON = "return_reason"  # the reason for returning them
    DECISION = "decision"  # the head's decision number and date
    BROADCAST = "broadcast"  # the text of a message to a unit


# Free text each step takes, (fewest, most) characters after blanks are collapsed.
TEXT_LIMITS: Mapping[StepKind, tuple[int, int]] = {
    StepKind.ADJUST: (3, 1000),
    StepKind.RETURN_REASON: (3, 1000),
    StepKind.DECISION: (1, 200),
    StepKind.BROADCAST: (1, 3500),
}


@dataclass(frozen=True)
class MenuItem:
    data: str  # what choosing it does: the data a button would carry
    words: tuple[str, ...] = ()  # typed words that choose it besides its number

    def to_json(self) -> list[Any]:
        return [self.data, list(self.words)]

    @classmethod
    def from_json(cls, raw: Any) -> MenuItem:
        data, words = raw[0], raw[1]  # a stored item may carry its label after these
        return cls(str(data), tuple(str(w) for w in words))


@dataclass(frozen=True)
class Step:
    kind: StepKind
    menu: tuple[MenuItem, ...] = ()

    @classmethod
    def of(cls, kind: str, menu: Iterable[Any] = ()) -> Step:
        """A step as stored (the row's kind and its ``data["menu"]``); an unknown kind is a plain menu."""
        try:
            step_kind = StepKind(kind)
        except ValueError:
            step_kind = StepKind.MENU
        return cls(step_kind, tuple(MenuItem.from_json(m) for m in menu))


@dataclass(frozen=True)
class Pick:
    data: str


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class TooShort:
    least: int


@dataclass(frozen=True)
class TooLong:
    most: int


@dataclass(frozen=True)
class OutOfMenu:
    count: int  # the numbers on screen are 1..count


@dataclass(frozen=True)
class UseChoices:
    pass


@dataclass(frozen=True)
class NotMine:
    pass


Reading = Pick | Text | TooShort | TooLong | OutOfMenu | UseChoices | NotMine


def read(step: Step, typed: str) -> Reading:
    """What ``typed`` means for ``step`` (see the module's rule)."""
    if step.menu:
        found = match_choice(typed, [item.words for item in step.menu])
        if isinstance(found, Chosen):
            return Pick(step.menu[found.index].data)
        if isinstance(found, OutOfRange) and step.kind not in TEXT_LIMITS:
            return OutOfMenu(found.count)
    limits = TEXT_LIMITS.get(step.kind)
    if limits is not None:
        text = _paragraphs(typed) if step.kind is StepKind.BROADCAST else " ".join(typed.split())
        least, most = limits
        if len(text) < least:
            return TooShort(least)
        if len(text) > most:
            return TooLong(most)
        return Text(text)
    if step.kind is StepKind.RETURN_PICK:
        return UseChoices()
    return NotMine()


def _paragraphs(typed: str) -> str:
    """A message's lines kept (a broadcast is read as written), blanks collapsed within each, at most one
    empty line between paragraphs."""
    lines = [" ".join(line.split()) for line in typed.strip().splitlines()]
    kept: list[str] = []
    for line in lines:
        if line or (kept and kept[-1]):
            kept.append(line)
    return "\n".join(kept).strip()


def menu_of(choices: Sequence[tuple[str, Iterable[str], str]]) -> list[list[Any]]:
    """The menu to store for the choices shown, (data, words, label) in screen order, as JSON."""
    return [[*MenuItem(data, tuple(words)).to_json(), label] for data, words, label in choices]
