"""The evidence reader in the real ``cdht run``, as deployed: PostgreSQL, Telegram and Zalo by webhook on one
port, PUBLIC_BASE_URL, READER left at its default. A Zalo citizen registers at a unit made with ``cdht unit add``
and sends a photo of a certificate dated in 2024 only; the reader's follow-up reaches them once, and not again
after a restart, and a file being read when the process stops is given back for the next one at once. A READER
value the operator mistyped is one line and a non-zero exit.

The real run needs Tesseract with its Vietnamese model (skips without it, fails under CDHT_REQUIRE_TESSERACT=1)
and PostgreSQL (the pg_database fixture)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import threading
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from bot import evidence_reader as er
from bot.evidence_reader import tesseract_problem
from conversations import evidence_facts as ef
from locales import gettext
from storage import repo_evidence_reading as rer
from storage.db import Sessions, make_engine, make_sessions
from storage.models import EvidenceReading, Outbox
from tests.bot.certificates import SET, as_jpeg, draw
from tests.bot.harness import make_settings
from tests.bot.test_evidence_reader import add_files, reader_for, readings
from tests.bot.test_run import WAIT, _cdht, _free_port, pg_database, running  # noqa: F401 (pg_database: fixture)
from tests.fakes.bot_api_server import Emulator, running_emulator
from tests.fakes.zalo_api import USER_ID, FakeZaloApi, image_update, text_update
from tests.zalo.test_run import TG_TOKEN, _assert_clean, _until, both_env, both_webhooks

# A library card (the reader ties it to indicator 1, where it is sent) whose only date is in 2024.
OLD_CARD = dataclasses.replace(SET[1], date_line="Cấp ngày 03/02/2024", dates=("2024-02-03",))
SETTLE = 3  # seconds a started process is given to send anything it (wrongly) still owes


@pytest.fixture
def tesseract() -> None:
    """As tests/bot/test_evidence_reader.py: skip without Tesseract, fail under CDHT_REQUIRE_TESSERACT=1."""
    problem = tesseract_problem()
    if problem is not None:
        if os.environ.get("CDHT_REQUIRE_TESSERACT") == "1":
            pytest.fail(f"CDHT_REQUIRE_TESSERACT=1 but {problem}")
        pytest.skip(problem)


def _deployed(database_url: str, tmp_path: Path, zalo: FakeZaloApi, telegram: Emulator, **extra: str) -> dict[str, str]:
    """The production shape: both webhooks and /healthz on one port, links under PUBLIC_BASE_URL, READER unset.
    Quiet hours are switched off only so the follow-up goes out whatever the hour the suite runs at."""
    port = _free_port()
    return both_env(
        database_url,
        tmp_path,
        telegram,
        zalo,
        **both_webhooks(port),
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        FILES_DIR=str(tmp_path / "files"),
        QUIET_HOURS_START="00:00",
        QUIET_HOURS_END="00:00",
        **extra,
    )


def _desk(env: dict[str, str], tmp_path: Path, *args: str) -> None:
    done = subprocess.run(_cdht(*args), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=WAIT)
    assert done.returncode == 0, done.stdout + done.stderr


async def _say(zalo: FakeZaloApi, update: dict[str, object]) -> str:
    """Delivers one update by the webhook and waits for the bot's answer to it."""
    seen = len(zalo.texts(USER_ID))
    status, _ = await zalo.deliver(update)
    assert status == 200
    assert await _until(lambda: len(zalo.texts(USER_ID)) > seen), zalo.texts(USER_ID)
    return "\n".join(zalo.texts(USER_ID)[seen:])


def _followups(zalo: FakeZaloApi) -> list[str]:
    title = gettext("reader.check.title", "vi", year=2026)
    return [t for t in zalo.texts(USER_ID) if t.startswith(title)]


async def _stored(database_url: str) -> tuple[list[EvidenceReading], list[Outbox]]:
    engine = make_engine(database_url)
    try:
        async with make_sessions(engine)() as s:
            readings = list((await s.exec(select(EvidenceReading))).all())
            rows = list((await s.exec(select(Outbox).where(Outbox.kind == rer.FOLLOWUP_KIND))).all())
            return readings, rows
    finally:
        await engine.dispose()


async def _health(env: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(timeout=WAIT) as http:
        return await http.get(f"{env['PUBLIC_BASE_URL']}/healthz")


async def test_a_photo_dated_outside_the_year_earns_one_followup_on_zalo_as_deployed(
    tesseract: None,
    pg_database: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    async with FakeZaloApi() as zalo:
        with running_emulator() as telegram:
            env = _deployed(pg_database, tmp_path, zalo, telegram)
            assert "READER" not in env and "READER_WORKERS" not in env  # the default: on
            await asyncio.to_thread(_desk, env, tmp_path, "unit", "add", "THON1", "Thôn Bình Vọng")
            with running(env, tmp_path) as bot:
                assert await _until(lambda: zalo.webhook is not None), bot.output()
                health = await _health(env)
                assert "1." in await _say(zalo, text_update("Xin chào"))  # consent asked
                assert "họ và tên" in await _say(zalo, text_update("đồng ý"))
                assert "mã" in (await _say(zalo, text_update("Trần Thị Bình"))).lower()
                assert "nhóm đối tượng" in await _say(zalo, text_update("THON1"))
                assert "Chỉ tiêu 1/10" in await _say(zalo, text_update("1"))
                assert "✔️ Xong" in await _say(zalo, text_update("1"))  # a level: indicator 1's evidence step
                photo = zalo.add_photo(as_jpeg(draw(OLD_CARD)))
                assert "Chỉ tiêu 1 · Đã nhận: 1 ảnh" in await _say(zalo, image_update(photo, user_id=USER_ID))
                assert await _until(lambda: bool(_followups(zalo))), bot.output()
                await asyncio.sleep(SETTLE)
                first_run = _followups(zalo)
                assert await asyncio.to_thread(bot.stop) == 0
                first_output = bot.output()
            # Started again on the same database: the file is not read again, the follow-up not sent again.
            zalo.webhook = None
            with running(env, tmp_path) as again:
                assert await _until(lambda: zalo.webhook is not None), again.output()
                await asyncio.sleep(SETTLE)
                assert await asyncio.to_thread(again.stop) == 0
                second_output = again.output()
    [followup] = first_run
    assert _followups(zalo) == [followup]
    outside = gettext("reader.check.outside_year", "vi", dates="03/02/2024", year=2026)
    assert "• Chỉ tiêu 1, tệp gửi ngày " in followup and outside in followup, followup
    assert len(followup) <= 2000
    [reading], [row] = await _stored(pg_database)
    assert reading.dates == ["2024-02-03"] and reading.flags == [ef.OUTSIDE_YEAR], (reading.text, reading.flags)
    assert reading.notified_at is not None
    assert (row.channel, row.status, row.payload["evidence_ids"]) == ("zalo", "sent", [reading.evidence_id])
    assert health.status_code == 200 and health.json()["reader"] == "on"
    assert "evidence reader on" in first_output and "evidence reader on" in second_output
    for output in (first_output, second_output):
        _assert_clean(output)
        assert TG_TOKEN.partition(":")[2] not in output


@pytest.mark.parametrize(
    ("setting", "value"),
    [("READER", "maybe"), ("READER_WORKERS", "0")],
)
async def test_a_mistyped_reader_setting_is_one_line_and_a_non_zero_exit(
    setting: str, value: str, tmp_path: Path
) -> None:
    """Refused before anything is reached: the database is never opened, so no PostgreSQL is needed."""
    async with FakeZaloApi() as zalo:
        with running_emulator() as telegram:
            env = _deployed("postgresql://nobody@127.0.0.1:1/none", tmp_path, zalo, telegram, **{setting: value})
            done = await asyncio.to_thread(
                subprocess.run, _cdht("run"), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=WAIT
            )
    output = done.stdout + done.stderr
    assert done.returncode != 0
    [line] = output.strip().splitlines()
    assert line.startswith(f"cdht: bad configuration: {setting}: "), line
    _assert_clean(output)
    assert zalo.webhook is None and not telegram.calls("setWebhook")  # refused before reaching either


async def test_a_reading_cut_short_by_a_stop_gives_its_file_back(
    sessions: Sessions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restart (every deploy) while a photo is read: its claim is given back, so the next process reads it at
    once rather than after the lease (ten minutes), when the citizen's follow-up would come too late."""
    settings = make_settings(tmp_path)
    _, [ev] = await add_files(sessions, tmp_path, [(1, as_jpeg(draw(OLD_CARD)))])
    started, go_on = threading.Event(), threading.Event()

    def slow(path: Path, mime_type: str, *, with_ocr: bool = True) -> er.Raw:
        started.set()
        go_on.wait(WAIT)
        return er.Raw(rer.FAILED)

    monkeypatch.setattr(er, "read_file", slow)
    reading = asyncio.create_task(reader_for(settings, sessions, problem=lambda: None).round())
    try:
        assert await asyncio.to_thread(started.wait, WAIT)
        reading.cancel()  # what stopping ``cdht run`` does to the reader's task
        with pytest.raises(asyncio.CancelledError):
            await reading
    finally:
        go_on.set()
    async with sessions() as s:
        assert await s.get(EvidenceReading, ev) is None  # no claim left: back in the queue

    monkeypatch.setattr(er, "read_file", lambda path, mime_type, **_: er.Raw(rer.READ, OLD_CARD.date_line))
    assert await reader_for(settings, sessions, problem=lambda: None).round() == 1  # the next process
    [got] = await readings(sessions, [ev])
    assert (got.status, got.dates, got.flags) == (rer.READ, ["2024-02-03"], [ef.OUTSIDE_YEAR])
