"""Perceptual hashes of evidence images, in one place: the hash the reader stores for each photo, and the
probes a duplicate search looks it up with (storage.repo_duplicates).

A plain ``imagehash.phash`` of the whole picture survives re-compression and resizing (0–2 bits apart at JPEG
quality 30) but not a crop: 5–10% off each edge moves it 10–34 bits, as far as two different certificates.
So the stored hash is the phash of the picture's inner part (``INNER`` off each edge, on a grey thumbnail),
and a search probes with the phashes of the searched file cut by 0 to 20% per edge in steps of 1%
(``PROBE_CUTS``): whichever of two files is a crop of the other by up to about 10% per edge, one probe frames
the same part of the picture as the other's stored hash, within half a step (0–4 bits apart on generated
certificates, where different ones lie 8 or more apart; bench/duplicates.py measures).
A crop from one side only is not matched. Look-alike certificates of one template with other names hash
4–8 bits apart: the search leaves those to the names the reader found (repo_duplicates).
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import imagehash
from PIL import Image, UnidentifiedImageError

INNER = 0.10  # the stored hash frames the picture without this share of each edge
PROBE_CUTS = tuple(round(0.01 * i, 2) for i in range(21))  # 0, 1 … 20% off each edge
THUMB = 512  # hashes are taken from a grey copy at most this wide or high (phash itself looks at 32×32)
_PROBES_CACHED = 10_000  # files whose probes a process keeps (about 1.5 kB each; a stored file never changes)


@dataclass(frozen=True)
class ImageHashes:
    """A file's stored hash and the probes a search for its copies looks up."""

    stored: str  # 16 hex digits
    probes: tuple[str, ...]


def _thumbnail(image: Image.Image) -> Image.Image:
    grey = image.convert("L")
    grey.thumbnail((THUMB, THUMB))
    return grey


def _cut(image: Image.Image, share: float) -> Image.Image:
    if share <= 0:
        return image
    w, h = image.size
    return image.crop((round(w * share), round(h * share), round(w * (1 - share)), round(h * (1 - share))))


def _phash(image: Image.Image) -> str:
    return str(imagehash.phash(image))


def stored_hash(image: Image.Image) -> str:
    """The hash the reader stores for a picture (hex of ``imagehash.phash`` of its inner part)."""
    return _phash(_cut(_thumbnail(image), INNER))


def hashes(image: Image.Image, cuts: Sequence[float] = PROBE_CUTS) -> ImageHashes:
    """The stored hash and the search probes of one picture, from one thumbnail."""
    thumb = _thumbnail(image)
    return ImageHashes(_phash(_cut(thumb, INNER)), tuple(_phash(_cut(thumb, c)) for c in cuts))


def _open(path: Path) -> Image.Image | None:
    try:
        image = Image.open(path)
        image.draft("L", (THUMB, THUMB))  # a JPEG decodes at 1/2, 1/4 or 1/8 of its size, not below THUMB: far quicker
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    return image


def file_hashes(path: Path) -> ImageHashes | None:
    """The hashes of an image file; None when it is not an image Pillow reads (a PDF, an office document)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return _cached(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=_PROBES_CACHED)
def _cached(path: str, size: int, mtime_ns: int) -> ImageHashes | None:
    image = _open(Path(path))
    return hashes(image) if image is not None else None


def probe_files(paths: Mapping[int, Path]) -> dict[int, tuple[str, ...]]:
    """The probes of each image file (by evidence id); files that are not images are left out."""
    found = {}
    for evidence_id, path in paths.items():
        hashed = file_hashes(path)
        if hashed is not None:
            found[evidence_id] = hashed.probes
    return found


_pool: ProcessPoolExecutor | None = None


async def probe_files_apart(paths: Mapping[int, Path]) -> dict[int, tuple[str, ...]]:
    """``probe_files`` in a child process of its own (its cache lives there): decoding and hashing pictures
    for a card or a batch confirm would otherwise hold this process's GIL while other people wait."""
    global _pool
    if not paths:
        return {}
    loop = asyncio.get_running_loop()
    for _ in range(2):  # a child that died is replaced once
        if _pool is None:  # spawned: forking a process with an event loop and threads is unsafe
            _pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        try:
            return await loop.run_in_executor(_pool, probe_files, dict(paths))
        except BrokenProcessPool:
            _pool = None
    return await asyncio.to_thread(probe_files, dict(paths))
