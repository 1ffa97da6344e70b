"""The real ``cdht run`` on PostgreSQL with both messengers by webhook: the server ends every connection the bot
holds (what a PostgreSQL restart or a failover does to a running bot), and the next message on each messenger
is recorded and answered as if nothing happened: no "try again", no lost update (storage.db.lost_connection)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url

from storage.db import make_engine
from tests.bot.test_run import _free_port, pg_database, running  # noqa: F401 (pg_database: fixture)
from tests.bot.test_web import start_update
from tests.fakes.bot_api_server import running_emulator
from tests.fakes.zalo_api import FakeZaloApi, text_update
from tests.zalo.test_run import WAIT, _assert_clean, _until, both_env, both_webhooks


async def _cut_connections(database_url: str) -> int:
    """Ends, on the server, every connection to the bot's database but this one; returns how many."""
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            name = make_url(database_url).database
            ended = await conn.execute(
                text(
                    "select pg_terminate_backend(pid) from pg_stat_activity "
                    "where datname = :name and pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            return len(ended.all())
    finally:
        await engine.dispose()


async def test_both_messengers_answer_after_the_server_cut_every_connection(
    pg_database: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    hooks = both_webhooks(_free_port())
    async with FakeZaloApi() as zalo:
        with running_emulator() as telegram:
            env = both_env(pg_database, tmp_path, telegram, zalo, READER="off", **hooks)
            with running(env, tmp_path) as bot:
                registered = lambda: zalo.webhook is not None and bool(telegram.calls("setWebhook"))  # noqa: E731
                assert await _until(registered), bot.output()
                async with httpx.AsyncClient(timeout=WAIT) as http:

                    async def telegram_says(update_id: int) -> int:
                        answer = await http.post(
                            hooks["WEBHOOK_URL"],
                            json=start_update(update_id, user_id=808),
                            headers={"X-Telegram-Bot-Api-Secret-Token": hooks["WEBHOOK_SECRET"]},
                        )
                        return answer.status_code

                    # First messages: the bot's pool now holds live connections.
                    assert await telegram_says(1) == 200
                    assert (await zalo.deliver(text_update("Xin chào")))[0] == 200
                    assert await _until(lambda: len(telegram.texts()) == 1 and len(zalo.messages) >= 1), bot.output()
                    zalo_before = len(zalo.messages)

                    assert await _cut_connections(pg_database) >= 1

                    assert await telegram_says(2) == 200
                    assert (await zalo.deliver(text_update("Xin chào lần nữa")))[0] == 200
                    answered = lambda: len(telegram.texts()) == 2 and len(zalo.messages) > zalo_before  # noqa: E731
                    assert await _until(answered), bot.output()
                status = await asyncio.to_thread(bot.stop)
    first, again = telegram.texts()
    assert again == first  # the same consent question, not "something went wrong"
    assert all("lỗi" not in (m.text or "").lower() for m in zalo.messages[zalo_before:])
    output = bot.output()
    assert "lost" in output and "once more" in output, output  # the retry is what answered, and it is logged
    assert status == 0
    _assert_clean(output)
