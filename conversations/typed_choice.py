"""Which of the choices on screen a typed answer picks (Zalo has no buttons: a person types); pure.

Rule: ``match_choice(typed, choices)`` looks at the answer with case, Vietnamese diacritics (đ/Đ too),
surrounding blanks and punctuation ignored, and
- a number (``"2"``, ``" 2 "``, ``"2."``, the keycap ``"2️⃣"``, ``"🔟"``) always means the choice with that
  number on screen, 1..N: ``Chosen(index)`` with the 0-based index, or ``OutOfRange(number, count)`` so
  the caller can answer "type a number from 1 to N";
- otherwise the answer must equal one of a choice's words or phrases (``"xong"``, ``"Nộp"``, ``"quay lai"``,
  ``"ĐỒNG Ý!"``) as a whole: ``Chosen(index)``. A word two choices share picks neither;
- anything else is ``NoMatch()``.
Each choice is given as the words that select it (its label and any synonyms), in screen order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from conversations.units import strip_marks

_KEYCAP_MARKS = str.maketrans("", "", "\ufe0f\u20e3")  # "2️⃣" is "2" + VS16 + COMBINING ENCLOSING KEYCAP
_KEYCAP_TEN = "\U0001f51f"  # 🔟 has no digit inside
_NOT_WORD = re.compile(r"[\W_]+")
_MAX_DIGITS = 9


@dataclass(frozen=True)
class Chosen:
    index: int  # 0-based: choices[index]


@dataclass(frozen=True)
class OutOfRange:
    number: int | None  # what was typed; None for more than 9 digits (not worth repeating back)
    count: int  # the numbers on screen are 1..count


@dataclass(frozen=True)
class NoMatch:
    pass


ChoiceMatch = Chosen | OutOfRange | NoMatch


def fold(text: str) -> str:
    """A typed text reduced to what matching looks at: 'Quay LẠI!' -> 'quay lai', 'Đồng-ý' -> 'dong y'."""
    text = strip_marks(text.translate(_KEYCAP_MARKS).replace(_KEYCAP_TEN, " 10 ")).casefold()
    return _NOT_WORD.sub(" ", text).strip()


def match_choice(typed: str, choices: Sequence[Iterable[str]]) -> ChoiceMatch:
    """The choice ``typed`` picks among ``choices`` (each: the words that select it), per the module rule."""
    answer = fold(typed)
    if answer.isdecimal():
        digits = answer.lstrip("0") or "0"
        number = int(digits) if len(digits) <= _MAX_DIGITS else None  # int() refuses thousands of digits
        if number is not None and 1 <= number <= len(choices):
            return Chosen(number - 1)
        return OutOfRange(number, len(choices))
    if not answer:
        return NoMatch()
    hits = {i for i, words in enumerate(choices) if any(fold(w) == answer for w in words)}
    return Chosen(hits.pop()) if len(hits) == 1 else NoMatch()
