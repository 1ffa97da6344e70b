"""Perceptual hashes of evidence images, in one place: the hash the reader stores for each photo, and the
probes a duplicate search looks it up with (storage.repo_duplicates).

A plain ``imagehash.phash`` of the whole picture survives re-compression and resizing (0–2 bits apart at JPEG
quality 30) but not a crop: 5–10% off each edge moves it 10–34 bits, as far as two different certificates.
So the stored hash is the phash of the picture's inner part (``INNER`` off each edge, on a grey thumbnail),
and a search probes with the phashes of the searched file cut by 0 to 20% per edge in steps of 1%
(``PROBE_CUTS``): whichever of two files is a crop of the other by up to about 10% per edge, one probe frames
the same part of the picture as the other's stored hash, within half a step (0–4 bits apart on generated
certificates, where different ones lie 8 or more apart; bench/duplicates.py measures).
The reader computes both when it reads a photo (it decodes it then anyway) and stores them with the reading
(``EvidenceReading.phash``, ``phash_probes``), so a search reads stored values and never decodes a picture.
A crop from one side only is not matched. Look-alike certificates of one template with other names hash
4–8 bits apart: the search leaves those to the names the reader found (repo_duplicates).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import imagehash
from PIL import Image, UnidentifiedImageError

INNER = 0.10  # the stored hash frames the picture without this share of each edge
PROBE_CUTS = tuple(round(0.01 * i, 2) for i in range(21))  # 0, 1 … 20% off each edge
THUMB = 512  # hashes are taken from a grey copy at most this wide or high (phash itself looks at 32×32)


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


def hashes(image: Image.Image, cuts: Sequence[float] = PROBE_CUTS) -> ImageHashes:
    """The stored hash (``imagehash.phash`` of the inner part, hex) and the search probes of one picture, from
    one thumbnail."""
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
    """The hashes of an image file; None when it is missing or not an image Pillow reads (a PDF, an office
    document). Blocking: the reader's child processes call it (``probe_files``), never the bot's own."""
    image = _open(path)
    return hashes(image) if image is not None else None


def probe_files(paths: Mapping[int, Path]) -> dict[int, tuple[str, ...]]:
    """The probes of each file (by evidence id), for readings stored before the probes were: a file that is no
    image (or is gone) gets none, so it is not looked at again."""
    found: dict[int, tuple[str, ...]] = {}
    for evidence_id, path in paths.items():
        hashed = file_hashes(path)
        found[evidence_id] = hashed.probes if hashed is not None else ()
    return found
