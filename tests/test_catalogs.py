"""Every message the code uses has a Vietnamese and an English text, with the same placeholders."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

import locales
from bot.evidence import Refused
from storage.models import AssessmentStatus

ROOT = Path(__file__).resolve().parents[1]
# A message id is a dotted string literal whose first part is one of the catalogs' prefixes.
DOTTED = re.compile(r"""["']([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+)["']""")


def catalog(locale: str) -> dict[str, str]:
    return {m.id: m.string for m in locales.read_catalog(locale) if m.id}


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def keys_used_in_code() -> set[str]:
    prefixes = {k.split(".")[0] for k in catalog("vi")} - {"conversations", "storage", "bot", "scheduler"}
    found: set[str] = set()
    for package in ("bot", "reports", "scheduler", "storage", "conversations"):
        for path in (ROOT / package).rglob("*.py"):
            found |= {
                k
                for k in DOTTED.findall(path.read_text(encoding="utf-8"))
                if k.split(".")[0] in prefixes and not k.endswith(".id")
            }  # "unit.id" is a foreign key, not a message
    found |= {f"result.status.{s.value}" for s in AssessmentStatus}
    found |= {f"evidence.{reason}" for reason in ("too_big", "bad_type")}
    found |= {f"command.{c}" for c in ("start", "status", "help", "language", "cancel", "mydata", "deleteme")}
    return found


def test_both_catalogs_have_the_same_keys() -> None:
    vi, en = catalog("vi"), catalog("en")
    assert sorted(set(vi) ^ set(en)) == []


@pytest.mark.parametrize("locale", locales.SUPPORTED)
def test_every_key_used_in_code_is_translated(locale: str) -> None:
    texts = catalog(locale)
    missing = sorted(k for k in keys_used_in_code() if not texts.get(k, "").strip())
    assert missing == []


def test_placeholders_match_between_languages() -> None:
    vi, en = catalog("vi"), catalog("en")
    differ = {
        k: (placeholders(vi[k]), placeholders(en[k]))
        for k in vi
        if k in en and placeholders(vi[k]) != placeholders(en[k])
    }
    assert differ == {}


def test_vietnamese_and_english_texts_differ() -> None:
    """A text copied untranslated into the other catalog is a missing translation."""
    vi, en = catalog("vi"), catalog("en")
    words = re.compile(r"[^\W\d_]{3,}")
    untranslated = [k for k in vi if vi[k] == en.get(k) and words.search(re.sub(r"\{[^}]*\}|<[^>]*>", "", vi[k]))]
    assert untranslated == []


def test_missing_catalog_fails_loudly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locales, "LOCALES_DIR", tmp_path)
    with pytest.raises(locales.CatalogMissing):
        locales.read_catalog("vi")


def test_negotiation_falls_back_to_vietnamese() -> None:
    assert locales.negotiate("en-US") == "en"
    assert locales.negotiate("en_GB") == "en"
    assert locales.negotiate("fr") == "vi"
    assert locales.negotiate(None) == "vi"
    assert locales.negotiate("not a locale!!") == "vi"


def test_refusal_reasons_are_known() -> None:
    assert Refused("too_big").reason == "too_big"
