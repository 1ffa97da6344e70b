"""The head's recognition: ``/recognise [UNIT] [YEAR]`` lists the reviewed assessments and who qualifies (the
scoring rule on the reviewed points); the decision number and date are typed after a button, or given at
once with ``--decision 12/QĐ-UBND 20/12/2026``. Each citizen's outcome is owed in the outbox in the decision's
own transaction and sent by the dispatcher in their language (after the quiet hours, if they hold now)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import date, datetime
from html import escape

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.context import Context
from bot.handlers.officer_buttons import OButton, OVerb
from bot.handlers.officer_scope import HEADS, Scope, officer_of, officer_scope
from bot.handlers.officer_send import Replies, deliver
from bot.reminders import policy_for, show_date
from bot.render import Renderer
from locales import gettext
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


async def recognise_command(update: Update, context: Context) -> None:
    """Lists who qualifies; with ``--decision NUMBER DATE`` records the decision at once."""
    message = update.effective_message
    assert message is not None
    args = list(context.args or [])
    decision: list[str] | None = None
    if DECISION_FLAG in args:
        at = args.index(DECISION_FLAG)
        args, decision = args[:at], args[at + 1 :]
    scope = await officer_scope(update, context, HEADS, args)
    if scope is None:
        return
    replies = Replies()
    async with unit_of_work(context.db) as session:
        unit = await session.get(Unit, scope.unit_id)
        assert unit is not None
        if decision is None:
            await _list(session, context, replies, scope, unit)
        else:
            parsed = parse_decision(" ".join(decision))
            if parsed is None:
                replies.say(scope.chat_id, gettext("officer.recognise.bad_decision", scope.locale, year=scope.year))
            else:
                await apply_decision(
                    session, context, replies, scope.officer_id, scope.chat_id, scope.locale, unit, scope.year, *parsed
                )
    await deliver(context, replies)


async def _list(session: AsyncSession, context: Context, replies: Replies, scope: Scope, unit: Unit) -> None:
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
        replies.lines(scope.chat_id, lines)
        return
    body, yes = [], 0
    for assessment, person, held in rows:
        pack = rv.pack_of(context.registry, assessment)
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
    lines.append(t("officer.recognise.how", code=escape(unit.code), year=scope.year))
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    t("officer.btn.decision"),
                    callback_data=OButton(OVerb.DECISION, unit.id or 0, scope.year).encode(),
                )
            ]
        ]
    )
    replies.lines(scope.chat_id, lines, markup)


def _t(locale: str) -> Callable[..., str]:
    return lambda key, **values: gettext(key, locale, **values)


# --------------------------------------------------------------------------- the decision


async def on_button(update: Update, context: Context, pressed: OButton) -> None:
    """«Record the decision»: checks the head's scope, then waits for the number and date to be typed."""
    query, user = update.callback_query, update.effective_user
    assert query is not None and user is not None
    replies = Replies()
    alert = None
    async with unit_of_work(context.db) as session:
        head = await officer_of(session, user)
        unit = await session.get(Unit, pressed.owner)
        if head is None or unit is None or not await _may(session, context, head, unit):
            locale = head.locale if head else context.settings.default_locale
            alert = gettext("officer.scope.no_role", locale)
            replies.say(head.chat_id or head.external_id if head else str(user.id), alert)
        else:
            await rv.set_pending(
                session=session,
                person_id=head.id or 0,
                kind="decision",
                now=context.now(),
                unit_id=unit.id,
                year=pressed.rev,
            )
            asked = gettext("officer.recognise.ask", head.locale, year=pressed.rev)
            replies.say(head.chat_id or head.external_id, asked)
    await query.answer(alert)
    await deliver(context, replies)


async def _may(session: AsyncSession, context: Context, head: Person, unit: Unit) -> bool:
    return await rr.may(session=session, person=head, roles=HEADS, unit=unit, admin_ids=context.settings.admin_ids)


async def on_text(
    session: AsyncSession, context: Context, replies: Replies, head: Person, pending: OfficerPending, text: str
) -> None:
    """The typed decision number and date."""
    chat_id = head.chat_id or head.external_id
    unit = await session.get(Unit, pending.unit_id) if pending.unit_id else None
    year = pending.year or context.year()
    if unit is None or not await _may(session, context, head, unit):
        await rv.clear_pending(session=session, person_id=head.id or 0)
        replies.say(chat_id, gettext("officer.scope.no_role", head.locale))
        return
    parsed = parse_decision(text)
    if parsed is None:
        replies.say(chat_id, gettext("officer.recognise.bad_decision", head.locale, year=year))
        return
    await rv.clear_pending(session=session, person_id=head.id or 0)
    await apply_decision(session, context, replies, head.id or 0, chat_id, head.locale, unit, year, *parsed)


async def apply_decision(
    session: AsyncSession,
    context: Context,
    replies: Replies,
    head_id: int,
    chat_id: str,
    locale: str,
    unit: Unit,
    year: int,
    number: str,
    day: date,
) -> None:
    """Records the decision on every reviewed assessment of the subtree and owes each citizen their result."""
    when = datetime(day.year, day.month, day.day, tzinfo=context.settings.zone)
    outcomes = await rv.recognise(
        session=session,
        registry=context.registry,
        unit_path=unit.path,
        year=year,
        decision_no=number,
        decision_date=when,
        actor_id=head_id,
    )
    if not outcomes:
        replies.say(chat_id, gettext("officer.recognise.none", locale, unit=escape(unit.name), year=year))
        return
    # In this transaction: the results are never lost to a crash after the commit, and the update is not
    # held up sending hundreds of messages (the dispatcher sends them within Telegram's limits).
    now, cycle = context.now(), planning.decision_cycle(year)
    owed = await ro.enqueue_many(
        session=session,
        rows=[
            ro.Owed(o.person_id, planning.DECISION, cycle, now, {"assessment_id": o.assessment_id, "total": o.total})
            for o in outcomes
        ],
    )
    replies.owed()
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
    start = policy_for(context.settings).next_allowed(now)
    if start != now:  # quiet hours: the results go out when they end
        when = Renderer(locale, context.registry, context.settings.zone).when(start)
        lines.append(gettext("broadcast.deferred", locale, when=when))
    replies.say(chat_id, "\n".join(lines))
