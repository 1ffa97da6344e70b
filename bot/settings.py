"""Configuration from the environment, validated once at start; the token is a secret and never logged."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from conversations.identity import Contact, parse_contact

SUPPORTED_LOCALES = ("vi", "en")
# The Zalo Bot Platform's address (docs: /bot<TOKEN>/<method> under it); ZALO_API_BASE_URL overrides it.
DEFAULT_BASE_URL = "https://bot-api.zaloplatforms.com"


class Settings(BaseSettings):
    # hide_input_in_errors: a refused value (a too-short secret, say) is never echoed in the error.
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", hide_input_in_errors=True
    )

    bot_token: SecretStr | None = None
    database_url: str = "sqlite:///cdht.db"
    # None: python-telegram-bot's own defaults (Telegram's servers); set both for a local Bot API server.
    telegram_api_base_url: str | None = None
    telegram_file_base_url: str | None = None
    evidence_dir: Path = Path("evidence")
    files_dir: Path = Path("files")  # files made for officers (exports, charts), kept while their links live
    # Zalo takes no uploads: files reach an officer at signed links under this address (bot.file_links).
    public_base_url: str | None = None
    file_link_secret: SecretStr | None = None  # unset: derived from the bot token (bot.file_links)
    timezone: str = "Asia/Ho_Chi_Minh"
    default_locale: str = "vi"
    # Webhook mode (production behind HTTPS): set WEBHOOK_URL; Telegram then proves each call with the secret.
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443
    log_level: str = "INFO"  # LOG_LEVEL for `cdht run`: DEBUG, INFO, WARNING, ERROR
    log_format: str = "text"  # LOG_FORMAT=json: one JSON object a line, for a log collector
    # ADMIN_IDS="123456789, zalo:abc": people (a Telegram id, or channel:id) with every officer right.
    admin_ids: Annotated[list[Contact], NoDecode] = Field(default_factory=list)
    # Updates handled at once (different people; one person's always one at a time, in order); the
    # PostgreSQL pool is sized to match. 1: one update at a time.
    concurrent_updates: int = Field(default=8, ge=1, le=256)
    album_settle_seconds: float = 1.5  # an album's files arrive as separate updates: answer once, after this
    role_invite_hours: int = Field(default=72, ge=1)  # how long a one-time /grant link stays usable
    rate_limit: bool = True  # python-telegram-bot's AIORateLimiter; tests switch it off for speed
    # Reminders, notices and broadcasts (scheduler/, bot/reminders.py). Times are local (TIMEZONE).
    scheduler_enabled: bool = True  # SCHEDULER_ENABLED=false: no planning or sending jobs in this process
    reminder_offsets: Annotated[list[int], NoDecode] = Field(default_factory=lambda: [30, 14, 7, 3, 1])  # days to 31/12
    reminder_time: time = time(9, 0)  # REMINDER_TIME=09:00: when the reminders of a day fall due
    quiet_hours_start: time = time(20, 0)  # nothing is sent from QUIET_HOURS_START …
    quiet_hours_end: time = time(8, 0)  # … until QUIET_HOURS_END (equal values: no quiet hours)
    planning_interval: float = 600  # seconds between two planning runs
    dispatch_interval: float = 5  # seconds between two looks for messages due
    dispatch_batch: int = 30  # messages claimed and sent together (about a second at the rate limit)
    lease_seconds: int = 300  # a claimed message another process may take over after this long
    max_attempts: int = 5  # tries before a message is marked failed (Telegram's RetryAfter does not count)
    send_rate: float = 28  # messages a second overall (plus a burst of 2: Telegram allows 30)
    # Several worker processes (bot/shared_rate.py): REDIS_URL shares the send rates and the one-message-a-
    # second-per-chat rule between them; WORKERS is how many there are (while Redis is away each sends at
    # 1/WORKERS of each rate). Unset: this process's own limiters, right for a single process.
    redis_url: str | None = None
    workers: int = Field(default=1, ge=1, le=64)
    # Zalo (bot/zalo/): its own token, address, webhook and send rate. ZALO_BOT_TOKEN unset: no Zalo bot.
    zalo_bot_token: SecretStr | None = None
    zalo_api_base_url: str = DEFAULT_BASE_URL
    zalo_webhook_url: str | None = None  # set: Zalo delivers by webhook; unset: long polling (development)
    zalo_webhook_secret: SecretStr | None = None  # 8-256 characters, checked on every delivery
    zalo_send_rate: float = Field(default=5, gt=0)  # messages a second overall; Zalo's quota is unpublished
    # How citizens find the Zalo bot (Zalo has no deep links): its address (https://zalo.me/<id>, which /invite
    # puts in a QR code) and the name they search for; unset: /invite gives the unit code without them.
    zalo_bot_url: str | None = None
    zalo_bot_name: str | None = Field(default=None, max_length=100)
    # The evidence reader (bot/evidence_reader.py): READER=off leaves evidence unread; READER_WORKERS files are
    # read at once by this process (OCR takes a core each), READER_POLL seconds between looks at an empty queue.
    reader: bool = True
    reader_workers: int = Field(default=1, ge=1, le=16)
    reader_poll: float = Field(default=5, gt=0)

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _parse_contacts(cls, value: object) -> object:
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if isinstance(value, list | tuple | set):
            return [v if isinstance(v, Contact) else parse_contact(str(v)) for v in value]
        return value

    @field_validator("reminder_offsets", mode="before")
    @classmethod
    def _split_offsets(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(v) for v in value.replace(" ", "").split(",") if v]
        return value

    @field_validator("reminder_offsets")
    @classmethod
    def _sane_offsets(cls, value: list[int]) -> list[int]:
        if any(not 0 <= d <= 364 for d in value):
            raise ValueError("REMINDER_OFFSETS are days before 31/12, between 0 and 364")
        return sorted(set(value), reverse=True)

    @field_validator("send_rate")
    @classmethod
    def _sane_rate(cls, value: float) -> float:
        if not 0 < value <= 28:
            raise ValueError("SEND_RATE must be above 0 and at most 28 (Telegram allows 30 a second; 2 are burst)")
        return value

    @model_validator(mode="after")
    def _reminders_outside_quiet_hours(self) -> Settings:
        start, end, at = self.quiet_hours_start, self.quiet_hours_end, self.reminder_time
        quiet = (start <= at < end) if start < end else (start != end and (at >= start or at < end))
        if quiet:
            raise ValueError("REMINDER_TIME falls inside the quiet hours (QUIET_HOURS_START–QUIET_HOURS_END)")
        return self

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return value.upper()

    @field_validator("log_format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value.strip().lower() not in ("text", "json"):
            raise ValueError("LOG_FORMAT must be text or json")
        return value.strip().lower()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("default_locale")
    @classmethod
    def _supported_locale(cls, value: str) -> str:
        if value not in SUPPORTED_LOCALES:
            raise ValueError(f"DEFAULT_LOCALE must be one of {', '.join(SUPPORTED_LOCALES)}")
        return value

    @field_validator("bot_token", "zalo_bot_token")
    @classmethod
    def _real_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip() in ("", "changeme", "your-token-here"):
            return None
        return value

    @field_validator("zalo_webhook_secret")
    @classmethod
    def _zalo_secret_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not 8 <= len(value.get_secret_value()) <= 256:
            raise ValueError("ZALO_WEBHOOK_SECRET must be 8 to 256 characters (Zalo's rule)")
        return value

    @field_validator("public_base_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        """An https address (http only for this machine, in development), without a trailing slash."""
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        local = parts.hostname in ("127.0.0.1", "localhost", "::1")
        if parts.scheme != "https" and not (parts.scheme == "http" and local):
            raise ValueError("PUBLIC_BASE_URL must be an https:// address (Zalo fetches files from it)")
        if not parts.hostname or parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("PUBLIC_BASE_URL must be a plain address such as https://bot.example.org")
        return value.strip().rstrip("/")

    @field_validator("file_link_secret")
    @classmethod
    def _link_secret_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if len(value.get_secret_value()) < 16:
            raise ValueError("FILE_LINK_SECRET must be at least 16 characters")
        return value

    @field_validator("zalo_bot_url")
    @classmethod
    def _zalo_address(cls, value: str | None) -> str | None:
        """A Zalo address people can open (https://zalo.me/<id>): it goes into printed QR codes."""
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        on_zalo = (parts.hostname or "").split(".")[-2:] == ["zalo", "me"]  # zalo.me or a name under it
        if parts.scheme != "https" or not on_zalo or not parts.path.strip("/"):
            raise ValueError("ZALO_BOT_URL must be the bot's Zalo address, such as https://zalo.me/1234567890")
        if parts.username or parts.password or parts.fragment:
            raise ValueError("ZALO_BOT_URL must be a plain address, such as https://zalo.me/1234567890")
        return value.strip()

    @field_validator("zalo_bot_name")
    @classmethod
    def _zalo_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return " ".join(value.split()) or None  # blanks collapsed; only blanks: unset

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
