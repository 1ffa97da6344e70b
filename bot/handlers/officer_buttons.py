"""Officer choices: ``o|<verb>|<owner>|<rev>|<arg>`` (≤ 64 bytes, Telegram's limit for a button), apart from the
citizen's ``1|…`` buttons. On Telegram a button carries it; on Zalo the choices last shown are remembered
(bot.handlers.officer_desk) and a typed number comes back as the same data.

The owner is an assessment id (review) or a unit id (recognition); the revision is the assessment's, so a
button shown before the citizen resubmitted or a teammate acted is refused. Nothing read from a button is
trusted: every press checks the presser's role and scope again.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

PREFIX = "o"
PATTERN = r"^o\|"
MAX_BYTES = 64


class OVerb(StrEnum):
    CONFIRM = "rc"
    ADJUST_MENU = "ra"
    ADJUST_INDICATOR = "ri"
    ADJUST_POINTS = "rp"
    RETURN_MENU = "rr"
    RETURN_TOGGLE = "rt"
    RETURN_REASON = "rz"
    NEXT = "rn"
    CARD = "rb"
    EVIDENCE = "re"  # one indicator's evidence, shown on demand beside the card
    DECISION = "dq"


@dataclass(frozen=True)
class OButton:
    verb: OVerb
    owner: int
    rev: int
    arg: str = ""

    def encode(self) -> str:
        data = "|".join((PREFIX, self.verb, str(self.owner), str(self.rev), self.arg))
        if len(data.encode()) > MAX_BYTES:
            raise ValueError("callback data too long")
        return data

    def first(self) -> int:
        """The first integer of the argument (the unit a reviewer browses)."""
        try:
            return int(self.arg.split(":")[0])
        except ValueError as exc:
            raise BadOfficerButton(self.arg) from exc

    def ints(self, count: int) -> tuple[int, ...]:
        """The argument as ``count`` integers separated by ':'."""
        try:
            values = tuple(int(x) for x in self.arg.split(":"))
        except ValueError as exc:
            raise BadOfficerButton(self.arg) from exc
        if len(values) != count:
            raise BadOfficerButton(self.arg)
        return values


class BadOfficerButton(ValueError):
    """Data this bot never produced."""


def decode(data: str | None) -> OButton:
    parts = (data or "").split("|")
    if len(parts) != 5 or parts[0] != PREFIX:
        raise BadOfficerButton(data)
    try:
        return OButton(OVerb(parts[1]), int(parts[2]), int(parts[3]), parts[4])
    except ValueError as exc:
        raise BadOfficerButton(data) from exc
