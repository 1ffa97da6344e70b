"""The composition root: builds the python-telegram-bot Application with every handler, in one ordered list."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from telegram import BotCommand
from telegram.ext import (
    Application,
    BaseHandler,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest

from bot.context import BotData, Context, _utcnow
from bot.evidence import schedule_sweep as schedule_evidence_sweep
from bot.handlers import officers, reminders
from bot.handlers.errors import on_error
from bot.handlers.officer_help import CITIZEN_COMMANDS  # the default menu; role holders' chats add theirs
from bot.inbox import InboxApplication, InboxQueue, in_order, schedule_pruning
from bot.lanes import PersonOrderedProcessor
from bot.reminders import dispatch_soon
from bot.reminders import rate_limiter as reminder_rate_limiter
from bot.reminders import schedule as schedule_reminders
from bot.settings import Settings
from bot.telegram import citizen
from bot.telegram import officers as telegram_officers
from conversations.criteria import Registry, default_registry
from locales import gettext
from storage.db import Sessions

OTHER_MEDIA = (
    filters.Sticker.ALL
    | filters.VOICE
    | filters.AUDIO
    | filters.VIDEO
    | filters.VIDEO_NOTE
    | filters.LOCATION
    | filters.CONTACT
    | filters.ANIMATION
    | filters.POLL
    | filters.Dice.ALL
    | filters.VENUE
)


def handlers() -> list[BaseHandler]:
    """Every handler, in the order they are tried; the first that matches an update takes it."""
    private = filters.ChatType.PRIVATE
    return [
        CommandHandler("start", citizen.start, filters=private),
        CommandHandler("help", citizen.help_command, filters=private),
        CommandHandler("status", citizen.status, filters=private),
        CommandHandler("cancel", citizen.cancel, filters=private),
        CommandHandler("language", citizen.language, filters=private),
        CommandHandler("mydata", citizen.my_data, filters=private),
        CommandHandler("deleteme", citizen.delete_me, filters=private),
        # Officer commands and their "o|…" buttons, before the citizen's catch-all button handler.
        *officers.handlers(),
        # /tally /export /chart (bot.handlers.reports, through the officer desk)
        CommandHandler("tally", telegram_officers.command("tally"), filters=private),
        CommandHandler("export", telegram_officers.command("export"), filters=private),
        CommandHandler("chart", telegram_officers.command("chart"), filters=private),
        *reminders.handlers(),  # /reminders /broadcast and the broadcast's "bc|…" buttons
        CallbackQueryHandler(citizen.button),
        ChatMemberHandler(citizen.membership, ChatMemberHandler.MY_CHAT_MEMBER),
        # Files before text: a captioned photo is evidence, not text.
        MessageHandler(private & (filters.PHOTO | filters.Document.ALL), citizen.evidence),
        MessageHandler(private & OTHER_MEDIA, citizen.other_media),
        # Any command not matched above: known to nobody.
        MessageHandler(private & filters.COMMAND, citizen.unknown_command),
        MessageHandler(private & filters.TEXT, citizen.text),
    ]


def build_application(
    settings: Settings,
    sessions: Sessions,
    *,
    registry: Registry | None = None,
    request: BaseRequest | None = None,
    clock: Callable[[], datetime] = _utcnow,
    processor: PersonOrderedProcessor | None = None,
) -> Application:
    """The Application for ``settings``; ``request`` lets tests put a fake Bot API behind the real bot, and
    ``processor`` a benchmark time the updates."""
    assert settings.bot_token is not None, "BOT_TOKEN is required"
    builder = (
        Application.builder()
        .application_class(InboxApplication)
        .update_queue(InboxQueue(sessions))  # every update is in the inbox before it is handled: bot/inbox.py
        .token(settings.bot_token.get_secret_value())
        .defaults(Defaults(tzinfo=settings.zone))
        .post_init(_post_init)
        # Different people's updates at once, each person's in order (bot/lanes.py), across workers too.
        .concurrent_updates(processor or _processor(settings, sessions))
    )
    if settings.telegram_api_base_url:
        builder = builder.base_url(settings.telegram_api_base_url)
    if settings.telegram_file_base_url:
        builder = builder.base_file_url(settings.telegram_file_base_url)
    data = BotData(settings=settings, sessions=sessions, registry=registry or default_registry(), clock=clock)
    if settings.rate_limit:  # smoothed, and shared by every worker when REDIS_URL is set: see bot/reminders.py
        builder = builder.rate_limiter(reminder_rate_limiter(settings, data.shared_rate()))
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    builder = builder.context_types(ContextTypes(context=Context, bot_data=lambda: data))
    app = builder.build()
    data.telegram_username = lambda: app.bot.username  # known once initialised (getMe): for t.me deep links
    app.add_handlers(handlers())
    schedule_reminders(app)  # planning and dispatch jobs, unless SCHEDULER_ENABLED is off
    data.wakers.append(lambda: dispatch_soon(app))
    schedule_evidence_sweep(app)  # daily: files no evidence row points to, likewise
    schedule_pruning(app)  # handled updates leave the inbox after a while
    app.add_error_handler(on_error)
    return app


def _processor(settings: Settings, sessions: Sessions) -> PersonOrderedProcessor:
    """One worker orders each person's updates in its lanes alone; several also look in the shared inbox."""
    ordered = in_order(sessions) if settings.workers > 1 else None
    return PersonOrderedProcessor(settings.concurrent_updates, in_order=ordered)


async def _post_init(app: Application) -> None:
    """Publishes the command menu in both languages."""
    for locale in ("vi", "en"):
        await app.bot.set_my_commands(
            [BotCommand(c, gettext(f"command.{c}", locale)) for c in CITIZEN_COMMANDS],
            language_code=None if locale == "vi" else locale,
        )
