"""The one ASGI app served in webhook mode, built from a list of routes: each messenger adds its webhook route
(Telegram's here, Zalo's later), signed file links can be added the same way, and ``/healthz`` says whether the
database is reachable and migrated.

A webhook route answers 200 only once the update is in the inbox: what Telegram was told we have, a killed
process still handles on its next start. A call without the right secret is refused (403) and leaves no trace.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from telegram import Update
from telegram.ext import Application

from bot.inbox import InboxQueue
from storage.db import current_revision, head_revision

log = logging.getLogger(__name__)

TELEGRAM_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def build_web_app(routes: Sequence[BaseRoute]) -> Starlette:
    """The server's whole app: the routes given, nothing else (404 for any other path)."""
    return Starlette(routes=list(routes))


def telegram_webhook(path: str, secret: str, app: Application) -> Route:
    """POST ``path``: Telegram's calls, proven by the secret header; the update is recorded, then queued
    (both by ``app.update_queue``, see bot.inbox.InboxQueue), then answered 200."""
    expected = secret.encode()

    async def receive(request: Request) -> Response:
        given = request.headers.get(TELEGRAM_SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            return Response(status_code=403)
        try:
            raw = json.loads(await request.body())
            update = Update.de_json(raw, app.bot)
        except (ValueError, TypeError, KeyError, AttributeError):  # AttributeError: JSON that is not an object
            return Response(status_code=400)
        queue = app.update_queue
        try:
            await (queue.put(update, raw=raw) if isinstance(queue, InboxQueue) else queue.put(update))
        except Exception as exc:  # not recorded: no 200, so Telegram sends it again later
            log.error("could not record update %s: %s", update.update_id, type(exc).__name__)
            return Response(status_code=503)
        return Response(status_code=200)

    return Route(path, receive, methods=["POST"])


def health(engine: AsyncEngine, *, reader: Callable[[], str] | None = None) -> Route:
    """GET /healthz: 200 {database: ok, schema: current}, or 503 saying which is not; with ``reader``, also the
    evidence reader's status ("on", or "off: why"), which never makes the answer 503: the bot works without it."""
    head = head_revision()

    async def healthz(request: Request) -> Response:
        extra = {"reader": reader()} if reader is not None else {}
        try:
            revision = await current_revision(engine)
        except Exception as exc:
            log.warning("health check: database unreachable (%s)", type(exc).__name__)
            return JSONResponse({"database": "unreachable", "schema": "unknown", **extra}, status_code=503)
        if revision != head:
            return JSONResponse({"database": "ok", "schema": "behind", **extra}, status_code=503)
        return JSONResponse({"database": "ok", "schema": "current", **extra})

    return Route("/healthz", healthz, methods=["GET"])
