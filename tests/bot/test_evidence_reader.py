"""The evidence reader on generated certificates read by the real Tesseract (vie): the dates, the year flag, the
indicator match, the person's name, dark and blurred photos, the citizen's one follow-up in their language on
both messengers, children killed from outside (given back, a poison file failed), and the reader off without
Tesseract (SQLite and PostgreSQL).

Tests that OCR skip when Tesseract or its Vietnamese model is missing, unless CDHT_REQUIRE_TESSERACT=1 (.ci/run),
where they fail instead. OCR is about half a second an image here, so there are few and small ones."""

from __future__ import annotations

import asyncio
import io
import os
import signal
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot import evidence_hash, metrics
from bot import evidence_reader as er
from bot.reminders import Composed, Composer, make_dispatcher, policy_for
from bot.settings import Settings
from bot.web import build_web_app, health
from conversations import evidence_facts as ef
from conversations.criteria import default_registry
from scheduler.dispatch import Skipped
from storage import repo_evidence_reading as rer
from storage.db import Sessions, unit_of_work
from storage.models import Assessment, AssessmentStatus, Evidence, EvidenceReading, Outbox, Person
from tests.bot import killing_reader
from tests.bot.certificates import SET, as_jpeg, blurred, darkened, draw
from tests.bot.harness import Clock, Harness, User, make_settings
from tests.bot.officer_helpers import press, register, seed_commune, texts_to

NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
PROBLEM = er.tesseract_problem()
REQUIRED = os.environ.get("CDHT_REQUIRE_TESSERACT") == "1"


@pytest.fixture
def tesseract() -> None:
    if PROBLEM is not None:
        if REQUIRED:
            pytest.fail(f"CDHT_REQUIRE_TESSERACT=1 but {PROBLEM}")
        pytest.skip(PROBLEM)


def reader_for(settings: Settings, sessions: Sessions, **kw: object) -> er.EvidenceReader:
    return er.EvidenceReader(settings, sessions, default_registry(), clock=Clock(NOW), **kw)  # type: ignore[arg-type]


async def add_files(
    sessions: Sessions,
    evidence_dir: Path,
    files: list[tuple[int, bytes]],
    *,
    channel: str = "telegram",
    locale: str = "vi",
    name: str = "Nguyễn Văn An",
    status: str = AssessmentStatus.DRAFT,
) -> tuple[int, list[int]]:
    """A person with a 2026 assessment on Phụ lục I holding ``files`` as (indicator, JPEG); their ids."""
    async with unit_of_work(sessions) as s:
        person = Person(channel=channel, external_id=f"{channel}-{name}", full_name=name, locale=locale, step="ready")
        s.add(person)
        await s.flush()
        assert person.id is not None
        a = Assessment(person_id=person.id, year=2026, pack_id="phu-luc-i", pack_version=1, status=status)
        s.add(a)
        await s.flush()
        ids = []
        for i, (indicator, content) in enumerate(files):
            path = f"2026/{a.id}/{indicator}-{i}.jpg"
            (evidence_dir / path).parent.mkdir(parents=True, exist_ok=True)
            (evidence_dir / path).write_bytes(content)
            ev = Evidence(
                assessment_id=a.id or 0,
                indicator=indicator,
                kind="photo",
                file_id=f"f{person.id}-{i}",
                file_unique_id=f"u{person.id}-{i}",
                mime_type="image/jpeg",
                size=len(content),
                sha256=f"{person.id}-{i}",
                path=path,
                created_at=NOW,
            )
            s.add(ev)
            await s.flush()
            ids.append(ev.id or 0)
        return person.id, ids


async def readings(sessions: Sessions, ids: list[int]) -> list[EvidenceReading]:
    async with sessions() as s:
        found = await rer.readings(session=s, evidence_ids=ids)
    return [found[i] for i in ids]


async def followups(sessions: Sessions) -> list[Outbox]:
    async with sessions() as s:
        return list((await s.exec(select(Outbox).where(Outbox.kind == rer.FOLLOWUP_KIND).order_by(Outbox.id))).all())


async def composed(sessions: Sessions, settings: Settings, row: Outbox) -> Composed:
    async with sessions() as s:
        out = await Composer(sessions, default_registry(), settings, Clock(NOW)).compose(s, row)
    assert isinstance(out, Composed), out
    return out


# --------------------------------------------------------------------------- measures, no OCR needed


def test_dark_and_blurred_photos_measure_as_unreadable_and_a_fair_one_does_not() -> None:
    clean = draw(SET[0])
    again = Image.open(io.BytesIO(as_jpeg(clean, quality=60)))
    assert not er.measure(again).unreadable  # a re-compressed copy is still fine
    assert er.measure(blurred(clean, 4)).unreadable
    assert er.measure(blurred(clean, 3)).unreadable
    assert not er.measure(blurred(clean, 1)).unreadable
    assert er.measure(darkened(clean, 0.12)).unreadable
    assert not er.measure(darkened(clean, 0.5)).unreadable
    m = er.measure(clean)
    assert m.brightness > 200 and m.sharpness > 1000 and len(m.phash) == 16


def test_dates_are_shown_as_on_paper() -> None:
    assert er.shown_date("2026-05-12") == "12/05/2026"
    assert er.shown_date("2026-05") == "05/2026"


# --------------------------------------------------------------------------- reading through Tesseract


async def test_a_certificate_is_read_dates_name_and_indicator(
    tesseract: None, sessions: Sessions, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path)
    good = as_jpeg(draw(SET[0]))  # Bình dân học vụ số, ngày 12 tháng 5 năm 2026, Nguyễn Văn An
    _, [ev] = await add_files(sessions, tmp_path, [(5, good)])
    reader = reader_for(settings, sessions)
    assert reader.on
    assert await reader.round() == 1
    [got] = await readings(sessions, [ev])
    assert got.status == "read" and got.reader_version == er.READER_VERSION
    assert got.dates == ["2026-05-12"] and got.name_found and got.flags == []
    assert got.matched_indicators[0] == 5
    assert got.confidence is not None and got.confidence > 70
    assert "Bình dân học vụ số" in (got.text or "")
    assert got.phash and got.phash_b0 == int(got.phash[:4], 16)
    assert got.phash_probes is not None and len(got.phash_probes) == len(evidence_hash.PROBE_CUTS)
    assert all(len(p) == 16 for p in got.phash_probes)  # stored now, so a search never decodes the picture
    assert await followups(sessions) == []  # nothing to say: no message
    assert await reader.round() == 0  # read once


async def test_flagged_files_earn_one_followup_in_the_persons_language(
    tesseract: None, sessions: Sessions, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path)
    old = as_jpeg(draw(SET[2]))  # Gia đình văn hóa năm 2025, ngày 20-12-2025: outside 2026
    library = as_jpeg(draw(SET[1]))  # a library card, sent for indicator 3: fits indicator 1 better
    dark = as_jpeg(darkened(draw(SET[4]), 0.1))  # too dark
    person_id, ids = await add_files(sessions, tmp_path, [(9, old), (3, library), (6, dark)])
    _, [theirs] = await add_files(
        sessions, tmp_path, [(10, as_jpeg(blurred(draw(SET[3]), 4)))], channel="zalo", locale="en", name="Phạm Thị Dung"
    )
    reader = reader_for(settings, sessions)
    assert await reader.round() == 4
    old_r, library_r, dark_r, blurred_r = await readings(sessions, [*ids, theirs])
    assert old_r.dates == ["2025-12-20"] and old_r.flags == [ef.OUTSIDE_YEAR] and old_r.matched_indicators[0] == 9
    assert library_r.flags == [ef.OTHER_INDICATOR] and library_r.matched_indicators[0] == 1
    assert library_r.dates == ["2026-02-03"] and library_r.name_found is False  # Trần Thị Bình's card
    assert dark_r.status == "unreadable" and ef.UNREADABLE in dark_r.flags
    assert blurred_r.status == "unreadable" and ef.UNREADABLE in blurred_r.flags

    mine, zalo = await followups(sessions)
    assert (mine.person_id, mine.payload["evidence_ids"], mine.channel) == (person_id, ids, "telegram")
    assert (zalo.payload["evidence_ids"], zalo.channel) == ([theirs], "zalo")
    text = (await composed(sessions, settings, mine)).text
    assert text.startswith("📷 Bot đã đọc minh chứng bạn gửi cho năm 2026.")
    assert "• Chỉ tiêu 9, tệp gửi ngày 01/06: ngày trên giấy tờ (20/12/2025) không thuộc năm 2026" in text
    assert "• Chỉ tiêu 3, tệp gửi ngày 01/06: nội dung có vẻ hợp với chỉ tiêu 1 hơn" in text
    assert "• Chỉ tiêu 6, tệp gửi ngày 01/06: ảnh hơi tối hoặc bị mờ" in text
    assert "đội đánh giá sẽ quyết định" in text and "/status" in text
    english = (await composed(sessions, settings, zalo)).text
    assert "• Indicator 10, file sent on 01/06: the photo is rather dark or blurred" in english
    assert "the assessment team decides" in english and len(english) < 2000

    assert await reader.round() == 0
    async with unit_of_work(sessions) as s:  # even a file read again is never told about twice
        await rer.owe_followups(session=s, flagged=[(person_id, ids[0])], now=NOW)
    assert len(await followups(sessions)) == 2


async def test_the_followup_reaches_the_citizen_who_sent_the_photo(
    tesseract: None, sessions: Sessions, tmp_path: Path
) -> None:
    """The whole path on Telegram: a photo sent at the evidence step, read in the background, the follow-up
    owed and sent by the dispatcher at once (the reader wakes it)."""
    await seed_commune(sessions)
    h = await Harness.start(sessions, tmp_path / "evidence", clock=Clock(NOW))
    try:
        lan = User(h, 4242)
        await register(lan, "THON1", "Trần Thị Bình")
        await press(lan, "Người dân trong cộng đồng")
        await press(lan, "10 điểm")  # indicator 1: the evidence step
        await lan.photo(as_jpeg(draw(SET[2])))  # dated 20-12-2025
        woken = []
        data = h.app.bot_data
        reader = er.EvidenceReader(
            data.settings, sessions, data.registry, clock=data.clock, wake=lambda: woken.append(1)
        )
        assert await reader.round() == 1
        assert woken == [1]
        h.api.clear()
        stats = await make_dispatcher(h.app.bot, data, policy_for(data.settings)).run()
        assert stats.sent == 1
        [text] = texts_to(h.api, 4242)
        assert "Chỉ tiêu 1" in text and "(20/12/2025) không thuộc năm 2026" in text
    finally:
        await h.stop()


async def test_a_followup_for_a_removed_or_decided_file_is_not_sent(
    tesseract: None, sessions: Sessions, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path)
    _, [ev] = await add_files(sessions, tmp_path, [(9, as_jpeg(draw(SET[2])))])
    await reader_for(settings, sessions).round()
    [row] = await followups(sessions)
    async with unit_of_work(sessions) as s:
        a = (await s.exec(select(Assessment))).one()
        a.status = AssessmentStatus.SUBMITTED
        s.add(a)
    text = (await composed(sessions, settings, row)).text
    assert "bạn đã nộp" in text  # submitted: the team will return it if anything is needed
    async with unit_of_work(sessions) as s:
        evidence = await s.get(Evidence, ev)
        await s.delete(evidence)
    async with sessions() as s:
        assert isinstance(await Composer(sessions, default_registry(), settings, Clock(NOW)).compose(s, row), Skipped)


# --------------------------------------------------------------------------- off, and what still works


async def test_without_tesseract_the_reader_is_off_and_says_so(
    sessions: Sessions, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path)
    await add_files(sessions, tmp_path, [(1, as_jpeg(draw(SET[1])))])
    reader = reader_for(settings, sessions, problem=lambda: "tesseract not found")
    assert not reader.on and reader.status == "off: tesseract not found"
    with caplog.at_level("INFO", logger="bot.evidence_reader"):
        reader.announce()
    assert [r.getMessage() for r in caplog.records] == [
        "evidence reader off: tesseract not found; evidence stays unread, everything else works"
    ]
    await asyncio.wait_for(reader.run(asyncio.Event()), 1)  # returns at once: nothing is read
    async with sessions() as s:
        assert await rer.queue_size(session=s) == 1
    off = reader_for(make_settings(tmp_path, reader=False), sessions, problem=lambda: None)
    assert off.status == "off: READER=off"


async def test_healthz_and_metrics_show_the_reader(engine: AsyncEngine, sessions: Sessions, tmp_path: Path) -> None:
    await add_files(sessions, tmp_path, [(1, b"\xff\xd8\xff not really"), (2, b"\xff\xd8\xff either")])
    web = build_web_app(
        [health(engine, reader=lambda: "off: no tesseract"), metrics.route(sessions, reader=lambda: "on")]
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url="http://bot") as c:
        answer = await c.get("/healthz")
        assert answer.status_code == 200  # the bot works without the reader
        assert answer.json() == {"database": "ok", "schema": "current", "reader": "off: no tesseract"}
        body = (await c.get("/metrics")).text
    assert "cdht_reader_queue 2.0" in body and "cdht_reader_on 1.0" in body


async def test_the_worker_reads_in_child_processes_until_stopped(
    tesseract: None, sessions: Sessions, tmp_path: Path
) -> None:
    """``run`` as cdht run starts it: the queue is emptied by a child process, then the worker waits, then stops."""
    settings = make_settings(tmp_path, reader_poll=0.05)
    blank = as_jpeg(Image.new("RGB", (160, 90), "white"))
    _, ids = await add_files(sessions, tmp_path, [(1, b"\xff\xd8\xff not a picture"), (2, blank)])
    reader = reader_for(settings, sessions)
    stop = asyncio.Event()
    task = asyncio.create_task(reader.run(stop))
    for _ in range(600):
        if reader.read == 2:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 10)
    broken, white = await readings(sessions, ids)
    assert broken.status == "failed"
    assert (white.status, white.brightness, white.sharpness) == ("unreadable", 255.0, 0.0)  # measured in the child
    async with sessions() as s:
        assert await rer.queue_size(session=s) == 0


@pytest.fixture
def killing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Readings in the reader's children that die at a marker next to their file (tests.bot.killing_reader)."""
    monkeypatch.setattr(er, "read_file", killing_reader.read_or_die)


async def mark(sessions: Sessions, evidence_dir: Path, evidence_id: int, marker: str) -> None:
    async with sessions() as s:
        path = evidence_dir / (await s.get(Evidence, evidence_id)).path  # type: ignore[union-attr]
    path.with_name(path.name + marker).touch()


async def rounds_until_empty(reader: er.EvidenceReader, sessions: Sessions) -> int:
    """Rounds of the reader until nothing waits; how many it took."""
    for n in range(1, 6):
        await reader.round()
        async with sessions() as s:
            if await rer.queue_size(session=s) == 0:
                return n
    raise AssertionError("files still waiting after 5 rounds")


def two_certificates() -> list[tuple[int, bytes]]:
    return [(5, as_jpeg(draw(SET[0]))), (1, as_jpeg(draw(SET[1])))]


REPLACED = "an evidence reader child process ended abruptly (killed?); starting new ones"


async def marked_pair(sessions: Sessions, tmp_path: Path, marker: str) -> tuple[er.EvidenceReader, int, int]:
    """A reader with two children and two unread certificates, the first marked for the killing reader."""
    _, [first, second] = await add_files(sessions, tmp_path, two_certificates())
    await mark(sessions, tmp_path, first, marker)
    return reader_for(make_settings(tmp_path, reader_workers=2), sessions), first, second


async def test_a_child_killed_while_reading_is_replaced_and_the_file_read_again(
    tesseract: None, killing: None, sessions: Sessions, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The OOM killer ends a child mid-reading: the broken pool is replaced (one line, no personal data), the file
    and the one read beside it are given back instead of failed, and both are read in the next round."""
    reader, killed, beside = await marked_pair(sessions, tmp_path, ".kill-once")
    with caplog.at_level("WARNING", logger="bot.evidence_reader"), reader.processes():
        assert await rounds_until_empty(reader, sessions) == 2
    got_killed, got_beside = await readings(sessions, [killed, beside])
    assert (got_killed.status, got_killed.dates) == ("read", ["2026-05-12"])
    assert got_beside.status == "read"
    assert [r.getMessage() for r in caplog.records] == [REPLACED]
    assert reader.read == 2


async def test_a_file_that_kills_its_reader_every_time_is_failed_after_the_limit_and_the_others_are_read(
    tesseract: None, killing: None, sessions: Sessions, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A picture that crashes Tesseract each time: read alone after its first break, failed at its second, so it
    costs two new pools and no loop; the healthy file of the same batch is read, never blamed."""
    reader, poison, healthy = await marked_pair(sessions, tmp_path, ".kill-always")
    with caplog.at_level("WARNING", logger="bot.evidence_reader"), reader.processes():
        assert await rounds_until_empty(reader, sessions) == 2
        assert await reader.round() == 0  # failed for good: not claimed again
    got_poison, got_healthy = await readings(sessions, [poison, healthy])
    assert (got_poison.status, got_poison.text, got_poison.flags) == ("failed", None, [])
    assert got_healthy.status == "read"
    assert [r.getMessage() for r in caplog.records] == [
        REPLACED,
        REPLACED,
        f"evidence file {poison} broke the reader's child process {er.BROKEN_LIMIT} times: failed",
    ]


async def test_a_child_killed_while_idle_costs_the_next_file_nothing(
    tesseract: None, sessions: Sessions, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``kill -9`` of an idle child breaks the pool before the next reading is sent: that reading goes to a new
    pool at once, neither given back nor counted against its file."""
    settings = make_settings(tmp_path)
    _, [first] = await add_files(sessions, tmp_path, [(1, as_jpeg(Image.new("RGB", (160, 90), "white")))])
    reader = reader_for(settings, sessions)
    with caplog.at_level("WARNING", logger="bot.evidence_reader"), reader.processes():
        assert await reader.round() == 1
        pool = reader._pool
        assert pool is not None
        [child] = pool._processes.values()  # type: ignore[attr-defined]  # the standard library's own record
        os.kill(child.pid, signal.SIGKILL)
        for _ in range(600):  # until the pool has noticed (its manager thread), so the next call finds it broken
            if pool._broken:  # type: ignore[attr-defined]
                break
            await asyncio.sleep(0.01)
        _, [second] = await add_files(sessions, tmp_path, two_certificates()[:1], name="Trần Thị Bình")
        assert await reader.round() == 1
    assert [r.status for r in await readings(sessions, [first, second])] == ["unreadable", "read"]
    assert [r.getMessage() for r in caplog.records] == [REPLACED]


async def test_a_reading_that_fails_on_its_own_in_a_child_is_failed_once_and_the_pool_kept(
    tesseract: None, killing: None, sessions: Sessions, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reader, raising, healthy = await marked_pair(sessions, tmp_path, ".raise")
    with caplog.at_level("WARNING", logger="bot.evidence_reader"), reader.processes():
        assert await reader.round() == 2
        assert await reader.round() == 0
    got_raising, got_healthy = await readings(sessions, [raising, healthy])
    assert (got_raising.status, got_healthy.status) == ("failed", "read")
    assert [r.getMessage() for r in caplog.records] == [f"reading evidence file {raising} failed (ValueError)"]


async def test_a_file_not_yet_on_disk_waits_then_is_recorded_missing(sessions: Sessions, tmp_path: Path) -> None:
    """A row commits before its file takes its final name (bot.evidence): given back at first, failed later."""
    settings = make_settings(tmp_path)
    _, [ev] = await add_files(sessions, tmp_path, [(1, b"\xff\xd8\xff")])
    async with sessions() as s:
        (tmp_path / (await s.get(Evidence, ev)).path).unlink()  # type: ignore[union-attr]
    clock = Clock(NOW)
    reader = er.EvidenceReader(settings, sessions, default_registry(), clock=clock, problem=lambda: None)
    assert await reader.round() == 0
    async with sessions() as s:
        assert await rer.queue_size(session=s) == 1 and await rer.readings(session=s, evidence_ids=[ev]) == {}
    clock.now = NOW + er.SETTLE * 2
    assert await reader.round() == 1
    [got] = await readings(sessions, [ev])
    assert got.status == "failed"


async def test_pictures_read_before_their_probes_were_stored_get_them_without_ocr(
    sessions: Sessions, tmp_path: Path
) -> None:
    """Readings from before migration 0009 hold a hash but no probes: while nothing waits to be read, the reader
    stores their probes from the file (a gone file gets none, once), and reads nothing again."""
    settings = make_settings(tmp_path)
    picture = as_jpeg(draw(SET[1]))
    _, [kept, gone] = await add_files(sessions, tmp_path, [(1, picture), (2, picture)])
    async with unit_of_work(sessions) as s:
        for ev in (kept, gone):
            s.add(EvidenceReading(evidence_id=ev, status="read", text="đã đọc", phash="0123456789abcdef", read_at=NOW))
    async with sessions() as s:
        path = tmp_path / (await s.get(Evidence, kept)).path  # type: ignore[union-attr]
        (tmp_path / (await s.get(Evidence, gone)).path).unlink()  # type: ignore[union-attr]
    reader = reader_for(settings, sessions, problem=lambda: None)
    assert await reader.round() == 2
    assert await reader.round() == 0
    got_kept, got_gone = await readings(sessions, [kept, gone])
    expected = evidence_hash.file_hashes(path)
    assert expected is not None and got_kept.phash_probes == list(expected.probes)
    assert got_gone.phash_probes == []
    assert (got_kept.text, got_kept.phash) == ("đã đọc", "0123456789abcdef")  # the reading itself stays


async def test_a_file_that_is_no_image_is_recorded_as_failed_once(sessions: Sessions, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    _, [ev] = await add_files(sessions, tmp_path, [(1, b"\xff\xd8\xff not a picture")])
    reader = reader_for(settings, sessions, problem=lambda: None)
    assert await reader.round() == 1
    [got] = await readings(sessions, [ev])
    assert got.status == "failed" and got.flags == []
    assert await reader.round() == 0


def test_a_pdf_is_read_for_its_text(tmp_path: Path) -> None:
    pdf = tmp_path / "plan.pdf"
    pdf.write_bytes(text_pdf("Ke hoach hoc tap ngay 12 thang 5 nam 2026"))
    raw = er.read_file(pdf, "application/pdf")
    assert raw.status == "read" and "ngay 12 thang 5 nam 2026" in (raw.text or "")
    assert er.read_file(tmp_path / "plan.pdf", "application/vnd.oasis.opendocument.text").text is None
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 nothing else")
    assert er.read_file(broken, "application/pdf").status == "failed"


def text_pdf(line: str) -> bytes:
    """The smallest PDF with one line of ASCII text in Helvetica."""
    stream = f"BT /F1 12 Tf 72 720 Td ({line}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
