"""Evidence files: what is accepted, and fetching an accepted file through getFile into EVIDENCE_DIR.

Accepted: photos, and documents that are PDF, JPEG/PNG or office documents (DOCX, XLSX, ODT), up to the
20 MB a bot may download. The size is checked from the message before getFile is called.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePath

from telegram import Bot, Message

from storage.repo_people import Erased

MAX_BYTES = 20 * 1024 * 1024  # Bot API getFile limit

ACCEPTED_MIME = {
    "application/pdf": ".pdf",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.oasis.opendocument.text": ".odt",
}
_BY_SUFFIX = {suffix: mime for mime, suffix in ACCEPTED_MIME.items()} | {".jpeg": "image/jpeg"}


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
    def suffix(self) -> str:
        return ACCEPTED_MIME[self.mime_type]


class Refused(Exception):
    """Not acceptable evidence; ``reason`` is a catalog key suffix: too_big or bad_type."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


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


def relative_path(year: int, assessment_id: int, indicator: int, item: Candidate) -> Path:
    """Where a file is kept under EVIDENCE_DIR: a folder per assessment and indicator, named by its unique id."""
    safe_id = "".join(ch for ch in item.file_unique_id if ch.isalnum() or ch in "-_")
    return Path(str(year), str(assessment_id), str(indicator), f"{safe_id}{item.suffix}")


async def download(bot: Bot, item: Candidate, path: Path) -> tuple[int, str]:
    """Downloads through getFile; returns (size, SHA-256). Refused if the real size is over the limit."""
    telegram_file = await bot.get_file(item.file_id)
    if telegram_file.file_size is not None and telegram_file.file_size > MAX_BYTES:
        raise Refused("too_big")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".part")
    await telegram_file.download_to_drive(partial)
    digest = hashlib.sha256()
    size = 0
    with partial.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
            size += len(chunk)
    partial.replace(path)
    return size, digest.hexdigest()


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
