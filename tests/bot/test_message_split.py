"""Splitting long messages: paragraph, then line, then word; never inside a word, tag or entity; open
tags closed and reopened; every part within the limit."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.message_split import TELEGRAM_LIMIT, ZALO_LIMIT, split_message

ATOM = re.compile(r"</?[A-Za-z][\w-]*(?:\s[^<>]*)?/?>|&(?:#\d+|#[xX][0-9A-Fa-f]+|[A-Za-z]\w*);")


def words(text: str) -> list[str]:
    return ATOM.sub("", text).split()


def balanced(part: str) -> bool:
    stack: list[str] = []
    for tag in re.findall(r"</?\w+", part):
        if tag.startswith("</"):
            if not stack or stack.pop() != tag[2:]:
                return False
        else:
            stack.append(tag[1:])
    return not stack


def test_limits() -> None:
    assert (ZALO_LIMIT, TELEGRAM_LIMIT) == (2000, 4096)


def test_a_text_that_fits_is_left_alone() -> None:
    text = "  Xin chào\n\n<b>bạn</b>  "
    assert split_message(text, len(text)) == [text]


def test_paragraph_break_first() -> None:
    first = "Đoạn một dòng một\nĐoạn một dòng hai"
    second = "Đoạn hai dòng một\nĐoạn hai dòng hai"
    # Room for the first paragraph and one more line: still cut at the paragraph.
    assert split_message(f"{first}\n\n{second}", len(first) + 20) == [first, second]


def test_then_line_break() -> None:
    lines = ["một hai ba bốn", "năm sáu bảy tám", "chín mười"]
    assert split_message("\n".join(lines), 32) == ["một hai ba bốn\nnăm sáu bảy tám", "chín mười"]


def test_then_between_words_never_inside_one() -> None:
    text = "Công dân học tập là danh hiệu dành cho người học suốt đời"
    parts = split_message(text, 20)
    assert all(len(p) <= 20 for p in parts)
    assert words(" ".join(parts)) == words(text)
    assert " ".join(parts) == text


def test_a_word_longer_than_a_part_is_cut_hard() -> None:
    parts = split_message("ngắn " + "x" * 25 + " cuối", 10)
    assert parts == ["ngắn", "x" * 10, "x" * 10, "xxxxx cuối"]


def test_hard_cut_keeps_a_letter_and_its_mark_together() -> None:
    decomposed = "e\u0323\u0302" * 6  # "ệ" as three code points
    parts = split_message(decomposed, 4)
    assert all(len(p) <= 4 and p[0] not in "\u0323\u0302" for p in parts)
    assert "".join(parts) == decomposed


def test_bold_is_closed_and_reopened() -> None:
    text = "<b>một hai ba bốn năm sáu</b> bảy"
    assert split_message(text, 20) == ["<b>một hai ba</b>", "<b>bốn năm sáu</b>", "bảy"]


def test_nested_tags_and_a_link_reopen_as_written() -> None:
    text = '<i>xem <a href="https://x.vn/a">hướng dẫn chi tiết</a> <b>ở đây</b></i>'
    parts = split_message(text, 45)
    assert all(len(p) <= 45 and balanced(p) for p in parts)
    assert parts[1].startswith('<i><a href="https://x.vn/a">')
    assert words(" ".join(parts)) == words(text)


def test_never_inside_a_tag_or_entity() -> None:
    text = "a " * 8 + '<a href="https://example.vn/rất-dài">x</a> &amp; &#7879; b'
    for limit in range(45, 70):
        for part in split_message(text, limit):
            assert len(part) <= limit
            assert "<" not in ATOM.sub("", part) and ">" not in ATOM.sub("", part)
            assert "&" not in ATOM.sub("", part)


def test_plain_text_mode_has_no_tags() -> None:
    text = "a<b c<d e<f g"
    assert split_message(text, 5, html=False) == ["a<b", "c<d", "e<f g"]


def test_a_limit_too_small_for_the_open_tags_says_so() -> None:
    with pytest.raises(ValueError, match="too small"):
        split_message('<a href="https://example.vn/dai-lam">một hai ba bốn năm</a>', 30)


# ----------------------------------------------------------------------------- properties
word = st.text(alphabet="abcdđeêôơưạệếờữ", min_size=1, max_size=12) | st.sampled_from(["&amp;", "&lt;", "&#7879;"])
separator = st.sampled_from([" ", " ", " ", "\n", "\n\n"])


def _join(items: list[str], seps: list[str]) -> str:
    return "".join(item + sep for item, sep in zip(items, seps, strict=False)).strip() or "x"


segment = st.recursive(
    st.lists(word, min_size=1, max_size=6).map(" ".join),
    lambda inner: st.one_of(
        inner.map(lambda s: f"<b>{s}</b>"),
        inner.map(lambda s: f"<i>{s}</i>"),
        st.tuples(inner, separator, inner).map("".join),
    ),
    max_leaves=12,
)
messages = st.lists(st.tuples(segment, separator), min_size=1, max_size=25).map(
    lambda pairs: "".join(s + sep for s, sep in pairs).strip()
)


@settings(suppress_health_check=[HealthCheck.too_slow])  # a fresh checkout builds Hypothesis's Unicode table
@given(messages, st.integers(50, 300))
def test_parts_fit_are_well_formed_and_keep_every_word(text: str, limit: int) -> None:
    parts = split_message(text, limit)
    for part in parts:
        assert len(part) <= limit
        assert balanced(part), part
        assert not re.search(r"[<>&]", ATOM.sub("", part)), part  # no tag or entity cut open
        assert part == part.strip()
    assert words(" ".join(parts)) == words(text)  # words here are at most 12 letters: never cut
