"""Scoring against the rule: total at least 80, no indicator below 5, no evidence scores 0."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from conversations.scoring import (
    MIN_INDICATOR_POINTS,
    RECOGNITION_TOTAL,
    AnswerFacts,
    HoldsBack,
    indicator_points,
    is_recognised,
    score,
)

NUMBERS = tuple(range(1, 11))


def answer(chosen: int | None = 10, evidence_count: int = 1, reviewed: int | None = None) -> AnswerFacts:
    return AnswerFacts(chosen=chosen, evidence_count=evidence_count, reviewed=reviewed)


def answers(**overrides: AnswerFacts | None) -> dict[int, AnswerFacts]:
    """Ten evidenced answers at 10 points; ``i3=answer(...)`` replaces indicator 3, ``i3=None`` drops it."""
    result: dict[int, AnswerFacts] = {n: answer() for n in NUMBERS}
    for key, value in overrides.items():
        n = int(key.removeprefix("i"))
        if value is None:
            del result[n]
        else:
            result[n] = value
    return result


def evidenced(points: list[int]) -> dict[int, AnswerFacts]:
    return {n: answer(p) for n, p in zip(NUMBERS, points, strict=True)}


# --------------------------------------------------------------------------- constants


def test_the_rule_in_numbers() -> None:
    assert RECOGNITION_TOTAL == 80
    assert MIN_INDICATOR_POINTS == 5


# --------------------------------------------------------------------------- indicator_points


def test_no_answer_scores_zero() -> None:
    assert indicator_points(None) == 0


def test_unanswered_scores_zero() -> None:
    assert indicator_points(answer(None, evidence_count=2)) == 0


def test_without_evidence_scores_zero_whatever_chosen() -> None:
    for chosen in (0, 5, 8, 10):
        assert indicator_points(answer(chosen, evidence_count=0)) == 0


def test_with_evidence_scores_the_chosen_level() -> None:
    for chosen in (0, 5, 8, 10):
        assert indicator_points(answer(chosen, evidence_count=1)) == chosen
    assert indicator_points(answer(8, evidence_count=3)) == 8


def test_reviewed_points_override() -> None:
    assert indicator_points(answer(10, evidence_count=2, reviewed=5)) == 5
    assert indicator_points(answer(10, evidence_count=0, reviewed=8)) == 8  # team accepted other proof
    assert indicator_points(answer(None, evidence_count=0, reviewed=10)) == 10
    assert indicator_points(answer(8, evidence_count=1, reviewed=0)) == 0  # a reviewed 0 is not "no review"


# --------------------------------------------------------------------------- is_recognised


def test_exactly_80_with_all_at_least_5_is_recognised() -> None:
    points = [10, 10, 10, 10, 10, 10, 5, 5, 5, 5]
    assert sum(points) == 80
    assert is_recognised(points)


def test_79_is_not_recognised() -> None:
    points = [10, 10, 10, 10, 10, 9, 5, 5, 5, 5]
    assert sum(points) == 79
    assert not is_recognised(points)


def test_one_indicator_below_5_is_not_recognised_even_with_a_high_total() -> None:
    assert not is_recognised([10] * 9 + [4])
    assert not is_recognised([10] * 9 + [0])


def test_100_with_one_indicator_at_4_is_not_recognised() -> None:
    # 100 cannot be reached with a 4 among ten indicators of at most 10; the minimum still decides
    # when a reviewed figure pushes the total that high.
    points = [10, 10, 10, 10, 10, 10, 10, 10, 16, 4]
    assert sum(points) == 100
    assert not is_recognised(points)


def test_all_exactly_8_is_recognised() -> None:
    points = [8] * 10
    assert sum(points) == 80
    assert is_recognised(points)


def test_all_exactly_5_is_not_recognised() -> None:
    assert not is_recognised([5] * 10)


def test_full_marks_are_recognised() -> None:
    assert is_recognised([10] * 10)


# --------------------------------------------------------------------------- score


def test_full_marks_score() -> None:
    result = score(NUMBERS, answers())
    assert result.total == 100
    assert result.recognised
    assert dict(result.points) == {n: 10 for n in NUMBERS}
    assert result.holds_back == HoldsBack(below_minimum=(), missing_points=0, lacking_evidence=(), unanswered=())
    assert not result.holds_back


def test_exactly_80_from_answers() -> None:
    result = score(NUMBERS, evidenced([8] * 10))
    assert result.total == 80
    assert result.recognised
    assert not result.holds_back


def test_holds_back_below_minimum() -> None:
    result = score(NUMBERS, answers(i4=answer(0), i7=answer(5)))
    assert result.total == 85
    assert not result.recognised
    assert result.holds_back.below_minimum == (4,)
    assert result.holds_back.missing_points == 0
    assert result.holds_back.lacking_evidence == ()
    assert result.holds_back.unanswered == ()
    assert result.holds_back


def test_holds_back_missing_points() -> None:
    result = score(NUMBERS, evidenced([8, 8, 8, 8, 8, 8, 8, 8, 8, 5]))
    assert result.total == 77
    assert not result.recognised
    assert result.holds_back.below_minimum == ()
    assert result.holds_back.missing_points == 3
    assert result.holds_back


def test_holds_back_lacking_evidence() -> None:
    result = score(NUMBERS, answers(i2=answer(8, evidence_count=0)))
    assert result.points[2] == 0
    assert result.total == 90
    assert not result.recognised
    assert result.holds_back.lacking_evidence == (2,)
    assert result.holds_back.below_minimum == (2,)
    assert result.holds_back.unanswered == ()


def test_a_chosen_zero_without_evidence_is_not_lacking_evidence() -> None:
    result = score(NUMBERS, answers(i6=answer(0, evidence_count=0)))
    assert result.holds_back.lacking_evidence == ()
    assert result.holds_back.below_minimum == (6,)
    assert result.holds_back.unanswered == ()


def test_a_reviewed_indicator_is_not_lacking_evidence() -> None:
    result = score(NUMBERS, answers(i6=answer(8, evidence_count=0, reviewed=8)))
    assert result.holds_back.lacking_evidence == ()
    assert result.points[6] == 8
    assert result.recognised


def test_holds_back_unanswered() -> None:
    result = score(NUMBERS, answers(i1=None, i9=answer(None, evidence_count=1)))
    assert result.holds_back.unanswered == (1, 9)
    assert result.holds_back.below_minimum == (1, 9)
    assert result.holds_back.missing_points == 0
    assert result.total == 80
    assert not result.recognised


def test_nothing_answered() -> None:
    result = score(NUMBERS, {})
    assert result.total == 0
    assert not result.recognised
    assert result.holds_back.unanswered == NUMBERS
    assert result.holds_back.below_minimum == NUMBERS
    assert result.holds_back.missing_points == 80
    assert result.holds_back.lacking_evidence == ()


def test_a_reviewed_figure_stands_in_for_a_missing_answer() -> None:
    # storage.journey.score_of passes indicators the team scored even when the person left them blank.
    result = score(NUMBERS, answers(i5=answer(None, evidence_count=0, reviewed=8)))
    assert result.points[5] == 8
    assert result.recognised
    assert result.holds_back.unanswered == ()
    assert not result.holds_back


def test_answers_outside_the_pack_are_ignored() -> None:
    result = score(NUMBERS, {**answers(), 11: answer(10), 99: answer(8, evidence_count=0)})
    assert set(result.points) == set(NUMBERS)
    assert result.total == 100
    assert not result.holds_back


def test_holds_back_is_listed_in_pack_order() -> None:
    numbers = (10, 3, 7)
    result = score(numbers, {})
    assert result.holds_back.unanswered == (10, 3, 7)
    assert list(result.points) == [10, 3, 7]


# --------------------------------------------------------------------------- properties

one_answer = st.builds(
    AnswerFacts,
    chosen=st.one_of(st.none(), st.integers(min_value=0, max_value=10)),
    evidence_count=st.integers(min_value=0, max_value=3),
)
ten_answers = st.fixed_dictionaries({n: one_answer for n in NUMBERS})

# Sometimes left out entirely, sometimes with the team's figure.
maybe_reviewed_answer = st.one_of(
    st.none(),
    st.builds(
        AnswerFacts,
        chosen=st.one_of(st.none(), st.integers(min_value=0, max_value=10)),
        evidence_count=st.integers(min_value=0, max_value=3),
        reviewed=st.one_of(st.none(), st.integers(min_value=0, max_value=10)),
    ),
)
any_answers = st.fixed_dictionaries({n: maybe_reviewed_answer for n in NUMBERS}).map(
    lambda d: {n: a for n, a in d.items() if a is not None}
)

# Every indicator at 5 or more, from the person's evidenced level or the team's figure (the person's own
# answer then anything, even none): recognised whenever the total reaches 80, which is otherwise rare.
strong_answer = st.one_of(
    st.builds(AnswerFacts, chosen=st.integers(min_value=5, max_value=10), evidence_count=st.integers(1, 3)),
    st.builds(
        AnswerFacts,
        chosen=st.one_of(st.none(), st.integers(min_value=0, max_value=10)),
        evidence_count=st.integers(min_value=0, max_value=3),
        reviewed=st.integers(min_value=5, max_value=10),
    ),
)
strong_answers = st.fixed_dictionaries({n: strong_answer for n in NUMBERS})


def _expected_points(a: AnswerFacts) -> int:
    """The rule written out again, independently of ``indicator_points``."""
    if a.reviewed is not None:
        return a.reviewed
    if a.chosen is not None and a.evidence_count > 0:
        return a.chosen
    return 0


@given(st.one_of(ten_answers, any_answers, strong_answers))
def test_recognised_follows_the_rule(given_answers: dict[int, AnswerFacts]) -> None:
    result = score(NUMBERS, given_answers)
    expected = [_expected_points(a) if (a := given_answers.get(n)) else 0 for n in NUMBERS]
    assert result.recognised == (sum(expected) >= 80 and min(expected) >= 5)
    assert [result.points[n] for n in NUMBERS] == expected


@given(any_answers)
def test_total_is_the_sum_of_points(given_answers: dict[int, AnswerFacts]) -> None:
    result = score(NUMBERS, given_answers)
    assert result.total == sum(result.points.values())
    assert set(result.points) == set(NUMBERS)


@given(st.one_of(any_answers, strong_answers))
@example({n: AnswerFacts(chosen=10, evidence_count=1) for n in NUMBERS} | {5: AnswerFacts(None, 0, reviewed=8)})
def test_nothing_holds_back_exactly_when_recognised(given_answers: dict[int, AnswerFacts]) -> None:
    # Recognised means every indicator scores at least 5, so none can be unanswered or lack evidence
    # (both score 0) unless the team's figure replaced it, and such an indicator is neither.
    result = score(NUMBERS, given_answers)
    assert bool(result.holds_back) == (not result.recognised)


@given(any_answers)
def test_missing_points(given_answers: dict[int, AnswerFacts]) -> None:
    result = score(NUMBERS, given_answers)
    assert result.holds_back.missing_points == max(0, 80 - result.total)


@given(any_answers)
def test_below_minimum_lists_the_indicators_under_5(given_answers: dict[int, AnswerFacts]) -> None:
    result = score(NUMBERS, given_answers)
    assert result.holds_back.below_minimum == tuple(n for n in NUMBERS if result.points[n] < 5)


@given(any_answers)
def test_lacking_evidence_scores_zero(given_answers: dict[int, AnswerFacts]) -> None:
    result = score(NUMBERS, given_answers)
    for n in result.holds_back.lacking_evidence:
        assert result.points[n] == 0
        assert n in result.holds_back.below_minimum
        a = given_answers[n]
        assert a.chosen is not None and a.chosen > 0
        assert a.evidence_count == 0


@given(any_answers)
def test_every_unanswered_indicator_scores_zero(given_answers: dict[int, AnswerFacts]) -> None:
    result = score(NUMBERS, given_answers)
    for n in result.holds_back.unanswered:
        assert result.points[n] == 0
        assert n not in result.holds_back.lacking_evidence


@given(ten_answers, st.sampled_from(NUMBERS), st.integers(min_value=1, max_value=3))
def test_adding_evidence_never_lowers_the_total(given_answers: dict[int, AnswerFacts], n: int, more: int) -> None:
    before = score(NUMBERS, given_answers)
    a = given_answers[n]
    after = score(NUMBERS, {**given_answers, n: answer(a.chosen, a.evidence_count + more)})
    assert after.total >= before.total
    assert after.points[n] >= before.points[n]
    assert not (before.recognised and not after.recognised)


@given(ten_answers)
def test_evidencing_everything_answered_never_lowers_the_total(given_answers: dict[int, AnswerFacts]) -> None:
    before = score(NUMBERS, given_answers)
    all_evidenced = {n: answer(a.chosen, max(a.evidence_count, 1)) for n, a in given_answers.items()}
    after = score(NUMBERS, all_evidenced)
    assert after.total >= before.total
    assert after.holds_back.lacking_evidence == ()
