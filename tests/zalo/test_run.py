"""The real ``cdht run`` as a subprocess with Zalo: alone (polling) on PostgreSQL, and beside Telegram with both
webhooks and /healthz on one port; a missing or refused token is one line, without the token."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx

from locales import gettext
from tests.bot.test_run import WAIT, _cdht, _free_port, pg_database, running  # noqa: F401 (pg_database: fixture)
from tests.bot.test_web import start_update
from tests.fakes.bot_api_server import Emulator, running_emulator
from tests.fakes.zalo_api import TOKEN, USER_ID, FakeZaloApi, text_update

TG_TOKEN = "123456:RUN-test-token-Zq8XvW3k"
SECRET = "zalo-webhook-secret-for-the-run-test"


def _env(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "TMPDIR")
    return {
        **{k: v for k, v in os.environ.items() if k in keep},
        "DATABASE_URL": database_url,
        "EVIDENCE_DIR": str(tmp_path / "evidence"),
        "LOG_LEVEL": "INFO",
        **extra,
    }


async def _until(check: Callable[[], bool]) -> bool:
    for _ in range(WAIT * 10):
        if check():
            return True
        await asyncio.sleep(0.1)
    return False


def _consent_first_line() -> str:
    return gettext("consent.ask", "vi").splitlines()[0]


def _assert_clean(output: str) -> None:
    assert "Traceback" not in output, output
    assert TOKEN not in output and TOKEN.partition(":")[2] not in output, output


async def test_zalo_alone_on_postgresql_answers_the_first_message(pg_database: str, tmp_path: Path) -> None:  # noqa: F811
    async with FakeZaloApi() as zalo:
        zalo.queue_update(text_update("Xin chào"))
        env = _env(pg_database, tmp_path, ZALO_BOT_TOKEN=TOKEN, ZALO_API_BASE_URL=zalo.base_url)
        with running(env, tmp_path) as bot:
            assert await _until(lambda: bool(zalo.messages)), bot.output()
            status = await asyncio.to_thread(bot.stop)
    first = zalo.messages[0]
    assert first.chat_id == USER_ID and (first.text or "").startswith(_consent_first_line()), first
    assert "1." in (first.text or "") and status == 0
    _assert_clean(bot.output())


def both_webhooks(port: int) -> dict[str, str]:
    """Settings for Telegram's and Zalo's webhooks on one port of 127.0.0.1."""
    return {
        "WEBHOOK_URL": f"http://127.0.0.1:{port}/tg-hook",
        "WEBHOOK_SECRET": "telegram-webhook-secret",
        "ZALO_WEBHOOK_URL": f"http://127.0.0.1:{port}/zalo-hook",
        "ZALO_WEBHOOK_SECRET": SECRET,
        "WEBHOOK_LISTEN": "127.0.0.1",
        "WEBHOOK_PORT": str(port),
    }


def both_env(database_url: str, tmp_path: Path, telegram: Emulator, zalo: FakeZaloApi, **extra: str) -> dict[str, str]:
    """A run's environment with both bots pointed at their fakes."""
    return _env(
        database_url,
        tmp_path,
        BOT_TOKEN=TG_TOKEN,
        TELEGRAM_API_BASE_URL=f"{telegram.base}/bot",
        TELEGRAM_FILE_BASE_URL=f"{telegram.base}/file/bot",
        ZALO_BOT_TOKEN=TOKEN,
        ZALO_API_BASE_URL=zalo.base_url,
        **extra,
    )


async def test_both_messengers_take_webhooks_on_one_port(tmp_path: Path) -> None:
    port = _free_port()
    hooks = both_webhooks(port)
    async with FakeZaloApi() as zalo:
        with running_emulator() as telegram:
            env = both_env(f"sqlite:///{tmp_path / 'cdht.db'}", tmp_path, telegram, zalo, **hooks)
            with running(env, tmp_path) as bot:
                registered = lambda: zalo.webhook is not None and bool(telegram.calls("setWebhook"))  # noqa: E731
                assert await _until(registered), bot.output()
                assert zalo.webhook is not None
                assert (zalo.webhook.url, zalo.webhook.secret_token) == (hooks["ZALO_WEBHOOK_URL"], SECRET)
                refused, _ = await zalo.deliver(text_update("Xin chào", user_id="u-wrong"), secret="wrong-secret")
                missing, _ = await zalo.deliver(text_update("Xin chào", user_id="u-none"), secret=None)
                accepted, _ = await zalo.deliver(text_update("Xin chào"))
                assert await _until(lambda: bool(zalo.messages)), bot.output()
                async with httpx.AsyncClient(timeout=WAIT) as http:
                    tg = await http.post(
                        hooks["WEBHOOK_URL"],
                        json=start_update(7, user_id=707),
                        headers={"X-Telegram-Bot-Api-Secret-Token": hooks["WEBHOOK_SECRET"]},
                    )
                    health = await http.get(f"http://127.0.0.1:{port}/healthz")
                assert await _until(lambda: bool(telegram.calls("sendMessage"))), bot.output()
                status = await asyncio.to_thread(bot.stop)
    assert (refused, missing, accepted, tg.status_code) == (403, 403, 200, 200)
    assert [m.chat_id for m in zalo.messages] == [USER_ID]  # nothing reached the refused senders
    assert health.status_code == 200 and status == 0
    _assert_clean(bot.output())


def _run_once(env: dict[str, str], tmp_path: Path) -> tuple[int, str]:
    done = subprocess.run(_cdht("run"), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=WAIT)
    return done.returncode, done.stdout + done.stderr


def test_without_any_token_one_line_names_both(tmp_path: Path) -> None:
    status, output = _run_once(_env(f"sqlite:///{tmp_path / 'cdht.db'}", tmp_path), tmp_path)
    assert status == 2
    assert output.strip().splitlines() == [
        "cdht: set BOT_TOKEN (Telegram, from @BotFather) or ZALO_BOT_TOKEN (Zalo, from Zalo Bot Creator), or both"
    ]


async def test_a_refused_zalo_token_is_one_line_without_the_token(tmp_path: Path) -> None:
    async with FakeZaloApi() as zalo:
        env = _env(
            f"sqlite:///{tmp_path / 'cdht.db'}",
            tmp_path,
            ZALO_BOT_TOKEN=TOKEN.replace("secret", "wrong"),
            ZALO_API_BASE_URL=zalo.base_url,
        )
        status, output = await asyncio.to_thread(_run_once, env, tmp_path)
    assert status != 0
    assert output.strip().splitlines() == ["cdht: the bot token was rejected by Zalo (check ZALO_BOT_TOKEN)"], output
    assert "wrong" not in output


async def test_a_zalo_officer_gets_an_export_by_link_from_the_real_run_on_postgresql(
    pg_database: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    """As deployed: PostgreSQL, Zalo by webhook, PUBLIC_BASE_URL; the officer granted at the desk types
    'xuất' and downloads the workbook from the link the bot sent."""
    port = _free_port()
    async with FakeZaloApi() as zalo:
        env = _env(
            pg_database,
            tmp_path,
            ZALO_BOT_TOKEN=TOKEN,
            ZALO_API_BASE_URL=zalo.base_url,
            ZALO_WEBHOOK_URL=f"http://127.0.0.1:{port}/zalo-hook",
            ZALO_WEBHOOK_SECRET=SECRET,
            WEBHOOK_LISTEN="127.0.0.1",
            WEBHOOK_PORT=str(port),
            PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
            FILES_DIR=str(tmp_path / "files"),
        )
        for desk in (("unit", "add", "XA1", "Xã Văn Bình"), ("grant", "zalo:off1", "officer", "XA1")):
            done = await asyncio.to_thread(
                subprocess.run, _cdht(*desk), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=WAIT
            )
            assert done.returncode == 0, done.stdout + done.stderr
        with running(env, tmp_path) as bot:
            assert await _until(lambda: zalo.webhook is not None), bot.output()
            status, _ = await zalo.deliver(text_update("xuất", user_id="off1"))
            assert await _until(lambda: bool(zalo.texts("off1"))), bot.output()
            [sent] = zalo.texts("off1")
            link = sent.split(f"http://127.0.0.1:{port}/files/", 1)[1].split()[0]
            async with httpx.AsyncClient(timeout=WAIT) as http:
                workbook = await http.get(f"http://127.0.0.1:{port}/files/{link}")
                tampered = await http.get(f"http://127.0.0.1:{port}/files/{link[:-2]}xx")
            stopped = await asyncio.to_thread(bot.stop)
    assert status == 200 and ".xlsx" in sent and len(sent) <= 2000
    assert workbook.status_code == 200 and workbook.content.startswith(b"PK")  # a zip: the XLSX
    assert tampered.status_code == 403 and tampered.content == b""
    assert stopped == 0
    _assert_clean(bot.output())
