"""The Zalo client over real HTTP against the fake Zalo Bot API on 127.0.0.1: each method, the empty long
poll, the error family, the local 2000-character refusal, and a token that never shows."""

from __future__ import annotations

import logging
import socket
from datetime import datetime

import pytest

from bot.zalo.client import (
    MAX_TEXT,
    ZaloBadRequest,
    ZaloClient,
    ZaloError,
    ZaloNetworkError,
    ZaloQuotaExceeded,
    ZaloUnauthorized,
)
from bot.zalo.updates import EventKind, parse_update
from tests.fakes.zalo_api import TOKEN, FakeZaloApi, image_update, text_update

CHAT = "6ede9afa66b88fe6d6a9"


async def test_get_me(zalo: ZaloClient, zalo_api: FakeZaloApi) -> None:
    assert (await zalo.get_me())["id"] == zalo_api.bot_info["id"]


async def test_get_updates_answers_one_update_per_call_then_none(zalo: ZaloClient, zalo_api: FakeZaloApi) -> None:
    zalo_api.queue_update(text_update("một"))
    zalo_api.queue_update(image_update(zalo_api.add_photo(b"\xff\xd8jpeg"), "ảnh"))
    first, second = await zalo.get_updates(timeout=1), await zalo.get_updates(timeout=1)
    assert first is not None and parse_update(first).text == "một"  # type: ignore[union-attr]
    assert second is not None and parse_update(second).kind is EventKind.IMAGE  # type: ignore[union-attr]
    assert await zalo.get_updates(timeout=0) is None  # Zalo's 408: nothing came
    assert [params["timeout"] for method, params in zalo_api.calls if method == "getUpdates"] == [1, 1, 0]


async def test_empty_poll_answered_with_http_200_is_none_too() -> None:
    async with FakeZaloApi(error_status=200) as fake, ZaloClient(TOKEN, base_url=fake.base_url) as client:
        assert await client.get_updates(timeout=0) is None


async def test_webhook_methods(zalo: ZaloClient, zalo_api: FakeZaloApi) -> None:
    assert (await zalo.get_webhook_info())["url"] == ""
    await zalo.set_webhook("https://cdht.example/zalo", "s3cret-s3cret")
    assert zalo_api.webhook is not None and zalo_api.webhook.secret_token == "s3cret-s3cret"
    assert (await zalo.get_webhook_info())["url"] == "https://cdht.example/zalo"
    with pytest.raises(ZaloBadRequest):  # getUpdates does not work while a webhook is set
        await zalo.get_updates(timeout=0)
    await zalo.delete_webhook()
    assert zalo_api.webhook is None
    assert await zalo.get_updates(timeout=0) is None


async def test_short_webhook_secret_is_refused_locally(zalo: ZaloClient, zalo_api: FakeZaloApi) -> None:
    with pytest.raises(ZaloBadRequest, match="8 to 256"):
        await zalo.set_webhook("https://cdht.example/zalo", "short")
    assert zalo_api.calls == []


async def test_send_message(zalo: ZaloClient, zalo_api: FakeZaloApi) -> None:
    sent = await zalo.send_message(CHAT, "<b>Chỉ tiêu 1</b>", parse_mode="html")
    (item,) = zalo_api.messages
    assert (item.chat_id, item.text, item.parse_mode) == (CHAT, "<b>Chỉ tiêu 1</b>", "html")
    assert sent.message_id == item.message_id
    assert isinstance(sent.date, datetime) and sent.date.tzinfo is not None
    await zalo.send_message(CHAT, "x" * MAX_TEXT)  # exactly the limit is fine
    assert "parse_mode" not in zalo_api.calls[-1][1]


@pytest.mark.parametrize("text", ["x" * (MAX_TEXT + 1), ""])
async def test_text_outside_1_to_2000_is_refused_before_any_request(
    zalo: ZaloClient, zalo_api: FakeZaloApi, text: str
) -> None:
    with pytest.raises(ZaloBadRequest) as caught:
        await zalo.send_message(CHAT, text)
    assert "2000" in str(caught.value)
    assert zalo_api.calls == []


async def test_long_caption_is_refused_before_any_request(zalo: ZaloClient, zalo_api: FakeZaloApi) -> None:
    with pytest.raises(ZaloBadRequest, match="caption"):
        await zalo.send_photo(CHAT, zalo_api.add_photo(b"png"), caption="x" * (MAX_TEXT + 1))
    assert zalo_api.calls == []


async def test_send_photo_is_fetched_from_its_url(zalo: ZaloClient, zalo_api: FakeZaloApi) -> None:
    url = zalo_api.add_photo(b"\x89PNG chart", "image/png")
    sent = await zalo.send_photo(CHAT, url, caption="Biểu đồ")
    (item,) = zalo_api.photos
    assert (item.chat_id, item.photo_url, item.caption, item.photo) == (CHAT, url, "Biểu đồ", b"\x89PNG chart")
    assert sent.message_id == item.message_id
    assert [(f.url, f.status) for f in zalo_api.fetches] == [(url, 200)]


async def test_send_photo_zalo_cannot_fetch_is_a_bad_request(zalo: ZaloClient, zalo_api: FakeZaloApi) -> None:
    missing = f"{zalo_api.base_url}/photos/missing.jpg"
    with pytest.raises(ZaloBadRequest) as caught:
        await zalo.send_photo(CHAT, missing)
    assert caught.value.code == 400 and caught.value.method == "sendPhoto"
    assert [(f.url, f.status) for f in zalo_api.fetches] == [(missing, 404)]
    assert zalo_api.photos == []


async def test_send_chat_action(zalo: ZaloClient, zalo_api: FakeZaloApi) -> None:
    await zalo.send_chat_action(CHAT)
    assert zalo_api.actions == [(CHAT, "typing")]


@pytest.mark.parametrize("error_status", [None, 200])  # Zalo's error code as the HTTP status, or HTTP 200
async def test_over_the_quota_is_the_quota_error(error_status: int | None) -> None:
    async with (
        FakeZaloApi(quota=2, error_status=error_status) as fake,
        ZaloClient(TOKEN, base_url=fake.base_url) as client,
    ):
        await client.send_message(CHAT, "1")
        await client.send_photo(CHAT, fake.add_photo(b"jpg"))
        with pytest.raises(ZaloQuotaExceeded) as caught:
            await client.send_message(CHAT, "3")
    assert caught.value.code == 429 and isinstance(caught.value, ZaloError)
    assert fake.texts() == ["1"] and len(fake.photos) == 1


async def test_other_codes_are_the_base_error(zalo: ZaloClient, zalo_api: FakeZaloApi) -> None:
    zalo_api.fail_next("sendMessage", 403, "Server error")
    with pytest.raises(ZaloError) as caught:
        await zalo.send_message(CHAT, "x")
    assert type(caught.value) is ZaloError
    assert (caught.value.code, caught.value.description, caught.value.method) == (403, "Server error", "sendMessage")


async def test_wrong_token_is_unauthorized_and_never_shown(
    zalo_api: FakeZaloApi, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "9876543210:wrong-secret-DoNotLeakMe"
    caplog.set_level(logging.DEBUG)  # everything, httpx's own request log included (even if a test
    caplog.set_level(logging.DEBUG, logger="httpx")  # before this one quietened httpx, as `cdht run` does)
    async with ZaloClient(wrong, base_url=zalo_api.base_url) as client:
        with pytest.raises(ZaloUnauthorized) as caught:
            await client.get_me()
        logging.getLogger("cdht.test").exception("Zalo failed: %r", caught.value, exc_info=caught.value)
        shown = [str(caught.value), repr(caught.value), repr(client), caplog.text]
    assert caught.value.code == 401
    assert "HTTP Request" in caplog.text  # httpx did log the request: the redaction is what kept the token out
    for text in shown:
        assert wrong not in text and "DoNotLeakMe" not in text


async def test_network_error_never_shows_the_token(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")
    async with ZaloClient(TOKEN, base_url=f"http://127.0.0.1:{port}", timeout=2) as client:
        with pytest.raises(ZaloNetworkError) as caught:
            await client.send_message(CHAT, "x")
        logging.getLogger("cdht.test").exception("Zalo failed", exc_info=caught.value)
    assert caught.value.code is None and caught.value.method == "sendMessage"
    secret = TOKEN.split(":", 1)[1]
    for text in (str(caught.value), repr(caught.value), caplog.text):
        assert secret not in text


def test_empty_token_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        ZaloClient(" ", base_url="http://127.0.0.1:9")
