"""Files reach an officer on Zalo by signed link, end to end: the bot sends a plan with a chart and an evidence
photo, the fake Zalo API's sendPhoto fetches our links from a real web server on 127.0.0.1 and gets the exact
bytes; an export arrives as a line with its link. And ``cdht run`` serves the links while it polls."""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from PIL import Image

from bot.file_links import FileLinks
from bot.replies import EvidenceSet, OutFile, Plan, StoredFile
from bot.web import build_web_app
from bot.zalo.client import ZaloBadRequest
from storage import repo_assessments as ra
from storage import repo_people as rp
from storage.db import Sessions, unit_of_work
from storage.models import Evidence
from tests.bot.test_run import WAIT, running
from tests.fakes.zalo_api import TOKEN, FakeZaloApi
from tests.zalo.people import give_zalo_role, jpeg, make_bot
from tests.zalo.test_run import _assert_clean, _env, _until

OFFICER = "officer-zalo-1"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 20), (250, 80, 10)).save(buf, "PNG")
    return buf.getvalue()


@contextlib.asynccontextmanager
async def serving(links: FileLinks, sock: socket.socket) -> AsyncIterator[None]:
    """The links' route on a real uvicorn server on ``sock``, in this event loop, as ``cdht run`` serves it."""
    server = uvicorn.Server(
        uvicorn.Config(build_web_app([links.route()]), log_config=None, access_log=False, lifespan="off")
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        assert await _until(lambda: server.started)
        yield
    finally:
        server.should_exit = True
        await task


async def _officer_and_photo(sessions: Sessions, evidence_dir: Path, photo: bytes) -> tuple[int, StoredFile]:
    async with unit_of_work(sessions) as s:
        await rp.add_unit(session=s, code="X01", name="Xã Một")
    await give_zalo_role(sessions, OFFICER, "reviewer", "X01")
    path = "2026/1/2/zalo-photo-1.jpg"
    async with unit_of_work(sessions) as s:
        officer = await rp.get_person(session=s, channel="zalo", external_id=OFFICER)
        citizen = await rp.create_person(session=s, channel="zalo", external_id="c-1", chat_id="c-1", locale="vi")
        assessment = await ra.open_assessment(session=s, person=citizen, year=2026, step="evidence")
        row = Evidence(
            assessment_id=assessment.id or 0,
            indicator=2,
            kind="photo",
            file_id="zalo-photo-1",
            file_unique_id="zalo-photo-1",
            mime_type="image/jpeg",
            size=len(photo),
            sha256="0" * 64,
            path=path,
        )
        await ra.add_evidence(session=s, evidence=row)
    assert officer is not None and officer.id is not None and row.id is not None
    (evidence_dir / path).parent.mkdir(parents=True, exist_ok=True)
    (evidence_dir / path).write_bytes(photo)
    return officer.id, StoredFile(row.id, "photo", "zalo", "zalo-photo-1", path, "image/jpeg")


async def test_sendphoto_fetches_our_links_and_an_export_is_a_link_in_text(
    zalo_api: FakeZaloApi, sessions: Sessions, tmp_path: Path
) -> None:
    evidence_dir = tmp_path / "evidence"
    sock = socket.create_server(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    bot = make_bot(zalo_api, sessions, evidence_dir, public_base_url=base, files_dir=tmp_path / "files")
    links = FileLinks(bot.data.settings, sessions, clock=bot.data.clock)
    bot.links = links
    photo, chart, export = jpeg(7), png(), b"PK\x03\x04 the tally of X01"
    officer_id, stored = await _officer_and_photo(sessions, evidence_dir, photo)
    plan = Plan(viewer_id=officer_id)
    plan.evidence.append(EvidenceSet("<b>Tiêu chí 2</b>", (stored,)))
    plan.say("Phiếu của Lan")
    plan.attach(OutFile("biểu đồ X01.png", chart, "image/png", caption="Biểu đồ X01"))
    plan.attach(OutFile("Tổng hợp X01 2026.xlsx", export, XLSX))
    try:
        async with serving(links, sock):
            await bot.send(OFFICER, plan)
            [line] = [t for t in zalo_api.texts(OFFICER) if "Tổng hợp X01 2026.xlsx" in t]
            url = line.split(": ", 1)[1].split()[0]
            async with httpx.AsyncClient() as http:
                opened = await http.get(url)
                forged = await http.get(url[:-2] + ("AA" if not url.endswith("AA") else "BB"))
    finally:
        await bot.close()
    shown = [(p.photo, p.caption) for p in zalo_api.photos]
    assert shown == [(photo, "<b>Tiêu chí 2</b>"), (chart, "Biểu đồ X01")]
    assert all(p.photo_url and p.photo_url.startswith(base + "/files/") for p in zalo_api.photos)
    assert [f.status for f in zalo_api.fetches] == [200, 200]
    assert url.startswith(base + "/files/f.")
    assert "📎 <b>Tổng hợp X01 2026.xlsx</b>" in line and "24" in line
    assert opened.status_code == 200 and opened.content == export
    assert opened.headers["content-disposition"].startswith("attachment; ")
    assert forged.status_code == 403 and forged.content == b""


async def test_without_a_role_the_fetch_fails_and_nothing_is_shown(
    zalo_api: FakeZaloApi, sessions: Sessions, tmp_path: Path
) -> None:
    """A reviewer whose role went between the plan and Zalo's fetch: Zalo is refused the photo."""
    sock = socket.create_server(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    bot = make_bot(zalo_api, sessions, tmp_path / "evidence", public_base_url=base, files_dir=tmp_path / "files")
    async with unit_of_work(sessions) as s:
        stranger = await rp.create_person(session=s, channel="zalo", external_id="x", chat_id="x", locale="vi")
    assert stranger.id is not None
    bot.links = links = FileLinks(bot.data.settings, sessions, clock=bot.data.clock)
    plan = Plan(viewer_id=stranger.id)
    plan.attach(OutFile("a.png", png(), "image/png"))
    try:
        async with serving(links, sock):
            with pytest.raises(ZaloBadRequest):  # Zalo could not fetch the photo
                await bot.send("x", plan)
    finally:
        await bot.close()
    assert [f.status for f in zalo_api.fetches] == [403] and zalo_api.photos == []


async def test_cdht_run_serves_file_links_while_it_polls(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with FakeZaloApi() as zalo:
        env = _env(
            f"sqlite:///{tmp_path / 'cdht.db'}",
            tmp_path,
            ZALO_BOT_TOKEN=TOKEN,
            ZALO_API_BASE_URL=zalo.base_url,
            PUBLIC_BASE_URL=f"http://127.0.0.1:{port}/",
            WEBHOOK_LISTEN="127.0.0.1",
            WEBHOOK_PORT=str(port),
        )
        with running(env, tmp_path) as bot:
            assert await _until(lambda: "serving file links" in bot.output()), bot.output()
            async with httpx.AsyncClient(timeout=WAIT) as http:
                for _ in range(WAIT * 10):
                    with contextlib.suppress(httpx.TransportError):
                        health = await http.get(f"http://127.0.0.1:{port}/healthz")
                        break
                    await asyncio.sleep(0.1)
                forged = await http.get(f"http://127.0.0.1:{port}/files/f.{'A' * 22}.1.9999999999.{'A' * 43}")
            status = await asyncio.to_thread(bot.stop)
    assert health.status_code == 200 and status == 0
    assert forged.status_code == 403 and forged.content == b""
    assert f"serving file links at http://127.0.0.1:{port}/files/ from 127.0.0.1:{port}" in bot.output()
    _assert_clean(bot.output())
