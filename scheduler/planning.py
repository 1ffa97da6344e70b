"""Who is owed which message, and when: pure functions of plain facts and the time now.

Rules. The assessment cycle is the calendar year in the configured zone and closes on 31/12.
- Citizens: one reminder per configured offset (days before 31/12), due at the reminder time of that
  day, to people who registered and whose assessment of the year is missing, a draft or returned —
  never to people who submitted, were reviewed or recognised, switched reminders off, or blocked the bot.
  An offset is planned only within ``grace`` after it fell due: a bot that was down sends the latest
  reminder late, never a pile of stale ones.
- Officers: a weekly notice while assessments wait for review in their scope, and a notice 7 days and
  1 day before 10/01, when the unit's report on the year just closed is due upward.
- Nothing is sent during the quiet hours: a due time that falls inside them moves to their end.
- Notices caused by an officer (a citizen's decision, an assessment returned, or confirmed with changed
  points) are not planned here: the officer's transaction owes them, due at once, under the kinds and
  cycles defined below.
Each planned message names its (kind, cycle); the outbox holds at most one row per person, kind and cycle,
so planning the same thing twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

CITIZEN_REMINDER = "reminder"
REVIEW_PENDING = "review_pending"
REPORT_DUE = "report_due"
BROADCAST = "broadcast"
BROADCAST_SUMMARY = "broadcast_summary"
DECISION = "decision"  # a citizen's result, owed in the transaction that records the head's decision
RETURNED = "returned"  # "please fix indicators …", owed in the transaction that returns the assessment
REVIEWED = "reviewed"  # what the team changed and why, owed in the transaction that confirms with changes

DEFAULT_OFFSETS = (30, 14, 7, 3, 1)
REPORT_DEADLINE = (1, 10)  # (month, day): the unit reports the year just closed upward before 10/01
REPORT_OFFSETS = (7, 1)
# Statuses in which a citizen still has something to do this cycle (None: registered, never started).
OPEN_STATUSES = frozenset({None, "draft", "returned"})


@dataclass(frozen=True)
class Policy:
    """When messages may go out; times are local to ``zone``."""

    zone: ZoneInfo
    offsets: tuple[int, ...] = DEFAULT_OFFSETS
    reminder_time: time = time(9, 0)
    quiet_start: time = time(20, 0)
    quiet_end: time = time(8, 0)
    grace: timedelta = timedelta(days=1)

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)

    def year(self, moment: datetime) -> int:
        """The assessment cycle ``moment`` falls in."""
        return self.local(moment).year

    def is_quiet(self, moment: datetime) -> bool:
        at = self.local(moment).time()
        start, end = self.quiet_start, self.quiet_end
        if start == end:
            return False
        if start < end:
            return start <= at < end
        return at >= start or at < end  # the usual case: across midnight, 20:00–08:00

    def next_allowed(self, moment: datetime) -> datetime:
        """``moment`` itself, or the end of the quiet hours it falls in."""
        if not self.is_quiet(moment):
            return moment
        local = self.local(moment)
        end = local.replace(hour=self.quiet_end.hour, minute=self.quiet_end.minute, second=0, microsecond=0)
        if end <= local:
            end = datetime.combine(local.date() + timedelta(days=1), self.quiet_end, tzinfo=self.zone)
        return end

    def at(self, day: date) -> datetime:
        """The reminder time on ``day`` (an aware datetime)."""
        return datetime.combine(day, self.reminder_time, tzinfo=self.zone)


@dataclass(frozen=True)
class Planned:
    """A message owed: the outbox row to insert if absent."""

    person_id: int
    kind: str
    cycle: str
    due_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Slot:
    """One (kind, cycle) whose time has come, e.g. the 7-days-before reminder of 2026."""

    kind: str
    cycle: str
    due_at: datetime
    days: int  # days before the deadline
    year: int  # the assessment year it is about


# --------------------------------------------------------------------------- citizens


@dataclass(frozen=True)
class CitizenFacts:
    person_id: int
    registered: bool
    reminders: bool
    blocked: bool
    status: str | None  # the status of this year's assessment; None when never started


def citizen_slots(now: datetime, policy: Policy) -> list[Slot]:
    """The reminder offsets of this cycle whose due time has come (within the grace period)."""
    year = policy.year(now)
    deadline = date(year, 12, 31)
    slots = []
    for days in sorted(set(policy.offsets), reverse=True):
        due = policy.next_allowed(policy.at(deadline - timedelta(days=days)))
        if due.year == year and due <= now < due + policy.grace:
            slots.append(Slot(CITIZEN_REMINDER, f"{year}:d{days}", due, days, year))
    return slots


def wants_reminder(person: CitizenFacts) -> bool:
    """Registered, reachable, willing, and with something left to do this cycle."""
    return person.registered and person.reminders and not person.blocked and person.status in OPEN_STATUSES


def citizen_reminders(people: Iterable[CitizenFacts], slot: Slot) -> list[Planned]:
    return [
        Planned(p.person_id, slot.kind, slot.cycle, slot.due_at, {"year": slot.year, "days": slot.days})
        for p in people
        if wants_reminder(p)
    ]


# --------------------------------------------------------------------------- officers


@dataclass(frozen=True)
class OfficerFacts:
    person_id: int
    reminders: bool
    blocked: bool
    pending_reviews: int  # submitted assessments waiting for the team, in the officer's scope
    reports: bool  # holds a role that reports upward (officer, head)


def review_slot(now: datetime, policy: Policy) -> Slot | None:
    """This week's pending-review notice, once Monday's reminder time has passed."""
    local = policy.local(now)
    monday = local.date() - timedelta(days=local.weekday())
    start = policy.next_allowed(policy.at(monday))
    if now < start:
        return None
    iso = monday.isocalendar()
    return Slot(REVIEW_PENDING, f"review:{iso.year}-W{iso.week:02d}", policy.next_allowed(now), 0, policy.year(now))


def report_slots(now: datetime, policy: Policy) -> list[Slot]:
    """The report-due notices (7 and 1 days before 10/01) whose time has come."""
    year = policy.year(now)
    deadline = date(year, *REPORT_DEADLINE)
    slots = []
    for days in REPORT_OFFSETS:
        due = policy.next_allowed(policy.at(deadline - timedelta(days=days)))
        if due <= now < due + policy.grace:
            slots.append(Slot(REPORT_DUE, f"report:{year - 1}:d{days}", due, days, year - 1))
    return slots


def officer_notices(officers: Iterable[OfficerFacts], now: datetime, policy: Policy) -> list[Planned]:
    out = []
    review = review_slot(now, policy)
    reports = report_slots(now, policy)
    for o in officers:
        if not o.reminders or o.blocked:
            continue
        if review is not None and o.pending_reviews > 0:
            out.append(Planned(o.person_id, review.kind, review.cycle, review.due_at, {}))
        if o.reports:
            out += [Planned(o.person_id, s.kind, s.cycle, s.due_at, {"year": s.year, "days": s.days}) for s in reports]
    return out


# --------------------------------------------------------------------------- broadcasts


def broadcast_cycle(broadcast_id: int) -> str:
    return f"broadcast:{broadcast_id}"


# --------------------------------------------------------------------------- officers' decisions


def decision_cycle(year: int) -> str:
    """A citizen hears the year's decision once."""
    return f"{year}"


def returned_cycle(year: int, rev: int) -> str:
    """One per return: an assessment may come back more than once a year, each time at a new revision."""
    return f"{year}:r{rev}"


def reviewed_cycle(year: int, rev: int) -> str:
    """One per confirmation: a returned and resubmitted assessment is confirmed again at a new revision."""
    return f"{year}:v{rev}"
