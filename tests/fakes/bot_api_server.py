"""A Bot API emulator over real HTTP on 127.0.0.1: python-telegram-bot's own httpx transport (or a ``cdht run``
subprocess) talks to it as to Telegram. It answers like FakeBotApi, serves queued updates through long-polling
getUpdates, downloads files, and can refuse every call (e.g. 401 for a rejected token)."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from tests.fakes.telegram_api import FakeBotApi

LONG_POLL_CAP = 0.3  # seconds a getUpdates with nothing to return waits, whatever timeout it asked for


class Emulator(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.api = FakeBotApi()  # answers like Telegram; here it only builds the replies
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.updates: list[dict[str, Any]] = []  # served by getUpdates until an offset confirms them
        self.refuse: tuple[int, str] | None = None  # (status, description) answered to every call
        self.changed = threading.Condition()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hung up (a long poll cancelled at stop) is no error worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]

    def push_update(self, update: dict[str, Any]) -> None:
        with self.changed:
            self.updates.append(update)
            self.changed.notify_all()

    def record(self, method: str, params: dict[str, Any]) -> None:
        with self.changed:
            self.requests.append((method, params))
            self.changed.notify_all()

    def calls(self, method: str) -> list[dict[str, Any]]:
        with self.changed:
            return [p for m, p in self.requests if m == method]

    def texts(self) -> list[str]:
        return [str(p.get("text", "")) for p in self.calls("sendMessage")]

    def wait_until(self, condition: Callable[[], bool], timeout: float = 30) -> bool:
        """Waits (bounded) until ``condition`` holds after some request; False if it never did."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(min(left, 0.2))
        return True

    def get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), LONG_POLL_CAP)
        with self.changed:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]  # an offset confirms
            while not self.updates and time.monotonic() < deadline:
                self.changed.wait(deadline - time.monotonic())
            return list(self.updates)


class _Handler(BaseHTTPRequestHandler):
    server: Emulator

    def log_message(self, *args: object) -> None:  # keep test output quiet
        return

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Type", "").startswith("application/json"):
            params = json.loads(body or b"{}")
        else:
            params = {k: _maybe_json(v[0]) for k, v in parse_qs(body.decode()).items()}
        method = self.path.rsplit("/", 1)[-1]
        self.server.record(method, params)
        if self.server.refuse is not None:
            status, description = self.server.refuse
            self._reply(json.dumps({"ok": False, "error_code": status, "description": description}).encode(), status)
            return
        result = self.server.get_updates(params) if method == "getUpdates" else self.server.api.answer(method, params)
        self._reply(json.dumps({"ok": True, "result": result}).encode())

    def do_GET(self) -> None:
        file_id = self.path.rsplit("/", 1)[-1]
        self.server.record("download", {"path": self.path})
        self._reply(self.server.api.files[file_id], kind="application/octet-stream")

    def _reply(self, data: bytes, status: int = 200, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _maybe_json(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


@contextmanager
def running_emulator() -> Iterator[Emulator]:
    server = Emulator()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
