"""Zalo: the Bot API client (client.py) and the update reader (updates.py); the adapter builds on them."""

from bot.zalo.client import (
    MAX_TEXT,
    Sent,
    ZaloBadRequest,
    ZaloClient,
    ZaloError,
    ZaloNetworkError,
    ZaloQuotaExceeded,
    ZaloUnauthorized,
)
from bot.zalo.updates import EventKind, ZaloUpdate, parse_update

__all__ = [
    "MAX_TEXT",
    "EventKind",
    "Sent",
    "ZaloBadRequest",
    "ZaloClient",
    "ZaloError",
    "ZaloNetworkError",
    "ZaloQuotaExceeded",
    "ZaloUnauthorized",
    "ZaloUpdate",
    "parse_update",
]
