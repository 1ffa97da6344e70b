"""Evidence files through the real Application: the content must be what the file claims (refused politely
otherwise, nothing kept), a file keeps a temporary name until its row commits, and neither a crash nor
/deleteme leaves anything of a person on disk."""

from __future__ import annotations

import os
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from bot import evidence as ev
from storage import repo_assessments
from storage import repo_people as rp
from storage.db import Sessions, unit_of_work
from storage.models import Evidence
from tests.bot.harness import Harness, User, jpeg
from tests.bot.test_bad_input import at_evidence_step, snapshot
from tests.bot.test_citizen_journey import make_unit
from tests.fakes import documents

LATER = 2 * ev.STALE_SECONDS  # seconds ahead: a leftover temporary file counts as stale


@pytest.fixture
async def bot(sessions: Sessions, tmp_path: Path):
    h = await Harness.start(sessions, tmp_path / "evidence")
    yield h
    await h.stop()


def on_disk(h: Harness) -> list[str]:
    """Everything under EVIDENCE_DIR, folders included, relative."""
    root = h.app.bot_data.settings.evidence_dir
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) if root.exists() else []


async def stored(sessions: Sessions) -> list[Evidence]:
    async with sessions() as s:
        return list((await s.exec(select(Evidence).order_by(Evidence.id))).all())


def no_decompression(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Records every ZIP member opened for decompression (zipfile asks for a decompressor per member read)."""
    opened: list[int] = []
    real = zipfile._get_decompressor  # type: ignore[attr-defined]

    def spy(compress_type: int):  # type: ignore[no-untyped-def]
        if compress_type != zipfile.ZIP_STORED:
            opened.append(compress_type)
        return real(compress_type)

    monkeypatch.setattr(zipfile, "_get_decompressor", spy)
    return opened


# --------------------------------------------------------------------------- content


@pytest.mark.parametrize(
    ("name", "mime", "content", "language", "says"),
    [
        ("hoa-don.pdf", "application/pdf", documents.EXE, "vi", "bên trong không phải PDF"),
        ("chung-chi.docx", ev.DOCX, documents.TEXT, "en", "not the kind of file its name says"),
        ("bang-diem.xlsx", "application/octet-stream", documents.docx(), "vi", "không đúng loại tệp"),
        ("anh.png", "image/png", b"%PDF-1.4 not an image", "en", "photo (JPG, PNG, WebP)"),
    ],
    ids=["exe-named-pdf", "text-named-docx", "docx-named-xlsx", "pdf-named-png"],
)
async def test_content_that_is_not_what_it_claims_is_refused(
    bot: Harness, sessions: Sessions, name: str, mime: str, content: bytes, language: str, says: str
) -> None:
    await make_unit(sessions)
    lan = User(bot, 4001)
    await at_evidence_step(lan)
    async with unit_of_work(sessions) as s:  # as if chosen with /language
        person = await rp.get_person(session=s, channel="telegram", external_id=str(lan.id))
        assert person is not None
        person.locale = language
    before = await snapshot(sessions)
    await lan.document(name, mime, content)
    assert says in lan.last_text()
    assert await snapshot(sessions) == before  # nothing stored, the step unchanged
    assert on_disk(bot) == []  # the download is gone, and the folders made for it
    assert any("✔️" in label or "Done" in label for label in lan.buttons())  # the step's buttons at hand
    await lan.photo(b"a real photo")
    assert [e.mime_type for e in await stored(sessions)] == ["image/jpeg"]


@pytest.mark.parametrize(
    ("name", "claimed", "make", "mime", "suffix"),
    [
        ("ke-hoach.docx", ev.DOCX, documents.docx, ev.DOCX, ".docx"),
        ("diem.xlsx", "application/octet-stream", documents.xlsx, ev.XLSX, ".xlsx"),
        ("bao-cao.odt", ev.ODT, documents.odt, ev.ODT, ".odt"),
        ("giay-khen.pdf", "application/pdf", documents.pdf, "application/pdf", ".pdf"),
        ("anh.webp", "image/webp", lambda: b"RIFF\x24\x00\x00\x00WEBPVP8 tiny", "image/webp", ".webp"),
        ("chup.png", "image/png", lambda: jpeg(b"a jpeg named png"), "image/jpeg", ".jpg"),
    ],
    ids=["docx", "xlsx-as-octet-stream", "odt", "pdf", "webp", "jpeg-named-png"],
)
async def test_real_documents_are_kept_with_their_real_type(
    bot: Harness, sessions: Sessions, name: str, claimed: str, make: Callable[[], bytes], mime: str, suffix: str
) -> None:
    await make_unit(sessions)
    lan = User(bot, 4002)
    await at_evidence_step(lan)
    content = make()
    await lan.document(name, claimed, content)
    assert "Đã nhận: 1 tệp" in lan.last_text()
    [row] = await stored(sessions)
    assert (row.mime_type, Path(row.path).suffix, row.file_name) == (mime, suffix, name)
    root = bot.app.bot_data.settings.evidence_dir
    assert (root / row.path).read_bytes() == content
    assert not any(p.endswith(ev.PART) for p in on_disk(bot))


async def test_a_zip_bomb_is_judged_by_its_directory_never_opened(
    bot: Harness, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_unit(sessions)
    lan = User(bot, 4003)
    await at_evidence_step(lan)
    bomb = documents.zip_bomb_docx(inflated_mb=64)
    assert len(bomb) < 1024 * 1024  # 64 MB inside, well under the 20 MB limit outside
    opened = no_decompression(monkeypatch)
    await lan.document("bom.docx", ev.DOCX, bomb)
    # Its directory names the parts of a Word file, so it is kept as one: bytes for a reviewer, never unpacked.
    assert [e.mime_type for e in await stored(sessions)] == [ev.DOCX]
    # An ODT whose mimetype entry is compressed is refused without inflating it.
    await lan.document("bom.odt", ev.ODT, documents.odt(mimetype_compressed=True))
    assert "không đúng loại tệp" in lan.last_text()
    assert opened == []


# --------------------------------------------------------------------------- a file and its row


async def test_a_failed_commit_leaves_no_file(
    bot: Harness, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_unit(sessions)
    lan = User(bot, 4004)
    await at_evidence_step(lan)

    async def broken(**_kw: object) -> None:
        raise OperationalError("INSERT INTO evidence", {}, Exception("database is locked"))

    monkeypatch.setattr(repo_assessments, "add_evidence", broken)
    await lan.photo(b"lost to a busy database")
    assert "hệ thống đang bận" in lan.last_text()
    assert await stored(sessions) == []
    assert on_disk(bot) == []


async def test_a_crash_before_the_commit_leaves_a_temporary_file_the_sweep_removes(
    bot: Harness, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_unit(sessions)
    lan = User(bot, 4005)
    await at_evidence_step(lan)
    await lan.photo(b"kept")
    # The process dies after the download, before the commit: its row never exists, nobody cleans up.
    monkeypatch.setattr(repo_assessments, "add_evidence", _dies)
    monkeypatch.setattr(ev.Fetched, "discard", lambda self: None)
    await lan.photo(b"downloaded when the process died")
    monkeypatch.undo()
    [kept] = await stored(sessions)
    files = [p for p in on_disk(bot) if "." in p]
    assert len(files) == 2 and kept.path in files
    [leftover] = [p for p in files if p != kept.path]
    assert leftover.endswith(ev.PART)  # never under a final name: that only comes after the commit

    root = bot.app.bot_data.settings.evidence_dir
    fresh = await ev.sweep(bot.app.bot_data.sessions, root)
    assert fresh == ev.SweepReport()  # as young as a download in progress: left alone
    report = await ev.sweep(bot.app.bot_data.sessions, root, now=time.time() + LATER)
    assert (report.stale, report.orphans, report.restored) == (1, 0, 0)
    assert [p for p in on_disk(bot) if "." in p] == [kept.path]


async def test_a_crash_after_the_commit_is_finished_by_the_sweep(
    bot: Harness, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_unit(sessions)
    lan = User(bot, 4006)
    await at_evidence_step(lan)
    monkeypatch.setattr(ev.Fetched, "keep", lambda self: None)  # the row commits, then the process dies
    await lan.photo(b"committed, not renamed")
    monkeypatch.undo()
    [row] = await stored(sessions)
    root = bot.app.bot_data.settings.evidence_dir
    assert not (root / row.path).exists()
    report = await ev.sweep(bot.app.bot_data.sessions, root, now=time.time() + LATER)
    assert report.restored == 1
    assert (root / row.path).read_bytes() == jpeg(b"committed, not renamed")


async def test_deleteme_after_crashes_leaves_nothing_on_disk(
    bot: Harness, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_unit(sessions)
    lan, binh = User(bot, 4007), User(bot, 4008)
    await at_evidence_step(binh)
    await binh.photo(b"binh's")
    await at_evidence_step(lan)
    await lan.photo(b"stored")
    monkeypatch.setattr(repo_assessments, "add_evidence", _dies)
    monkeypatch.setattr(ev.Fetched, "discard", lambda self: None)
    await lan.photo(b"crashed")
    monkeypatch.undo()
    # And a file under a final name with no row, as the bot before this fix left them.
    [binh_row, lan_row] = await stored(sessions)
    root = bot.app.bot_data.settings.evidence_dir
    (root / lan_row.path).with_name("Uold.jpg").write_bytes(jpeg(b"old orphan"))
    assert len([p for p in on_disk(bot) if "." in p]) == 4

    await lan.say("/deleteme")
    await lan.press_label("Xóa toàn bộ")
    assert "(3 tệp" in lan.last_text()  # the stored file and both leftovers
    # Only Binh's file and its folders remain: none of Lan's, not even an empty folder.
    binh_folder = Path(binh_row.path).parent
    folders = [p.as_posix() for p in (binh_folder, *binh_folder.parents) if p != Path(".")]
    assert on_disk(bot) == sorted([*folders, binh_row.path])


async def _dies(**_kw: object) -> None:
    raise OperationalError("INSERT INTO evidence", {}, Exception("server closed the connection"))


# --------------------------------------------------------------------------- the daily job


async def test_the_daily_sweep_job_removes_orphans(sessions: Sessions, tmp_path: Path) -> None:
    h = await Harness.start(sessions, tmp_path / "evidence", scheduler_enabled=True, planning_interval=3600)
    try:
        await make_unit(sessions)
        lan = User(h, 4009)
        await at_evidence_step(lan)
        await lan.photo(b"stored")
        [row] = await stored(sessions)
        root = tmp_path / "evidence"
        orphan = (root / row.path).with_name("Uorphan.jpg")
        orphan.write_bytes(b"no row")
        stale = (root / row.path).with_name("Ugone.1234abcd.part")
        stale.write_bytes(b"half")
        os.utime(stale, (time.time() - LATER, time.time() - LATER))
        [job] = h.app.job_queue.get_jobs_by_name(ev.SWEEP_JOB)  # type: ignore[union-attr]
        await job.run(h.app)
        assert not orphan.exists() and not stale.exists()
        assert (root / row.path).exists()
    finally:
        await h.stop()
