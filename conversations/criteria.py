"""Criteria packs: the indicators a person is assessed against, held as data an officer can replace.

A pack is a YAML file in ``conversations/criteria/``. It is validated when loaded and every problem is
reported with its place in the file, so ``cdht criteria check FILE`` tells an officer exactly what to fix.
An *override* file derives a new pack from a base pack by swapping in indicators from a donor pack
(QĐ 324/QĐ-KHVN lets a unit replace indicators 6 and 7 of Phụ lục IV by those of Phụ lục I).
Packs are looked up by ``(id, version)`` so an assessment keeps the pack it started with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

PACKS_DIR = Path(__file__).parent / "criteria"
LANGUAGES = ("vi", "en")
INDICATOR_COUNT = 10
MAX_POINTS = 10
# What a small phone shows whole: a choice's label is cut at about 25 characters, and a one-line text on a
# screen should not wrap into a paragraph (issue 10: screens a 60-year-old reads without scrolling).
SHORT_LABEL_MAX = 25
PACK_SHORT_MAX = 40  # a pack's short name, in a spreadsheet's column ("Phụ lục I")
ONE_LINE_MAX = 160


class PackError(ValueError):
    """A criteria pack that cannot be used; ``problems`` lists every place that is wrong."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))

    def summary(self, limit: int = 3) -> str:
        """One line for an operator: the file and its first problems (``cdht criteria check`` lists them all)."""
        shown = "; ".join(" ".join(p.split()) for p in self.problems[:limit])
        more = len(self.problems) - limit
        return f"{self.source}: {shown}" + (
            f" (and {more} more: cdht criteria check {self.source})" if more > 0 else ""
        )


@dataclass(frozen=True)
class Text:
    """A text in every supported language."""

    vi: str
    en: str

    def get(self, language: str) -> str:
        return self.en if language == "en" else self.vi


@dataclass(frozen=True)
class Level:
    points: int
    label: Text


@dataclass(frozen=True)
class Indicator:
    number: int
    criterion: int
    text: Text
    explanation: Text
    levels: tuple[Level, ...]
    evidence_examples: tuple[Text, ...]
    digital_skill: bool = False
    origin: str = ""  # "phu-luc-i:6" when swapped in by an override
    # One line each: what the level screen says under the indicator (the full explanation is behind "💡 Gợi ý"),
    # and what counts as evidence, on the evidence step (the full list of examples likewise). Optional in a
    # pack: without them the explanation's first sentence and the first example stand in.
    summary: Text | None = None
    evidence_hint: Text | None = None
    # Words that tie an evidence file's text to this indicator (Vietnamese, as printed on certificates and
    # lists; compared without accents by conversations.evidence_facts). Optional: none, no match.
    evidence_keywords: tuple[str, ...] = ()

    def short_explanation(self) -> Text:
        return self.summary or Text(_first_sentence(self.explanation.vi), _first_sentence(self.explanation.en))

    def short_evidence(self) -> Text:
        return self.evidence_hint or self.evidence_examples[0]

    def level(self, points: int) -> Level | None:
        return next((lv for lv in self.levels if lv.points == points), None)


@dataclass(frozen=True)
class Criterion:
    number: int
    title: Text


@dataclass(frozen=True)
class Group:
    """A population group a person picks at registration; it decides the pack."""

    code: str
    label: Text  # the full description, shown in the message
    short: Text | None = None  # the choice's label, at most SHORT_LABEL_MAX characters; else the full label

    @property
    def choice_label(self) -> Text:
        return self.short or self.label


def _first_sentence(text: str) -> str:
    head, dot, _ = text.partition(". ")
    return head + dot.strip()


@dataclass(frozen=True)
class Pack:
    id: str
    version: int
    title: Text
    source: str
    reconstructed: bool
    criteria: tuple[Criterion, ...]
    indicators: tuple[Indicator, ...]
    groups: tuple[Group, ...] = ()
    digital_skill_min_points: int = 8
    derived_from: str = ""
    short: Text | None = None  # "Phụ lục I", where the title is too long to repeat (an export's column)

    @property
    def short_title(self) -> Text:
        return self.short or self.title

    @property
    def key(self) -> tuple[str, int]:
        return (self.id, self.version)

    def indicator(self, number: int) -> Indicator:
        for ind in self.indicators:
            if ind.number == number:
                return ind
        raise KeyError(number)

    @property
    def numbers(self) -> tuple[int, ...]:
        return tuple(ind.number for ind in self.indicators)

    def evidence_keywords(self) -> dict[int, tuple[str, ...]]:
        """Each indicator's evidence keywords, by number (the evidence reader's input)."""
        return {ind.number: ind.evidence_keywords for ind in self.indicators}

    def criterion(self, number: int) -> Criterion:
        for c in self.criteria:
            if c.number == number:
                return c
        raise KeyError(number)


# --------------------------------------------------------------------------- parsing with problems


PACK_KEYS = frozenset(
    {
        "id",
        "version",
        "title",
        "short",
        "source",
        "reconstructed",
        "criteria",
        "indicators",
        "groups",
        "digital_skill_min_points",
    }
)
OVERRIDE_KEYS = frozenset({"kind", "id", "version", "title", "short", "source", "base", "donor", "indicators"})
INDICATOR_KEYS = frozenset(
    {
        "number",
        "criterion",
        "text",
        "explanation",
        "levels",
        "evidence_examples",
        "digital_skill",
        "summary",
        "evidence_hint",
        "evidence_keywords",
    }
)
GROUP_KEYS = frozenset({"code", "label", "short"})


@dataclass
class _Reader:
    """Collects every problem instead of stopping at the first one."""

    problems: list[str] = field(default_factory=list)

    def only(self, data: Any, allowed: frozenset[str], where: str) -> None:
        """A misspelt key (``digital_skil``) would silently change nothing: report it."""
        if isinstance(data, Mapping):
            for key in sorted(set(data) - allowed, key=str):
                self.problems.append(f"{where}: unknown key '{key}'")

    def flag(self, data: Mapping[str, Any], key: str, where: str) -> bool:
        value = data.get(key, False)
        if not isinstance(value, bool):
            self.problems.append(f"{where}.{key}: expected true or false, got {value!r}")
            return False
        return value

    def need(self, data: Mapping[str, Any], key: str, where: str, kind: type | tuple[type, ...]) -> Any:
        if not isinstance(data, Mapping) or key not in data:
            self.problems.append(f"{where}: missing '{key}'")
            return None
        value = data[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            expected = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            self.problems.append(f"{where}.{key}: expected {expected}, got {type(value).__name__}")
            return None
        return value

    def text(self, data: Mapping[str, Any], key: str, where: str) -> Text:
        raw = self.need(data, key, where, (dict, str))
        if raw is None:
            return Text("", "")
        if isinstance(raw, str):
            self.problems.append(f"{where}.{key}: needs both 'vi' and 'en'")
            return Text(raw, raw)
        out = {}
        for lang in LANGUAGES:
            value = raw.get(lang)
            if not isinstance(value, str) or not value.strip():
                self.problems.append(f"{where}.{key}.{lang}: missing or empty")
                value = ""
            out[lang] = value.strip()
        return Text(**out)

    def short_text(self, data: Mapping[str, Any], key: str, where: str, limit: int) -> Text | None:
        """An optional text that must stay within ``limit`` characters in every language."""
        if key not in data:
            return None
        text = self.text(data, key, where)
        for lang in LANGUAGES:
            value = text.get(lang)
            if len(value) > limit or "\n" in value:
                self.problems.append(f"{where}.{key}.{lang}: one line of at most {limit} characters, got {len(value)}")
        return text


def _parse_indicator(r: _Reader, raw: Any, where: str, criterion_numbers: set[int]) -> Indicator | None:
    if not isinstance(raw, Mapping):
        r.problems.append(f"{where}: expected a mapping")
        return None
    r.only(raw, INDICATOR_KEYS, where)
    number = r.need(raw, "number", where, int)
    criterion = r.need(raw, "criterion", where, int)
    if criterion is not None and criterion not in criterion_numbers:
        r.problems.append(f"{where}.criterion: {criterion} is not a declared criterion")
    text = r.text(raw, "text", where)
    explanation = r.text(raw, "explanation", where)
    summary = r.short_text(raw, "summary", where, ONE_LINE_MAX)
    evidence_hint = r.short_text(raw, "evidence_hint", where, ONE_LINE_MAX)
    levels: list[Level] = []
    raw_levels = r.need(raw, "levels", where, list) or []
    for j, lv in enumerate(raw_levels):
        lw = f"{where}.levels[{j}]"
        points = r.need(lv, "points", lw, int)
        label = r.text(lv, "label", lw)
        if points is not None:
            if not 0 <= points <= MAX_POINTS:
                r.problems.append(f"{lw}.points: {points} is outside 0..{MAX_POINTS}")
            levels.append(Level(points, label))
    if raw_levels:
        pts = [lv.points for lv in levels]
        if len(set(pts)) != len(pts):
            r.problems.append(f"{where}.levels: two levels give the same points")
        if pts and max(pts) != MAX_POINTS:
            r.problems.append(f"{where}.levels: the highest level must give {MAX_POINTS} points")
        if len(levels) < 2:
            r.problems.append(f"{where}.levels: at least two levels are needed")
    examples = [
        r.text({"x": ex}, "x", f"{where}.evidence_examples[{j}]")
        for j, ex in enumerate(r.need(raw, "evidence_examples", where, list) or [])
    ]
    if not examples and "evidence_examples" in raw:
        r.problems.append(f"{where}.evidence_examples: give at least one example")
    keywords = _keywords(r, raw, where)
    if number is None or criterion is None:
        return None
    return Indicator(
        number=number,
        criterion=criterion,
        text=text,
        explanation=explanation,
        levels=tuple(sorted(levels, key=lambda lv: -lv.points)),
        evidence_examples=tuple(examples),
        digital_skill=r.flag(raw, "digital_skill", where),
        summary=summary,
        evidence_hint=evidence_hint,
        evidence_keywords=keywords,
    )


KEYWORD_MAX = 60


def _keywords(r: _Reader, raw: Mapping[str, Any], where: str) -> tuple[str, ...]:
    """Optional ``evidence_keywords``: a list of short, non-empty, distinct words or phrases."""
    if "evidence_keywords" not in raw:
        return ()
    value = raw["evidence_keywords"]
    if not isinstance(value, list):
        r.problems.append(f"{where}.evidence_keywords: expected a list of words, got {type(value).__name__}")
        return ()
    out: list[str] = []
    for j, word in enumerate(value):
        if not isinstance(word, str) or not word.strip() or len(word) > KEYWORD_MAX or "\n" in word:
            r.problems.append(f"{where}.evidence_keywords[{j}]: a word or phrase of 1..{KEYWORD_MAX} characters")
            continue
        if word.strip().lower() in (w.lower() for w in out):
            r.problems.append(f"{where}.evidence_keywords[{j}]: '{word.strip()}' is listed twice")
            continue
        out.append(word.strip())
    return tuple(out)


def parse_pack(data: Any, source: str = "<pack>") -> Pack:
    """Builds a full pack from parsed YAML, or raises PackError listing every problem."""
    r = _Reader()
    if not isinstance(data, Mapping):
        raise PackError(source, ["the file must hold a mapping"])
    r.only(data, PACK_KEYS, "pack")
    pack_id = r.need(data, "id", "pack", str)
    version = r.need(data, "version", "pack", int)
    if version is not None and version < 1:
        r.problems.append("pack.version: must be 1 or more")
    title = r.text(data, "title", "pack")
    pack_short = r.short_text(data, "short", "pack", PACK_SHORT_MAX)
    source_ref = r.need(data, "source", "pack", str)
    criteria: list[Criterion] = []
    for i, c in enumerate(r.need(data, "criteria", "pack", list) or []):
        where = f"criteria[{i}]"
        num = r.need(c, "number", where, int)
        t = r.text(c, "title", where)
        if num is not None:
            criteria.append(Criterion(num, t))
    numbers = {c.number for c in criteria}
    indicators = []
    for i, raw in enumerate(r.need(data, "indicators", "pack", list) or []):
        ind = _parse_indicator(r, raw, f"indicators[{i}]", numbers)
        if ind is not None:
            indicators.append(ind)
    groups = []
    for i, g in enumerate(data.get("groups") or []):
        r.only(g, GROUP_KEYS, f"groups[{i}]")
        code = r.need(g, "code", f"groups[{i}]", str)
        label = r.text(g, "label", f"groups[{i}]")
        short = r.short_text(g, "short", f"groups[{i}]", SHORT_LABEL_MAX) if isinstance(g, Mapping) else None
        if code:
            groups.append(Group(code, label, short))
    _check_indicator_set(r, indicators)
    reconstructed = r.flag(data, "reconstructed", "pack")
    if len({c.number for c in criteria}) != len(criteria):
        r.problems.append("criteria: two criteria have the same number")
    digital_min = data.get("digital_skill_min_points", 8)
    if not isinstance(digital_min, int) or not 0 <= digital_min <= MAX_POINTS:
        r.problems.append(f"pack.digital_skill_min_points: expected 0..{MAX_POINTS}")
    if r.problems:
        raise PackError(source, r.problems)
    return Pack(
        id=pack_id,
        version=version,
        title=title,
        source=source_ref,
        reconstructed=reconstructed,
        criteria=tuple(sorted(criteria, key=lambda c: c.number)),
        indicators=tuple(sorted(indicators, key=lambda i: i.number)),
        groups=tuple(groups),
        digital_skill_min_points=digital_min,
        short=pack_short,
    )


def _check_indicator_set(r: _Reader, indicators: list[Indicator]) -> None:
    nums = sorted(ind.number for ind in indicators)
    if nums != list(range(1, INDICATOR_COUNT + 1)):
        r.problems.append(f"indicators: expected numbers 1..{INDICATOR_COUNT} once each, got {nums}")


def apply_override(
    base: Pack,
    donor: Pack,
    numbers: Iterable[int],
    *,
    pack_id: str,
    version: int,
    title: Text,
    source: str,
    short: Text | None = None,
) -> Pack:
    """A new pack: ``base`` with the given indicators taken from ``donor`` (same numbers)."""
    swap = set(numbers)
    indicators = tuple(
        replace(donor.indicator(ind.number), origin=f"{donor.id}:{ind.number}") if ind.number in swap else ind
        for ind in base.indicators
    )
    return replace(
        base,
        id=pack_id,
        version=version,
        title=title,
        short=short,
        source=source,
        indicators=indicators,
        groups=(),
        derived_from=f"{base.id}@{base.version}",
    )


# --------------------------------------------------------------------------- files and registry


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise PackError(str(path), [f"not valid YAML: {where}{exc.problem}"]) from exc
    except yaml.YAMLError as exc:
        raise PackError(str(path), [f"not valid YAML: {' '.join(str(exc).split())}"]) from exc
    except UnicodeDecodeError as exc:  # e.g. a .docx or .xlsx given instead of the YAML file
        raise PackError(str(path), [f"not a UTF-8 text file (is it a YAML file?): {exc.reason}"]) from exc
    except OSError as exc:
        raise PackError(str(path), [f"cannot read: {exc.strerror}"]) from exc


class Registry:
    """Every known pack version, by ``(id, version)``; the newest version of an id is the default."""

    def __init__(self, packs: Iterable[Pack] = ()) -> None:
        self._packs: dict[tuple[str, int], Pack] = {}
        self._files: dict[tuple[str, int], str] = {}
        # Asked on every update (a person's packs): kept until the next ``add``.
        self._latest: dict[str, Pack] = {}
        self._groups: list[tuple[Group, str]] | None = None
        for pack in packs:
            self.add(pack)

    def add(self, pack: Pack, file: str = "") -> None:
        """Adds a pack; ``file`` is where it was read from, named when another file reuses its id and version."""
        if pack.key in self._packs:
            first = self._files.get(pack.key)
            raise PackError(
                file or pack.id,
                [f"{pack.id} version {pack.version} is already loaded" + (f" from {first}" if first else "")],
            )
        self._packs[pack.key] = pack
        self._latest.clear()
        self._groups = None
        if file:
            self._files[pack.key] = file

    def file_of(self, key: tuple[str, int]) -> str | None:
        """The file a pack was loaded from, if known."""
        return self._files.get(key)

    def get(self, pack_id: str, version: int) -> Pack:
        return self._packs[(pack_id, version)]

    def latest(self, pack_id: str) -> Pack:
        if (known := self._latest.get(pack_id)) is not None:
            return known
        versions = [p for (i, _), p in self._packs.items() if i == pack_id]
        if not versions:
            raise KeyError(pack_id)
        self._latest[pack_id] = newest = max(versions, key=lambda p: p.version)
        return newest

    def ids(self) -> list[str]:
        return sorted({i for i, _ in self._packs})

    def groups(self) -> list[tuple[Group, str]]:
        """(group, pack id) for the newest version of each pack that serves a population group."""
        if self._groups is None:
            found = []
            for pack_id in self.ids():
                pack = self.latest(pack_id)
                found.extend((g, pack.id) for g in pack.groups)
            self._groups = found
        return list(self._groups)

    def pack_for_group(self, code: str) -> Pack:
        for group, pack_id in self.groups():
            if group.code == code:
                return self.latest(pack_id)
        raise KeyError(code)

    def replacements(self, base_id: str) -> list[str]:
        """Ids of the packs a unit may use instead of ``base_id``: the overrides built on it."""
        return sorted({i for i in self.ids() if self.latest(i).derived_from.rpartition("@")[0] == base_id})

    def override_problem(self, base_id: str, pack_id: str) -> str | None:
        """None when a unit may assess the people of pack ``base_id`` with ``pack_id`` instead, else why not.

        A unit's overrides map a pack people are assigned by their group (phu-luc-iv) to an override
        file built on that very pack (phu-luc-iv-i67); anything else would leave them without indicators."""
        bases = sorted({p for _, p in self.groups()})
        if base_id not in bases:
            return f"{base_id} is not a pack people are assigned by their group (those are: {', '.join(bases)})"
        options = self.replacements(base_id)
        hint = f"; packs that can replace {base_id}: {', '.join(options)}" if options else ""
        if pack_id == base_id:
            return f"{pack_id} is {base_id} itself: clear the override instead"
        if pack_id not in self.ids():
            return f"no criteria pack {pack_id}{hint}"
        if pack_id not in options:
            return f"{pack_id} is not an override of {base_id}{hint}"
        return None

    def __len__(self) -> int:
        return len(self._packs)

    def __contains__(self, key: object) -> bool:
        return key in self._packs


def load_file(path: Path, registry: Registry | None = None) -> Pack:
    """Loads one pack or override file; an override needs its base and donor in ``registry``."""
    data = _read_yaml(path)
    if isinstance(data, Mapping) and data.get("kind") == "override":
        return _load_override(data, str(path), registry if registry is not None else default_registry())
    return parse_pack(data, str(path))


def _load_override(data: Mapping[str, Any], source: str, registry: Registry) -> Pack:
    r = _Reader()
    r.only(data, OVERRIDE_KEYS, "override")
    pack_id = r.need(data, "id", "override", str)
    version = r.need(data, "version", "override", int)
    title = r.text(data, "title", "override")
    short = r.short_text(data, "short", "override", PACK_SHORT_MAX)
    src = r.need(data, "source", "override", str)
    base_ref = r.need(data, "base", "override", dict) or {}
    donor_ref = r.need(data, "donor", "override", dict) or {}
    numbers = r.need(data, "indicators", "override", list) or []
    base = donor = None
    for name, ref in (("base", base_ref), ("donor", donor_ref)):
        if not ref:
            continue
        try:
            found = registry.get(str(ref.get("id")), int(ref.get("version", 0)))
        except (KeyError, ValueError, TypeError):
            r.problems.append(f"override.{name}: no pack {ref.get('id')} version {ref.get('version')}")
            continue
        if name == "base":
            base = found
        else:
            donor = found
    for n in numbers:
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= INDICATOR_COUNT:
            r.problems.append(f"override.indicators: {n!r} is not an indicator number")
    if r.problems or base is None or donor is None:
        raise PackError(source, r.problems or ["override: base or donor missing"])
    return apply_override(base, donor, numbers, pack_id=pack_id, version=version, title=title, source=src, short=short)


def shown_path(path: Path) -> str:
    """A pack file as an operator should see it: relative to the working folder when it lies inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def scan_dir(directory: Path) -> tuple[Registry, list[PackError]]:
    """Loads every good pack in a folder (full packs first, then overrides built on them) and collects, one
    error per file, those that cannot be used: broken, or reusing an id and version another file holds."""
    registry = Registry()
    errors: list[PackError] = []
    overrides = []
    for path in sorted(directory.glob("*.yaml")):
        source = shown_path(path)
        try:
            data = _read_yaml(path)
            if isinstance(data, Mapping) and data.get("kind") == "override":
                overrides.append((source, data))
            else:
                registry.add(parse_pack(data, source), source)
        except PackError as exc:
            errors.append(PackError(source, exc.problems))
    for source, data in overrides:
        try:
            registry.add(_load_override(data, source, registry), source)
        except PackError as exc:
            errors.append(PackError(source, exc.problems))
    return registry, errors


def load_dir(directory: Path = PACKS_DIR) -> Registry:
    """Loads all packs in a folder; the first file that cannot be used stops it (PackError naming the file)."""
    registry, errors = scan_dir(directory)
    if errors:
        raise errors[0]
    return registry


def scan_packs() -> tuple[Registry, list[PackError]]:
    """``scan_dir`` of ``PACKS_DIR``: the usable packs and one error per file that is not, never raising."""
    return scan_dir(PACKS_DIR)


_default: dict[Path, Registry] = {}


def default_registry() -> Registry:
    """The packs in ``PACKS_DIR`` (the shipped ones unless a test points it elsewhere), loaded once.

    Raises PackError naming the first file that cannot be used; ``scan_dir`` lists every such file."""
    directory = PACKS_DIR
    if directory not in _default:
        _default[directory] = load_dir(directory)
    return _default[directory]
