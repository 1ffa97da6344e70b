"""A person is (channel, external id): how operators write one, and what is refused."""

from __future__ import annotations

import pytest

from conversations.identity import DISPLAY_NAME_MAX, Contact, parse_contact, shown_name


@pytest.mark.parametrize(
    ("text", "contact"),
    [
        ("123", Contact("telegram", "123")),
        (" 5123456789 ", Contact("telegram", "5123456789")),
        ("telegram:123", Contact("telegram", "123")),
        ("Telegram:0042", Contact("telegram", "42")),
        ("zalo:abc", Contact("zalo", "abc")),
        ("ZALO: 8f3a2c9d1e ", Contact("zalo", "8f3a2c9d1e")),
        ("zalo:123", Contact("zalo", "123")),  # a Zalo id made of digits is still Zalo's
    ],
)
def test_forms_an_operator_writes(text: str, contact: Contact) -> None:
    assert parse_contact(text) == contact
    assert parse_contact(str(contact)) == contact  # str() writes the form parse_contact reads


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "names no one"),
        ("zalo:", "names no one"),
        ("telegram: ", "names no one"),
        ("0", "not a Telegram id"),
        ("-5", "not a Telegram id"),
        ("telegram:-5", "not a Telegram id"),
        ("telegram:0", "not a Telegram id"),
        ("12.5", "not a Telegram id"),
        ("abc", "not a Telegram id"),  # without a channel, it is Telegram's: digits only
        ("facebook:123", "unknown messenger 'facebook'"),
        ("zalo:a b", "not a zalo id"),
        ("zalo:" + "x" * 65, "not a zalo id"),
    ],
)
def test_refused_in_one_line(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why) as refused:
        parse_contact(text)
    assert "\n" not in str(refused.value)


def test_the_same_id_on_two_messengers_is_two_people() -> None:
    assert parse_contact("42") != parse_contact("zalo:42")
    assert str(parse_contact("42")) == "42" and str(parse_contact("zalo:42")) == "zalo:42"


def test_display_names_fit_their_column() -> None:
    assert shown_name("  Nguyễn Thị Lan ") == "Nguyễn Thị Lan"
    assert shown_name("") is None and shown_name(None) is None
    assert len(shown_name("A" * 64 + " " + "B" * 64) or "") == DISPLAY_NAME_MAX  # Telegram allows 129
