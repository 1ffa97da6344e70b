"""The fake Zalo Bot API itself holds to the documented rules, so tests built on it mean something."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from tests.fakes.zalo_api import (
    TOKEN,
    FakeZaloApi,
    envelope,
    image_update,
    sticker_update,
    text_update,
    unsupported_update,
)

SAMPLES = Path(__file__).parent / "samples"
SECRET = "webhook-secret-123"


def shape(value: Any) -> Any:
    """The keys of a JSON value, all the way down (values left out)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    return type(value).__name__


@pytest.mark.parametrize(
    ("sample", "built"),
    [
        ("text-update", text_update("Xin chào")),
        ("image-update", image_update("https://example.invalid/a.jpg", "Giấy chứng nhận")),
        ("sticker-update", sticker_update()),
        ("unsupported-update", unsupported_update()),
    ],
)
def test_builders_are_shaped_like_the_samples(sample: str, built: dict[str, Any]) -> None:
    expected = json.loads((SAMPLES / f"{sample}.json").read_text(encoding="utf-8"))
    assert shape(envelope(built)) == shape(expected)


async def call(fake: FakeZaloApi, method: str, token: str = TOKEN, **params: Any) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{fake.base_url}/bot{token}/{method}", json=params)
    return response.status_code, response.json()


async def test_wrong_token_is_401_for_every_method(zalo_api: FakeZaloApi) -> None:
    for method in ("getMe", "sendMessage", "getUpdates"):
        status, body = await call(zalo_api, method, token="1:wrong", chat_id="1", text="x", timeout=0)
        assert (status, body["ok"], body["error_code"]) == (401, False, 401)
    assert zalo_api.calls == [] and zalo_api.sent == []


async def test_fake_refuses_text_over_2000_and_empty(zalo_api: FakeZaloApi) -> None:
    for text in ("x" * 2001, ""):
        status, body = await call(zalo_api, "sendMessage", chat_id="1", text=text)
        assert (status, body["error_code"]) == (400, 400)
    status, _ = await call(zalo_api, "sendMessage", chat_id="1", text="x" * 2000)
    assert status == 200 and len(zalo_api.messages) == 1


async def test_empty_poll_answers_like_the_sample(zalo_api: FakeZaloApi) -> None:
    status, body = await call(zalo_api, "getUpdates", timeout=0)
    assert status == 408
    assert body == json.loads((SAMPLES / "empty-poll.json").read_text(encoding="utf-8"))


async def test_photo_outside_this_machine_is_never_fetched(zalo_api: FakeZaloApi) -> None:
    status, _ = await call(zalo_api, "sendPhoto", chat_id="1", photo="https://example.invalid/x.jpg")
    assert status == 400
    assert [(f.url, f.status) for f in zalo_api.fetches] == [("https://example.invalid/x.jpg", None)]


async def test_photo_that_is_not_an_image_is_refused(zalo_api: FakeZaloApi) -> None:
    status, _ = await call(zalo_api, "sendPhoto", chat_id="1", photo=zalo_api.add_photo(b"<html>", "text/html"))
    assert status == 400 and zalo_api.photos == []


async def test_photos_are_served_for_download(zalo_api: FakeZaloApi) -> None:
    url = zalo_api.add_photo(b"\xff\xd8evidence")
    async with httpx.AsyncClient() as http:
        response = await http.get(url)
    assert (response.status_code, response.content) == (200, b"\xff\xd8evidence")
    assert response.headers["content-type"] == "image/jpeg"


@pytest.fixture
async def webhook() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A receiver that accepts a delivery only with the right secret, as ours must."""
    received: list[dict[str, Any]] = []

    async def receive(request: web.Request) -> web.Response:
        if request.headers.get("X-Bot-Api-Secret-Token") != SECRET:
            return web.Response(status=403)
        received.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/zalo", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}/zalo", received
    await runner.cleanup()


async def test_deliver_with_right_wrong_and_no_secret(
    zalo_api: FakeZaloApi, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = webhook
    assert (await call(zalo_api, "setWebhook", url=url, secret_token=SECRET))[0] == 200
    update = text_update("Xin chào")
    assert (await zalo_api.deliver(update))[0] == 200
    assert (await zalo_api.deliver(update, secret="wrong-secret!"))[0] == 403
    assert (await zalo_api.deliver(update, secret=None))[0] == 403
    assert received == [envelope(update)]


async def test_quota_window_is_per_message_count() -> None:
    async with FakeZaloApi(quota=1) as fake:
        assert (await call(fake, "sendMessage", chat_id="1", text="a"))[0] == 200
        status, body = await call(fake, "sendMessage", chat_id="1", text="b")
        assert (status, body) == (429, json.loads((SAMPLES / "quota.json").read_text(encoding="utf-8")))
        fake.quota = None
        assert (await call(fake, "sendMessage", chat_id="1", text="c"))[0] == 200
    assert fake.texts() == ["a", "c"]
