"""``cdht run``'s logging: LOG_LEVEL is validated, and no log line carries the bot token or webhook secret."""

from __future__ import annotations

import io
import logging

import pytest
from pydantic import ValidationError

from bot.server import RedactSecrets, run_logging, secrets_of
from bot.settings import Settings

TOKEN = "123456:AAH-secret-part-of-the-token"


def test_log_level_is_a_known_level() -> None:
    assert Settings(_env_file=None, log_level="debug").log_level == "DEBUG"
    assert Settings(_env_file=None).log_level == "INFO"
    with pytest.raises(ValidationError, match="LOG_LEVEL"):
        Settings(_env_file=None, log_level="loud")


def test_the_token_is_redacted_from_messages_arguments_and_tracebacks() -> None:
    settings = Settings(_env_file=None, bot_token=TOKEN, webhook_secret="hook-secret-value")
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactSecrets(secrets_of(settings)))
    log = logging.getLogger("tests.redaction")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("HTTP Request: POST https://api.telegram.org/bot%s/getMe", TOKEN)
        log.warning("half of it: %s", TOKEN.partition(":")[2])
        log.warning("secret header was hook-secret-value")
        try:
            raise RuntimeError(f"The token `{TOKEN}` was rejected by the server.")
        except RuntimeError:
            log.exception("start failed")
    finally:
        log.removeHandler(handler)
    text = out.getvalue()
    assert "start failed" in text and "RuntimeError" in text and "getMe" in text
    assert TOKEN not in text and TOKEN.partition(":")[2] not in text and "hook-secret-value" not in text
    assert text.count("<redacted>") == 4


def test_run_logging_keeps_httpx_quiet_and_puts_everything_back() -> None:
    settings = Settings(_env_file=None, bot_token=TOKEN, log_level="DEBUG")
    httpx_log, root = logging.getLogger("httpx"), logging.getLogger()
    levels = (httpx_log.level, root.level)
    filters = [list(h.filters) for h in root.handlers]
    with run_logging(settings):
        assert root.level == logging.DEBUG
        assert httpx_log.getEffectiveLevel() == logging.WARNING  # even at DEBUG: its URLs hold the token
        assert all(any(isinstance(f, RedactSecrets) for f in h.filters) for h in root.handlers)
    assert (httpx_log.level, root.level) == levels
    assert [list(h.filters) for h in root.handlers] == filters
