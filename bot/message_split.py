"""Splits a message that is too long for one send into parts within a messenger's limit.

Rule: ``split_message(text, limit)`` returns parts of at most ``limit`` characters (tags included), each
cut at the last paragraph break (blank line) that fits, else the last line break, else the last blank
between words; a single word longer than a whole part is the only thing ever cut hard. With ``html=True``
(the default) no cut falls inside a tag (``<b>``, ``<a href="...">``) or an entity (``&amp;``), and every
tag still open at a cut is closed at the end of its part and opened again, as it was written, at the start
of the next, so each part is well-formed on its own. The blanks at a cut are dropped; nothing else changes.
A text that fits is returned as it is, in a list of one. A limit too small for the tags open at a cut
(a few dozen characters) raises ValueError.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from telegram.constants import MessageLimit

from bot.zalo.client import MAX_TEXT

ZALO_LIMIT = MAX_TEXT  # 2000
TELEGRAM_LIMIT = int(MessageLimit.MAX_TEXT_LENGTH)  # 4096

_ATOM = re.compile(r"</?[A-Za-z][\w-]*(?:\s[^<>]*)?/?>|&(?:#\d+|#[xX][0-9A-Fa-f]+|[A-Za-z]\w*);")
_TAG_NAME = re.compile(r"</?([A-Za-z][\w-]*)")
_VOID = frozenset({"br", "hr", "img", "wbr"})


@dataclass(frozen=True)
class _Markup:
    """Where tags and entities sit, and which tags are open after each tag."""

    atoms: list[tuple[int, int]]  # (start, end) of every tag and entity, in order
    tag_ends: list[int]  # end position of each tag, in order
    open_after: list[tuple[tuple[str, str], ...]]  # (name, opening tag as written) open after each tag

    def inside_atom(self, pos: int) -> bool:
        i = bisect.bisect_right(self.atoms, (pos, float("inf"))) - 1
        return i >= 0 and self.atoms[i][0] < pos < self.atoms[i][1]

    def open_at(self, pos: int) -> tuple[tuple[str, str], ...]:
        i = bisect.bisect_right(self.tag_ends, pos) - 1
        return self.open_after[i] if i >= 0 else ()


def _scan(text: str, html: bool) -> _Markup:
    atoms: list[tuple[int, int]] = []
    tag_ends: list[int] = []
    open_after: list[tuple[tuple[str, str], ...]] = []
    stack: list[tuple[str, str]] = []
    for found in _ATOM.finditer(text) if html else ():
        atoms.append(found.span())
        raw = found.group()
        if not raw.startswith("<"):
            continue  # an entity: only uncuttable
        name = _TAG_NAME.match(raw).group(1).lower()  # type: ignore[union-attr]
        if raw.startswith("</"):
            for i in range(len(stack) - 1, -1, -1):
                if stack[i][0] == name:
                    del stack[i]
                    break
        elif name not in _VOID and not raw.endswith("/>"):
            stack.append((name, raw))
        tag_ends.append(found.end())
        open_after.append(tuple(stack))
    return _Markup(atoms, tag_ends, open_after)


def _closers(tags: tuple[tuple[str, str], ...]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(tags))


def _visible(part: str, html: bool) -> str:
    return _ATOM.sub("", part).strip() if html else part.strip()


def split_message(text: str, limit: int, *, html: bool = True) -> list[str]:
    """``text`` in parts of at most ``limit`` characters, cut as the module rule says."""
    if len(text) <= limit:
        return [text]
    markup = _scan(text, html)
    parts: list[str] = []
    start, end_of_text = 0, len(text)
    while start < end_of_text:
        reopen = "".join(raw for _, raw in markup.open_at(start))

        def fits(pos: int, start: int = start, reopen: str = reopen) -> bool:
            return len(reopen) + (pos - start) + len(_closers(markup.open_at(pos))) <= limit

        cut = end_of_text if fits(end_of_text) else _best_cut(text, markup, start, fits, limit - len(reopen))
        part = reopen + text[start:cut].rstrip() + _closers(markup.open_at(cut))
        if _visible(part, html):
            parts.append(part)
        start = cut
        while start < end_of_text and text[start].isspace():
            start += 1
    return parts


def _best_cut(text: str, markup: _Markup, start: int, fits: Callable[[int], bool], room: int) -> int:
    """The cut for a part starting at ``start``: the furthest paragraph break that fits, else line break,
    else blank, else (one overlong word) the furthest position outside a tag or entity."""
    furthest = min(len(text), start + max(room, 0))
    candidates = [p for p in range(furthest, start, -1) if not markup.inside_atom(p) and fits(p)]
    for is_break in (
        lambda p: text.startswith("\n\n", p),
        lambda p: text[p] == "\n",
        lambda p: text[p].isspace(),
    ):
        for p in candidates:
            if p < len(text) and is_break(p) and text[start:p].strip():
                return p
    if not candidates:
        raise ValueError(f"limit {room} is too small for the tags open at this point of the message")
    whole = [p for p in candidates if p == len(text) or not unicodedata.combining(text[p])]  # keep "ệ" whole
    return (whole or candidates)[0]
