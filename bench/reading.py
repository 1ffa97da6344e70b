"""How many characters a citizen reads over a whole journey (/start or "Xin chào", consent, name, unit, group,
ten indicators each at 10 points with one photo, the summary, submitting), on Telegram and on Zalo, in
Vietnamese and English: every message the bot sends and every edit of one, with its buttons on Telegram and its
numbered choices on Zalo, tags dropped and runs of blanks counted as one space (as tests/bot/test_reading_load.py
counts). Prints messages, characters read and the longest message per messenger and language. With --review,
also what a reviewer receives on Telegram when three citizens of theirs handed in ten photos each and they type
/review twice, then confirm the three (issue 10 item 13): messages, and files among them.

Not a test. Reuses only what the test harness had before issue 10's screens, so it runs at older commits too:

    .venv/bin/python bench/reading.py
    git worktree add /tmp/before 44fae7c^ && cd /tmp/before && PYTHONPATH=. /work/main/.venv/bin/python \\
        /work/main/bench/reading.py          # the same journey on the screens before issue 10
"""

from __future__ import annotations

import argparse
import asyncio
import html
import io
import json
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path.cwd()))  # the checkout being measured (run from its root)

from PIL import Image

from storage import repo_people as rp
from storage.db import make_engine, make_sessions, unit_of_work, upgrade
from tests.bot.harness import Harness, User
from tests.fakes.zalo_api import FakeZaloApi, image_update, text_update

try:  # where the Zalo test bot is built moved with issue 10
    from tests.zalo.people import make_bot
except ImportError:
    from tests.zalo.test_citizen_journey import make_bot  # type: ignore[no-redef]

_TAG = re.compile(r"<[^>]+>")
TELEGRAM_WORDS = {
    "vi": ("Tôi đồng ý", "Người dân trong cộng đồng", "10 điểm", "Xong", "Nộp bản tự đánh giá", "Nộp"),
    "en": ("I agree", "Community residents", "10 points", "Done", "Submit the self-assessment", "Submit"),
}
ZALO_WORDS = {
    "vi": (("Xin chào", "đồng ý"), "xong", "nộp"),
    "en": (("Xin chào", "English", "I agree"), "done", "submit"),
}


def reading(text: str) -> int:
    """Characters to read: tags dropped, entities as their characters, runs of blanks as one space."""
    return len(" ".join(html.unescape(_TAG.sub("", text)).split()))


@dataclass
class Figure:
    messenger: str
    locale: str
    read: list[int]

    def line(self) -> str:
        read, longest = sum(self.read), max(self.read)
        return f"{self.messenger:8} {self.locale}  messages {len(self.read):3}  read {read:6,}  longest {longest:5,}"


def _buttons(markup: Any) -> list[dict[str, Any]]:
    data = json.loads(markup) if isinstance(markup, str) else (markup or {})
    return [b for row in data.get("inline_keyboard", []) for b in row]


class Reader(User):
    """A Telegram user pressing the newest button with a label; what they read is every send and edit."""

    def shown(self) -> Iterator[tuple[int, list[dict[str, Any]]]]:
        """(message id, buttons) of each call that drew buttons, newest first."""
        for call in reversed(self.h.api.calls):
            p = call.params
            if str(p.get("chat_id", "")) != str(self.id) or "reply_markup" not in p:
                continue
            result = getattr(call, "result", None)  # the fake keeps it since issue 10
            mid = p.get("message_id") or (result or {}).get("message_id", 1)
            yield int(mid), _buttons(p["reply_markup"])

    async def press_label(self, contains: str) -> str:
        for mid, buttons in self.shown():
            exact = [b for b in buttons if b["text"] == contains]
            for b in exact or [b for b in buttons if contains in b["text"]]:
                await self.h.feed(
                    {
                        "callback_query": {
                            "id": f"q{mid}{b['callback_data']}",
                            "from": self._from(),
                            "chat_instance": "ci",
                            "data": b["callback_data"],
                            "message": {
                                "message_id": mid,
                                "date": 0,
                                "chat": {"id": self.id, "type": "private"},
                                "text": "(buttons)",
                            },
                        }
                    }
                )
                return b["callback_data"]
        raise RuntimeError(f"no button {contains!r}")

    def read(self) -> list[int]:
        out = []
        for call in self.h.api.calls:
            p = call.params
            if str(p.get("chat_id", "")) == str(self.id) and call.method in ("sendMessage", "editMessageText"):
                labels = " ".join(b["text"] for b in _buttons(p.get("reply_markup")))
                out.append(reading(p.get("text", "") + ("\n" + labels if labels else "")))
        return out


async def telegram(sessions: Any, folder: Path, locale: str) -> Figure:
    agree, group, level, done, submit, confirm = TELEGRAM_WORDS[locale]
    bot = await Harness.start(sessions, folder / f"tg-{locale}")
    try:
        person = Reader(bot, 6001 if locale == "vi" else 6002, language_code=locale)
        await person.say("/start THON1")
        await person.press_label(agree)
        await person.say("Nguyễn Thị Lan")
        await person.press_label(group)
        for n in range(1, 11):
            await person.press_label(level)
            await person.photo(f"evidence {n}".encode())
            await person.press_label(done)
        await person.press_label(submit)
        await person.press_label(confirm)
        texts = [c.params.get("text", "") for c in bot.api.calls if c.method == "sendMessage"]
        if "100/100" not in texts[-1] and "100/100" not in " ".join(texts[-3:]):
            raise RuntimeError("the Telegram journey did not reach the result")
        return Figure("telegram", locale, person.read())
    finally:
        await bot.stop()


def _jpeg(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (seed % 256, 120, 200)).save(buf, "JPEG")
    return buf.getvalue()


async def zalo(sessions: Any, folder: Path, locale: str) -> Figure:
    greeting, done, submit = ZALO_WORDS[locale]
    user = "z-vi" if locale == "vi" else "z-en"
    async with FakeZaloApi() as api:
        bot = make_bot(api, sessions, folder / f"zalo-{locale}")

        async def send(update: dict[str, Any]) -> None:
            await bot.receive(update)
            await bot.drain()

        for typed in (*greeting, "Nguyễn Văn An", "THON1", "1"):
            await send(text_update(typed, user_id=user))
        for n in range(1, 11):
            await send(text_update("1", user_id=user))  # the first level: 10 points
            await send(image_update(api.add_photo(_jpeg(n)), user_id=user))
            await send(text_update(done, user_id=user))
        await send(text_update(submit, user_id=user))
        await send(text_update("1", user_id=user))
        texts = api.texts(user)
        if "100/100" not in "".join(texts[-2:]):
            raise RuntimeError("the Zalo journey did not reach the result")
        if locale == "en":  # what they read in their language: from "Language set to English." on
            texts = texts[next(i for i, t in enumerate(texts) if "Language set to English" in t) + 1 :]
        return Figure("zalo", locale, [reading(t) for t in texts])


async def review_session(sessions: Any, folder: Path) -> str:
    """The reviewer's messages over /review, /review and three confirms, on a database of its own (XA1)."""
    from tests.bot.officer_helpers import give_role, press, register, seed_commune, submit_all

    await seed_commune(sessions)
    bot = await Harness.start(sessions, folder / "review")
    try:
        for i, name in enumerate(("Nguyễn Thị Lan", "Trần Văn Bình", "Lê Thị Cúc")):
            citizen = User(bot, 1001 + i)
            await register(citizen, "THON1", name)
            await submit_all(citizen, 10)
        await give_role(sessions, 600, "reviewer", "XA1")
        reviewer = User(bot, 600)
        seen = len(bot.api.calls)
        await reviewer.say("/review")
        await reviewer.say("/review")
        for _ in range(3):
            await press(reviewer, "Xác nhận")
        sent = [
            c for c in bot.api.calls[seen:] if str(c.params.get("chat_id")) == "600" and c.method.startswith("send")
        ]
        files = 0
        for call in sent:
            if call.method == "sendMediaGroup":
                media = call.params["media"]
                files += len(json.loads(media) if isinstance(media, str) else media)
            elif call.method in ("sendPhoto", "sendDocument"):
                files += 1
        return f"reviewer messages {len(sent)}  files {files}"
    finally:
        await bot.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", action="store_true", help="print each message's character count too")
    parser.add_argument("--review", action="store_true", help="also count the reviewer's messages (item 13)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="cdht-reading-"))
    engine = make_engine(f"sqlite:///{folder / 'reading.db'}")
    await upgrade(engine)
    sessions = make_sessions(engine)
    async with unit_of_work(sessions) as s:
        await rp.add_unit(session=s, code="THON1", name="Thôn Bình Vọng")
    try:
        for run in (telegram, zalo):
            for locale in ("vi", "en"):
                figure = await run(sessions, folder, locale)
                print(figure.line())
                if args.show:
                    print("   ", figure.read)
        if args.review:
            review_engine = make_engine(f"sqlite:///{folder / 'review.db'}")
            await upgrade(review_engine)
            try:
                print(await review_session(make_sessions(review_engine), folder))
            finally:
                await review_engine.dispose()
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
