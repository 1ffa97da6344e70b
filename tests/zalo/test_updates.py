"""The update reader: the documented samples read as expected, and nothing Zalo could send makes it raise."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.zalo.updates import EventKind, ZaloUpdate, parse_update

SAMPLES = Path(__file__).parent / "samples"  # copies of shared/reference/zalo-samples


def sample(name: str) -> Any:
    return json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def test_text_sample() -> None:
    update = parse_update(sample("text-update"))
    assert update == ZaloUpdate(
        kind=EventKind.TEXT,
        event_name="message.text.received",
        user_id="6ede9afa66b88fe6d6a9",
        display_name="Nguyễn Văn An",
        chat_id="6ede9afa66b88fe6d6a9",
        chat_type="PRIVATE",
        message_id="2d758cb5e222177a4e35",
        date=datetime(2025, 6, 19, 6, 55, 31, 602000, tzinfo=UTC),
        text="Xin chào",
    )


def test_image_sample_has_photo_and_caption() -> None:
    update = parse_update(sample("image-update"))
    assert update is not None
    assert update.kind is EventKind.IMAGE
    assert update.photo_url == "https://example.invalid/zalo/photo/abc123.jpg"
    assert update.caption == "Giấy chứng nhận"
    assert update.text is None


def test_older_payload_names_the_picture_photo() -> None:
    data = sample("image-update")
    data["result"]["message"]["photo"] = data["result"]["message"].pop("photo_url")
    update = parse_update(data)
    assert update is not None and update.photo_url == "https://example.invalid/zalo/photo/abc123.jpg"


@pytest.mark.parametrize(
    ("name", "kind"), [("sticker-update", EventKind.STICKER), ("unsupported-update", EventKind.UNSUPPORTED)]
)
def test_other_samples(name: str, kind: EventKind) -> None:
    update = parse_update(sample(name))
    assert update is not None and update.kind is kind
    assert update.user_id == update.chat_id == "6ede9afa66b88fe6d6a9"
    assert update.date is not None and update.date.tzinfo is not None


def test_bare_result_reads_like_the_envelope() -> None:
    assert parse_update(sample("text-update")["result"]) == parse_update(sample("text-update"))


def test_voice_and_unknown_events() -> None:
    assert parse_update({"event_name": "message.voice.received", "message": {}}).kind is EventKind.VOICE
    other = parse_update({"event_name": "message.reaction.received"})
    assert other is not None and other.kind is EventKind.OTHER and other.event_name == "message.reaction.received"


def test_missing_and_mistyped_fields_become_none() -> None:
    update = parse_update({"event_name": "message.text.received", "message": {"from": "x", "chat": None, "date": "?"}})
    assert update is not None
    assert (update.user_id, update.chat_id, update.date, update.text, update.display_name) == (None,) * 5


def test_numeric_ids_and_string_dates_are_accepted() -> None:
    update = parse_update({"message": {"from": {"id": 42}, "chat": {"id": 7}, "date": "1750316131602"}})
    assert update is not None and (update.user_id, update.chat_id) == ("42", "7")
    assert update.date == datetime(2025, 6, 19, 6, 55, 31, 602000, tzinfo=UTC)


def test_not_an_update() -> None:
    assert parse_update(None) is None
    assert parse_update([1, 2]) is None
    assert parse_update(sample("empty-poll")) is not None  # an error envelope still reads as "other"
    assert parse_update(sample("empty-poll")).kind is EventKind.OTHER  # type: ignore[union-attr]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=8,
)
fields = st.sampled_from(["event_name", "message", "from", "chat", "id", "date", "text", "photo", "photo_url"])


# too_slow: a fresh checkout builds Hypothesis's Unicode table on the first text drawn.
@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(fields, json_values, max_size=6), st.dictionaries(fields, json_values, max_size=6))
def test_never_raises(outer: dict[str, Any], message: dict[str, Any]) -> None:
    data = {**outer, "message": message}
    update = parse_update(data)
    assert update is not None
    assert update.date is None or update.date.tzinfo is not None
    for value in (update.user_id, update.chat_id, update.message_id, update.text, update.photo_url):
        assert value is None or isinstance(value, str)
