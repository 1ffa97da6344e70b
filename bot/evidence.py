"""Evidence files: what is accepted, fetching a file through getFile, checking its content, and keeping
EVIDENCE_DIR in step with the database.

Accepted: photos, and documents that are PDF, JPEG/PNG/WebP or office documents (DOCX, XLSX, ODT), up to the
20 MB a bot may download. The size is checked from the message before getFile is called; after download the
content is checked against what the file claims to be: its magic bytes (``filetype``), and for an office
file the names in its ZIP directory. Nothing in a ZIP is ever decompressed, so a zip bomb stays closed.

A downloaded file waits under a temporary name (``<id>.<random>.part``) until the row that points to it has
committed, and only then takes its final name (:meth:`Fetched.keep`). So a final name always has its row,
and a crash in between leaves a ``.part`` file that :func:`sweep` removes (or renames, if its row did commit).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import os
import secrets
import shutil
import time
import zipfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath

import filetype
from telegram import Bot, Message
from telegram.ext import Application

from bot.context import Context
from bot.settings import Settings
from storage import repo_assessments as ra
from storage.cluster import once_per_cluster
from storage.db import Sessions
from storage.repo_people import Erased

log = logging.getLogger(__name__)

MAX_BYTES = 20 * 1024 * 1024  # Bot API getFile limit

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ODT = "application/vnd.oasis.opendocument.text"
IMAGES = ("image/jpeg", "image/png", "image/webp")

ACCEPTED_MIME = {
    PDF: ".pdf",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    DOCX: ".docx",
    XLSX: ".xlsx",
    ODT: ".odt",
}
_BY_SUFFIX = {suffix: mime for mime, suffix in ACCEPTED_MIME.items()} | {".jpeg": "image/jpeg"}

# The parts an office file must list in its ZIP directory (ODT: its ``mimetype`` entry, checked apart).
_OFFICE_PARTS = {DOCX: ("[Content_Types].xml", "word/document.xml"), XLSX: ("[Content_Types].xml", "xl/workbook.xml")}
_ZIP_LOCAL_HEADER = b"PK\x03\x04"
_HEAD_BYTES = 8192  # what filetype reads of a file
_ODT_MIMETYPE_MAX = 64  # the ``mimetype`` entry is a short, stored (uncompressed) text

PART = ".part"
STALE_SECONDS = 3600  # a temporary file older than this belongs to no download still running


@dataclass(frozen=True)
class Candidate:
    """A file a message offers as evidence, before it is downloaded."""

    kind: str  # photo | document
    file_id: str
    file_unique_id: str
    size: int | None
    mime_type: str
    file_name: str | None
    media_group_id: str | None

    @property
    def stem(self) -> str:
        """The file's name in its folder, without suffix: Telegram's unique id, reduced to safe characters."""
        return "".join(ch for ch in self.file_unique_id if ch.isalnum() or ch in "-_") or "file"


_REFUSALS = {"too_big": "evidence.too_big", "bad_type": "evidence.bad_type", "bad_content": "evidence.bad_content"}


class Refused(Exception):
    """Not acceptable evidence: ``reason`` is too_big, bad_type (not a kind we take) or bad_content (the
    content is not what the file claims to be); ``key`` is the catalog text that tells the person."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)

    @property
    def key(self) -> str:
        return _REFUSALS[self.reason]


def candidate(message: Message) -> Candidate | None:
    """The file in ``message``, if it carries a photo or document; raises Refused when unacceptable."""
    if message.photo:
        largest = message.photo[-1]
        found = Candidate(
            "photo",
            largest.file_id,
            largest.file_unique_id,
            largest.file_size,
            "image/jpeg",
            None,
            message.media_group_id,
        )
    elif message.document:
        doc = message.document
        mime = (doc.mime_type or "").lower()
        if mime not in ACCEPTED_MIME:
            # Some clients send office files as application/octet-stream: trust a known suffix then.
            mime = _BY_SUFFIX.get(PurePath(doc.file_name or "").suffix.lower(), "")
        if not mime:
            raise Refused("bad_type")
        found = Candidate(
            "document",
            doc.file_id,
            doc.file_unique_id,
            doc.file_size,
            mime,
            _safe_name(doc.file_name),
            message.media_group_id,
        )
    else:
        return None
    if found.size is not None and found.size > MAX_BYTES:
        raise Refused("too_big")
    return found


def _safe_name(name: str | None) -> str | None:
    return PurePath(name).name[:255] if name else None


def folder(year: int, assessment_id: int, indicator: int | None = None) -> Path:
    """Where an assessment's files are kept under EVIDENCE_DIR (one folder per indicator inside)."""
    base = Path(str(year), str(assessment_id))
    return base if indicator is None else base / str(indicator)


# --------------------------------------------------------------------------- content


def content_type(path: Path, claimed: str) -> str | None:
    """The MIME type ``path`` really has if its content is what ``claimed`` says (any of JPEG/PNG/WebP for an
    image), else None. Reads the first bytes, and for an office file the ZIP's central directory only."""
    with path.open("rb") as fh:
        head = fh.read(_HEAD_BYTES)
    if claimed in IMAGES:
        found = filetype.guess_mime(head)
        return found if found in IMAGES else None
    if claimed == PDF:
        return PDF if filetype.guess_mime(head) == PDF and head.startswith(b"%PDF-") else None
    if claimed in (DOCX, XLSX, ODT):
        # Starting with a local header rules out an executable with a ZIP appended (a self-extractor).
        return claimed if head.startswith(_ZIP_LOCAL_HEADER) and _office_parts_present(path, claimed) else None
    return None


def _office_parts_present(path: Path, claimed: str) -> bool:
    """Whether the ZIP's directory lists the parts of ``claimed``. Opening a ZipFile reads only the central
    directory; the one member read, ODT's ``mimetype``, is taken only when stored uncompressed and tiny."""
    try:
        with zipfile.ZipFile(path) as archive:
            if claimed == ODT:
                info = archive.getinfo("mimetype")
                if info.compress_type != zipfile.ZIP_STORED or info.file_size > _ODT_MIMETYPE_MAX:
                    return False
                return archive.read(info).strip() == ODT.encode()
            names = set(archive.namelist())
            return all(part in names for part in _OFFICE_PARTS[claimed])
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError, NotImplementedError, RuntimeError):
        return False  # damaged, encrypted, or not the parts we need: not that document


def _inspect(path: Path, claimed: str) -> tuple[int, str, str]:
    """(size, SHA-256, real MIME type) of a downloaded file; Refused if too big or not what it claims."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
            size += len(chunk)
    if size > MAX_BYTES:
        raise Refused("too_big")
    real = content_type(path, claimed)
    if real is None:
        raise Refused("bad_content")
    return size, digest.hexdigest(), real


# --------------------------------------------------------------------------- download


@dataclass(frozen=True)
class Fetched:
    """A downloaded, checked file under its temporary name, waiting for its row to commit."""

    root: Path  # EVIDENCE_DIR
    temp: Path  # absolute
    relative: Path  # the final name under root: what the Evidence row stores
    size: int
    sha256: str
    mime_type: str

    def keep(self) -> None:
        """Gives the file its final name; call only once its row has committed. A failure is logged, not
        raised: the row is stored, and the sweep finishes the rename later."""
        try:
            self.temp.replace(self.root / self.relative)
        except OSError as exc:
            log.warning("evidence file could not take its final name: %s", type(exc).__name__)

    def discard(self) -> None:
        """Removes the file (no row points to it), and its folders if that left them empty."""
        _remove(self.temp, self.root)


async def download(bot: Bot, item: Candidate, root: Path, where: Path) -> Fetched:
    """Downloads through getFile into ``root/where`` under a temporary name and checks the content.
    Refused (and nothing left on disk) if the real size is over the limit or the content is not what it
    claims to be."""
    telegram_file = await bot.get_file(item.file_id)
    if telegram_file.file_size is not None and telegram_file.file_size > MAX_BYTES:
        raise Refused("too_big")
    return await receive(telegram_file.download_to_drive, root, where, item.stem, item.mime_type)


async def receive(
    write: Callable[[Path], Awaitable[object]], root: Path, where: Path, stem: str, claimed: str
) -> Fetched:
    """The one way a file enters EVIDENCE_DIR, whatever the messenger: ``write`` puts the bytes at a temporary
    name in ``root/where``, then the size and content are checked against ``claimed``. Refused, or any
    failure, leaves nothing on disk."""
    directory = root / where
    directory.mkdir(parents=True, exist_ok=True)
    temp = directory / f"{stem}.{secrets.token_hex(4)}{PART}"
    try:
        await write(temp)
        # Hashing 20 MB and reading a ZIP directory are blocking work: off the event loop.
        size, digest, real = await asyncio.to_thread(_inspect, temp, claimed)
    except BaseException:
        _remove(temp, root)
        raise
    return Fetched(root, temp, where / f"{stem}{ACCEPTED_MIME[real]}", size, digest, real)


def remove(root: Path, relative: str) -> bool:
    """Removes one evidence file whose row has gone (a citizen removed it), with the folders it leaves empty.
    Call after the deletion has committed: a crash before leaves only an orphan for the sweep."""
    return _remove(root / relative, root)


def _remove(path: Path, root: Path) -> bool:
    """Removes a file, then each parent folder up to ``root`` that this left empty; True if a file went."""
    try:
        path.unlink()
        removed = True
    except FileNotFoundError:
        removed = False
    _prune(path.parent, root)
    return removed


def _prune(directory: Path, root: Path) -> None:
    while directory != root and root in directory.parents:
        try:
            directory.rmdir()  # only succeeds when empty
        except OSError:
            return
        directory = directory.parent


# --------------------------------------------------------------------------- erasing a person


def erase(root: Path, erased: Erased) -> int:
    """Removes from disk everything of an erased person: the files their rows named and every file left in
    their assessments' folders (a download that never committed), then those folders. Returns how many
    files went. Call after the erasure has committed: a crash before this leaves only orphans to sweep."""
    removed = 0
    for path in erased.evidence_paths:
        removed += _remove(root / path, root)
    for year, assessment_id in erased.assessments:
        directory = root / folder(year, assessment_id)
        if not directory.is_dir():
            continue
        removed += sum(1 for p in directory.rglob("*") if not p.is_dir())
        shutil.rmtree(directory, ignore_errors=True)
        _prune(directory.parent, root)
    return removed


# --------------------------------------------------------------------------- sweep

SWEEP_JOB = "evidence:sweep"
SWEEP_AT = dt.time(3, 30)  # local time, daily: nobody is sending evidence then
_DEPTH = 3  # <year>/<assessment>/<indicator>/<file>: the sweep looks at nothing else under EVIDENCE_DIR


class SweepRefused(Exception):
    """The sweep would remove every file: the database is likely the wrong one. Nothing was touched."""


@dataclass
class SweepReport:
    """What one sweep did (or, in a dry run, would do): counts only, never names."""

    orphans: int = 0  # files no Evidence row points to, removed
    stale: int = 0  # temporary files of downloads that never committed, removed
    restored: int = 0  # temporary files whose row did commit, given their final name
    folders: int = 0  # folders left empty, removed

    def line(self, dry_run: bool) -> str:
        remove, restore = ("would remove", "would restore") if dry_run else ("removed", "restored")
        return (
            f"evidence sweep: {remove} {self.orphans} orphaned files, {self.stale} stale temporary files and "
            f"{self.folders} empty folders; {restore} {self.restored} files"
        )


def _walk(root: Path) -> Iterator[tuple[Path, list[str], list[str]]]:
    """os.walk, bottom-up, over the evidence layout only: folders named by numbers, files at the fourth level.
    A mistaken EVIDENCE_DIR (a home folder, say) thus exposes nothing else to removal."""
    found: list[tuple[Path, list[str], list[str]]] = []
    for dirpath, dirs, files in os.walk(root):
        directory = Path(dirpath)
        depth = len(directory.relative_to(root).parts)
        dirs[:] = [d for d in dirs if d.isdigit()] if depth < _DEPTH else []
        found.append((directory, list(dirs), files if depth == _DEPTH else []))
    return reversed(found)


def _listing(root: Path) -> list[tuple[Path, float]]:
    """Every evidence file under ``root`` (relative) with its modification time."""
    out = []
    for directory, _dirs, files in _walk(root):
        for name in files:
            path = directory / name
            try:
                out.append((path.relative_to(root), path.lstat().st_mtime))
            except FileNotFoundError:
                continue  # removed meanwhile
    return out


def _key(relative: PurePath) -> str:
    """A file's place without suffix: ``2026/7/3/AgAD`` for both ``AgAD.jpg`` and ``AgAD.1a2b3c4d.part``."""
    return (relative.parent / relative.name.split(".", 1)[0]).as_posix()


def _sweep_files(
    root: Path, listing: list[tuple[Path, float]], wanted: set[str], now: float, dry_run: bool
) -> SweepReport:
    if not wanted and any(not p.name.endswith(PART) for p, _ in listing):
        raise SweepRefused(
            f"{len(listing)} files under EVIDENCE_DIR but no evidence in the database: "
            "check DATABASE_URL and EVIDENCE_DIR (nothing was removed)"
        )
    report = SweepReport()
    final_of = {_key(PurePath(p)): p for p in wanted}
    gone: set[Path] = set()
    for relative, mtime in listing:
        if not relative.name.endswith(PART):
            if relative.as_posix() not in wanted:
                report.orphans += 1
                gone.add(root / relative)
            continue
        if now - mtime < STALE_SECONDS:
            continue  # a download may still be writing it, or its row be committing
        final = final_of.get(_key(relative))
        if final is not None and not (root / final).exists():
            report.restored += 1  # the row committed, the rename was lost: finish it
            if not dry_run:
                (root / relative).replace(root / final)
        else:
            report.stale += 1
            gone.add(root / relative)
    empty = _empty_folders(root, gone)
    report.folders = len(empty)
    if not dry_run:
        for path in gone:
            path.unlink(missing_ok=True)
        for directory in empty:  # deepest first
            with contextlib.suppress(OSError):  # a download arrived meanwhile: keep it
                directory.rmdir()
    return report


def _empty_folders(root: Path, gone: set[Path]) -> list[Path]:
    """Evidence folders that hold nothing once the files in ``gone`` are removed, deepest first."""
    empty: set[Path] = set()
    order: list[Path] = []
    for directory, dirs, files in _walk(root):
        if directory == root or any(directory / d not in empty for d in dirs):
            continue
        if all(directory / f in gone for f in files) and not _holds_other(directory, dirs, files):
            empty.add(directory)
            order.append(directory)
    return order


def _holds_other(directory: Path, dirs: list[str], files: list[str]) -> bool:
    """Whether the folder holds entries outside the layout (which the walk does not show): left alone."""
    try:
        return len(os.listdir(directory)) != len(dirs) + len(files)
    except OSError:
        return True


async def sweep(sessions: Sessions, root: Path, *, dry_run: bool = False, now: float | None = None) -> SweepReport:
    """Removes evidence files that no Evidence row points to, and temporary files older than an hour (or
    renames one whose row did commit); then the folders this left empty. SweepRefused, touching nothing,
    when the database holds no evidence at all but the folder does.

    The folder is listed *before* the rows are read: a file renamed after the listing is not looked at, and
    a file in the listing got its final name only after its row committed, so the rows read next include it.
    """
    listing = await asyncio.to_thread(_listing, root)  # nothing when the folder does not exist yet
    async with sessions() as session:
        wanted = await ra.evidence_paths(session=session)
    at = time.time() if now is None else now
    return await asyncio.to_thread(_sweep_files, root, listing, wanted, at, dry_run)


def schedule_sweep(app: Application) -> None:
    """Installs the daily sweep on the JobQueue, next to the reminder jobs (unless SCHEDULER_ENABLED is off)."""
    settings: Settings = app.bot_data.settings
    if not settings.scheduler_enabled or app.job_queue is None:
        return
    app.job_queue.run_daily(_sweep_job, time=SWEEP_AT.replace(tzinfo=settings.zone), name=SWEEP_JOB)


async def _sweep_job(context: Context) -> None:
    try:
        async with once_per_cluster(context.db, SWEEP_JOB) as mine:  # one worker sweeps the shared folder
            if not mine:
                return
            report = await sweep(context.db, context.settings.evidence_dir)
    except SweepRefused as exc:
        log.warning("evidence sweep skipped: %s", exc)
        return
    if report != SweepReport():
        log.info("%s", report.line(dry_run=False))
