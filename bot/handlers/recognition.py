"""The head's recognition, written once for every messenger: ``/recognise [UNIT] [YEAR]`` lists the reviewed
assessments and who qualifies (the scoring rule on the reviewed points); the decision number and date are
typed after a choice (a button on Telegram, its number on Zalo), or given at once with
``--decision 12/QĐ-UBND 20/12/2026``. Each citizen's outcome is owed in the outbox in the decision's own
transaction and sent by the dispatcher of the citizen's messenger in their language (after the quiet hours,
if they hold now). The head's role on the unit is checked again at the choice and at the typed decision."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from datetime import date, datetime
from html import escape

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import BotData
from bot.handlers.officer_buttons import OButton, OVerb
from bot.handlers.officer_scope import FIRST_YEAR, HEADS, Refusal, Scope, officer_of_sender, scope_for
from bot.reminders import policy_for, show_date
from bot.render import Renderer
from bot.replies import Plan
from bot.screens import Choice, Screen
from bot.sender import Sender
from conversations import officer_steps as steps
from locales import SUPPORTED, gettext, negotiate
from scheduler import planning
from storage import repo_outbox as ro
from storage import repo_review as rv
from storage import repo_roles as rr
from storage.db import unit_of_work
from storage.models import AssessmentStatus, OfficerPending, Person, Unit

log = logging.getLogger(__name__)

DECISION_FLAG = "--decision"
DECISION_MAX = 64
_DATE_FORMATS = (
    re.compile(r"^(?P<d>\d{1,2})[/.-](?P<m>\d{1,2})[/.-](?P<y>\d{4})$"),
    re.compile(r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})$"),
)
_DATE_WORDS = {"ngày", "ngay", "dated", "date", "on"}


def parse_decision(text: str) -> tuple[str, date] | None:
    """``12/QĐ-UBND 20/12/2026`` (or ``… ngày 2026-12-20``) -> the number and the date; None if unreadable."""
    words = text.split()
    if len(words) < 2:
        return None
    when = _date(words[-1])
    number_words = [w for w in words[:-1] if w.lower() not in _DATE_WORDS]
    number = " ".join(number_words).strip(" ,;")
    if when is None or not number or len(number) > DECISION_MAX:
        return None
    return number, when


def _date(word: str) -> date | None:
    for pattern in _DATE_FORMATS:
        found = pattern.match(word.strip(" ,.;"))
        if found:
            try:
                return date(int(found["y"]), int(found["m"]), int(found["d"]))
            except ValueError:
                return None
    return None


# --------------------------------------------------------------------------- the command


async def recognise_command(data: BotData, who: Sender, args: Sequence[str]) -> Plan:
    """Lists who qualifies; with ``--decision NUMBER DATE`` records the decision at once."""
    words = list(args)
    decision: list[str] | None = None
    if DECISION_FLAG in words:
        at = words.index(DECISION_FLAG)
        words, decision = words[:at], words[at + 1 :]
    scope = await scope_for(data, who, HEADS, words)
    if isinstance(scope, Refusal):
        return scope.plan()
    plan = Plan(locale=scope.locale, viewer_id=scope.officer_id)
    async with unit_of_work(data.sessions) as session:
        await rv.clear_pending(session=session, person_id=scope.officer_id)  # a fresh start, as /review
        unit = await session.get(Unit, scope.unit_id)
        assert unit is not None
        if decision is None:
            await _list(session, data, plan, scope, unit, typed=not who.buttons)
        else:
            parsed = parse_decision(" ".join(decision))
            if parsed is None:
                plan.say(gettext("officer.recognise.bad_decision", scope.locale, year=scope.year))
            else:
                await apply_decision(session, data, plan, scope.officer_id, scope.locale, unit, scope.year, *parsed)
    return plan


async def _list(session: AsyncSession, data: BotData, plan: Plan, scope: Scope, unit: Unit, *, typed: bool) -> None:
    t = _t(scope.locale)
    rows = await rv.reviewed_in_scope(session=session, unit_path=unit.path, year=scope.year)
    waiting = await rv.count_by_status(
        session=session, unit_path=unit.path, year=scope.year, status=AssessmentStatus.SUBMITTED
    )
    lines = [t("officer.recognise.title", year=scope.year, unit=escape(unit.name))]
    if not rows:
        lines.append(t("officer.recognise.none", unit=escape(unit.name), year=scope.year))
        if waiting:
            lines.append(t("officer.recognise.waiting", n=waiting))
        plan.say("\n".join(lines))
        return
    body, yes = [], 0
    for assessment, person, held in rows:
        pack = rv.pack_of(data.registry, assessment)
        if pack is None:
            continue
        result = await rv.reviewed_score(session=session, pack=pack, assessment=assessment)
        yes += result.recognised
        body.append(
            t(
                "officer.recognise.line_yes" if result.recognised else "officer.recognise.line_no",
                name=escape(person.full_name or "—"),
                unit=escape(held.name),
                total=result.total,
            )
        )
    lines.append(t("officer.recognise.counts", reviewed=len(body), qualify=yes, not_qualify=len(body) - yes))
    lines += ["", *body, ""]
    if waiting:
        lines.append(t("officer.recognise.waiting", n=waiting))
    lines.append(
        t("officer.recognise.how_typed" if typed else "officer.recognise.how", code=escape(unit.code), year=scope.year)
    )
    label = t("officer.btn.decision")
    words = (label, *(w for locale in SUPPORTED for w in gettext("typed.officer.decision", locale).split("|")))
    choice = Choice(label, OButton(OVerb.DECISION, unit.id or 0, scope.year).encode(), words)
    # One screen: a long list is cut into messages at its line breaks by the messenger's adapter.
    plan.show(Screen("\n".join(lines), ((choice,),)))


def _t(locale: str) -> Callable[..., str]:
    return lambda key, **values: gettext(key, locale, **values)


# --------------------------------------------------------------------------- the decision


async def decision_press(data: BotData, who: Sender, pressed: OButton) -> Plan:
    """«Record the decision»: checks the head's role on the unit, then waits for the number and date typed."""
    plan = Plan(locale=negotiate(who.language_code, data.settings.default_locale))
    async with unit_of_work(data.sessions) as session:
        head = await officer_of_sender(session, who)
        unit = await session.get(Unit, pressed.owner)
        year = pressed.rev  # the decision's button carries the year where a review's carries a revision
        if head is not None:
            plan.locale, plan.viewer_id = head.locale, head.id
        if head is None or unit is None or not FIRST_YEAR <= year <= data.year() + 1:
            plan.say(gettext("officer.scope.no_role", plan.locale))
            return plan
        if not await _may(session, data, head, unit):
            log.info("decision choice refused: out of scope")
            plan.say(gettext("officer.scope.no_role", plan.locale))
            return plan
        await rv.set_pending(
            session=session,
            person_id=head.id or 0,
            kind=steps.StepKind.DECISION,
            now=data.now(),
            unit_id=unit.id,
            year=year,
        )
        plan.say(gettext("officer.recognise.ask", plan.locale, year=year))
    return plan


async def _may(session: AsyncSession, data: BotData, head: Person, unit: Unit) -> bool:
    return await rr.may(session=session, person=head, roles=HEADS, unit=unit, admin_ids=data.settings.admin_ids)


async def on_text(
    session: AsyncSession,
    data: BotData,
    plan: Plan,
    head: Person,
    pending: OfficerPending,
    reading: steps.Reading,
) -> None:
    """The typed decision number and date (officer_desk.TEXTS), inside the desk's transaction; the head's role
    on the unit is checked again first."""
    plan.locale, plan.viewer_id = head.locale, head.id
    unit = await session.get(Unit, pending.unit_id) if pending.unit_id else None
    year = pending.year or data.year()
    if unit is None or not await _may(session, data, head, unit):
        await rv.clear_pending(session=session, person_id=head.id or 0)
        plan.say(gettext("officer.scope.no_role", head.locale))
        return
    parsed = parse_decision(reading.text) if isinstance(reading, steps.Text) else None
    if parsed is None:  # unreadable, or too long to be a decision's number and date
        plan.say(gettext("officer.recognise.bad_decision", head.locale, year=year))
        return
    await rv.clear_pending(session=session, person_id=head.id or 0)
    await apply_decision(session, data, plan, head.id or 0, head.locale, unit, year, *parsed)


async def apply_decision(
    session: AsyncSession,
    data: BotData,
    plan: Plan,
    head_id: int,
    locale: str,
    unit: Unit,
    year: int,
    number: str,
    day: date,
) -> None:
    """Records the decision on every reviewed assessment of the subtree and owes each citizen their result."""
    when = datetime(day.year, day.month, day.day, tzinfo=data.settings.zone)
    outcomes = await rv.recognise(
        session=session,
        registry=data.registry,
        unit_path=unit.path,
        year=year,
        decision_no=number,
        decision_date=when,
        actor_id=head_id,
    )
    if not outcomes:
        plan.say(gettext("officer.recognise.none", locale, unit=escape(unit.name), year=year))
        return
    # In this transaction: the results are never lost to a crash after the commit, and the update is not
    # held up sending hundreds of messages (each messenger's dispatcher sends them within its limits).
    now, cycle = data.now(), planning.decision_cycle(year)
    owed = await ro.enqueue_many(
        session=session,
        rows=[
            ro.Owed(o.person_id, planning.DECISION, cycle, now, {"assessment_id": o.assessment_id, "total": o.total})
            for o in outcomes
        ],
    )
    plan.notices_owed = True
    log.info("decision recorded: unit=%s year=%s assessments=%s notices=%s", unit.id, year, len(outcomes), owed)
    yes = sum(o.recognised for o in outcomes)
    lines = [
        gettext(
            "officer.recognise.done",
            locale,
            decision=escape(number),
            date=show_date(day, locale),
            yes=yes,
            no=len(outcomes) - yes,
        )
    ]
    start = policy_for(data.settings).next_allowed(now)
    if start != now:  # quiet hours: the results go out when they end
        shown = Renderer(locale, data.registry, data.settings.zone).when(start)
        lines.append(gettext("broadcast.deferred", locale, when=shown))
    plan.say("\n".join(lines))
