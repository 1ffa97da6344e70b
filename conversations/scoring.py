"""Scoring: points per indicator, the total, the recognition rule and what holds a person back.

The rule (QĐ 324/QĐ-KHVN): recognised with a total of at least 80 and no indicator below 5; an indicator
without fitting evidence scores 0, whatever level was chosen. Pure functions over plain values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

RECOGNITION_TOTAL = 80
MIN_INDICATOR_POINTS = 5


@dataclass(frozen=True)
class AnswerFacts:
    """What scoring needs of one indicator's answer."""

    chosen: int | None  # the level's points the person chose; None when not answered yet
    evidence_count: int = 0
    reviewed: int | None = None  # points the assessment team agreed, overriding the computed ones


@dataclass(frozen=True)
class HoldsBack:
    """Why a person is not (yet) recognised; empty when nothing holds them back."""

    below_minimum: tuple[int, ...]  # indicators scoring under 5
    missing_points: int  # points short of 80
    lacking_evidence: tuple[int, ...]  # indicators answered above 0 but without evidence
    unanswered: tuple[int, ...]

    def __bool__(self) -> bool:
        return bool(self.below_minimum or self.missing_points or self.lacking_evidence or self.unanswered)


@dataclass(frozen=True)
class Score:
    points: Mapping[int, int]
    total: int
    recognised: bool
    holds_back: HoldsBack


def indicator_points(facts: AnswerFacts | None) -> int:
    """The points an indicator counts: the team's figure if any, else the chosen level if evidenced."""
    if facts is None:
        return 0
    if facts.reviewed is not None:
        return facts.reviewed
    if facts.chosen is None or facts.evidence_count <= 0:
        return 0
    return facts.chosen


def is_recognised(points: Sequence[int]) -> bool:
    return sum(points) >= RECOGNITION_TOTAL and all(p >= MIN_INDICATOR_POINTS for p in points)


def score(numbers: Sequence[int], answers: Mapping[int, AnswerFacts]) -> Score:
    """Scores the indicators ``numbers`` of a pack from the person's answers (missing = unanswered)."""
    points = {n: indicator_points(answers.get(n)) for n in numbers}
    total = sum(points.values())
    holds = HoldsBack(
        below_minimum=tuple(n for n in numbers if points[n] < MIN_INDICATOR_POINTS),
        missing_points=max(0, RECOGNITION_TOTAL - total),
        lacking_evidence=tuple(
            n
            for n in numbers
            if (a := answers.get(n)) is not None
            and a.reviewed is None
            and (a.chosen or 0) > 0
            and a.evidence_count <= 0
        ),
        # A figure the team agreed stands in for an answer the person never gave.
        unanswered=tuple(
            n for n in numbers if (a := answers.get(n)) is None or (a.chosen is None and a.reviewed is None)
        ),
    )
    return Score(points=points, total=total, recognised=is_recognised(list(points.values())), holds_back=holds)
