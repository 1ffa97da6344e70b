"""Typed answers to the choices on screen: numbers, keycaps and words, whatever the case and diacritics."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conversations.typed_choice import Chosen, NoMatch, OutOfRange, fold, match_choice

# What a review screen might offer, in screen order: each choice with the words that select it.
REVIEW = [["Sửa", "sua"], ["Nộp", "nộp bài"], ["Quay lại"], ["Đồng ý", "ok"]]
KEYCAPS = ["1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣", "6️⃣", "7️⃣", "8️⃣", "9️⃣", "🔟"]


@pytest.mark.parametrize(
    "typed", ["2", " 2 ", "2.", "2)", "#2", "２", "2️⃣", "2\u20e3", "nộp", "NỘP", " Nop! ", "nộp bài"]
)
def test_second_choice(typed: str) -> None:
    assert match_choice(typed, REVIEW) == Chosen(1)


@pytest.mark.parametrize("typed", ["quay lại", "Quay Lai", "QUAY-LẠI", "quay   lại.", "quay lai?"])
def test_phrases(typed: str) -> None:
    assert match_choice(typed, REVIEW) == Chosen(2)


@pytest.mark.parametrize("typed", ["Đồng ý", "đồng ý!", "dong y", "DONG Y", "ĐỒNG Ý", "ok"])
def test_d_with_stroke_and_marks(typed: str) -> None:
    assert match_choice(typed, REVIEW) == Chosen(3)


def test_keycap_ten() -> None:
    ten = [[f"choice {i}"] for i in range(1, 11)]
    assert match_choice("🔟", ten) == Chosen(9)
    assert match_choice("1️⃣0️⃣", ten) == Chosen(9)
    assert match_choice("🔟", REVIEW) == OutOfRange(10, 4)


@pytest.mark.parametrize(("typed", "number"), [("0", 0), ("5", 5), ("99.", 99), ("5️⃣", 5), ("007", 7)])
def test_numbers_outside_the_screen(typed: str, number: int) -> None:
    assert match_choice(typed, REVIEW) == OutOfRange(number, 4)


def test_a_dash_is_punctuation_around_a_number() -> None:
    assert match_choice("-1", REVIEW) == Chosen(0)


def test_a_number_too_long_to_repeat() -> None:
    assert match_choice("9" * 5000, REVIEW) == OutOfRange(None, 4)


@pytest.mark.parametrize("typed", ["", "   ", "?!", "nộp đi", "quay", "sửa nộp", "2 3", "hai", "😀"])
def test_no_match(typed: str) -> None:
    assert match_choice(typed, REVIEW) == NoMatch()


def test_a_word_two_choices_share_picks_neither() -> None:
    assert match_choice("xong", [["Xong"], ["xong rồi", "XONG"]]) == NoMatch()


def test_fold() -> None:
    assert fold("  Quay LẠI!! ") == "quay lai"
    assert fold("Đồng-ý") == "dong y"
    assert fold("Nguyễn Thị Đào") == "nguyen thi dao"


# ----------------------------------------------------------------------------- properties
# too_slow: a fresh checkout builds Hypothesis's Unicode table on the first text drawn.
quick = settings(suppress_health_check=[HealthCheck.too_slow])
padding = st.text(alphabet=" \t.,;:!?()#-", max_size=3)


@quick
@given(st.integers(1, 30), st.data(), padding, padding)
def test_every_number_on_screen_picks_its_choice(count: int, data: st.DataObject, before: str, after: str) -> None:
    number = data.draw(st.integers(1, count))
    choices = [[f"lựa chọn {i}"] for i in range(count)]
    assert match_choice(f"{before}{number}{after}", choices) == Chosen(number - 1)
    if number <= 10:
        assert match_choice(f"{before}{KEYCAPS[number - 1]}{after}", choices) == Chosen(number - 1)


@quick
@given(st.integers(0, 30), st.integers(0, 10**9 - 1))
def test_every_number_off_screen_says_so(count: int, number: int) -> None:
    assume(not 1 <= number <= count)
    assert match_choice(str(number), [["x"]] * count) == OutOfRange(number, count)


VIETNAMESE = "aăâbcdđeêghiklmnoôơpqrstuưvxy" + "áàảãạấầẩẫậếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ"
vietnamese_words = st.text(alphabet=VIETNAMESE, min_size=1, max_size=8)


@quick
@given(st.lists(vietnamese_words, min_size=1, max_size=6, unique_by=fold), st.data())
def test_a_choice_word_picks_it_whatever_the_case_and_marks(words: list[str], data: st.DataObject) -> None:
    assume(not any(fold(w).isdecimal() for w in words))
    index = data.draw(st.integers(0, len(words) - 1))
    choices = [[w] for w in words]
    typed = data.draw(st.sampled_from([words[index].upper(), fold(words[index]), f" {words[index].title()}! "]))
    assert match_choice(typed, choices) == Chosen(index)


@quick
@given(st.text(max_size=40), st.lists(st.lists(st.text(max_size=10), max_size=3), max_size=12))
def test_never_raises_and_stays_in_range(typed: str, choices: list[list[str]]) -> None:
    result = match_choice(typed, choices)
    if isinstance(result, Chosen):
        assert 0 <= result.index < len(choices)
    elif isinstance(result, OutOfRange):
        assert result.count == len(choices)
        assert result.number is None or not 1 <= result.number <= len(choices)
