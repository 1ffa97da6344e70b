"""The last resort: log what failed (no personal data, no token), then tell the person what to do."""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError
from telegram import Update
from telegram.error import Forbidden, NetworkError

from bot.context import Context
from bot.render import Renderer
from locales import negotiate
from storage.repo_inbox import AlreadyHandled

log = logging.getLogger(__name__)


async def on_error(update: object, context: Context) -> None:
    """Logs the failure by type and place, then asks the person to try again; their saved work is intact."""
    error = context.error
    kind = type(error).__name__ if error else "unknown"
    if isinstance(error, Forbidden):
        log.info("user blocked the bot")
        return
    if isinstance(error, AlreadyHandled):  # another worker handled this update: it has answered already
        log.info("update handled by another worker meanwhile: %s", error)
        return
    log.error("update failed: %s", kind, exc_info=(type(error), error, error.__traceback__) if error else None)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    user = update.effective_user
    locale = negotiate(user.language_code if user else None, context.settings.default_locale)
    key = "error.db" if isinstance(error, SQLAlchemyError) else "error.generic"
    if isinstance(error, NetworkError):
        return  # Telegram is unreachable: a reply would fail the same way
    try:
        await context.bot.send_message(
            update.effective_chat.id, Renderer(locale, context.registry, context.settings.zone).t(key)
        )
    except Exception:  # the error path must never raise
        log.warning("could not tell the user about the failure")
