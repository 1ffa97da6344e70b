"""``cdht run``'s logging: LOG_LEVEL is validated, and no log line carries the bot token or webhook secret."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

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


# --------------------------------------------------------------------------- LOG_FORMAT=json (issue 9 item 7)

ROOT = Path(__file__).resolve().parents[2]
# What `cdht run` does around serve(): run_logging with the settings from the environment, then some logging.
LOGGING_RUN = """
import logging
from bot.server import run_logging
from bot.settings import Settings

with run_logging(Settings(_env_file=None)):
    log = logging.getLogger("bot.handlers")
    log.info("HTTP Request: POST https://api.telegram.org/bot%s/getMe", TOKEN)
    log.warning("two lines\\nin one record, ở Việt Nam")
    logging.getLogger("httpx").info("quiet below WARNING")
    try:
        raise RuntimeError(f"The token `{TOKEN}` was rejected by the server.")
    except RuntimeError:
        log.exception("start failed")
"""


def _process(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    environ = {k: v for k, v in os.environ.items() if k in keep} | {"PYTHONPATH": str(ROOT)} | env
    return subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=120
    )


def test_log_format_is_text_or_json() -> None:
    assert Settings(_env_file=None).log_format == "text"
    assert Settings(_env_file=None, log_format=" JSON ").log_format == "json"
    with pytest.raises(ValidationError, match="LOG_FORMAT must be text or json"):
        Settings(_env_file=None, log_format="xml")


def test_json_logs_are_one_object_a_line_and_redacted(tmp_path: Path) -> None:
    done = _process(f"TOKEN = {TOKEN!r}\n{LOGGING_RUN}", tmp_path, LOG_FORMAT="json", BOT_TOKEN=TOKEN)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert [(r["level"], r["logger"]) for r in records] == [
        ("INFO", "bot.handlers"),
        ("WARNING", "bot.handlers"),
        ("ERROR", "bot.handlers"),
    ]
    assert records[0]["message"] == "HTTP Request: POST https://api.telegram.org/bot<redacted>/getMe"
    assert records[1]["message"] == "two lines\nin one record, ở Việt Nam"
    assert records[2]["message"] == "start failed"
    assert "RuntimeError: The token `<redacted>` was rejected" in records[2]["exc_info"]
    assert all(set(r) <= {"time", "level", "logger", "message", "exc_info"} for r in records)  # no extras
    assert all(r["time"].endswith("+00:00") for r in records)
    assert TOKEN not in done.stderr and TOKEN.partition(":")[2] not in done.stderr


def test_text_logs_stay_the_default(tmp_path: Path) -> None:
    done = _process(f"TOKEN = {TOKEN!r}\n{LOGGING_RUN}", tmp_path, BOT_TOKEN=TOKEN)
    assert done.returncode == 0, done.stderr
    assert " INFO bot.handlers: HTTP Request: POST https://api.telegram.org/bot<redacted>/getMe" in done.stderr
    assert not done.stderr.startswith("{") and TOKEN not in done.stderr


def test_a_bad_log_format_is_one_line_at_start(tmp_path: Path) -> None:
    code = "from bot.cli import main\nraise SystemExit(main(['run']))"
    done = _process(code, tmp_path, LOG_FORMAT="xml", BOT_TOKEN=TOKEN, DATABASE_URL="sqlite:///cdht.db")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("cdht: bad configuration: LOG_FORMAT")
    assert "LOG_FORMAT must be text or json" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "cdht.db").exists()  # refused before anything was opened
