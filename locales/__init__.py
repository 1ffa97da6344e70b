"""Babel catalogs (``<locale>/LC_MESSAGES/*.po``) and the translator for the current locale.

Each area keeps its own catalog file (messages.po for citizens, officers.po, reminders.po ...); all files
of a locale form one catalog. The .po files are the source of truth and are compiled in memory when first
used, so a fresh checkout needs no build step. Message ids are keys (``consent.ask``); a key missing
from a catalog is a bug that tests/test_catalogs.py catches. Values are filled in after translation.
"""

from __future__ import annotations

import io
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES_DIR = Path(__file__).parent
SUPPORTED = ("vi", "en")
DEFAULT = "vi"

current_locale: ContextVar[str] = ContextVar("current_locale", default=DEFAULT)


class CatalogMissing(RuntimeError):
    """A supported locale has no catalog: the install is broken, say so loudly."""


def catalog_files(locale: str) -> list[Path]:
    return sorted((LOCALES_DIR / locale / "LC_MESSAGES").glob("*.po"))


def read_catalog(locale: str) -> Catalog:
    """Every catalog file of ``locale`` as one Babel catalog; a key defined twice is an error."""
    files = catalog_files(locale)
    if not files:
        raise CatalogMissing(f"no catalog for {locale!r} in {LOCALES_DIR / locale / 'LC_MESSAGES'}")
    merged = Catalog(locale=locale)
    for path in files:
        with path.open("rb") as fh:
            for message in read_po(fh, locale=locale):
                if not message.id:
                    continue
                if message.id in merged:
                    raise CatalogMissing(f"{message.id!r} is defined twice ({path.name})")
                merged[message.id] = message
    return merged


@cache
def translations(locale: str) -> Translations:
    catalog = read_catalog(locale)
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


def gettext(message_id: str, locale: str | None = None, /, **values: object) -> str:
    """The text for ``message_id`` in ``locale`` (default: the current one) with ``values`` filled in."""
    text = translations(locale or current_locale.get()).gettext(message_id)
    return text.format(**values) if values else text


def gettext_typed(message_id: str, locale: str | None = None, /, *, typed: bool, **values: object) -> str:
    """``gettext``, where choices are typed back (Zalo, no buttons) preferring ``<message_id>.typed`` when
    the catalog has one: "this button is out of date" reads "this choice is out of date" there."""
    if typed:
        wanted = f"{message_id}.typed"
        text = translations(locale or current_locale.get()).gettext(wanted)
        if text != wanted:
            return text.format(**values) if values else text
    return gettext(message_id, locale, **values)


def ngettext(singular: str, plural: str, n: int, locale: str | None = None, /, **values: object) -> str:
    text = translations(locale or current_locale.get()).ngettext(singular, plural, n)
    return text.format(n=n, **values)
