"""Zalo evidence: a photo arrives as an address (``photo_url``) that the bot fetches. The bytes are streamed
to the temporary name bot.evidence.receive gives, stopping as soon as they pass the 20 MB limit, and then
checked like every other evidence file (size, SHA-256, a real JPEG/PNG/WebP)."""

from __future__ import annotations

from pathlib import Path

import httpx

from bot import evidence as ev


class DownloadFailed(Exception):
    """The photo's address did not give the photo (gone, refused, unreachable)."""


async def fetch(http: httpx.AsyncClient, url: str, item: ev.Candidate, root: Path, where: Path) -> ev.Fetched:
    """Downloads the photo at ``url`` into ``root/where`` (temporary name until its row commits)."""

    async def write(temp: Path) -> None:
        try:
            async with http.stream("GET", url) as response:
                if response.status_code != 200:
                    raise DownloadFailed(f"HTTP {response.status_code}")
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > ev.MAX_BYTES:
                    raise ev.Refused("too_big")
                size = 0
                with temp.open("wb") as fh:
                    async for chunk in response.aiter_bytes(1 << 16):
                        size += len(chunk)
                        if size > ev.MAX_BYTES:
                            raise ev.Refused("too_big")
                        fh.write(chunk)
        except httpx.HTTPError as exc:  # its text may hold the address: keep only the kind
            raise DownloadFailed(type(exc).__name__) from None

    return await ev.receive(write, root, where, item.stem, item.mime_type)
