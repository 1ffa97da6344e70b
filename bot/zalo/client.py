"""A thin async client for the Zalo Bot API on httpx: one method per documented call, one error family,
and the token never leaves it.

Rules:
- Every call is ``POST <base_url>/bot<TOKEN>/<method>`` with a JSON body; an answer is
  ``{"ok": true, "result": ...}`` (the method returns ``result``) or ``{"ok": false, "error_code": N,
  "description": ...}`` (raised as a :class:`ZaloError`; the body's ``error_code`` wins over the HTTP
  status, since Zalo may answer an error with either).
- ``get_updates`` answers ONE update (the ``result`` dict) or ``None`` when the long poll ran out
  (Zalo's ``408``, which is not an error). There is no offset: Zalo hands each update out once.
- Limits Zalo documents are refused here, before any request: text and captions of 1 to 2000 characters.
- The token is in every URL, so it appears in no exception message or repr of ours (network errors carry
  the redacted text of httpx's error, not the error itself). httpx logs each request's URL at INFO:
  callers keep the ``httpx`` logger at WARNING (``cdht run`` does), and a filter this module installs on
  that logger blanks ``/bot<token>`` in any record that still gets through. Never log a URL yourself.
- Sending pace (Zalo's unpublished quota) is the caller's business: a 429 is :class:`ZaloQuotaExceeded`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx
from pydantic import SecretStr

MAX_TEXT = 2000  # characters in a message text or a photo caption
TIMEOUT_CODE = 408  # getUpdates: the long poll ended with nothing
_POLL_MARGIN = 10.0  # seconds the HTTP read may take beyond a long poll's own timeout
_REDACTED = "<token>"
_URL_TOKEN = re.compile(r"/bot[^/\s\"']+")


# --------------------------------------------------------------------------- errors
class ZaloError(Exception):
    """A call that did not succeed: Zalo's ``error_code`` (None for a network failure) and description."""

    def __init__(self, code: int | None, description: str, *, method: str | None = None) -> None:
        super().__init__(code, description)
        self.code = code
        self.description = description
        self.method = method  # the API method that failed; None when refused before any call

    def __str__(self) -> str:
        where = f"Zalo {self.method}" if self.method else "Zalo"
        code = f" error {self.code}" if self.code is not None else ""
        return f"{where}{code}: {self.description}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, description={self.description!r}, method={self.method!r})"


class ZaloBadRequest(ZaloError):
    """400: the call itself is wrong (also raised locally for a text Zalo would refuse)."""


class ZaloUnauthorized(ZaloError):
    """401: the token is wrong or expired; retrying will not help."""


class ZaloQuotaExceeded(ZaloError):
    """429: over Zalo's (unpublished) quota; retry later, more slowly."""


class ZaloNetworkError(ZaloError):
    """Zalo could not be reached or did not answer in time (code None); retrying may help."""


_BY_CODE: dict[int, type[ZaloError]] = {400: ZaloBadRequest, 401: ZaloUnauthorized, 429: ZaloQuotaExceeded}


def error_for(code: int | None, description: str, *, method: str | None = None) -> ZaloError:
    """The exception for an error answer: a subclass for the codes a caller acts on, else ZaloError."""
    kind = _BY_CODE.get(code, ZaloError) if code is not None else ZaloError
    return kind(code, description, method=method)


# --------------------------------------------------------------------------- logging
class RedactBotToken(logging.Filter):
    """Blanks ``/bot<token>`` in a log record's text (httpx logs each request URL, token included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/bot" in message:
            record.msg, record.args = _URL_TOKEN.sub("/bot" + _REDACTED, message), None
        return True


_FILTER = RedactBotToken()


def install_log_redaction() -> None:
    """Adds the redaction filter to httpx's logger once (it logs every request URL at INFO)."""
    logger = logging.getLogger("httpx")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Sent:
    """What Zalo answers for a sent message or photo."""

    message_id: str | None
    date: datetime | None


def _sent(result: Any) -> Sent:
    result = result if isinstance(result, dict) else {}
    message_id, ms = result.get("message_id"), result.get("date")
    date = datetime.fromtimestamp(ms / 1000, tz=UTC) if isinstance(ms, int | float) else None
    return Sent(message_id=str(message_id) if message_id is not None else None, date=date)


def _check_text(what: str, text: str) -> None:
    if not text:
        raise ZaloBadRequest(None, f"{what} is empty; Zalo accepts 1 to {MAX_TEXT} characters")
    if len(text) > MAX_TEXT:
        raise ZaloBadRequest(None, f"{what} is {len(text)} characters; Zalo accepts at most {MAX_TEXT}")


# --------------------------------------------------------------------------- client
class ZaloClient:
    """One bot's calls to the Zalo Bot API. Use ``async with ZaloClient(token, base_url=...)`` or ``aclose()``."""

    def __init__(
        self,
        token: str | SecretStr,
        *,
        base_url: str,
        timeout: float = 15.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        secret = token.get_secret_value() if isinstance(token, SecretStr) else token
        if not secret or not secret.strip():
            raise ValueError("the Zalo bot token is empty")
        self._token = secret
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout)
        install_log_redaction()

    def __repr__(self) -> str:
        return f"ZaloClient(base_url={self._base_url!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Closes the HTTP connections (only those this client opened)."""
        if self._own_http:
            await self._http.aclose()

    # ----------------------------------------------------------------- receiving
    async def get_me(self) -> dict[str, Any]:
        """The bot's own account (id, name...)."""
        return await self._call("getMe")

    async def get_updates(self, *, timeout: float = 30) -> dict[str, Any] | None:  # noqa: ASYNC109 (Zalo's name)
        """Waits up to ``timeout`` seconds for ONE update; None when nothing came (Zalo's 408)."""
        try:
            result = await self._call("getUpdates", {"timeout": timeout}, read_timeout=timeout + _POLL_MARGIN)
        except ZaloError as exc:
            if exc.code == TIMEOUT_CODE:
                return None
            raise
        return result if isinstance(result, dict) and result else None

    async def set_webhook(self, url: str, secret_token: str) -> Any:
        """Zalo delivers updates to ``url`` (public HTTPS) with ``secret_token`` (8-256 characters) in the
        X-Bot-Api-Secret-Token header; getUpdates stops working until delete_webhook."""
        if not 8 <= len(secret_token) <= 256:
            raise ZaloBadRequest(None, "the webhook secret must be 8 to 256 characters")
        return await self._call("setWebhook", {"url": url, "secret_token": secret_token})

    async def delete_webhook(self) -> Any:
        """Back to getUpdates."""
        return await self._call("deleteWebhook")

    async def get_webhook_info(self) -> dict[str, Any]:
        """The webhook Zalo has (url, updated time...)."""
        return await self._call("getWebhookInfo")

    # ----------------------------------------------------------------- sending
    async def send_message(self, chat_id: str, text: str, *, parse_mode: str | None = None) -> Sent:
        """Sends ``text`` (1-2000 characters; longer is refused here: split it with bot.message_split)."""
        _check_text("the message text", text)
        params: dict[str, Any] = {"chat_id": chat_id, "text": text}
        if parse_mode is not None:
            params["parse_mode"] = parse_mode
        return _sent(await self._call("sendMessage", params))

    async def send_photo(self, chat_id: str, photo_url: str, caption: str | None = None) -> Sent:
        """Sends the photo Zalo will fetch from ``photo_url`` (no upload), with an optional caption."""
        if not photo_url:
            raise ZaloBadRequest(None, "the photo URL is empty; Zalo fetches the photo from a URL")
        params: dict[str, Any] = {"chat_id": chat_id, "photo": photo_url}
        if caption:
            _check_text("the caption", caption)
            params["caption"] = caption
        return _sent(await self._call("sendPhoto", params))

    async def send_chat_action(self, chat_id: str, action: str = "typing") -> Any:
        """Shows "typing..." in the chat for a moment."""
        return await self._call("sendChatAction", {"chat_id": chat_id, "action": action})

    # ----------------------------------------------------------------- the one request
    async def _call(
        self, method: str, params: dict[str, Any] | None = None, *, read_timeout: float | None = None
    ) -> Any:
        url = f"{self._base_url}/bot{self._token}/{method}"
        timeout = httpx.Timeout(self._timeout, read=read_timeout or self._timeout)
        try:
            response = await self._http.post(url, json=params or {}, timeout=timeout)
        except httpx.HTTPError as exc:
            # `from None`: httpx's error holds the request (and so the URL with the token).
            detail = self._redact(str(exc)) or "no detail"
            raise ZaloNetworkError(None, f"{type(exc).__name__}: {detail}", method=method) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise error_for(response.status_code, f"HTTP {response.status_code} without a Zalo answer", method=method)
        if body.get("ok") is True:
            return body.get("result")
        code = body.get("error_code")
        if not isinstance(code, int):
            code = response.status_code if response.status_code >= 400 else None
        description = self._redact(str(body.get("description") or "no description"))
        raise error_for(code, description, method=method)

    def _redact(self, text: str) -> str:
        for form in {self._token, quote(self._token, safe=""), quote(self._token)}:
            text = text.replace(form, _REDACTED)
        return _URL_TOKEN.sub("/bot" + _REDACTED, text)
