"""Babel catalogs (``<locale>/LC_MESSAGES/messages.po``) and the translator for the current locale.

The .po files are the source of truth and are compiled in memory when first used, so a fresh checkout
needs no build step. Message ids are keys (``consent.ask``); a key missing from a catalog is a bug that
tests/test_catalogs.py catches. Values are filled in after translation, never inside ``_()``.
"""

from __future__ import annotations

import io
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES_DIR = Path(__file__).parent
SUPPORTED = ("vi", "en")
DEFAULT = "vi"

current_locale: ContextVar[str] = ContextVar("current_locale", default=DEFAULT)


class CatalogMissing(RuntimeError):
    """A supported locale has no catalog: the install is broken, say so loudly."""


def catalog_path(locale: str) -> Path:
    return LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po"


@cache
def translations(locale: str) -> Translations:
    path = catalog_path(locale)
    if not path.is_file():
        raise CatalogMissing(f"no catalog for {locale!r} at {path}")
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(fp=buf, domain="messages")


def negotiate(language_code: str | None, default: str = DEFAULT) -> str:
    """The supported locale for a Telegram ``language_code`` (e.g. 'en-US'), else ``default``."""
    if not language_code:
        return default
    try:
        lang = Locale.parse(language_code.replace("_", "-"), sep="-").language
    except (UnknownLocaleError, ValueError):
        return default
    return lang if lang in SUPPORTED else default


def gettext(message_id: str, locale: str | None = None, **values: object) -> str:
    """The text for ``message_id`` in ``locale`` (default: the current one) with ``values`` filled in."""
    text = translations(locale or current_locale.get()).gettext(message_id)
    return text.format(**values) if values else text


def ngettext(singular: str, plural: str, n: int, locale: str | None = None, **values: object) -> str:
    text = translations(locale or current_locale.get()).ngettext(singular, plural, n)
    return text.format(n=n, **values)
