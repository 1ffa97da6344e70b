"""Callback data: short, versioned, and tied to the step it was shown for.

Format ``1|<scope>|<owner>|<rev>|<verb>|<arg>``: scope ``p`` (registration; owner is the person id) or ``a``
(an assessment; owner is its id). A button whose owner is not the presser's own, or whose revision is
older than the stored one, is refused before anything is read from it. Telegram allows 64 bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

VERSION = "1"
MAX_BYTES = 64


class Verb(StrEnum):
    CONSENT_YES = "cy"
    CONSENT_NO = "cn"
    RESTART = "rs"
    GROUP = "g"
    LEVEL = "l"
    DONE = "d"
    SKIP = "sk"
    MORE = "m"  # back from the skip warning to add evidence
    BACK = "b"
    EDIT = "e"
    SUBMIT = "s"
    CONFIRM_SUBMIT = "cs"
    CONTINUE = "go"
    LANGUAGE = "lg"
    DELETE_ME = "del"
    KEEP_ME = "keep"
    HINT = "h"  # "💡 Gợi ý": the longer explanation of the indicator on screen
    PICK_EVIDENCE = "pe"  # "add evidence" on the summary
    ADD_EVIDENCE = "ae"  # the indicator picked to add evidence to
    LIST_FILES = "lf"  # "remove a file" on the evidence step
    REMOVE_FILE = "rf"  # the file picked to remove


@dataclass(frozen=True)
class Button:
    scope: str
    owner: int
    rev: int
    verb: Verb
    arg: str = ""

    def encode(self) -> str:
        data = "|".join((VERSION, self.scope, str(self.owner), str(self.rev), self.verb, self.arg))
        if len(data.encode()) > MAX_BYTES:
            raise ValueError(f"callback data too long: {data!r}")
        return data


class BadCallback(ValueError):
    """Data that this bot never produced."""


def decode(data: str | None) -> Button:
    parts = (data or "").split("|")
    if len(parts) != 6 or parts[0] != VERSION or parts[1] not in ("p", "a"):
        raise BadCallback(data)
    try:
        return Button(parts[1], int(parts[2]), int(parts[3]), Verb(parts[4]), parts[5])
    except ValueError as exc:
        raise BadCallback(data) from exc


def int_args(button: Button, count: int) -> tuple[int, ...]:
    """The button's argument as ``count`` integers separated by ':'."""
    try:
        values = tuple(int(x) for x in button.arg.split(":"))
    except ValueError as exc:
        raise BadCallback(button.arg) from exc
    if len(values) != count:
        raise BadCallback(button.arg)
    return values
