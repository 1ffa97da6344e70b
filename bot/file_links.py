"""Signed, expiring links to files for one officer: Zalo takes no uploads, so an export, a chart, a QR code or
the evidence shown to a reviewer is served here, at ``PUBLIC_BASE_URL/files/<token>``, for Zalo's sendPhoto to
fetch or the officer to open.

The token is ``<kind>.<ref>.<officer>.<expiry>.<mac>``: kind ``f`` (a file made now, stored under FILES_DIR by
a random name) or ``e`` (an evidence file, by its row id; nothing copied), the officer's Person.id, the expiry
in Unix seconds and an HMAC-SHA256 over all of it (and, for evidence, the file's path, so a row id reused after
a deletion serves nothing). A link lives 24 hours, and only while its officer still holds a role (or is in
ADMIN_IDS) and, for evidence, while the row is there: a revoked officer's links and a deleted person's files
die at once. Every refusal is the same empty 403, whatever went wrong.

Files under FILES_DIR are removed once no link to them can be valid (:func:`sweep`, every hour in ``cdht run``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import mimetypes
import os
import re
import secrets
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.replies import OutFile, StoredFile
from bot.settings import Settings
from storage import repo_roles as rr
from storage.db import Sessions
from storage.models import Evidence, Person

log = logging.getLogger(__name__)

VALID_FOR = timedelta(hours=24)
SWEEP_EVERY = 3600.0  # seconds between two sweeps of FILES_DIR in ``cdht run``
FILE, EVIDENCE = "f", "e"
_LABEL = b"cdht file links v1"  # what a secret derived from a bot token is derived for
_KEY_BYTES = 16  # a stored file's random name: 22 URL-safe characters
_SUFFIX = ".file"  # <key>.file: a JSON line (name, mime), then the bytes
_PART = ".part"
_KEY = r"[A-Za-z0-9_-]{22}"
_NUMBER = r"[1-9][0-9]{0,17}"  # no leading zero: one spelling per number
_TOKEN = re.compile(rf"^(?:(f)\.({_KEY})|(e)\.({_NUMBER}))\.({_NUMBER})\.({_NUMBER})\.([A-Za-z0-9_-]{{43}})$")
_STORED = re.compile(rf"^{_KEY}(?:{re.escape(_SUFFIX)}|\.[0-9a-f]{{8}}{re.escape(_PART)})$")
_INLINE = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})  # raster images only: never SVG


def link_secret(settings: Settings) -> bytes:
    """FILE_LINK_SECRET, or one derived from the bot token so that every worker of a deployment (same
    environment) signs and checks alike without another setting. ZALO_BOT_TOKEN comes first: every process
    that makes links has it. Changing the token (or the secret) voids the links out, which is harmless."""
    if settings.file_link_secret is not None:
        return settings.file_link_secret.get_secret_value().encode()
    token = settings.zalo_bot_token or settings.bot_token
    if token is None:
        raise ValueError("file links need FILE_LINK_SECRET or a bot token to sign with")
    return hmac.new(token.get_secret_value().encode(), _LABEL, hashlib.sha256).digest()


@dataclass(frozen=True)
class _Claim:
    """What a token says, as the exact text signed (so no other spelling of a number passes)."""

    kind: str
    ref: str  # the stored file's key, or the evidence id
    officer: str  # Person.id
    expires: str  # Unix seconds

    @property
    def fields(self) -> str:
        return f"{self.kind}.{self.ref}.{self.officer}.{self.expires}"


class FileLinks:
    """``bot.zalo.runtime.Links``: makes signed addresses of files for one officer, and serves them."""

    def __init__(self, settings: Settings, sessions: Sessions, *, clock: Callable[[], datetime] | None = None) -> None:
        if settings.public_base_url is None:
            raise ValueError("file links need PUBLIC_BASE_URL")
        self.base = settings.public_base_url
        self.path = urlsplit(self.base).path + "/files/"  # a proxy passes the whole path on, as for webhooks
        self.root = Path(settings.files_dir)
        self.evidence_root = Path(settings.evidence_dir)
        self.admins = frozenset(settings.admin_ids)
        self.sessions = sessions
        self.clock = clock or (lambda: datetime.now(UTC))
        self._secret = link_secret(settings)

    # ------------------------------------------------------------------ making links

    def file_url(self, file: OutFile, *, officer_id: int) -> str:
        """Stores the file under a random name (never the name it is shown by) and signs a link to it."""
        key = secrets.token_urlsafe(_KEY_BYTES)
        head = json.dumps({"name": file.name, "mime": file.mime}, ensure_ascii=True).encode()
        self.root.mkdir(parents=True, exist_ok=True)
        part = self.root / f"{key}.{secrets.token_hex(4)}{_PART}"
        part.write_bytes(head + b"\n" + file.content)
        part.replace(self.root / f"{key}{_SUFFIX}")
        return self._url(_Claim(FILE, key, str(officer_id), self._expiry()), "")

    def evidence_url(self, file: StoredFile, *, officer_id: int) -> str:
        """A link to the evidence file as stored under EVIDENCE_DIR (bound to its path)."""
        return self._url(_Claim(EVIDENCE, str(file.evidence_id), str(officer_id), self._expiry()), file.path)

    def _expiry(self) -> str:
        return str(int((self.clock() + VALID_FOR).timestamp()))

    def _url(self, claim: _Claim, bound: str) -> str:
        return f"{self.base}/files/{claim.fields}.{self._mac(claim, bound)}"

    def _mac(self, claim: _Claim, bound: str) -> str:
        """HMAC-SHA256 over the token's fields and what it is bound to, URL-safe base64 (43 characters)."""
        signed = f"{claim.fields}\x1f{bound}".encode()
        return _b64(hmac.new(self._secret, signed, hashlib.sha256).digest())

    # ------------------------------------------------------------------ serving them

    def route(self) -> Route:
        """GET ``/files/{token}``: the file, or an empty 403 whatever was wrong."""
        return Route(self.path + "{token}", self._serve, methods=["GET"])

    async def _serve(self, request: Request) -> Response:
        found = _parse(request.path_params.get("token", ""))
        if found is None or int(found[0].expires) <= self.clock().timestamp():
            return _refused()
        claim, mac = found
        served = await self._open(claim, mac)
        if served is None:
            return _refused()
        content, mime, name = served
        log.info("served a file link: officer %s, kind %s", claim.officer, claim.kind)
        return Response(content, headers=_headers(mime, name))

    async def _open(self, claim: _Claim, mac: str) -> tuple[bytes, str, str] | None:
        """(content, mime, name) when the signature holds and the officer and the file are still there."""
        async with self.sessions() as session:
            row = await session.get(Evidence, int(claim.ref)) if claim.kind == EVIDENCE else None
            bound = "" if claim.kind == FILE else (row.path if row is not None else None)
            if bound is None or not hmac.compare_digest(self._mac(claim, bound).encode(), mac.encode()):
                return None
            person = await session.get(Person, int(claim.officer))
            if person is None or person.id is None:
                return None
            if person.contact not in self.admins and not await rr.roles_of(session=session, person_id=person.id):
                return None  # revoked: the links they were given die with the role
        if row is not None:
            return await asyncio.to_thread(self._read_evidence, row)
        return await asyncio.to_thread(self._read_file, claim.ref)

    def _read_file(self, key: str) -> tuple[bytes, str, str] | None:
        try:
            head, _, content = (self.root / f"{key}{_SUFFIX}").read_bytes().partition(b"\n")
            meta = json.loads(head)
            return content, str(meta["mime"]), str(meta["name"])
        except (OSError, ValueError, KeyError, TypeError):
            return None  # swept already

    def _read_evidence(self, row: Evidence) -> tuple[bytes, str, str] | None:
        root = self.evidence_root.resolve()
        path = (root / row.path).resolve()
        if not path.is_relative_to(root):
            return None
        try:
            content = path.read_bytes()
        except OSError:
            return None
        name = row.file_name or f"evidence-{row.id}{mimetypes.guess_extension(row.mime_type) or ''}"
        return content, row.mime_type, name


def _parse(token: str) -> tuple[_Claim, str] | None:
    """A token split into what it claims and its MAC; nothing is checked yet but its shape."""
    match = _TOKEN.match(token)
    if match is None:
        return None
    kind_f, key, kind_e, evidence_id, officer, expires, mac = match.groups()
    return _Claim(kind_f or kind_e, key or evidence_id, officer, expires), mac


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


_PRIVATE = {
    "Cache-Control": "private, no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def _refused() -> Response:
    """The one answer to every failure (forged, expired, revoked, deleted, unknown): it tells nothing."""
    return Response(b"", status_code=403, headers=_PRIVATE)


def _headers(mime: str, name: str) -> dict[str, str]:
    disposition = "inline" if mime in _INLINE else "attachment"
    return {"Content-Type": mime, "Content-Disposition": content_disposition(disposition, name), **_PRIVATE}


def content_disposition(disposition: str, name: str) -> str:
    """``attachment; filename="Bao_cao.xlsx"; filename*=UTF-8''B%C3%A1o%20c%C3%A1o.xlsx`` (RFC 6266/5987):
    an ASCII fallback for old clients, the real (Vietnamese) name for the rest."""
    clean = "".join(c for c in name if unicodedata.category(c)[0] != "C" and c not in "/\\").strip() or "file"
    folded = unicodedata.normalize("NFKD", clean.replace("đ", "d").replace("Đ", "D"))
    bare = (c for c in folded if not unicodedata.combining(c))
    ascii_name = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in bare)
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(clean, safe='')}"


# --------------------------------------------------------------------------- sweep


def sweep(root: Path, *, now: float | None = None) -> int:
    """Removes the stored files no valid link can reach any more (older than VALID_FOR, a minute's grace for
    the rounding of expiries) and temporary files left by a crash; only names this module makes are looked
    at, so a mistaken FILES_DIR loses nothing else. Returns how many went."""
    at = time.time() if now is None else now
    oldest = at - VALID_FOR.total_seconds() - 60
    removed = 0
    try:
        entries = list(os.scandir(root))
    except OSError:
        return 0  # no file made yet
    for entry in entries:
        if not _STORED.match(entry.name) or not entry.is_file(follow_symlinks=False):
            continue
        with contextlib.suppress(OSError):
            if entry.stat(follow_symlinks=False).st_mtime < oldest:
                os.unlink(entry.path)
                removed += 1
    return removed


async def keep_swept(root: Path, stop: asyncio.Event, *, every: float = SWEEP_EVERY) -> None:
    """Sweeps FILES_DIR now and every ``every`` seconds until ``stop`` is set."""
    while not stop.is_set():
        try:
            if removed := await asyncio.to_thread(sweep, root):
                log.info("file links sweep: removed %s expired files", removed)
        except Exception as exc:  # a full or unmounted disk: try again next time
            log.warning("file links sweep failed: %s", type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
