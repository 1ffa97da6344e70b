"""The Zalo adapter at work: takes updates (long polling, or the webhook route), records each in the inbox
before it is handled, turns it into a call of the messenger-neutral citizen handlers, and sends the reply
plan after their transaction has committed: numbered choices, messages of at most 2000 characters.

Updates of one person are handled one at a time in arrival order; different people's run concurrently,
at most ``CONCURRENT_UPDATES`` at once. With several workers, an update also waits while an update of its sender
recorded before it is pending at another worker (bot.lanes.after_earlier).
A typed message is a command (``/status`` or its plain Vietnamese word, ``trạng thái``), else an answer to the
screen the person is on now (bot.handlers.citizen.text).
A photo is evidence; a file, voice note or location cannot reach a bot on Zalo, so the person is asked to
photograph the paper.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any, Protocol

import httpx
from babel.numbers import format_decimal
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot import evidence as ev
from bot import metrics
from bot.context import BotData
from bot.handlers import citizen, officer_desk, officer_roles
from bot.lanes import Lanes, after_earlier
from bot.message_split import split_message
from bot.replies import EvidenceSet, OutFile, Plan, StoredFile
from bot.sender import Sender
from bot.zalo import draw, photos
from bot.zalo.client import ZaloClient, ZaloError, ZaloQuotaExceeded, ZaloUnauthorized
from bot.zalo.updates import EventKind, ZaloUpdate, parse_update
from conversations.typed_choice import fold
from locales import SUPPORTED, gettext
from storage import repo_inbox
from storage.db import once_more_if_lost, unit_of_work
from storage.inbox_writer import InboxWriter

log = logging.getLogger(__name__)

CHANNEL = "zalo"
SECRET_HEADER = "X-Bot-Api-Secret-Token"
POLL_SECONDS = 30
COMMANDS = ("start", "status", "help", "language", "cancel", "mydata", "deleteme", "reminders")
# Officer commands typed as words take their arguments after the word ("thống kê X01 2026").
OFFICER_COMMANDS = (
    "review",
    "confirmclean",
    "recognise",
    "tally",
    "export",
    "chart",
    "invite",
    "roles",
    "grant",
    "broadcast",
)
WITH_ARGUMENTS = frozenset({"reminders", *OFFICER_COMMANDS})


def command_of(text: str) -> tuple[str, list[str]] | None:
    """``/status`` or a command's plain word in either language (``trạng thái``), with its arguments."""
    stripped = text.strip()
    if stripped.startswith("/"):
        name, *args = stripped[1:].split()
        name = name.split("@", 1)[0].lower()
        return (name, args) if name else None
    folded = fold(stripped)
    for name, word in _command_words():
        if folded == word:
            return name, []
        if folded.startswith(word + " ") and name in WITH_ARGUMENTS:  # "nhắc nhở tắt", "thống kê X01 2026"
            return name, _arguments(stripped, len(word.split()))
    return None


def _arguments(text: str, words: int) -> list[str]:
    """The words typed after a command's ``words`` words, as typed (a unit code keeps its case)."""
    return text.split()[words:]


@functools.cache
def _command_words() -> tuple[tuple[str, str], ...]:
    """(command, folded word) for every plain word of every command in every language, read once; longest
    first, so "xuất báo cáo" is not read as "xuất" with arguments."""
    found = {
        (name, fold(word))
        for name in (*COMMANDS, *OFFICER_COMMANDS)
        for locale in SUPPORTED
        for word in gettext(f"typed.command.{name}", locale).split("|")
    }
    return tuple(sorted(found, key=lambda pair: (-len(pair[1]), pair)))


class Links(Protocol):
    """Signed, expiring addresses of files for one officer (bot.file_links)."""

    def file_url(self, file: OutFile, *, officer_id: int) -> str: ...

    def evidence_url(self, file: StoredFile, *, officer_id: int) -> str: ...


@dataclass
class ZaloBot:
    """One Zalo bot serving the shared engine (``data``: sessions, settings, packs, clock)."""

    client: ZaloClient
    data: BotData
    concurrency: int = 8
    http: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=30))  # photo downloads
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _lanes: Lanes | None = None
    _inbox: InboxWriter | None = None  # made on the first update, from ``data``'s sessions
    links: Links | None = None  # signed file links (PUBLIC_BASE_URL set): Zalo fetches files by URL

    # ------------------------------------------------------------------ taking updates

    async def receive(self, raw: dict[str, Any]) -> bool:
        """Records one raw update in the inbox and starts handling it; False when it was already known."""
        update = parse_update(raw)
        if update is None or update.user_id is None or update.message_id is None:
            log.info("ignored a Zalo update without sender or message id")
            return False
        if self._inbox is None:
            self._inbox = InboxWriter(self.data.sessions, CHANNEL)
        if not await self._inbox.record(update.message_id, raw, update.user_id):
            return False
        self._spawn(update)
        return True

    def _spawn(self, update: ZaloUpdate) -> None:
        task = asyncio.get_running_loop().create_task(self._in_lane(update), name=f"zalo:{update.message_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _in_lane(self, update: ZaloUpdate) -> None:
        """One person's updates one at a time, in arrival order; ``concurrency`` people's at once. With several
        workers, each after the person's updates recorded before it, wherever they are handled."""
        assert update.user_id is not None and update.message_id is not None
        if self._lanes is None:
            self._lanes = Lanes(self.concurrency)
        first = None
        if self.data.settings.workers > 1:  # one worker's lanes order everything: no look in the inbox
            first = functools.partial(after_earlier, self.data.sessions, CHANNEL, update.user_id, update.message_id)
        async with self._lanes.turn(update.user_id, first):
            await self.handle(update)

    async def close(self) -> None:
        """Finishes the updates being handled, then closes the connections."""
        await self.drain()
        await self.http.aclose()
        await self.client.aclose()

    async def drain(self) -> None:
        """Waits until every update taken so far has been handled."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def replay(self) -> int:
        """Handles, in arrival order, the updates a stopped process had recorded but not handled."""
        # With several workers, only what has been pending long enough that no live worker is handling it.
        since = _now() - repo_inbox.REPLAY_AFTER if self.data.settings.workers > 1 else None
        async with unit_of_work(self.data.sessions) as session:
            rows = await repo_inbox.list_pending(session=session, channel=CHANNEL, received_before=since)
        for row in rows:
            update = parse_update(row.payload)
            if update is not None and update.user_id is not None:
                self._spawn(update)
        await self.drain()
        return len(rows)

    async def poll(self, stop: asyncio.Event) -> None:
        """Long-polls getUpdates (one update an answer) until ``stop`` is set; backs off when Zalo is away."""
        pause = 1.0
        while not stop.is_set():
            try:
                raw = await self.client.get_updates(timeout=POLL_SECONDS)
            except ZaloUnauthorized:
                raise
            except ZaloError as exc:
                log.warning("getting Zalo updates failed, trying again: %s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)
                pause = min(pause * 2, 60)
                continue
            pause = 1.0
            if raw is not None:
                await self.receive(raw)

    def webhook(self, path: str, secret: str) -> Route:
        """POST ``path``: Zalo's deliveries, proven by the secret header; answered 200 once in the inbox."""
        expected = secret.encode()

        async def deliver(request: Request) -> Response:
            given = request.headers.get(SECRET_HEADER, "").encode()
            if not hmac.compare_digest(given, expected):
                return Response(status_code=403)
            try:
                raw = json.loads(await request.body())
            except ValueError:
                return Response(status_code=400)
            if not isinstance(raw, dict):
                return Response(status_code=400)
            try:
                await self.receive(raw)
            except Exception as exc:  # not recorded: no 200, so Zalo delivers it again
                log.error("could not record a Zalo update: %s", type(exc).__name__)
                return Response(status_code=503)
            return Response(status_code=200)

        return Route(path, deliver, methods=["POST"])

    # ------------------------------------------------------------------ handling one update

    async def handle(self, update: ZaloUpdate) -> None:
        assert update.user_id is not None and update.message_id is not None
        who = Sender(
            channel=CHANNEL,
            external_id=update.user_id,
            chat_id=update.chat_id or update.user_id,
            display_name=update.display_name,
            language_code=None,  # Zalo does not say: the default locale (Vietnamese) until /language
            buttons=False,
        )
        handling = repo_inbox.Handling(CHANNEL, update.message_id, recorded=True)  # taken in or replayed: both record
        token = repo_inbox.current.set(handling)
        started, failed = time.perf_counter(), False
        metrics.UPDATES_RUNNING.labels(CHANNEL).inc()
        try:
            if update.chat_type not in (None, "PRIVATE"):
                return  # groups are not served: the assessment is personal
            plan = await once_more_if_lost(lambda: self._dispatch(update, who))  # nothing sent before it ends
            await self.send(who.chat_id, plan)
        except repo_inbox.AlreadyHandled:  # another worker handled it meanwhile (and answered)
            log.info("Zalo update %s handled by another worker meanwhile", update.message_id)
        except Exception:
            failed = True
            log.exception("a Zalo update failed")
        finally:
            metrics.UPDATES_RUNNING.labels(CHANNEL).dec()
            metrics.observe_update(CHANNEL, update.kind.value, time.perf_counter() - started, failed=failed)
            repo_inbox.current.reset(token)
            if not handling.done:
                with contextlib.suppress(Exception):
                    async with unit_of_work(self.data.sessions) as session:
                        await repo_inbox.mark_done(session=session, channel=CHANNEL, key=update.message_id, now=_now())

    async def _dispatch(self, update: ZaloUpdate, who: Sender) -> Plan:
        data = self.data
        match update.kind:
            case EventKind.TEXT:
                text = update.text or ""
                role_pass = officer_roles.typed_pass(text)  # no deep links on Zalo: "/start role-…" or the pass typed
                if role_pass is not None:
                    return await officer_roles.redeem(data, who, role_pass)
                command = command_of(text)
                # "/tally" or a command's bare word always commands; a word with more after it ("Mời bà con
                # họp…") is the text of a step the officer owes, if one is owed (citizen.text sees that in the
                # person it loads, and runs the command otherwise).
                if command is not None and (text.lstrip().startswith("/") or not command[1]):
                    return await _command(data, who, *command)
                if command is not None:
                    name, args = command
                    return await citizen.text(data, who, text, instead=lambda: _command(data, who, name, args))
                return await citizen.text(data, who, text)
            case EventKind.IMAGE if update.photo_url:
                item = ev.Candidate(
                    kind="photo",
                    file_id=update.photo_url,
                    file_unique_id=update.message_id or update.photo_url,
                    size=None,
                    mime_type="image/jpeg",
                    file_name=None,
                    media_group_id=None,
                )
                url = update.photo_url

                async def fetch(root: Path, where: Path) -> ev.Fetched:
                    return await photos.fetch(self.http, url, item, root, where)

                return await citizen.evidence(data, who, item, fetch)
            case EventKind.VOICE | EventKind.UNSUPPORTED:
                return await citizen.other_media(data, who, photos_only=True)
            case _:
                return await citizen.other_media(data, who)

    # ------------------------------------------------------------------ sending

    async def send(self, chat_id: str, plan: Plan) -> None:
        """Sends the plan: evidence as photos by signed link, the screens with numbered choices, then files
        (an image as a photo, anything else as a link in text). Zalo takes no uploads: without
        PUBLIC_BASE_URL (``links`` None) the officer is told files need it. A pressed button's toast has no
        place on Zalo: it goes as a line of its own."""
        if plan.toast:
            await self._send_text(chat_id, plan.toast)
        linkable = self.links is not None and plan.viewer_id is not None
        for found in plan.evidence if linkable else ():
            await self._send_evidence(chat_id, plan, found)
        for screen in plan.screens:
            for text in draw.messages(screen, plan.locale):
                await self._send_text(chat_id, text)
        for file in plan.files if linkable else ():
            await self._send_file(chat_id, plan, file)
        if not linkable and (plan.evidence or plan.files):  # once a reply, however many files it held
            await self._send_text(chat_id, gettext("officer.zalo.files_need_public_url", plan.locale))
        if plan.notices_owed:
            self.data.wake_dispatchers()

    async def _send_evidence(self, chat_id: str, plan: Plan, found: EvidenceSet) -> None:
        assert self.links is not None and plan.viewer_id is not None
        for i, file in enumerate(found.files):
            url = self.links.evidence_url(file, officer_id=plan.viewer_id)
            caption = found.caption if i == 0 else None
            if file.kind == "photo":
                await self._send_photo(chat_id, url, caption)
            else:
                await self._send_text(chat_id, _file_line(plan.locale, file.name or "", None, url))

    async def _send_file(self, chat_id: str, plan: Plan, file: OutFile) -> None:
        assert self.links is not None and plan.viewer_id is not None
        # A workbook may be megabytes: written to FILES_DIR off the event loop.
        url = await asyncio.to_thread(self.links.file_url, file, officer_id=plan.viewer_id)
        if file.is_image:
            await self._send_photo(chat_id, url, file.caption or None)
            return
        for text in split_message(
            "\n".join(t for t in (file.caption, _file_line(plan.locale, file.name, len(file.content), url)) if t),
            draw.TEXT_LIMIT,
        ):
            await self._send_text(chat_id, text)

    async def _send_photo(self, chat_id: str, url: str, caption: str | None) -> None:
        try:
            await self.client.send_photo(chat_id, url, caption)
        except ZaloQuotaExceeded:
            await asyncio.sleep(1.0)
            await self.client.send_photo(chat_id, url, caption)

    async def _send_text(self, chat_id: str, text: str) -> None:
        for attempt in range(3):
            try:
                await self.client.send_message(chat_id, text, parse_mode="html")
                return
            except ZaloQuotaExceeded:
                metrics.RATE_LIMITED.labels(CHANNEL).inc()
                await asyncio.sleep(1.0 * (attempt + 1))  # over Zalo's quota: slow down and try again
        log.warning("a Zalo reply was not sent: over the quota three times")


async def _command(data: BotData, who: Sender, name: str, args: list[str]) -> Plan:
    if name in officer_desk.COMMANDS:
        return await officer_desk.command(data, who, name, args)
    # An officer's step owed is dropped by the citizen's /cancel, and the choices remembered for their last
    # screen by the citizen's commands (on a citizen's screen now: numbers are for it), each from the person
    # it loads: a citizen pays nothing for either.
    handlers: dict[str, Callable[[], Awaitable[Plan]]] = {
        "start": lambda: citizen.start(data, who, args),
        "status": lambda: citizen.status(data, who),
        "help": lambda: _help(data, who),
        "language": lambda: citizen.language(data, who),
        "cancel": lambda: citizen.cancel(data, who),
        "mydata": lambda: citizen.my_data(data, who),
        "deleteme": lambda: citizen.delete_me(data, who),
        "reminders": lambda: citizen.reminders(data, who, args[0] if args else ""),
    }
    run = handlers.get(name)
    if run is None:
        return await citizen.unknown_command(data, who)
    return await run()


async def _help(data: BotData, who: Sender) -> Plan:
    await officer_desk.forget_menu(data, who)  # /help reads the person without the citizen's turn
    return await citizen.help_command(data, who)


def _file_line(locale: str, name: str, size: int | None, url: str) -> str:
    shown = format_decimal(round(size / 1024, 1), locale=locale) + " KB" if size is not None else "—"
    return gettext("officer.zalo.file_link", locale, name=escape(name), size=shown, url=url)


def _now() -> datetime:
    return datetime.now(UTC)
