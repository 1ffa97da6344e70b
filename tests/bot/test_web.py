"""The webhook app: Telegram's calls are proven by the secret, recorded in the inbox before the 200, and
/healthz tells whether the database is reachable and migrated."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select
from telegram import Update
from telegram.ext import Application

from bot.app import build_application
from bot.web import TELEGRAM_SECRET_HEADER, build_web_app, health, telegram_webhook
from storage.db import Sessions, make_engine
from storage.models import UpdateInbox
from tests.bot.harness import make_settings
from tests.fakes.telegram_api import FakeBotApi

SECRET = "s3cret-webhook-value"


def start_update(update_id: int, user_id: int = 77) -> dict[str, Any]:
    user = {"id": user_id, "is_bot": False, "first_name": "Lan", "language_code": "vi"}
    message = {
        "message_id": 1,
        "date": 0,
        "from": user,
        "chat": {"id": user_id, "type": "private"},
        "text": "/start",
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
    }
    return {"update_id": update_id, "message": message}


@pytest.fixture
def bot_app(sessions: Sessions, tmp_path: Path) -> Application:
    """An Application that is not running: whatever the route queues stays in its queue."""
    return build_application(make_settings(tmp_path / "ev"), sessions, request=FakeBotApi())


@pytest.fixture
async def client(bot_app: Application, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    web = build_web_app([telegram_webhook("/tg/hook", SECRET, bot_app), health(engine)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url="http://bot") as c:
        yield c


async def _inbox(sessions: Sessions) -> list[UpdateInbox]:
    async with sessions() as s:
        return list((await s.exec(select(UpdateInbox))).all())


@pytest.mark.parametrize("headers", [{}, {TELEGRAM_SECRET_HEADER: "wrong"}, {TELEGRAM_SECRET_HEADER: SECRET[:-1]}])
async def test_a_call_without_the_secret_is_refused_and_leaves_nothing(
    client: httpx.AsyncClient,
    bot_app: Application,
    sessions: Sessions,
    headers: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    answer = await client.post("/tg/hook", json=start_update(1), headers=headers)
    assert answer.status_code == 403
    assert await _inbox(sessions) == []
    assert bot_app.update_queue.empty()
    assert SECRET not in caplog.text and "wrong" not in caplog.text


async def test_the_update_is_in_the_inbox_when_telegram_gets_its_200(
    client: httpx.AsyncClient, bot_app: Application, sessions: Sessions
) -> None:
    answer = await client.post("/tg/hook", json=start_update(5), headers={TELEGRAM_SECRET_HEADER: SECRET})
    assert answer.status_code == 200
    [row] = await _inbox(sessions)
    assert (row.channel, row.key, row.done_at) == ("telegram", "5", None)
    assert row.payload["message"]["text"] == "/start"
    assert bot_app.update_queue.qsize() == 1
    # Telegram sends it again (it did not see our 200): recorded once, queued once.
    again = await client.post("/tg/hook", json=start_update(5), headers={TELEGRAM_SECRET_HEADER: SECRET})
    assert again.status_code == 200
    assert len(await _inbox(sessions)) == 1 and bot_app.update_queue.qsize() == 1


async def test_the_inbox_keeps_the_update_as_telegram_sent_it(
    client: httpx.AsyncClient, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = start_update(6)
    # Recorded from the request's JSON, not rebuilt from the decoded object (that cost ~3% of an update).
    monkeypatch.setattr(Update, "to_dict", lambda *_a, **_k: pytest.fail("rebuilt from the object"))
    answer = await client.post("/tg/hook", json=sent, headers={TELEGRAM_SECRET_HEADER: SECRET})
    assert answer.status_code == 200
    [row] = await _inbox(sessions)
    assert row.payload == sent


async def test_a_body_that_is_not_an_update_is_a_bad_request(
    client: httpx.AsyncClient, sessions: Sessions, bot_app: Application
) -> None:
    for body in ([1, 2], "x", {}):
        answer = await client.post("/tg/hook", json=body, headers={TELEGRAM_SECRET_HEADER: SECRET})
        assert answer.status_code == 400, body
    assert await _inbox(sessions) == [] and bot_app.update_queue.empty()


async def test_only_the_webhook_path_takes_updates(client: httpx.AsyncClient) -> None:
    answer = await client.post("/other", json=start_update(6), headers={TELEGRAM_SECRET_HEADER: SECRET})
    assert answer.status_code == 404
    bad = await client.post("/tg/hook", content=b"not json", headers={TELEGRAM_SECRET_HEADER: SECRET})
    assert bad.status_code == 400


async def test_healthz_on_a_current_database(client: httpx.AsyncClient) -> None:
    answer = await client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"database": "ok", "schema": "current"}


async def _health_of(engine: AsyncEngine) -> httpx.Response:
    web = build_web_app([health(engine)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url="http://bot") as c:
        return await c.get("/healthz")


async def test_healthz_on_an_unmigrated_or_unreachable_database(tmp_path: Path) -> None:
    empty = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        answer = await _health_of(empty)
    finally:
        await empty.dispose()
    assert answer.status_code == 503
    assert answer.json() == {"database": "ok", "schema": "behind"}

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    away = make_engine(f"postgresql://postgres@127.0.0.1:{port}/nothing")
    try:
        answer = await _health_of(away)
    finally:
        await away.dispose()
    assert answer.status_code == 503
    assert answer.json() == {"database": "unreachable", "schema": "unknown"}
