"""What a unit's join code, name and pack overrides may be, checked the same way by every door that makes one.

A join code travels in a Telegram deep link (``t.me/bot?start=CODE``), whose start parameter allows only
``A-Z a-z 0-9 _ -`` and at most 64 characters; our column holds 32. A refused code comes with a suggestion made
from what the officer typed (or the unit's name): "Thôn Một" -> ``THON-MOT``.
"""

from __future__ import annotations

import re
import unicodedata

CODE_MAX = 32
NAME_MAX = 200
HEADCOUNT_MAX = 200_000_000  # twice Việt Nam: anything more is a typo
_CODE = re.compile(rf"[A-Za-z0-9_-]{{1,{CODE_MAX}}}")


def strip_marks(text: str) -> str:
    """Vietnamese without its diacritics: 'Đông Hà' -> 'Dong Ha' (đ is a letter of its own, not d + a mark)."""
    text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in text if unicodedata.category(c) != "Mn")


def code_allowed(code: str) -> bool:
    return _CODE.fullmatch(code) is not None


def suggest_code(text: str) -> str:
    """A code a join link allows, made from ``text``; empty when nothing usable is left."""
    words = re.sub(r"[^A-Za-z0-9_\s-]", "", strip_marks(text).upper()).split()
    code = re.sub(r"-{2,}", "-", "-".join(words)).strip("-")
    return code[:CODE_MAX].rstrip("-")


def code_problem(code: str, name: str = "") -> str | None:
    """None when ``code`` can be a join code, else one line saying why and what to use instead."""
    if not code.strip():
        suggestion = suggest_code(name)
        return "the unit code is empty" + (f"; try {suggestion}" if suggestion else "")
    if code_allowed(code):
        return None
    suggestion = suggest_code(code) or suggest_code(name)
    return f'unit code "{code}" may only use A-Z a-z 0-9 _ - (at most {CODE_MAX})' + (
        f"; try {suggestion}" if suggestion else ""
    )


def clean_name(name: str) -> str:
    """The name as stored: blanks collapsed."""
    return " ".join(name.split())


def name_problem(name: str) -> str | None:
    cleaned = clean_name(name)
    if not cleaned:
        return "the unit name is empty"
    if len(cleaned) > NAME_MAX:
        return f"the unit name is longer than {NAME_MAX} characters"
    return None


def parse_overrides(text: str) -> dict[str, str]:
    """``"phu-luc-iv=phu-luc-iv-i67"`` (several separated by ';' or ',') -> {base: pack}; '' -> {}.

    Raises ValueError with one line when a part is not BASE=PACK or names a base twice."""
    out: dict[str, str] = {}
    for part in re.split(r"[;,\n]", text):
        part = part.strip()
        if not part:
            continue
        base, sep, pack = part.partition("=")
        base, pack = base.strip(), pack.strip()
        if not sep or not base or not pack or any(c.isspace() for c in base + pack):
            raise ValueError(f"override {part!r} must be BASE=PACK, e.g. phu-luc-iv=phu-luc-iv-i67")
        if base in out and out[base] != pack:
            raise ValueError(f"override for {base} given twice ({out[base]}, {pack})")
        out[base] = pack
    return out


def format_overrides(overrides: dict[str, str]) -> str:
    return "; ".join(f"{base}={pack}" for base, pack in sorted(overrides.items()))
