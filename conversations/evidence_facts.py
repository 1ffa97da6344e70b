"""What an evidence file's text says, as facts the team can check at a glance: no I/O, no OCR, only text in.

From the text OCR (or a PDF) gave: the dates on it ("12/05/2026", "12-5-2026", "ngày 12 tháng 5 năm 2026", a
month "tháng 5/2026"), whether the person's name is on it, which indicators its words tie it to (each
indicator's ``evidence_keywords`` in the criteria pack), and the flags that earn the citizen a follow-up:
- ``outside_year``: dates were found and none lies within 01/01–31/12 of the assessed year;
- ``other_indicator``: the words tie it to another indicator more than to the one it was given for;
- ``unreadable``: set by the reader from the image itself (too dark, blurred, no text), never from the text.
OCR loses diacritics and spacing, so everything is compared folded: lower case, no accents, đ as d, one space.
A flag is a hint for the team, never a verdict: the team decides.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

OUTSIDE_YEAR = "outside_year"
OTHER_INDICATOR = "other_indicator"
UNREADABLE = "unreadable"
FOLLOWUP_FLAGS = (OUTSIDE_YEAR, UNREADABLE, OTHER_INDICATOR)  # the order a follow-up names them in

YEAR_MIN, YEAR_MAX = 1950, 2100
PHASH_BANDS = 4
PHASH_BAND_BITS = 16


def fold(text: str) -> str:
    """Lower case without diacritics (đ as d), every run of whitespace one space: how OCR'd text is compared."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.lower().split())


# --------------------------------------------------------------------------- dates

_D = r"(\d{1,2})"
_Y = r"(\d{4})"
_SEP = r"\s*[/\-.]\s*"
# "12/05/2026", "12-5-2026", "12.05.2026", "12 / 05 / 2026" (OCR often spaces the separators)
_NUMERIC = re.compile(rf"(?<![\d/\-.]){_D}{_SEP}{_D}{_SEP}{_Y}(?![\d])")
# "ngay 12 thang 5 nam 2026", "ngay 12, thang 05, nam 2026", "12 thang 5 nam 2026" (folded already)
_WORDS = re.compile(rf"(?:ngay\s*)?(?<!\d){_D}\s*[,.]?\s*thang\s*{_D}\s*[,.]?\s*nam\s*{_Y}(?!\d)")
# "thang 5/2026", "thang 05-2026", "thang 5 nam 2026": a month, stored as "2026-05"
_MONTH = re.compile(rf"thang\s*{_D}\s*(?:[/\-.]|,?\s*nam)\s*{_Y}(?!\d)")
# "2026-05-12": how phone apps and screenshots often print a day
_ISO = re.compile(r"(?<![\d/\-.])(\d{4})-(\d{1,2})-(\d{1,2})(?![\d/\-.])")
# OCR reads a digit as a letter now and then (O for 0; l, I, | for 1): inside something shaped like a numeric
# date, and only there, those letters are read back as digits.
_DATE_SHAPED = re.compile(r"(?<![a-z0-9])[0-9oli|]{1,2}\s*[/\-.]\s*[0-9oli|]{1,2}\s*[/\-.]\s*[0-9oli|]{4}(?![a-z0-9])")
_AS_DIGIT = str.maketrans({"o": "0", "l": "1", "i": "1", "|": "1"})


def _digits_back(folded: str) -> str:
    def fix(m: re.Match[str]) -> str:
        shaped = m.group()
        return shaped.translate(_AS_DIGIT) if sum(ch.isdigit() for ch in shaped) >= 4 else shaped

    return _DATE_SHAPED.sub(fix, folded)


def _day(d: str, m: str, y: str) -> date | None:
    try:
        found = date(int(y), int(m), int(d))
    except ValueError:
        return None
    return found if YEAR_MIN <= found.year <= YEAR_MAX else None


def find_dates(text: str) -> list[str]:
    """The dates in ``text`` as ISO strings, in reading order, each once: a day as "2026-05-12", a month given
    without a day as "2026-05". Impossible dates (31/02) and years outside 1950..2100 are not dates."""
    folded = _digits_back(fold(text))
    spans: list[tuple[int, int]] = []
    found: list[tuple[int, str]] = []
    for pattern in (_WORDS, _NUMERIC):
        for m in pattern.finditer(folded):
            if any(s <= m.start() < e for s, e in spans):
                continue
            day = _day(*m.groups())
            if day is not None:
                spans.append(m.span())
                found.append((m.start(), day.isoformat()))
    for m in _ISO.finditer(folded):
        if any(s <= m.start() < e for s, e in spans):
            continue
        year, month, day_of_month = m.groups()
        day = _day(day_of_month, month, year)
        if day is not None:
            spans.append(m.span())
            found.append((m.start(), day.isoformat()))
    for m in _MONTH.finditer(folded):
        if any(s <= m.start() < e or s < m.end() <= e for s, e in spans):
            continue
        month, year = int(m.group(1)), int(m.group(2))
        if 1 <= month <= 12 and YEAR_MIN <= year <= YEAR_MAX:
            found.append((m.start(), f"{year:04d}-{month:02d}"))
    out: list[str] = []
    for _, iso in sorted(found):
        if iso not in out:
            out.append(iso)
    return out


def year_of(iso: str) -> int:
    return int(iso[:4])


def outside_year(dates: Sequence[str], year: int) -> bool:
    """True when there are dates and none lies within the assessed year."""
    return bool(dates) and all(year_of(d) != year for d in dates)


# --------------------------------------------------------------------------- name and keywords


def _phrase(words: str) -> re.Pattern[str] | None:
    """A folded phrase as a pattern: whole words, any spacing between them (OCR drops or doubles spaces)."""
    tokens = re.findall(r"[a-z0-9]+", fold(words))
    if not tokens:
        return None
    return re.compile(r"(?<![a-z0-9])" + r"[\s\W_]*".join(re.escape(t) for t in tokens) + r"(?![a-z0-9])")


def name_found(text: str, full_name: str | None) -> bool:
    """Whether the person's full name is in ``text``, ignoring accents, case and spacing; "Nguyễn Văn An" is not
    found in "Nguyễn Văn Anh"."""
    if not full_name:
        return False
    pattern = _phrase(full_name)
    return pattern is not None and pattern.search(fold(text)) is not None


def keyword_scores(text: str, keywords: Mapping[int, Sequence[str]]) -> dict[int, int]:
    """For each indicator with any of its keywords in ``text``: their weight, each keyword counted once and
    weighing as many words as it has (a long phrase like "Bình dân học vụ số" says more than "khóa học")."""
    folded = fold(text)
    scores: dict[int, int] = {}
    for number, words in keywords.items():
        weight = 0
        for kw in {fold(w) for w in words}:
            pattern = _phrase(kw)
            if pattern is not None and pattern.search(folded):
                weight += len(kw.split())
        if weight:
            scores[number] = weight
    return scores


def matched(scores: Mapping[int, int]) -> list[int]:
    """The indicators matched, best first (ties by number)."""
    return sorted(scores, key=lambda n: (-scores[n], n))


def better_indicator(scores: Mapping[int, int], indicator: int) -> int | None:
    """The indicator the words tie the file to more than to ``indicator``, if one does (ties keep the file's)."""
    own = scores.get(indicator, 0)
    best = matched(scores)
    if best and best[0] != indicator and scores[best[0]] > own:
        return best[0]
    return None


# --------------------------------------------------------------------------- the whole reading


@dataclass(frozen=True)
class Facts:
    dates: list[str] = field(default_factory=list)
    name_found: bool = False
    matched: list[int] = field(default_factory=list)
    better: int | None = None  # the indicator it fits better, when flagged other_indicator
    flags: list[str] = field(default_factory=list)


def read_facts(
    text: str,
    *,
    year: int,
    indicator: int,
    keywords: Mapping[int, Sequence[str]],
    full_name: str | None = None,
    unreadable: bool = False,
) -> Facts:
    """Every fact of one file's text; ``unreadable`` (the reader's judgement of the image) adds its flag."""
    dates = find_dates(text)
    scores = keyword_scores(text, keywords)
    better = better_indicator(scores, indicator)
    flags = []
    if outside_year(dates, year):
        flags.append(OUTSIDE_YEAR)
    if unreadable:
        flags.append(UNREADABLE)
    if better is not None:
        flags.append(OTHER_INDICATOR)
    return Facts(
        dates=dates,
        name_found=name_found(text, full_name),
        matched=matched(scores),
        better=better,
        flags=flags,
    )


# --------------------------------------------------------------------------- perceptual hash bands


def phash_bands(phash: str) -> tuple[int, int, int, int]:
    """A 64-bit perceptual hash (16 hex digits) cut into four 16-bit integers, high bits first: two hashes within
    Hamming distance 3 share at least one band exactly, so each band is an index to probe."""
    value = int(phash, 16)
    if not 0 <= value < 1 << (PHASH_BANDS * PHASH_BAND_BITS) or len(phash) != 16:
        raise ValueError(f"not a 64-bit hex hash: {phash!r}")
    mask = (1 << PHASH_BAND_BITS) - 1
    shifts = range((PHASH_BANDS - 1) * PHASH_BAND_BITS, -1, -PHASH_BAND_BITS)
    b0, b1, b2, b3 = (value >> s & mask for s in shifts)
    return b0, b1, b2, b3


def hamming(a: str, b: str) -> int:
    """Bits that differ between two hex hashes."""
    return (int(a, 16) ^ int(b, 16)).bit_count()
