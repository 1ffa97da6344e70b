"""A lean Bot API emulator for bench/workers.py, run in a process of its own so that answering the workers does
not share a core (or a GIL) with the load driver. Not a test fixture: tests use tests/fakes/bot_api_server.py.

It answers the methods the bot calls (getMe, setWebhook, deleteWebhook, setMyCommands, sendMessage, edits,
answerCallbackQuery, getFile and the file download: every photo is a small JPEG made from its file id), and
remembers each chat's last inline keyboard and the message carrying it, so a citizen presses real buttons.

For the bench:
- ``GET /bench/events``: a stream, one JSON line per sendMessage as it arrives: ``{"t": monotonic time of
  arrival, "chat": chat id, "kb": [[label, callback_data], ...], "mid": id of the message with that keyboard}``
  (CLOCK_MONOTONIC is one clock for every process of the machine, so the driver subtracts its own times);
- ``GET /bench/sent?since=T&min_chat=C``: ``[[t, chat], ...]`` of every sendMessage since T to chats >= C
  (the wave's figures).

    .venv/bin/python bench/bot_api_lean.py --port 18599
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

BOT_ID = 7000000001
JPEG_START = b"\xff\xd8\xff\xe0"  # what the evidence check looks for
ME = {"id": BOT_ID, "is_bot": True, "first_name": "CDHT", "username": "cdht_bench_bot", "can_join_groups": False}


def photo_bytes(file_id: str) -> bytes:
    """The content served for ``file_id``: the driver computes the same to give the photo's size."""
    return JPEG_START + f"evidence {file_id} ".encode() * 20


class State:
    def __init__(self) -> None:
        self.message_ids = itertools.count(101)
        self.keyboards: dict[str, tuple[list[list[str]], int]] = {}  # chat -> (buttons, message id)
        self.sent: list[tuple[float, str]] = []  # (arrival, chat) of each sendMessage
        self.listeners: set[asyncio.Queue[bytes]] = set()

    def answer(self, method: str, params: dict[str, str]) -> Any:
        if method in ("sendMessage", "editMessageText", "editMessageReplyMarkup"):
            return self.message(method, params)
        if method == "getMe":
            return ME
        if method == "getFile":
            file_id = params["file_id"]
            size = len(photo_bytes(file_id))
            return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": size, "file_path": f"p/{file_id}"}
        return True  # setWebhook, deleteWebhook, setMyCommands, answerCallbackQuery...

    def message(self, method: str, params: dict[str, str]) -> dict[str, Any]:
        now = time.monotonic()
        chat = params.get("chat_id", "0")
        message_id = int(params["message_id"]) if "message_id" in params else next(self.message_ids)
        markup = params.get("reply_markup")
        if markup and method != "editMessageReplyMarkup":  # a removed keyboard leaves the citizen's memory alone
            rows = json.loads(markup).get("inline_keyboard", [])
            buttons = [[b["text"], b.get("callback_data", "")] for row in rows for b in row]
            self.keyboards[chat] = (buttons, message_id)
        if method == "sendMessage":
            self.sent.append((now, chat))
            if self.listeners:
                buttons, shown = self.keyboards.get(chat, ([], 0))
                line = json.dumps({"t": now, "chat": chat, "kb": buttons, "mid": shown}).encode() + b"\n"
                for queue in self.listeners:
                    queue.put_nowait(line)
        return {"message_id": message_id, "date": int(time.time()), "chat": {"id": int(chat), "type": "private"}}


def _params(body: bytes, kind: str) -> dict[str, str]:
    """The call's parameters as strings (python-telegram-bot posts a form whose values are JSON-encoded)."""
    if kind.startswith("application/json"):
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in json.loads(body or b"{}").items()}
    return dict(parse_qsl(body.decode()))


def make_app(state: State) -> Starlette:
    async def call(request: Request) -> Response:
        params = _params(await request.body(), request.headers.get("content-type", ""))
        result = state.answer(request.path_params["method"], params)
        return Response(json.dumps({"ok": True, "result": result}), media_type="application/json")

    async def download(request: Request) -> Response:
        return Response(photo_bytes(request.path_params["path"].rsplit("/", 1)[-1]), media_type="image/jpeg")

    async def events(_request: Request) -> StreamingResponse:
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        state.listeners.add(queue)

        async def lines():  # type: ignore[no-untyped-def]
            try:
                while True:
                    batch = [await queue.get()]
                    while not queue.empty():  # whatever arrived meanwhile goes in one write
                        batch.append(queue.get_nowait())
                    yield b"".join(batch)
            finally:
                state.listeners.discard(queue)

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    async def sent(request: Request) -> Response:
        since = float(request.query_params.get("since", 0))
        least = int(request.query_params.get("min_chat", 0))
        rows = [[t, chat] for t, chat in state.sent if t >= since and int(chat) >= least]
        return Response(json.dumps(rows), media_type="application/json")

    return Starlette(
        routes=[
            Route("/bot{token}/{method}", call, methods=["POST"]),
            Route("/file/bot{token}/{path:path}", download),
            Route("/bench/events", events),
            Route("/bench/sent", sent),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    config = uvicorn.Config(
        make_app(State()),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        backlog=4096,
        timeout_keep_alive=60,  # the workers' idle connections stay open (a close racing a request is a ReadError)
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
