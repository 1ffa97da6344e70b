"""Zalo settings: Zalo's address by default, a secret of Zalo's length, and no secret echoed in an error."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.settings import DEFAULT_BASE_URL, Settings


def test_defaults_point_at_zalo_and_need_no_token() -> None:
    settings = Settings(_env_file=None)
    assert settings.zalo_api_base_url == DEFAULT_BASE_URL == "https://bot-api.zaloplatforms.com"
    assert settings.zalo_bot_token is None
    assert settings.zalo_send_rate == 5


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZALO_BOT_TOKEN", "123:zalo-secret")
    monkeypatch.setenv("ZALO_API_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ZALO_WEBHOOK_SECRET", "s" * 8)
    settings = Settings(_env_file=None)
    assert settings.zalo_bot_token is not None and settings.zalo_bot_token.get_secret_value() == "123:zalo-secret"
    assert "zalo-secret" not in repr(settings)
    assert settings.zalo_api_base_url == "http://127.0.0.1:9"


@pytest.mark.parametrize("secret", ["short77", "x" * 257])
def test_webhook_secret_outside_zalos_length_is_refused_without_echo(secret: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, zalo_webhook_secret=secret)
    assert "ZALO_WEBHOOK_SECRET" in str(caught.value)
    assert secret not in str(caught.value)


def test_placeholder_token_counts_as_unset() -> None:
    assert Settings(_env_file=None, zalo_bot_token="changeme").zalo_bot_token is None


@pytest.mark.parametrize("rate", [0, -1])
def test_send_rate_must_be_positive(rate: float) -> None:
    with pytest.raises(ValidationError):
        Settings(_env_file=None, zalo_send_rate=rate)
