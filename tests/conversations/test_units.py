"""What a unit code, name and override may be, and the code suggested for one that a join link cannot carry."""

from __future__ import annotations

import pytest

from conversations.units import code_allowed, code_problem, name_problem, parse_overrides, suggest_code


@pytest.mark.parametrize("code", ["THON1", "xa_dong-2", "A", "X" * 32])
def test_codes_a_join_link_carries(code: str) -> None:
    assert code_allowed(code) and code_problem(code) is None


@pytest.mark.parametrize(
    ("code", "suggestion"),
    [
        ("Thôn Một", "THON-MOT"),
        ("A/B", "AB"),
        ("XÃ-ĐÔNG", "XA-DONG"),
        ("TO.1", "TO1"),
        ("X" * 40, "X" * 32),
        ("Phường  Đống Đa — tổ 5", "PHUONG-DONG-DA-TO-5"),
        ("Ấp Ưu Đãi", "AP-UU-DAI"),
    ],
)
def test_a_refused_code_comes_with_a_suggestion(code: str, suggestion: str) -> None:
    assert not code_allowed(code)
    assert suggest_code(code) == suggestion
    assert code_problem(code) == f'unit code "{code}" may only use A-Z a-z 0-9 _ - (at most 32); try {suggestion}'


def test_the_suggestion_falls_back_to_the_name_and_never_ends_in_a_dash() -> None:
    assert code_problem("///", "Thôn Một") == 'unit code "///" may only use A-Z a-z 0-9 _ - (at most 32); try THON-MOT'
    assert code_problem("", "Xóm 2") == "the unit code is empty; try XOM-2"
    assert code_problem("///") == 'unit code "///" may only use A-Z a-z 0-9 _ - (at most 32)'
    assert suggest_code("A" * 31 + " B") == "A" * 31


def test_names() -> None:
    assert name_problem("  ") == "the unit name is empty"
    assert name_problem("x" * 201) == "the unit name is longer than 200 characters"
    assert name_problem(" Thôn   Một ") is None


def test_override_specs() -> None:
    assert parse_overrides("") == {}
    assert parse_overrides(" phu-luc-iv = phu-luc-iv-i67 ") == {"phu-luc-iv": "phu-luc-iv-i67"}
    assert parse_overrides("a=b; c=d") == {"a": "b", "c": "d"}
    for bad in ("garbage", "=x", "a=", "a=b;a=c"):
        with pytest.raises(ValueError):
            parse_overrides(bad)
