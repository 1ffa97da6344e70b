"""Running the bot (``cdht run``): one event loop, owned by ``serve``, holds the database engine, each messenger
that has a token (Telegram's Application with its JobQueue, the Zalo bot) and, in webhook mode or with
PUBLIC_BASE_URL, the one web server for every webhook, the signed file links and /healthz, from start to a
clean stop on SIGINT/SIGTERM.

python-telegram-bot's run_polling/run_webhook start an event loop of their own, so anything made before them
in another loop (a pooled asyncpg connection from the schema check) failed the first update after every start.
Here everything is made, used and closed inside ``serve``'s loop (PTB's "manual startup" pattern).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import json
import logging
import signal
import socket
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.routing import BaseRoute
from telegram import Bot
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import Application

from bot import metrics
from bot.app import build_application
from bot.context import BotData
from bot.evidence_reader import EvidenceReader
from bot.file_links import FileLinks, keep_swept
from bot.inbox import replay
from bot.settings import Settings
from bot.web import build_web_app, health, telegram_webhook
from bot.zalo.client import ZaloClient, ZaloError, ZaloNetworkError, ZaloUnauthorized
from bot.zalo.outbox import run_dispatch
from bot.zalo.runtime import ZaloBot
from conversations.criteria import default_registry
from storage.db import make_sessions, open_database, pool_for
from storage.repo_units import check_unit_overrides

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
# python-telegram-bot's own default address (the token follows it), read from the library, not restated here.
TELEGRAM_API: str = inspect.signature(Bot.__init__).parameters["base_url"].default


class StartupError(Exception):
    """The bot cannot start for reasons the operator can fix; ``lines`` are the lines to show, one per problem."""

    def __init__(self, *lines: str) -> None:
        super().__init__("; ".join(lines))
        self.lines = list(lines)


def api_base(settings: Settings) -> str:
    """Where the bot reaches Telegram, without the token (which python-telegram-bot appends)."""
    return settings.telegram_api_base_url or TELEGRAM_API


async def serve(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Runs the bot until SIGINT/SIGTERM (or until ``stop`` is set, for a caller that owns the stopping): Telegram
    when BOT_TOKEN is set, Zalo when ZALO_BOT_TOKEN is set, both on one engine when both are."""
    with contextlib.ExitStack() as signals:
        if stop is None:
            stop = asyncio.Event()
            signals.enter_context(_stop_on_signals(stop))
        registry = default_registry()  # a broken file in the criteria folder: PackError, one line for the CLI
        # Reachable and migrated (SQLite: migrated here), or DatabaseUnavailable / SchemaNotReady for the CLI.
        pool = pool_for(settings.concurrent_updates)
        async with open_database(settings.database_url, pool_size=pool) as engine:
            sessions = make_sessions(engine)
            async with sessions() as session:
                # A unit whose override no loaded pack serves would fail its citizens: refuse to start instead.
                if problems := await check_unit_overrides(session=session, registry=registry):
                    raise StartupError(*problems)
            settings.evidence_dir.mkdir(parents=True, exist_ok=True)
            app = build_application(settings, sessions, registry=registry) if settings.bot_token else None
            zalo = None
            if settings.zalo_bot_token is not None:
                data = app.bot_data if app is not None else BotData(settings, sessions, registry)
                client = ZaloClient(settings.zalo_bot_token, base_url=settings.zalo_api_base_url)
                zalo = ZaloBot(client, data, concurrency=settings.concurrent_updates)
            # Signed file links (Zalo takes no uploads): one signer and server for the whole process.
            links = FileLinks(settings, sessions) if settings.public_base_url else None
            if zalo is not None:
                zalo.links = links
            await run(app, settings, engine, stop, zalo=zalo, links=links)


async def run(
    app: Application | None,
    settings: Settings,
    engine: AsyncEngine,
    stop: asyncio.Event,
    *,
    zalo: ZaloBot | None = None,
    links: FileLinks | None = None,
) -> None:
    """Reaches each messenger, handles what the inbox holds from before, then takes updates (polling, or one
    web server for every webhook) until ``stop`` is set; stops in the reverse order."""
    async with contextlib.AsyncExitStack() as stack:
        routes: list[BaseRoute] = []
        hooks: list[Callable[[], Awaitable[None]]] = []  # webhook registrations, once the server listens
        if app is not None:
            await _initialise(app, settings)
            stack.push_async_callback(_shutdown, app)
            await app.start()
            stack.push_async_callback(_stop, app)
            await replay(app)
            if settings.webhook_url:
                routes.append(_telegram_route(app, settings))
                hooks.append(lambda: _set_telegram_webhook(app, settings))
            else:
                await _poll(app, settings)
        if zalo is not None:
            stack.push_async_callback(zalo.close)
            await _reach_zalo(zalo, settings)
            await zalo.replay()
            if settings.zalo_webhook_url and settings.zalo_webhook_secret:
                url, secret = settings.zalo_webhook_url, settings.zalo_webhook_secret.get_secret_value()
                routes.append(zalo.webhook(urlsplit(url).path or "/", secret))
                hooks.append(lambda: _zalo_call(zalo.client.set_webhook(url, secret), settings))
            else:
                await _zalo_call(zalo.client.delete_webhook(), settings)  # getUpdates answers nothing while one is set
                polling = asyncio.create_task(_poll_zalo(zalo, stop), name="zalo polling")
                stack.push_async_callback(_cancel, polling)
                log.info("polling Zalo for updates")
            if settings.scheduler_enabled:
                # Zalo's outbox rows at Zalo's rate; planning here too when no Telegram JobQueue plans.
                sending = asyncio.create_task(
                    run_dispatch(zalo.client, zalo.data, stop, plan=app is None), name="zalo outbox"
                )
                stack.push_async_callback(_cancel, sending)
        # Files made for officers outlive their links by at most an hour, whatever serves (or served) them.
        sweeping = asyncio.create_task(keep_swept(settings.files_dir, stop), name="file links sweep")
        stack.push_async_callback(_cancel, sweeping)
        # Evidence is read in the background by every process (a file is claimed by one); off without Tesseract.
        reader = _start_reader(app, zalo, settings, stack, stop)
        if links is not None:  # served even when both messengers poll: Zalo fetches the files from here
            routes.append(links.route())
            where = f"{settings.webhook_listen}:{settings.webhook_port}"
            log.info("serving file links at %s/files/ from %s", links.base, where)
        settle_memory()
        if routes:
            status = (lambda: reader.status) if reader is not None else (lambda: "off")
            web = [health(engine, reader=status), metrics.route(make_sessions(engine), reader=status)]
            await _take_webhooks([*routes, *web], hooks, settings, stop)
        else:
            await stop.wait()


def settle_memory() -> None:
    """Moves what start-up built (modules, packs, catalogs, the ORM's mappings: ~200,000 objects) out of the
    garbage collector's sweeps. Each full sweep walked them all, ~90 ms with every update waiting behind it
    (bench/updates.py); what updates make is still collected as before."""
    gc.collect()
    gc.freeze()


def _start_reader(
    app: Application | None,
    zalo: ZaloBot | None,
    settings: Settings,
    stack: contextlib.AsyncExitStack,
    stop: asyncio.Event,
) -> EvidenceReader | None:
    data = app.bot_data if app is not None else zalo.data if zalo is not None else None
    if data is None:
        return None
    reader = EvidenceReader(settings, data.sessions, data.registry, clock=data.clock, wake=data.wake_dispatchers)
    reader.announce()
    if reader.on:
        reading = asyncio.create_task(reader.run(stop), name="evidence reader")
        stack.push_async_callback(_cancel, reading)
    return reader


async def _shutdown(app: Application) -> None:
    await app.shutdown()
    if app.post_shutdown:
        await app.post_shutdown(app)


async def _stop(app: Application) -> None:
    if app.updater is not None and app.updater.running:
        await app.updater.stop()
    await app.stop()  # handles the updates already queued, waits for running jobs
    if app.post_stop:
        await app.post_stop(app)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


async def _initialise(app: Application, settings: Settings) -> None:
    try:
        await app.initialize()  # getMe: the first call to Telegram
        if app.post_init:
            await app.post_init(app)
    except TelegramError as exc:
        await app.shutdown()
        raise _explain(exc, settings) from None


def _explain(exc: TelegramError, settings: Settings) -> StartupError:
    """One line for a failure to talk to Telegram at start; python-telegram-bot's own text may hold the token."""
    if isinstance(exc, InvalidToken):
        return StartupError("the bot token was rejected by Telegram (check BOT_TOKEN)")
    if isinstance(exc, NetworkError):
        return StartupError(f"cannot reach Telegram at {api_base(settings)}")
    return StartupError(f"Telegram refused to start the bot ({type(exc).__name__})")


async def _poll(app: Application, settings: Settings) -> None:
    assert app.updater is not None
    try:
        await app.updater.start_polling(allowed_updates=ALLOWED_UPDATES, error_callback=_polling_failed)
    except TelegramError as exc:
        raise _explain(exc, settings) from None
    log.info("polling Telegram for updates")


def _polling_failed(exc: TelegramError) -> None:
    """One line per failed round (Telegram or the inbox away); python-telegram-bot retries with a back-off."""
    log.warning("getting updates failed, trying again: %s", exc)


async def _reach_zalo(zalo: ZaloBot, settings: Settings) -> None:
    """getMe: the first call to Zalo; a refused token or an unreachable address is the operator's one line."""
    await _zalo_call(zalo.client.get_me(), settings)


async def _zalo_call(call: Awaitable[object], settings: Settings) -> None:
    try:
        await call
    except ZaloUnauthorized:
        raise StartupError("the bot token was rejected by Zalo (check ZALO_BOT_TOKEN)") from None
    except ZaloNetworkError:
        raise StartupError(f"cannot reach Zalo at {settings.zalo_api_base_url}") from None
    except ZaloError as exc:
        raise StartupError(f"Zalo refused to start the bot ({exc.code}: {exc.description})") from None


async def _poll_zalo(zalo: ZaloBot, stop: asyncio.Event) -> None:
    try:
        await zalo.poll(stop)
    except ZaloUnauthorized:
        log.error("Zalo no longer accepts the bot token (check ZALO_BOT_TOKEN): Zalo polling stopped")


def _telegram_route(app: Application, settings: Settings) -> BaseRoute:
    assert settings.webhook_url is not None and settings.webhook_secret is not None
    path = urlsplit(settings.webhook_url).path or "/"
    return telegram_webhook(path, settings.webhook_secret.get_secret_value(), app)


async def _set_telegram_webhook(app: Application, settings: Settings) -> None:
    assert settings.webhook_url is not None and settings.webhook_secret is not None
    secret = settings.webhook_secret.get_secret_value()
    try:
        await app.bot.set_webhook(settings.webhook_url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)
    except TelegramError as exc:
        raise _explain(exc, settings) from None


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: ``serve`` owns SIGINT/SIGTERM and stops everything in order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _take_webhooks(
    routes: list[BaseRoute],
    hooks: list[Callable[[], Awaitable[None]]],
    settings: Settings,
    stop: asyncio.Event,
) -> None:
    """One web server for every webhook and /healthz; each messenger is told its address once it listens."""
    web = build_web_app(routes)
    sock = _listen(settings.webhook_listen, settings.webhook_port)
    server = _Server(uvicorn.Config(web, log_config=None, access_log=False, lifespan="off"))
    serving = asyncio.create_task(server.serve(sockets=[sock]), name="web server")
    try:
        for register in hooks:
            await register()
        log.info("listening on %s:%s", settings.webhook_listen, settings.webhook_port)
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if serving.done() and serving.exception() is not None:
            log.error("the web server stopped: %s", type(serving.exception()).__name__)
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await serving
        sock.close()


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
        message = f"cannot listen on {host}:{port} ({reason}): check WEBHOOK_LISTEN and WEBHOOK_PORT"
        raise StartupError(message) from None


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or not this platform
            pass
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


# --------------------------------------------------------------------------- logging


class RedactSecrets(logging.Filter):
    """Replaces the bot token (and other secrets) in every record, its traceback included: a second guard
    behind keeping httpx quiet, whose request URLs hold the token."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "<redacted>")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self.clean(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.clean(record.exc_text)
        if record.stack_info:
            record.stack_info = self.clean(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """LOG_FORMAT=json: one JSON object a line (time, level, logger, message; the traceback when there is one)
    for a log collector. Only these fields, never a record's extras, so nothing a caller attached rides along.
    The traceback is the record's ``exc_text``, which RedactSecrets has cleaned before formatting (the
    python-json-logger package formats ``exc_info`` afresh, which would bring the token back)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)  # newlines inside stay escaped: one line a record


def secrets_of(settings: Settings) -> list[str]:
    """Each messenger's token and its secret half on its own (it may appear URL-encoded or split), and the
    webhook and file link secrets."""
    out = []
    for secret in (settings.bot_token, settings.zalo_bot_token):
        if secret is not None:
            token = secret.get_secret_value()
            out += [token, token.partition(":")[2]]
    for secret in (settings.webhook_secret, settings.zalo_webhook_secret, settings.file_link_secret):
        if secret is not None:
            out.append(secret.get_secret_value())
    return [s for s in out if s]


@contextlib.contextmanager
def run_logging(settings: Settings) -> Iterator[None]:
    """LOG_LEVEL for the run; chatty libraries at WARNING unless it is DEBUG; every handler redacts the
    secrets; LOG_FORMAT chooses text or JSON lines for the handler this sets up (an in-process caller's own
    handlers keep their format). Everything is put back at the end, so a test keeps its own logging."""
    root = logging.getLogger()
    level = logging.getLevelName(settings.log_level)
    quiet = max(level, logging.WARNING)
    levels = {"": level, "httpx": quiet, "httpcore": quiet}  # httpx logs request URLs, which hold the token
    if level > logging.DEBUG:  # the scheduler narrates every job run, alembic and uvicorn every start
        levels |= {"apscheduler": quiet, "alembic": quiet, "uvicorn": quiet}
    before = {name: logging.getLogger(name).level for name in levels}
    own = None
    if not root.handlers:
        own = logging.StreamHandler()
        text = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        own.setFormatter(JsonFormatter() if settings.log_format == "json" else text)
        root.addHandler(own)
    redact = RedactSecrets(secrets_of(settings))
    handlers = list(root.handlers)
    for handler in handlers:
        handler.addFilter(redact)
    for name, value in levels.items():
        logging.getLogger(name).setLevel(value)
    try:
        yield
    finally:
        for name, value in before.items():
            logging.getLogger(name).setLevel(value)
        for handler in handlers:
            handler.removeFilter(redact)
        if own is not None:
            root.removeHandler(own)
