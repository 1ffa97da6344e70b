"""A fake Bot API behind python-telegram-bot's real request interface: it records every call, answers
like Telegram does, serves downloadable files, injects errors on demand, and never touches the network."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from telegram.request import BaseRequest, RequestData

BOT_ID = 7000000001


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # uploaded part -> (file name, content)
    url: str = ""
    result: Any = None  # what the fake answered (a sent message carries its message_id)


@dataclass
class Failure:
    """What the fake answers instead of success: an HTTP status and a Bot API error body."""

    status: int
    description: str
    retry_after: int | None = None


def _uploads(request_data: RequestData | None) -> dict[str, tuple[str, bytes]]:
    """The files uploaded with a call, by multipart part name."""
    if request_data is None or not request_data.contains_files:
        return {}
    out = {}
    for name, (file_name, content, *_) in request_data.multipart_data.items():
        out[name] = (file_name, content if isinstance(content, bytes) else content.read())
    return out


class FakeBotApi(BaseRequest):
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.files: dict[str, bytes] = {}  # file_id -> content served by getFile + download
        self.file_sizes: dict[str, int] = {}  # file_id -> size getFile reports (defaults to len(content))
        self.failures: dict[str, list[Failure]] = {}  # method -> failures to answer next, in order
        self.fail_when: Callable[[str, dict[str, Any]], Failure | None] | None = None
        self._message_id = 100
        self.downloads: list[str] = []
        self.download_urls: list[str] = []

    # --------------------------------------------------------------- BaseRequest
    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        if "/file/bot" in url:
            file_path = url.split("/file/bot", 1)[1].split("/", 1)[1]
            file_id = file_path.rsplit("/", 1)[-1]
            self.downloads.append(file_id)
            self.download_urls.append(url)
            return 200, self.files[file_id]
        api_method = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data else {}
        self.calls.append(Call(api_method, params, files=_uploads(request_data), url=url))
        failure = self._failure(api_method, params)
        if failure is not None:
            body: dict[str, Any] = {"ok": False, "error_code": failure.status, "description": failure.description}
            if failure.retry_after is not None:
                body["parameters"] = {"retry_after": failure.retry_after}
            return failure.status, json.dumps(body).encode()
        self.calls[-1].result = result = self.answer(api_method, params)
        return 200, json.dumps({"ok": True, "result": result}).encode()

    # --------------------------------------------------------------- behaviour
    def _failure(self, api_method: str, params: dict[str, Any]) -> Failure | None:
        queued = self.failures.get(api_method)
        if queued:
            return queued.pop(0)
        if self.fail_when is not None:
            return self.fail_when(api_method, params)
        return None

    def fail_next(self, api_method: str, status: int, description: str, retry_after: int | None = None) -> None:
        self.failures.setdefault(api_method, []).append(Failure(status, description, retry_after))

    def _message(self, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
        self._message_id += 1
        chat_id = int(params.get("chat_id", 0))
        return {
            "message_id": self._message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            **extra,
        }

    def answer(self, api_method: str, params: dict[str, Any]) -> Any:
        match api_method:
            case "getMe":
                return {
                    "id": BOT_ID,
                    "is_bot": True,
                    "first_name": "CDHT",
                    "username": "cdht_test_bot",
                    "can_join_groups": False,
                    "can_read_all_group_messages": False,
                    "supports_inline_queries": False,
                }
            case "sendMessage":
                return self._message(params, text=params.get("text", ""))
            case "sendPhoto" | "sendDocument":
                return self._message(params, caption=params.get("caption", ""))
            case "sendMediaGroup":
                media = params.get("media") or []
                if isinstance(media, str):
                    media = json.loads(media)
                return [self._message(params) for _ in media]
            case "getFile":
                file_id = params["file_id"]
                size = self.file_sizes.get(file_id, len(self.files.get(file_id, b"")))
                return {
                    "file_id": file_id,
                    "file_unique_id": f"u{file_id}",
                    "file_size": size,
                    "file_path": f"documents/{file_id}",
                }
            case "editMessageReplyMarkup" | "editMessageText":
                return self._message(params, text="")
            case _:
                return True

    # --------------------------------------------------------------- reading what was sent
    def sent(self, method: str = "sendMessage") -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def texts(self) -> list[str]:
        return [c.params.get("text", "") for c in self.sent()]

    def last_markup(self) -> list[list[dict[str, Any]]]:
        """The inline keyboard of the last message sent with one."""
        for call in reversed(self.sent()):
            markup = call.params.get("reply_markup")
            if markup:
                data = json.loads(markup) if isinstance(markup, str) else markup
                return data.get("inline_keyboard", [])
        return []

    def clear(self) -> None:
        self.calls.clear()
