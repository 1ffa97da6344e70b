"""A fake Zalo Bot API on 127.0.0.1 (aiohttp, in the test's own event loop) that answers as
reference/zalo-bot-api.md documents and records everything a bot sends.

What it holds to:
- ``POST /bot<TOKEN>/<method>`` with a JSON, form or query body; a wrong token answers 401 to every
  method, an unknown method 404. Errors are ``{"ok": false, "error_code", "description"}`` with the same
  HTTP status (``error_status=200`` answers them with HTTP 200 instead, as a Zalo server may).
- ``getUpdates`` hands out queued updates one per call and answers 408 when ``timeout`` seconds pass
  with nothing (tests pass 0-1 s); it refuses (400) while a webhook is set.
- ``sendMessage``: text of 1-2000 characters, ``parse_mode`` html or markdown; ``sendPhoto``: it FETCHES
  the photo URL (only from 127.0.0.1: a fake never reaches the internet), records the status and bytes
  in ``fetches``, and answers 400 when the fetch fails or is not an image. Both count towards an optional
  ``quota`` of messages per ``quota_window`` seconds (429 above it, not recorded as sent).
- Photos to send or to receive are served from its own addresses: ``add_photo(bytes) -> url``.
- ``deliver(update)`` POSTs an update to the webhook as Zalo would, with the set secret, a wrong one, or none.
- Builders (``text_update``, ``image_update``...) return updates shaped like the documented samples.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

TOKEN = "1234567890:fake-zalo-secret-Q2hhbmdlTWU"
BOT_ID = "1234567890"
USER_ID = "6ede9afa66b88fe6d6a9"
USER_NAME = "Nguyễn Văn An"
MAX_TEXT = 2000
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class SentItem:
    """One message or photo the fake accepted."""

    method: str  # "sendMessage" or "sendPhoto"
    chat_id: str
    message_id: str
    text: str | None = None
    parse_mode: str | None = None
    photo_url: str | None = None
    caption: str | None = None
    photo: bytes | None = None  # what the fake fetched from photo_url


@dataclass(frozen=True)
class Fetch:
    """One attempt of sendPhoto to fetch its URL: the HTTP status (None: not reachable) and the bytes."""

    url: str
    status: int | None
    content: bytes = b""
    content_type: str = ""


@dataclass
class Webhook:
    url: str
    secret_token: str
    updated_at: int = field(default_factory=lambda: int(time.time() * 1000))


class ZaloApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(code, description)
        self.code, self.description = code, description


_KEEP_SECRET = object()  # deliver(): use the secret given to setWebhook


class FakeZaloApi:
    """Use ``async with FakeZaloApi() as zalo:`` (or start()/close()); ``zalo.base_url`` for the client."""

    def __init__(
        self,
        *,
        token: str = TOKEN,
        quota: int | None = None,
        quota_window: float = 60.0,
        error_status: int | None = None,
    ) -> None:
        self.token = token
        self.quota = quota  # messages (text or photo) accepted per quota_window seconds; None: no limit
        self.quota_window = quota_window
        self.error_status = error_status  # HTTP status of error answers; None: the error code itself
        self.bot_info: dict[str, Any] = {"id": BOT_ID, "account_name": "bot.cdht", "display_name": "CDHT"}
        self.calls: list[tuple[str, dict[str, Any]]] = []  # every call with the right token, refused or not
        self.sent: list[SentItem] = []
        self.actions: list[tuple[str, str]] = []  # (chat id, action) of sendChatAction
        self.fetches: list[Fetch] = []
        self.photo_requests: list[str] = []  # paths of the fake's photos fetched by anyone
        self.webhook: Webhook | None = None
        self.failures: dict[str, deque[tuple[int, str]]] = {}  # method -> errors to answer next
        self._updates: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._photos: dict[str, tuple[bytes, str]] = {}
        self._accepted_at: deque[float] = deque()
        self._ids = itertools.count(1)
        self._methods = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendChatAction": self._send_chat_action,
        }
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self.base_url = ""

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/photos/{name}", self._serve_photo)
        app.router.add_route("*", "/{bot}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # ------------------------------------------------------------------ what tests do
    def queue_update(self, update: dict[str, Any]) -> None:
        """Queues an update (bare, or a ``{"ok": true, "result": ...}`` envelope) for getUpdates."""
        self._updates.put_nowait(update.get("result", update) if "event_name" not in update else update)

    def add_photo(self, content: bytes, content_type: str = "image/jpeg") -> str:
        """Serves ``content`` at a new address of the fake and returns it."""
        name = f"{secrets.token_hex(6)}.{content_type.rsplit('/', 1)[-1]}"
        self._photos[name] = (content, content_type)
        return f"{self.base_url}/photos/{name}"

    def fail_next(self, method: str, code: int, description: str = "injected failure") -> None:
        """The next call of ``method`` answers this error instead (queued: call again for more)."""
        self.failures.setdefault(method, deque()).append((code, description))

    @property
    def messages(self) -> list[SentItem]:
        return [s for s in self.sent if s.method == "sendMessage"]

    @property
    def photos(self) -> list[SentItem]:
        return [s for s in self.sent if s.method == "sendPhoto"]

    def texts(self, chat_id: str | None = None) -> list[str]:
        return [m.text or "" for m in self.messages if chat_id is None or m.chat_id == chat_id]

    async def deliver(
        self, update: dict[str, Any], *, url: str | None = None, secret: Any = _KEEP_SECRET
    ) -> tuple[int, str]:
        """POSTs ``update`` to the webhook as Zalo does: ``{"ok": true, "result": update}`` with the
        X-Bot-Api-Secret-Token header (the set secret by default; a string: that one; None: no header).
        Returns the webhook's HTTP status and body."""
        assert self._http is not None, "start() the fake first"
        if url is None:
            assert self.webhook is not None, "no webhook set: pass url="
            url = self.webhook.url
        if secret is _KEEP_SECRET:
            secret = self.webhook.secret_token if self.webhook else None
        headers = {"X-Bot-Api-Secret-Token": secret} if secret is not None else {}
        body = update if "result" in update and "event_name" not in update else {"ok": True, "result": update}
        async with self._http.post(url, json=body, headers=headers) as response:
            return response.status, await response.text()

    # ------------------------------------------------------------------ HTTP
    async def _serve_photo(self, request: web.Request) -> web.Response:
        self.photo_requests.append(request.path)
        found = self._photos.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        content, content_type = found
        return web.Response(body=content, content_type=content_type)

    async def _handle(self, request: web.Request) -> web.Response:
        bot, method = request.match_info["bot"], request.match_info["method"]
        try:
            if not bot.startswith("bot"):
                raise ZaloApiError(404, "Not Found")
            if bot[3:] != self.token:
                raise ZaloApiError(401, "Unauthorized")
            params = await _params(request)
            self.calls.append((method, params))
            handler = self._methods.get(method)
            if handler is None:
                raise ZaloApiError(404, "Not Found")
            pending = self.failures.get(method)
            if pending:
                raise ZaloApiError(*pending.popleft())
            result = await handler(params)
        except ZaloApiError as exc:
            body = {"ok": False, "error_code": exc.code, "description": exc.description}
            return web.json_response(body, status=self.error_status or exc.code)
        return web.json_response({"ok": True, "result": result})

    # ------------------------------------------------------------------ methods
    async def _get_me(self, params: dict[str, Any]) -> Any:
        return self.bot_info

    async def _get_updates(self, params: dict[str, Any]) -> Any:
        if self.webhook is not None:
            raise ZaloApiError(400, "Webhook is set; call deleteWebhook to use getUpdates")
        timeout = _number(params.get("timeout"), default=30.0)
        try:
            return await asyncio.wait_for(self._updates.get(), timeout=max(timeout, 0.0))
        except TimeoutError:
            raise ZaloApiError(408, "Request timeout") from None

    async def _set_webhook(self, params: dict[str, Any]) -> Any:
        url, secret = params.get("url"), params.get("secret_token")
        if not isinstance(url, str) or not url:
            raise ZaloApiError(400, "url is required")
        if not isinstance(secret, str) or not 8 <= len(secret) <= 256:
            raise ZaloApiError(400, "secret_token must be 8 to 256 characters")
        self.webhook = Webhook(url=url, secret_token=secret)
        return {"url": url, "updated_at": self.webhook.updated_at}

    async def _delete_webhook(self, params: dict[str, Any]) -> Any:
        self.webhook = None
        return {"url": "", "updated_at": int(time.time() * 1000)}

    async def _get_webhook_info(self, params: dict[str, Any]) -> Any:
        if self.webhook is None:
            return {"url": "", "updated_at": None}
        return {"url": self.webhook.url, "updated_at": self.webhook.updated_at}

    async def _send_message(self, params: dict[str, Any]) -> Any:
        chat_id, text, parse_mode = _chat_id(params), params.get("text"), params.get("parse_mode")
        if not isinstance(text, str) or not 1 <= len(text) <= MAX_TEXT:
            raise ZaloApiError(400, f"text must be 1 to {MAX_TEXT} characters")
        if parse_mode is not None and str(parse_mode).lower() not in ("html", "markdown"):
            raise ZaloApiError(400, "parse_mode must be html or markdown")
        self._take_quota()
        return self._record(SentItem("sendMessage", chat_id, self._next_id(), text=text, parse_mode=parse_mode))

    async def _send_photo(self, params: dict[str, Any]) -> Any:
        chat_id, url, caption = _chat_id(params), params.get("photo"), params.get("caption")
        if not isinstance(url, str) or not url:
            raise ZaloApiError(400, "photo (a URL) is required")
        if caption is not None and (not isinstance(caption, str) or len(caption) > MAX_TEXT):
            raise ZaloApiError(400, f"caption must be at most {MAX_TEXT} characters")
        fetch = await self._fetch(url)
        self.fetches.append(fetch)
        if fetch.status != 200 or not fetch.content or not fetch.content_type.startswith("image/"):
            raise ZaloApiError(400, "photo could not be fetched from its URL")
        self._take_quota()
        item = SentItem("sendPhoto", chat_id, self._next_id(), photo_url=url, caption=caption, photo=fetch.content)
        return self._record(item)

    async def _send_chat_action(self, params: dict[str, Any]) -> Any:
        chat_id, action = _chat_id(params), params.get("action")
        if action != "typing":
            raise ZaloApiError(400, "action must be typing")
        self.actions.append((chat_id, action))
        return True

    # ------------------------------------------------------------------ helpers
    async def _fetch(self, url: str) -> Fetch:
        if urlsplit(url).hostname not in _LOCAL_HOSTS:  # a fake never reaches out of this machine
            return Fetch(url, None)
        assert self._http is not None
        try:
            async with self._http.get(url) as response:
                return Fetch(url, response.status, await response.read(), response.content_type or "")
        except (aiohttp.ClientError, TimeoutError):
            return Fetch(url, None)

    def _take_quota(self) -> None:
        if self.quota is None:
            return
        now = time.monotonic()
        while self._accepted_at and now - self._accepted_at[0] >= self.quota_window:
            self._accepted_at.popleft()
        if len(self._accepted_at) >= self.quota:
            raise ZaloApiError(429, "Quota exceeded")
        self._accepted_at.append(now)

    def _next_id(self) -> str:
        return f"{next(self._ids):020x}"

    def _record(self, item: SentItem) -> dict[str, Any]:
        self.sent.append(item)
        return {"message_id": item.message_id, "date": int(time.time() * 1000)}


async def _params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except json.JSONDecodeError:
                raise ZaloApiError(400, "Bad Request: body is not JSON") from None
            if isinstance(body, dict):
                params.update(body)
        else:
            params.update(dict(await request.post()))
    return params


def _chat_id(params: dict[str, Any]) -> str:
    chat_id = params.get("chat_id")
    if not isinstance(chat_id, str | int) or isinstance(chat_id, bool) or chat_id == "":
        raise ZaloApiError(400, "chat_id is required")
    return str(chat_id)


def _number(value: Any, *, default: float) -> float:
    try:
        return float(value) if value is not None else default
    except (TypeError, ValueError):
        return default


# ---------------------------------------------------------------------- builders
_message_ids = itertools.count(1)


def _message(
    *,
    user_id: str,
    display_name: str,
    chat_id: str | None,
    chat_type: str,
    message_id: str | None,
    date_ms: int | None,
    **fields: Any,
) -> dict[str, Any]:
    return {
        "from": {"id": user_id, "display_name": display_name, "is_bot": False},
        "chat": {"id": chat_id or user_id, "chat_type": chat_type},
        **{k: v for k, v in fields.items() if v is not None},
        "message_id": message_id or f"{next(_message_ids):020x}",
        "date": date_ms if date_ms is not None else int(time.time() * 1000),
    }


def _update(event: str, **kwargs: Any) -> dict[str, Any]:
    return {"event_name": f"message.{event}.received", "message": _message(**kwargs)}


def text_update(
    text: str,
    *,
    user_id: str = USER_ID,
    display_name: str = USER_NAME,
    chat_id: str | None = None,
    chat_type: str = "PRIVATE",
    message_id: str | None = None,
    date_ms: int | None = None,
) -> dict[str, Any]:
    """A ``message.text.received`` update (the bare ``result``; ``envelope()`` wraps it)."""
    return _update(
        "text", user_id=user_id, display_name=display_name, chat_id=chat_id, chat_type=chat_type,
        message_id=message_id, date_ms=date_ms, text=text,
    )  # fmt: skip


def image_update(
    photo_url: str,
    caption: str | None = None,
    *,
    url_key: str = "photo_url",  # "photo" for the older payloads
    user_id: str = USER_ID,
    display_name: str = USER_NAME,
    chat_id: str | None = None,
    chat_type: str = "PRIVATE",
    message_id: str | None = None,
    date_ms: int | None = None,
) -> dict[str, Any]:
    """A ``message.image.received`` update: the picture's address (serve one with ``add_photo``)."""
    return _update(
        "image", user_id=user_id, display_name=display_name, chat_id=chat_id, chat_type=chat_type,
        message_id=message_id, date_ms=date_ms, caption=caption, **{url_key: photo_url},
    )  # fmt: skip


def sticker_update(
    *, user_id: str = USER_ID, display_name: str = USER_NAME, chat_id: str | None = None, chat_type: str = "PRIVATE"
) -> dict[str, Any]:
    """A ``message.sticker.received`` update."""
    return _update(
        "sticker", user_id=user_id, display_name=display_name, chat_id=chat_id, chat_type=chat_type,
        message_id=None, date_ms=None, sticker="0e078a2fb66a5f34067b", url="https://example.invalid/sticker.webp",
    )  # fmt: skip


def unsupported_update(
    *, user_id: str = USER_ID, display_name: str = USER_NAME, chat_id: str | None = None, chat_type: str = "PRIVATE"
) -> dict[str, Any]:
    """A ``message.unsupported.received`` update (a file, a location, a contact card...)."""
    return _update(
        "unsupported", user_id=user_id, display_name=display_name, chat_id=chat_id, chat_type=chat_type,
        message_id=None, date_ms=None,
    )  # fmt: skip


def envelope(update: dict[str, Any]) -> dict[str, Any]:
    """An update as a getUpdates answer or webhook body carries it."""
    return {"ok": True, "result": update}
