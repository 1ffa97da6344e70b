"""What every desk command (``cdht ...``) shares: the settings, the database opened for one command, and the
one line (on stderr, with an exit code) that answers a failure the operator can fix, instead of a traceback.

Exit codes: 1 the work failed (a file could not be read or written, a setting is invalid), 2 bad input,
3 the schema needs ``cdht db upgrade`` (or is newer than this cdht), 4 the database cannot be reached or used.
"""

from __future__ import annotations

import asyncio
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from bot.settings import Settings
from conversations.criteria import PackError
from storage.db import DatabaseUnavailable, SchemaNotReady, Sessions, explain, make_sessions, open_database

T = TypeVar("T")

EXIT_FAILED, EXIT_USAGE, EXIT_SCHEMA, EXIT_DATABASE = 1, 2, 3, 4


class DeskError(Exception):
    """An operator's mistake a command found itself (a missing folder, contradicting options); the message is
    the one line to show."""

    def __init__(self, message: str, status: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.status = status


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors())
        raise SystemExit(f"cdht: bad configuration: {problems}") from exc


def run_desk(work: Callable[[Sessions, Settings], Awaitable[T]], *, check_schema: bool = True) -> T:
    """Opens ``DATABASE_URL`` for one desk command (SQLite migrated, PostgreSQL checked), runs ``work`` and
    disposes the engine. Failures to reach the database raise DatabaseUnavailable or SchemaNotReady, which
    ``main`` turns into one line."""
    settings = load_settings()

    async def go() -> T:
        async with open_database(settings.database_url, check_schema=check_schema) as engine:
            return await work(make_sessions(engine), settings)

    return asyncio.run(go())


def show(status: int, lines: list[str]) -> int:
    """Prints a command's answer: error lines (``cdht: ...``) on stderr, the rest on stdout; returns ``status``."""
    for line in lines:
        print(line, file=sys.stderr if line.startswith("cdht: ") else sys.stdout)
    return status


def _from_driver(exc: BaseException) -> bool:
    """Whether ``exc`` was raised inside the database drivers (a connect failure rather than, say, a port the
    webhook could not bind)."""
    files = (frame.f_code.co_filename for frame, _ in traceback.walk_tb(exc.__traceback__))
    return any(part in name for name in files for part in ("/asyncpg/", "/aiosqlite/", "/sqlalchemy/"))


def _database_url() -> str:
    try:
        return Settings().database_url
    except ValidationError:
        return ""


def failure(exc: BaseException) -> tuple[int, str] | None:
    """The exit code and the one line for a failure an operator can fix; None for anything else (a bug,
    which keeps its traceback)."""
    if isinstance(exc, DeskError):
        return exc.status, str(exc)
    if isinstance(exc, PackError):  # a broken file in the criteria folder: its name and first problems
        return EXIT_USAGE, exc.summary()
    if isinstance(exc, SchemaNotReady):
        return EXIT_SCHEMA, str(exc)
    if isinstance(exc, DatabaseUnavailable):
        return EXIT_DATABASE, str(exc)
    if isinstance(exc, DBAPIError) or (isinstance(exc, OSError) and exc.filename is None and _from_driver(exc)):
        message = explain(exc, _database_url())
        return (EXIT_DATABASE, message) if message else None
    if isinstance(exc, OSError):
        if exc.filename is not None:
            return EXIT_FAILED, f"{exc.filename}: {exc.strerror or exc}"
        return EXIT_FAILED, str(exc) or type(exc).__name__
    return None
