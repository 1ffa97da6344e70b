"""Reads a list of units from CSV or XLSX into checked rows; every problem names its line. No database here.

Columns (header names are matched loosely, English or Vietnamese): code, name, parent code, kind, headcount,
override. Codes follow ``conversations.units`` (what a join link allows). Kinds accept the stored names (province,
commune, community, learning) and the words an officer uses (tỉnh, xã, phường, thôn, tổ dân phố, trường, cơ quan,
doanh nghiệp …). Override cells read ``phu-luc-iv=phu-luc-iv-i67`` (several separated by ';'): without the column
a unit keeps its overrides, with it an empty cell means none.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from zipfile import BadZipFile

from conversations.criteria import Registry
from conversations.units import HEADCOUNT_MAX, clean_name, code_problem, name_problem, parse_overrides, strip_marks
from storage.models import UnitKind

# 1200, or grouped in thousands as Vietnamese (1.200) or English (1,200) writes it; never a fraction.
_WHOLE = re.compile(r"\d+|\d{1,3}(?:[.,\s]\d{3})+")

_HEADERS = {
    "code": ("code", "unit code", "ma", "ma don vi"),
    "name": ("name", "unit name", "ten", "ten don vi"),
    "parent": ("parent code", "parent", "parent unit", "ma cap tren", "ma don vi cap tren", "cap tren"),
    "kind": ("kind", "type", "loai", "loai don vi"),
    "headcount": ("headcount", "people", "so nguoi", "so luong", "tong so", "dan so"),
    "override": ("override", "overrides", "pack override", "pack overrides", "thay the", "bo tieu chi thay the"),
}

_KINDS = {
    UnitKind.PROVINCE: ("province", "tinh", "thanh pho truc thuoc trung uong"),
    UnitKind.COMMUNE: ("commune", "ward", "xa", "phuong", "thi tran", "dac khu"),
    UnitKind.COMMUNITY: ("community", "village", "thon", "ap", "ban", "to dan pho", "khu pho", "cong dong", "lang"),
    UnitKind.LEARNING: (
        "learning",
        "school",
        "office",
        "company",
        "truong",
        "truong hoc",
        "co quan",
        "doanh nghiep",
        "cong ty",
        "don vi hoc tap",
    ),
}
_KIND_WORDS = {word: kind for kind, words in _KINDS.items() for word in words}


@dataclass(frozen=True)
class UnitRow:
    line: int  # the line (CSV) or row (XLSX) number the officer sees
    code: str
    name: str
    parent_code: str | None
    kind: str
    headcount: int | None  # None: blank in the file, keep what is stored
    overrides: dict[str, str] | None = None  # None: no override column, keep what is stored


@dataclass
class Parsed:
    rows: list[UnitRow] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, message)


class ImportFileError(ValueError):
    """The file as a whole cannot be read (unknown format, no header, missing columns)."""


def fold(text: str) -> str:
    """Lower case without diacritics or extra blanks: 'Mã cấp trên' -> 'ma cap tren'."""
    text = strip_marks(text).lower()
    return " ".join(text.replace("_", " ").replace("-", " ").split())


def kind_of(raw: str) -> str | None:
    return _KIND_WORDS.get(fold(raw)) if raw.strip() else UnitKind.COMMUNITY


def read_table(path: Path) -> list[tuple[int, list[str]]]:
    """The file's rows as (line number, cells as text); XLSX: the first sheet."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook
        from openpyxl.utils.exceptions import InvalidFileException

        try:
            book = load_workbook(path, read_only=True, data_only=True)
        except (BadZipFile, InvalidFileException, KeyError) as exc:
            raise ImportFileError(f"{path.name} is not a readable Excel workbook: save it again as XLSX") from exc
        try:
            sheet = book.worksheets[0]
            return [
                (n, [_cell(v) for v in values]) for n, values in enumerate(sheet.iter_rows(values_only=True), start=1)
            ]
        finally:
            book.close()
    if suffix in (".csv", ".txt"):
        try:
            text = path.read_bytes().decode("utf-8-sig")  # Excel writes a BOM
        except UnicodeDecodeError as exc:  # Excel's plain "CSV" is the Windows code page (cp1258 here)
            raise ImportFileError(
                f'{path.name} is not UTF-8 text: in Excel save it as "CSV UTF-8 (Comma delimited)", or as XLSX'
            ) from exc
        dialect = _sniff(text)
        return [(n, row) for n, row in enumerate(csv.reader(io.StringIO(text), dialect), start=1)]
    raise ImportFileError(f"{path.name}: use a .csv or .xlsx file")


def _sniff(text: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(text.splitlines()[0] if text else "", delimiters=",;\t")
    except csv.Error:
        return csv.excel


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def parse_rows(table: Sequence[tuple[int, Sequence[str]]], registry: Registry | None = None) -> Parsed:
    """Checks each row on its own and across the file (duplicate codes); the tree is checked by the importer.
    With ``registry``, each override must name a pack a unit may use instead of the base."""
    table = [(n, [c.strip() for c in row]) for n, row in table if any(c.strip() for c in row)]
    if not table:
        raise ImportFileError("the file is empty")
    columns = _columns(table[0][1])
    out = Parsed()
    seen: dict[str, int] = {}
    for line, cells in table[1:]:

        def get(name: str, cells: Sequence[str] = cells) -> str:
            index = columns.get(name)
            return cells[index].strip() if index is not None and index < len(cells) else ""

        row, problems = _row(line, get, "override" in columns, registry)
        if row is not None and row.code in seen:
            problems.append(f"code {row.code} already on line {seen[row.code]}")
        if problems:
            out.errors.extend((line, p) for p in problems)
            continue
        assert row is not None
        seen[row.code] = line
        out.rows.append(row)
    return out


def _columns(header: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, title in enumerate(header):
        key = fold(title)
        for name, aliases in _HEADERS.items():
            if key in aliases and name not in found:
                found[name] = index
    missing = [name for name in ("code", "name") if name not in found]
    if missing:
        raise ImportFileError(
            "the first row must name the columns: code, name, parent code, kind, headcount, override"
            f" (missing: {', '.join(missing)})"
        )
    return found


def _row(
    line: int, get: Callable[[str], str], with_overrides: bool, registry: Registry | None
) -> tuple[UnitRow | None, list[str]]:
    problems = []
    code = get("code").upper()
    name = clean_name(get("name"))
    parent = get("parent").upper() or None
    if not code:
        problems.append("code is empty")
    elif (problem := code_problem(get("code"), name)) is not None:
        problems.append(problem)
    if (problem := name_problem(name)) is not None:
        problems.append(problem.removeprefix("the unit "))
    if parent is not None and parent == code:
        problems.append("a unit cannot be its own parent")
    kind = kind_of(get("kind"))
    if kind is None:
        problems.append(f"kind {get('kind')!r} unknown: use {', '.join(k.value for k in UnitKind)}")
    headcount: int | None = None
    raw = get("headcount")
    if raw:
        if not _WHOLE.fullmatch(raw):
            problems.append(f"headcount {raw!r} is not a whole number of people")
        elif (headcount := int(re.sub(r"\D", "", raw))) > HEADCOUNT_MAX:
            problems.append(f"headcount {raw} is more than {HEADCOUNT_MAX:,}")
    overrides: dict[str, str] | None = None
    if with_overrides:
        try:
            overrides = parse_overrides(get("override"))
        except ValueError as exc:
            problems.append(str(exc))
        else:
            for base, pack in sorted(overrides.items()):
                if registry is not None and (problem := registry.override_problem(base, pack)) is not None:
                    problems.append(f"override {base}={pack}: {problem}")
    if problems:
        return None, problems
    return UnitRow(line, code, name, parent, kind or UnitKind.COMMUNITY, headcount, overrides), []


def parse_file(path: Path, registry: Registry | None = None) -> Parsed:
    return parse_rows(read_table(path), registry)


def describe(errors: Iterable[tuple[int, str]]) -> list[str]:
    return [f"line {line}: {message}" for line, message in errors]
