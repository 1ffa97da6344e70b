"""The evidence reader: every stored file is read in the background, never in the update path.

A worker task in each ``cdht run`` process (``EvidenceReader.run``) claims unread files in batches
(storage.repo_evidence_reading: a claim is the reading row inserted first, so two processes never read the
same file), reads each in a child process, READER_WORKERS at once, and stores what it found:
- a photo: Tesseract OCR with the Vietnamese model (its text and mean word confidence), its brightness and
  sharpness (variance of the Laplacian; too dark or blurred is "unreadable", thresholds measured on
  generated certificates: see ``DARK`` and ``BLURRED``), and its perceptual hash for near copies;
- a PDF: the text of its first pages (pypdf; a scanned PDF has none and is not OCR'd);
- other documents (office files): nothing but the fact that they were looked at.
From the text, conversations.evidence_facts takes the dates, the person's name, the matched indicators and
the flags; files that need a word earn their person one follow-up through the outbox (bot.reminders
composes it), sent at once.

Readings run in READER_WORKERS child processes at low priority (nice 10), Tesseract on one thread each
(OMP_THREAD_LIMIT=1), so a reading takes at most one core, never this process's GIL, and updates go first.
Without the ``tesseract`` program or its ``vie`` model the reader says so once at start and stays off
(``status``: /healthz and /metrics show it); READER=off does the same on purpose. Everything else works as
before: files simply stay unread.

A child killed from outside (the OOM killer, an operator's kill) breaks its pool: the pool is replaced and the
files being read are given back, not failed; one that breaks it BROKEN_LIMIT times is failed (``_read_batch``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from bot import evidence_hash, metrics
from bot.render import Renderer
from bot.settings import Settings
from conversations import evidence_facts as ef
from conversations.criteria import Registry
from storage import repo_evidence_reading as rer
from storage.db import Sessions, unit_of_work

log = logging.getLogger(__name__)
T = TypeVar("T")

READER_VERSION = 1  # stored with each reading: bump when what is read changes
LANG = "vie"
# Measured on generated certificates (bench/reader.py; bench/RESULTS.md), at MEASURE_SIDE: a sharp one has a
# Laplacian variance near 2,000; Gaussian blur of radius 2 brings it to ~55, radius 3 to ~11, radius 4 to ~4,
# where Tesseract loses the dates. Darkened to a mean grey of ~28 it still reads (clean print), but a person
# squints: under 45 is "too dark". Real photos carry noise that lifts the variance, so the blur line is low.
BLURRED = 20.0
DARK = 45.0
MEASURE_SIDE = 1000  # measures are taken at this longest side, so a threshold does not depend on the camera
OCR_SIDE = 2000  # a phone's 4000-pixel photo is read at this size: as good for print, four times faster
PDF_PAGES = 5
TEXT_MAX = 20_000  # characters kept of a file's text
BATCH = 8  # files claimed at once (a claim is leased: a process that died gives them back after LEASE)
LEASE = timedelta(minutes=10)
SETTLE = timedelta(minutes=1)  # a row whose file is not yet on disk is given back this long, then failed
# A file whose reading broke the child process pool this many times is failed (a picture that crashes Tesseract
# would otherwise be given back and crash it forever). Counted in this process only, which suffices: a file given
# back is unread again and among the oldest, so this process's next rounds claim it again; another process, or
# this one after a restart, counts from zero: at most BROKEN_LIMIT child restarts more there, and no write per break.
BROKEN_LIMIT = 2


def tesseract_problem() -> str | None:
    """None when Tesseract and its Vietnamese model are here; else what is missing, for the operator."""
    try:
        import pytesseract

        pytesseract.get_tesseract_version()
        languages = pytesseract.get_languages(config="")
    except Exception as exc:  # not installed, or not runnable: the reader stays off
        return f"tesseract not found ({type(exc).__name__}): apt-get install tesseract-ocr tesseract-ocr-vie"
    if LANG not in languages:
        return "tesseract has no Vietnamese model: apt-get install tesseract-ocr-vie"
    return None


# --------------------------------------------------------------------------- reading one file (in a child)


def _child() -> None:
    """A reading process: lower priority than the bot, and Tesseract on one thread."""
    os.nice(10)
    os.environ["OMP_THREAD_LIMIT"] = "1"


@dataclass(frozen=True)
class Measures:
    brightness: float
    sharpness: float
    phash: str
    probes: tuple[str, ...] = ()  # the search probes of the picture, stored so a search never decodes it

    @property
    def unreadable(self) -> bool:
        return self.brightness < DARK or self.sharpness < BLURRED


@dataclass(frozen=True)
class Raw:
    """What a file gave before its text is interpreted."""

    status: str
    text: str | None = None
    confidence: float | None = None
    measures: Measures | None = None


def _scaled(image: Image.Image, side: int) -> Image.Image:
    longest = max(image.size)
    if longest <= side:
        return image
    factor = side / longest
    return image.resize((max(1, round(image.width * factor)), max(1, round(image.height * factor))))


def measure(image: Image.Image) -> Measures:
    """Brightness (mean grey, 0..255), sharpness (variance of the 4-neighbour Laplacian) at MEASURE_SIDE, and
    the perceptual hashes duplicates are searched by (bot.evidence_hash: the inner part's, and the probes)."""
    hashed = evidence_hash.hashes(image)
    grey = _scaled(image.convert("L"), MEASURE_SIDE)
    a = np.asarray(grey, dtype=np.float32)
    lap = a[1:-1, :-2] + a[1:-1, 2:] + a[:-2, 1:-1] + a[2:, 1:-1] - 4 * a[1:-1, 1:-1]
    return Measures(
        brightness=float(a.mean()),
        sharpness=float(lap.var()) if lap.size else 0.0,
        phash=hashed.stored,
        probes=hashed.probes,
    )


def ocr(image: Image.Image) -> tuple[str, float | None]:
    """Tesseract's text (lines in reading order) and mean word confidence (0..100; None: no words)."""
    import pytesseract

    data = pytesseract.image_to_data(
        _scaled(image.convert("L"), OCR_SIDE), lang=LANG, output_type=pytesseract.Output.DICT, nice=10
    )
    lines: dict[tuple[int, int, int], list[str]] = {}
    confidences = []
    for i, word in enumerate(data["text"]):
        word = word.strip()
        conf = float(data["conf"][i])
        if not word or conf < 0:
            continue
        confidences.append(conf)
        lines.setdefault((data["block_num"][i], data["par_num"][i], data["line_num"][i]), []).append(word)
    text = "\n".join(" ".join(words) for _, words in sorted(lines.items()))
    return text, (sum(confidences) / len(confidences) if confidences else None)


def read_image(path: Path, *, with_ocr: bool = True) -> Raw:
    try:
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened)  # a phone's portrait photo, upright
            image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        log.info("evidence file not readable as an image (%s)", type(exc).__name__)
        return Raw(rer.FAILED)
    measures = measure(image)
    text, confidence = ocr(image) if with_ocr else ("", None)
    status = rer.UNREADABLE if measures.unreadable else rer.READ
    return Raw(status, text[:TEXT_MAX], confidence, measures)


def read_pdf(path: Path) -> Raw:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(path)
        parts = [page.extract_text() or "" for page in reader.pages[:PDF_PAGES]]
    except (PyPdfError, OSError, ValueError, KeyError) as exc:
        log.info("evidence PDF not readable (%s)", type(exc).__name__)
        return Raw(rer.FAILED)
    return Raw(rer.READ, "\n".join(parts)[:TEXT_MAX])


def read_file(path: Path, mime_type: str, *, with_ocr: bool = True) -> Raw:
    """Reads one stored file by what it is; blocking (run it in a thread)."""
    if mime_type.startswith("image/"):
        return read_image(path, with_ocr=with_ocr)
    if mime_type == "application/pdf":
        return read_pdf(path)
    return Raw(rer.READ)  # an office document: kept for the team, not read


def interpret(raw: Raw, job: rer.Pending, registry: Registry) -> rer.Found:
    """The facts of a file's text, in the terms of the pack its assessment uses."""
    keywords: dict[int, tuple[str, ...]] = {}
    if job.pack_id and job.pack_version and (job.pack_id, job.pack_version) in registry:
        keywords = registry.get(job.pack_id, job.pack_version).evidence_keywords()
    facts = ef.read_facts(
        raw.text or "",
        year=job.year,
        indicator=job.indicator,
        keywords=keywords,
        full_name=job.full_name,
        unreadable=raw.status == rer.UNREADABLE,
    )
    m = raw.measures
    return rer.Found(
        status=raw.status,
        reader_version=READER_VERSION,
        text=raw.text,
        dates=facts.dates,
        name_found=facts.name_found,
        matched_indicators=facts.matched,
        confidence=raw.confidence,
        sharpness=m.sharpness if m else None,
        brightness=m.brightness if m else None,
        phash=m.phash if m else None,
        phash_probes=list(m.probes) if m else None,
        flags=facts.flags if raw.status in (rer.READ, rer.UNREADABLE) else [],
    )


# --------------------------------------------------------------------------- the citizen's follow-up

FOLLOWUP_FILES_SHOWN = 8  # lines naming files; the rest are counted (the whole stays far under Zalo's 2,000)
_NOTE_KEYS = {
    ef.OUTSIDE_YEAR: "reader.check.outside_year",
    ef.UNREADABLE: "reader.check.unreadable",
    ef.OTHER_INDICATOR: "reader.check.other_indicator",
}


def shown_date(iso: str) -> str:
    """An ISO date as printed on Vietnamese paper: "2026-05-12" as 12/05/2026, a month "2026-05" as 05/2026."""
    parts = iso.split("-")
    return "/".join(reversed(parts))


@dataclass(frozen=True)
class FileNote:
    """One file a follow-up names: its indicator, the day it was sent, and what the reader found."""

    indicator: int
    sent: str  # dd/mm
    flags: tuple[str, ...]
    dates: tuple[str, ...]
    better: int | None


def followup_text(render: Renderer, year: int, notes: list[FileNote], *, submitted: bool) -> str:
    """What the citizen reads: each file's points and what to do about them, never a refusal."""
    lines = [render.t("reader.check.title", year=year)]
    for note in notes[:FOLLOWUP_FILES_SHOWN]:
        parts = [
            render.t(
                _NOTE_KEYS[flag],
                year=year,
                dates=", ".join(shown_date(d) for d in note.dates),
                other=note.better or "",
            )
            for flag in ef.FOLLOWUP_FLAGS
            if flag in note.flags and (flag != ef.OTHER_INDICATOR or note.better)
        ]
        if parts:
            lines.append(
                render.t("reader.check.file", indicator=note.indicator, sent=note.sent, notes="; ".join(parts))
            )
    if len(notes) > FOLLOWUP_FILES_SHOWN:
        lines.append(render.t("reader.check.more", count=len(notes) - FOLLOWUP_FILES_SHOWN))
    lines += ["", render.t("reader.check.footer.submitted" if submitted else "reader.check.footer")]
    return "\n".join(lines)


# --------------------------------------------------------------------------- the worker


class EvidenceReader:
    """One process's reader: ``run`` until ``stop``; ``status`` is "on", "off" or "off: why"."""

    def __init__(
        self,
        settings: Settings,
        sessions: Sessions,
        registry: Registry,
        *,
        clock: Callable[[], datetime],
        wake: Callable[[], None] = lambda: None,
        problem: Callable[[], str | None] = tesseract_problem,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.registry = registry
        self.clock = clock
        self.wake = wake  # the dispatchers: a follow-up just owed goes out now
        self.status = "off: READER=off"
        if settings.reader:
            why = problem()
            self.status = "on" if why is None else f"off: {why}"
        self.read = 0  # files read by this process (bot.metrics)
        self._slots = asyncio.Semaphore(settings.reader_workers)
        self._pool: ProcessPoolExecutor | None = None  # set while ``run`` runs; else readings run in a thread
        self._breaks: dict[int, int] = {}  # evidence id: pools broken while it was read, given back since

    @property
    def on(self) -> bool:
        return self.status == "on"

    def announce(self) -> None:
        """One log line at start: whether files will be read, and if not why."""
        if self.on:
            log.info("evidence reader on (%d at a time)", self.settings.reader_workers)
        else:
            log.warning("evidence reader %s; evidence stays unread, everything else works", self.status)

    async def run(self, stop: asyncio.Event) -> None:
        """Reads until ``stop`` is set, in READER_WORKERS child processes; an empty queue is looked at again
        every READER_POLL seconds."""
        if not self.on:
            return
        with self.processes():
            await self._loop(stop)

    @contextlib.contextmanager
    def processes(self) -> Iterator[None]:
        """Readings in child processes at low priority: decoding, measuring and OCR never hold this process's
        GIL or a core the updates need (a thread's image work slowed them; bench/reader.py)."""
        self._pool = self._new_pool()
        try:
            yield
        finally:
            pool, self._pool = self._pool, None  # a replacement (``_replace``), if a child was killed meanwhile
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)

    def _new_pool(self) -> ProcessPoolExecutor:
        """READER_WORKERS children, started on first use."""
        context = multiprocessing.get_context("spawn")  # forking a process with an event loop and threads is unsafe
        return ProcessPoolExecutor(self.settings.reader_workers, mp_context=context, initializer=_child)

    def _replace(self, broken: ProcessPoolExecutor | None) -> None:
        """A child was killed from outside and its pool refuses all work from now on: later readings go to a
        fresh one. Only the first reading to see the break replaces it (the others find it replaced), and
        none after ``processes`` ended."""
        if broken is None or self._pool is not broken:
            return
        log.warning("an evidence reader child process ended abruptly (killed?); starting new ones")
        broken.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()

    async def _in_child(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a child process (a thread outside ``run``); BrokenProcessPool when a child was killed
        while it ran, the pool then replaced."""
        loop = asyncio.get_running_loop()
        pool = self._pool
        try:
            running = loop.run_in_executor(pool, fn, *args)
        except BrokenProcessPool:  # broken before this call (a child killed while idle): not this reading's doing
            self._replace(pool)
            pool = self._pool
            running = loop.run_in_executor(pool, fn, *args)
        try:
            return await running
        except BrokenProcessPool:
            self._replace(pool)
            raise

    async def _loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                done = await self.round()
            except Exception:
                log.exception("evidence reader round failed; trying again")
                done = 0
            if done == 0:  # nothing to read (or only files not yet on disk): look again in a while
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.settings.reader_poll)

    async def round(self) -> int:
        """Claims a batch, reads it (READER_WORKERS at a time), stores each result and owes the follow-ups;
        returns how many files were read (files given back because they are not on disk yet do not count)."""
        async with unit_of_work(self.sessions) as session:
            jobs = await rer.claim(
                session=session,
                limit=max(BATCH, 2 * self.settings.reader_workers),
                now=self.clock(),
                reader_version=READER_VERSION,
                lease=LEASE,
            )
        if not jobs:
            return await self._probe_older()
        try:
            results = await self._read_batch(jobs)
        except asyncio.CancelledError:
            await self._give_back(jobs)
            raise
        done = 0
        flagged = []
        async with unit_of_work(self.sessions) as session:
            now = self.clock()
            for job, found in zip(jobs, results, strict=True):
                if found is None:
                    await rer.release(session=session, evidence_id=job.evidence_id)
                    continue
                done += 1
                if await rer.store(session=session, evidence_id=job.evidence_id, found=found, now=now):
                    self.read += 1
                    metrics.READ.labels(found.status).inc()
                    if found.flags:
                        flagged.append((job.person_id, job.evidence_id))
            owed = await rer.owe_followups(session=session, flagged=flagged, now=now)
        if owed:
            self.wake()
        return done

    async def _probe_older(self) -> int:
        """Stores the search probes of pictures read before they were stored (migration 0009), from the file and
        without OCR, while nothing waits to be read; returns how many files were looked at."""
        async with self.sessions() as session:
            older = await rer.unprobed(session=session, limit=BATCH)
        if not older:
            return 0
        paths = {evidence_id: self.settings.evidence_dir / path for evidence_id, path in older}
        async with self._slots:
            probes = await self._in_child(evidence_hash.probe_files, paths)
        async with unit_of_work(self.sessions) as session:
            await rer.store_probes(session=session, probes=probes)
        return len(older)

    async def _give_back(self, jobs: list[rer.Pending]) -> None:
        """A stop (a restart, a deploy) cut these readings short: the next process reads them at once instead of
        after LEASE, when the citizen's follow-up would come too late to help."""
        try:
            async with unit_of_work(self.sessions) as session:
                for job in jobs:
                    await rer.release(session=session, evidence_id=job.evidence_id)
        except Exception as exc:  # the database away as well: the lease gives them back later
            log.warning("could not give back %d claimed evidence files (%s)", len(jobs), type(exc).__name__)

    async def _read_batch(self, jobs: list[rer.Pending]) -> list[rer.Found | None]:
        """Reads READER_WORKERS files at a time, in ``jobs`` order; a file that was being read when a pool broke
        is read again alone, after the others, so that only a break while it is the one reading counts towards
        BROKEN_LIMIT: a healthy file that merely shared the pool with a file that crashes Tesseract is read."""
        together = [job for job in jobs if job.evidence_id not in self._breaks]
        found = dict(
            zip(
                [job.evidence_id for job in together],
                await asyncio.gather(*(self._read(job) for job in together)),
                strict=True,
            )
        )
        for job in jobs:
            if job.evidence_id not in found:
                found[job.evidence_id] = await self._read(job)
        return [found[job.evidence_id] for job in jobs]

    async def _read(self, job: rer.Pending) -> rer.Found | None:
        """One file, in a child process (a thread outside ``run``); None gives it back: its file is not on disk
        yet (the row has just committed), or its child was killed (``_broke``)."""
        path = self.settings.evidence_dir / job.path
        if not path.exists():
            if self.clock() - job.created_at < SETTLE:
                return None
            log.warning("evidence file %d is missing on disk", job.evidence_id)
            return rer.Found(status=rer.FAILED, reader_version=READER_VERSION)
        async with self._slots:
            try:
                raw = await self._in_child(read_file, path, job.mime_type)
            except BrokenProcessPool:
                if not self._broke(job.evidence_id):
                    return None
                raw = Raw(rer.FAILED)
            except Exception as exc:  # a reading that fails is recorded, never retried in a loop
                log.warning("reading evidence file %d failed (%s)", job.evidence_id, type(exc).__name__)
                raw = Raw(rer.FAILED)
        self._breaks.pop(job.evidence_id, None)
        return interpret(raw, job, self.registry)

    def _broke(self, evidence_id: int) -> bool:
        """Counts a pool broken while this file was read; True when that was the BROKEN_LIMIT-th time (it is
        failed), else it is given back: a killed child says nothing against the files it was reading."""
        breaks = self._breaks.get(evidence_id, 0) + 1
        self._breaks[evidence_id] = breaks
        if breaks < BROKEN_LIMIT:
            return False
        log.warning("evidence file %d broke the reader's child process %d times: failed", evidence_id, breaks)
        return True
