"""The real ``cdht run`` as a subprocess, against a Bot API emulator on 127.0.0.1: the first update after a
start on PostgreSQL gets the normal answer (polling and webhook), and a Telegram that cannot be reached or
refuses the token is one line, without the token, and a non-zero exit."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from locales import gettext
from storage.db import make_engine
from tests.bot.test_web import start_update
from tests.conftest import PG_URL, REQUIRE_PG, _pg_reachable
from tests.fakes.bot_api_server import running_emulator

TOKEN = "123456:RUN-test-token-Zq8XvW3k"
SECRET = "webhook-secret-for-the-run-test"
WAIT = 60  # seconds: an upper bound for a start on a busy machine, never a measurement


def _cdht(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("cdht")
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "bot.cli", *args]


def _env(database_url: str, api: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "TMPDIR", "SYSTEMROOT")
    return {
        **{k: v for k, v in os.environ.items() if k in keep},
        "BOT_TOKEN": TOKEN,
        "DATABASE_URL": database_url,
        "TELEGRAM_API_BASE_URL": f"{api}/bot",
        "TELEGRAM_FILE_BASE_URL": f"{api}/file/bot",
        "EVIDENCE_DIR": str(tmp_path / "evidence"),
        "LOG_LEVEL": "INFO",
        **extra,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Running:
    """A ``cdht run`` process; its output goes to a file that can be read while it runs."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.log = cwd / "cdht-run.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(_cdht("run"), env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=WAIT)


@contextmanager
def running(env: dict[str, str], cwd: Path) -> Iterator[Running]:
    bot = Running(env, cwd)
    try:
        yield bot
    finally:
        if bot.proc.poll() is None:
            bot.proc.kill()
            bot.proc.wait(timeout=WAIT)


async def _admin(sql: str) -> None:
    engine = make_engine(PG_URL)
    try:
        async with engine.connect() as conn:
            await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(text(sql))
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database migrated by ``cdht db upgrade``, dropped at the end."""
    problem = asyncio.run(_pg_reachable())
    if problem:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL at {PG_URL} is required but not reachable: {problem}")
        pytest.skip(f"PostgreSQL not reachable: {problem}")
    name = f"cdht_run_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'create database "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        env = {**os.environ, "DATABASE_URL": url}
        upgraded = subprocess.run(_cdht("db", "upgrade"), env=env, capture_output=True, text=True, timeout=WAIT)
        assert upgraded.returncode == 0, upgraded.stderr
        yield url
    finally:
        asyncio.run(_admin(f'drop database if exists "{name}" with (force)'))


def _consent_first_line() -> str:
    return gettext("consent.ask", "vi").splitlines()[0]


def _assert_clean(output: str) -> None:
    assert "Traceback" not in output, output
    assert "different loop" not in output, output
    assert TOKEN not in output and TOKEN.partition(":")[2] not in output


def test_the_first_update_after_a_start_on_postgresql_gets_the_normal_answer(pg_database: str, tmp_path: Path) -> None:
    with running_emulator() as api:
        api.push_update(start_update(1, user_id=501))
        # DEBUG: the scheduler's job runs are logged, and everything python-telegram-bot logs is seen redacted.
        with running(_env(pg_database, api.base, tmp_path, LOG_LEVEL="DEBUG"), tmp_path) as bot:
            assert api.wait_until(lambda: bool(api.calls("sendMessage")), WAIT), bot.output()
            first = api.texts()[0]
            # The reminder planning job ran in the same loop, on the same pool, without error.
            ran = re.compile(r'Job "reminders:plan [^"]*" executed successfully')
            assert api.wait_until(lambda: bool(ran.search(bot.output())), WAIT), bot.output()
            assert bot.stop() == 0
    assert first.startswith(_consent_first_line()), first
    assert gettext("error.generic", "vi") not in api.texts() and gettext("error.db", "vi") not in api.texts()
    _assert_clean(bot.output())


def _post(port: int, update: dict[str, Any], secret: str) -> httpx.Response:
    return httpx.post(
        f"http://127.0.0.1:{port}/tg-hook",
        json=update,
        headers={"X-Telegram-Bot-Api-Secret-Token": secret},
        timeout=WAIT,
    )


def test_webhook_mode_on_postgresql(pg_database: str, tmp_path: Path) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/tg-hook"
    webhook = {"WEBHOOK_URL": url, "WEBHOOK_SECRET": SECRET, "WEBHOOK_LISTEN": "127.0.0.1", "WEBHOOK_PORT": str(port)}
    with (
        running_emulator() as api,
        running(_env(pg_database, api.base, tmp_path, **webhook), tmp_path) as bot,
    ):
        assert api.wait_until(lambda: bool(api.calls("setWebhook")), WAIT), bot.output()
        [registered] = api.calls("setWebhook")
        assert registered["url"] == url and registered["secret_token"] == SECRET
        assert set(registered["allowed_updates"]) == {"message", "callback_query", "my_chat_member"}
        assert _post(port, start_update(2, user_id=502), "wrong").status_code == 403
        assert _post(port, start_update(3, user_id=503), SECRET).status_code == 200
        assert api.wait_until(lambda: bool(api.calls("sendMessage")), WAIT), bot.output()
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=WAIT)
        assert bot.stop() == 0
    [reply] = api.calls("sendMessage")
    assert reply["chat_id"] == 503 and str(reply["text"]).startswith(_consent_first_line())
    body = health.json()
    reader = body.pop("reader")  # the evidence reader: "on", or "off: why" without Tesseract (still 200)
    assert (health.status_code, body) == (200, {"database": "ok", "schema": "current"})
    assert reader == "on" or reader.startswith("off: ")
    assert ("evidence reader on" if reader == "on" else "evidence reader off") in bot.output()
    _assert_clean(bot.output())


def _run_once(api_base: str, tmp_path: Path) -> tuple[int, str]:
    env = _env(f"sqlite:///{tmp_path / 'cdht.db'}", api_base, tmp_path)
    done = subprocess.run(_cdht("run"), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=WAIT)
    return done.returncode, done.stdout + done.stderr


def _assert_one_line(output: str, expected: str) -> None:
    assert output.strip().splitlines() == [expected], output
    assert TOKEN not in output and TOKEN.partition(":")[2] not in output


def test_a_rejected_token_is_one_line_without_the_token(tmp_path: Path) -> None:
    with running_emulator() as api:
        api.refuse = (401, "Unauthorized")
        status, output = _run_once(api.base, tmp_path)
    assert status != 0
    _assert_one_line(output, "cdht: the bot token was rejected by Telegram (check BOT_TOKEN)")


def test_an_unreachable_telegram_is_one_line_without_the_token(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    status, output = _run_once(closed, tmp_path)
    assert status != 0
    _assert_one_line(output, f"cdht: cannot reach Telegram at {closed}/bot")
