"""The team's review in the chat: ``/review [UNIT] [YEAR]`` shows submitted assessments of the reviewer's
subtree one at a time, with the evidence re-sent; the reviewer confirms, adjusts an indicator (points from
the pack's levels, then a typed reason) or returns the assessment to the citizen for chosen indicators.

Every press and every typed reason re-checks the reviewer's role and scope and the assessment's revision;
the step waiting for a typed reason is a row in ``officer_pending``, never process memory.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from html import escape

from babel.dates import format_datetime
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.context import Context
from bot.handlers.officer_buttons import BadOfficerButton, OButton, OVerb
from bot.handlers.officer_scope import REVIEWERS, officer_of, officer_scope
from bot.handlers.officer_send import EvidenceSet, File, Replies, deliver
from conversations.criteria import Indicator, Pack
from conversations.scoring import Score
from locales import gettext
from scheduler import planning
from storage import repo_assessments as ra
from storage import repo_outbox as ro
from storage import repo_review as rv
from storage import repo_roles as rr
from storage.db import unit_of_work
from storage.models import Assessment, AssessmentStatus, OfficerPending, Person, Unit

log = logging.getLogger(__name__)

REASON_MIN = 3
REASON_MAX = 1000


@dataclass(frozen=True)
class Viewer:
    """The reviewer looking at the chat: whom to answer, in which language."""

    officer_id: int
    chat_id: str
    locale: str

    def t(self, key: str, **values: object) -> str:
        return gettext(key, self.locale, **values)


class Refused(Exception):
    """The press or text is not allowed now; ``key`` says why in the viewer's language."""

    def __init__(self, key: str, *, show_current: bool = True) -> None:
        super().__init__(key)
        self.key = key
        self.show_current = show_current  # only once the presser's scope has been checked


# --------------------------------------------------------------------------- the command


async def review_command(update: Update, context: Context) -> None:
    """Shows the first submitted assessment of the reviewer's unit (or the one named) for the year."""
    scope = await officer_scope(update, context, REVIEWERS)
    if scope is None:
        return
    replies = Replies()
    async with unit_of_work(context.db) as session:
        unit = await session.get(Unit, scope.unit_id)
        assert unit is not None
        viewer = Viewer(scope.officer_id, scope.chat_id, scope.locale)
        await show_next(session, context, replies, viewer, unit, scope.year, after_id=0)
    await deliver(context, replies)


# --------------------------------------------------------------------------- cards


async def show_next(
    session: AsyncSession, context: Context, replies: Replies, viewer: Viewer, unit: Unit, year: int, after_id: int
) -> None:
    found = await rv.next_submitted(session=session, unit_path=unit.path, year=year, after_id=after_id)
    if found is None:
        replies.say(viewer.chat_id, viewer.t("officer.review.none", unit=escape(unit.name), year=year))
        return
    await show_card(session, context, replies, viewer, found, unit, with_evidence=True)


async def show_card(
    session: AsyncSession,
    context: Context,
    replies: Replies,
    viewer: Viewer,
    assessment: Assessment,
    browse: Unit,
    *,
    with_evidence: bool,
) -> None:
    """The assessment as the team sees it; the evidence first, so the buttons end the chat."""
    person = await session.get(Person, assessment.person_id)
    unit = await rv.assessment_unit(session=session, assessment=assessment)
    pack = rv.pack_of(context.registry, assessment)
    assert person is not None and pack is not None
    name = escape(person.full_name or "—")
    answers = await ra.answers(session=session, assessment_id=assessment.id or 0)
    counts = await ra.evidence_counts(session=session, assessment_id=assessment.id or 0)
    own = await rv.computed_score(session=session, pack=pack, assessment=assessment)
    reviewed = await rv.reviewed_score(session=session, pack=pack, assessment=assessment)
    if with_evidence:
        replies.evidence(viewer.chat_id, await _evidence_sets(session, viewer, assessment, name))
    waiting = await rv.count_by_status(
        session=session, unit_path=browse.path, year=assessment.year, status=AssessmentStatus.SUBMITTED
    )
    lines = [
        viewer.t("officer.review.card_title", year=assessment.year),
        viewer.t(
            "officer.review.card_person",
            name=name,
            unit=escape(unit.name if unit else "—"),
            pack=escape(pack.title.get(viewer.locale)),
            when=format_datetime(
                assessment.submitted_at or assessment.updated_at,
                "short",
                tzinfo=context.settings.zone,
                locale=viewer.locale,
            ),
        ),
    ]
    if assessment.return_reason:
        lines.append(viewer.t("officer.review.was_returned", reason=escape(assessment.return_reason)))
    lines.append("")
    for ind in pack.indicators:
        n = ind.number
        answer = answers.get(n)
        values = {
            "n": n,
            "text": escape(_short(ind.text.get(viewer.locale))),
            "chosen": answer.chosen if answer and answer.chosen is not None else "—",
            "points": own.points[n],
            "files": counts.get(n, 0),
        }
        if answer is not None and answer.reviewer_points is not None and answer.reviewer_reason:
            lines.append(
                viewer.t(
                    "officer.review.card_line_adjusted",
                    reviewed=answer.reviewer_points,
                    reason=escape(answer.reviewer_reason),
                    **values,
                )
            )
        else:
            lines.append(viewer.t("officer.review.card_line", **values))
    lines += [
        "",
        viewer.t("officer.review.card_totals", own=own.total, reviewed=reviewed.total),
        _verdict(viewer, reviewed),
        "",
        viewer.t("officer.review.card_waiting", n=waiting, unit=escape(browse.name)),
    ]
    replies.lines(viewer.chat_id, lines, _card_buttons(viewer, assessment, browse))


def _verdict(viewer: Viewer, result: Score) -> str:
    if result.recognised:
        return viewer.t("officer.review.qualifies")
    why = []
    if result.holds_back.below_minimum:
        why.append(viewer.t("officer.review.why_below", indicators=_numbers(result.holds_back.below_minimum)))
    if result.holds_back.missing_points:
        why.append(viewer.t("officer.review.why_missing", points=result.holds_back.missing_points))
    return viewer.t("officer.review.not_qualifies", why="; ".join(why))


async def _evidence_sets(
    session: AsyncSession, viewer: Viewer, assessment: Assessment, name: str
) -> tuple[EvidenceSet, ...]:
    by_indicator: dict[int, list[File]] = defaultdict(list)
    for item in await ra.list_evidence(session=session, assessment_id=assessment.id or 0):
        by_indicator[item.indicator].append(File(item.kind, item.file_id))
    return tuple(
        EvidenceSet(viewer.t("officer.review.evidence_caption", n=n, name=name), tuple(files))
        for n, files in sorted(by_indicator.items())
    )


def _btn(
    viewer: Viewer, key: str, verb: OVerb, assessment: Assessment, arg: str, **values: object
) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        viewer.t(key, **values), callback_data=OButton(verb, assessment.id or 0, assessment.rev, arg).encode()
    )


def _card_buttons(viewer: Viewer, a: Assessment, browse: Unit) -> InlineKeyboardMarkup:
    u = str(browse.id)
    return InlineKeyboardMarkup(
        [
            [_btn(viewer, "officer.btn.confirm", OVerb.CONFIRM, a, u)],
            [
                _btn(viewer, "officer.btn.adjust", OVerb.ADJUST_MENU, a, u),
                _btn(viewer, "officer.btn.return", OVerb.RETURN_MENU, a, u),
            ],
            [_btn(viewer, "officer.btn.next", OVerb.NEXT, a, u)],
        ]
    )


def _rows(buttons: list[InlineKeyboardButton], width: int = 5) -> list[list[InlineKeyboardButton]]:
    return [buttons[i : i + width] for i in range(0, len(buttons), width)]


def _numbers(numbers: tuple[int, ...] | list[int]) -> str:
    return ", ".join(str(n) for n in numbers)


def _short(text: str, limit: int = 70) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --------------------------------------------------------------------------- buttons


async def on_button(update: Update, context: Context, pressed: OButton) -> None:
    """One of the review buttons: checks role, scope and revision, then acts inside one transaction."""
    query = update.callback_query
    user = update.effective_user
    assert query is not None and user is not None
    replies = Replies()
    alert: str | None = None
    async with unit_of_work(context.db) as session:
        officer = await officer_of(session, user)
        if officer is None:
            await query.answer()
            return
        viewer = Viewer(officer.id or 0, officer.chat_id or officer.external_id, officer.locale)
        try:
            assessment, browse = await _load(session, context, officer, pressed.owner, pressed.first())
            if pressed.verb is OVerb.NEXT:
                await show_next(session, context, replies, viewer, browse, assessment.year, assessment.id or 0)
            else:
                if pressed.rev != assessment.rev or assessment.status != AssessmentStatus.SUBMITTED:
                    raise Refused("officer.review.stale")
                shown = query.message.message_id if query.message else None
                alert = await _press(session, context, replies, viewer, officer, assessment, browse, pressed, shown)
        except Refused as refused:
            log.info("review button refused: %s", refused.key)
            alert = viewer.t(refused.key)
            replies.say(viewer.chat_id, alert)
            if refused.show_current:
                await _show_current(session, context, replies, viewer, pressed)
        except BadOfficerButton:
            alert = viewer.t("officer.forged")
    await query.answer(alert)
    await deliver(context, replies)


async def _show_current(
    session: AsyncSession, context: Context, replies: Replies, viewer: Viewer, pressed: OButton
) -> None:
    """After a stale press: the same assessment again if still to review, else the next one."""
    assessment = await session.get(Assessment, pressed.owner)
    browse = await session.get(Unit, pressed.first())
    if assessment is None or browse is None:
        return
    if assessment.status == AssessmentStatus.SUBMITTED:
        await show_card(session, context, replies, viewer, assessment, browse, with_evidence=False)
    else:
        await show_next(session, context, replies, viewer, browse, assessment.year, assessment.id or 0)


async def _load(
    session: AsyncSession, context: Context, officer: Person, assessment_id: int, browse_id: int
) -> tuple[Assessment, Unit]:
    """The assessment (locked) and the unit the reviewer browses, if both lie within the reviewer's scope."""
    assessment = (
        await session.exec(select(Assessment).where(Assessment.id == assessment_id).with_for_update())
    ).first()
    browse = await session.get(Unit, browse_id)
    unit = await rv.assessment_unit(session=session, assessment=assessment) if assessment else None
    if assessment is None or browse is None or unit is None:
        raise Refused("officer.review.stale", show_current=False)
    allowed = await rr.may(
        session=session, person=officer, roles=REVIEWERS, unit=browse, admin_ids=context.settings.admin_ids
    )
    if not allowed or not rr.contains(browse, unit):
        raise Refused("officer.scope.no_role", show_current=False)
    return assessment, browse


async def _press(
    session: AsyncSession,
    context: Context,
    replies: Replies,
    viewer: Viewer,
    officer: Person,
    a: Assessment,
    browse: Unit,
    pressed: OButton,
    shown: int | None,
) -> str | None:
    """Acts on one button; returns a short alert for the button's spinner, if any."""
    pack = rv.pack_of(context.registry, a)
    assert pack is not None
    u = str(browse.id)
    match pressed.verb:
        case OVerb.CONFIRM:
            await rv.clear_pending(session=session, person_id=officer.id or 0)
            result = await rv.confirm(
                session=session, pack=pack, assessment=a, actor_id=officer.id or 0, now=context.now()
            )
            log.info("assessment reviewed: id=%s", a.id)
            replies.say(
                viewer.chat_id,
                viewer.t(
                    "officer.review.confirmed",
                    name=await _name(session, a),
                    total=result.total,
                    verdict=viewer.t(
                        "officer.review.verdict_yes" if result.recognised else "officer.review.verdict_no"
                    ),
                ),
            )
            await show_next(session, context, replies, viewer, browse, a.year, a.id or 0)
        case OVerb.CARD:
            await rv.clear_pending(session=session, person_id=officer.id or 0)
            await show_card(session, context, replies, viewer, a, browse, with_evidence=False)
        case OVerb.ADJUST_MENU:
            buttons = [
                _btn(viewer, "officer.btn.indicator", OVerb.ADJUST_INDICATOR, a, f"{u}:{n}", n=n) for n in pack.numbers
            ]
            markup = InlineKeyboardMarkup([*_rows(buttons), [_btn(viewer, "officer.btn.back", OVerb.CARD, a, u)]])
            replies.say(viewer.chat_id, viewer.t("officer.review.adjust_pick"), markup)
        case OVerb.ADJUST_INDICATOR:
            _, n = pressed.ints(2)
            await _adjust_levels(session, replies, viewer, pack, a, browse, n)
        case OVerb.ADJUST_POINTS:
            _, n, points = pressed.ints(3)
            ind = _indicator(pack, n)
            if ind.level(points) is None:
                raise BadOfficerButton(pressed.arg)
            current = (await rv.reviewed_score(session=session, pack=pack, assessment=a)).points[n]
            await rv.set_pending(
                session=session,
                person_id=officer.id or 0,
                kind="adjust",
                now=context.now(),
                assessment_id=a.id,
                unit_id=browse.id,
                data={"indicator": n, "points": points, "rev": a.rev},
            )
            replies.say(viewer.chat_id, viewer.t("officer.review.adjust_reason", n=n, before=current, after=points))
        case OVerb.RETURN_MENU:
            await rv.set_pending(
                session=session,
                person_id=officer.id or 0,
                kind="return_pick",
                now=context.now(),
                assessment_id=a.id,
                unit_id=browse.id,
                data={"indicators": [], "rev": a.rev},
            )
            _return_picker(replies, viewer, pack, a, browse, [])
        case OVerb.RETURN_TOGGLE:
            _, n = pressed.ints(2)
            _indicator(pack, n)
            pending = await _pending_for(session, context, officer, a, "return_pick")
            chosen = set(pending.data.get("indicators", []))
            chosen ^= {n}
            pending.data = {**pending.data, "indicators": sorted(chosen)}
            await session.flush()
            _return_picker(replies, viewer, pack, a, browse, sorted(chosen), edit=shown)
        case OVerb.RETURN_REASON:
            pending = await _pending_for(session, context, officer, a, "return_pick")
            chosen = list(pending.data.get("indicators", []))
            if not chosen:
                return viewer.t("officer.review.return_none")
            pending.kind = "return_reason"
            await session.flush()
            replies.say(viewer.chat_id, viewer.t("officer.review.return_reason", indicators=_numbers(chosen)))
        case _:
            raise BadOfficerButton(pressed.verb)
    return None


def _indicator(pack: Pack, n: int) -> Indicator:
    if n not in pack.numbers:
        raise BadOfficerButton(str(n))
    return pack.indicator(n)


async def _adjust_levels(
    session: AsyncSession, replies: Replies, viewer: Viewer, pack: Pack, a: Assessment, browse: Unit, n: int
) -> None:
    ind = _indicator(pack, n)
    answers = await ra.answers(session=session, assessment_id=a.id or 0)
    counts = await ra.evidence_counts(session=session, assessment_id=a.id or 0)
    current = (await rv.reviewed_score(session=session, pack=pack, assessment=a)).points[n]
    chosen = answers[n].chosen if n in answers and answers[n].chosen is not None else "—"
    u = str(browse.id)
    buttons = [
        _btn(viewer, "officer.btn.points", OVerb.ADJUST_POINTS, a, f"{u}:{n}:{lv.points}", points=lv.points)
        for lv in ind.levels
    ]
    text = viewer.t(
        "officer.review.adjust_levels",
        n=n,
        text=escape(ind.text.get(viewer.locale)),
        points=current,
        chosen=chosen,
        files=counts.get(n, 0),
    )
    replies.say(
        viewer.chat_id,
        text,
        InlineKeyboardMarkup([*_rows(buttons, 3), [_btn(viewer, "officer.btn.back", OVerb.ADJUST_MENU, a, u)]]),
    )


def _return_picker(
    replies: Replies,
    viewer: Viewer,
    pack: Pack,
    a: Assessment,
    browse: Unit,
    chosen: list[int],
    edit: int | None = None,
) -> None:
    """The indicators to return, ticked as chosen; a toggle redraws the same message."""
    u = str(browse.id)
    buttons = [
        InlineKeyboardButton(
            ("✅ " if n in chosen else "") + viewer.t("officer.btn.indicator", n=n),
            callback_data=OButton(OVerb.RETURN_TOGGLE, a.id or 0, a.rev, f"{u}:{n}").encode(),
        )
        for n in pack.numbers
    ]
    selected = (
        viewer.t("officer.review.return_selected", indicators=_numbers(chosen))
        if chosen
        else viewer.t("officer.review.return_selected_none")
    )
    text = viewer.t("officer.review.return_pick") + "\n" + selected
    markup = InlineKeyboardMarkup(
        [
            *_rows(buttons),
            [_btn(viewer, "officer.btn.return_reason", OVerb.RETURN_REASON, a, u)],
            [_btn(viewer, "officer.btn.back", OVerb.CARD, a, u)],
        ]
    )
    if edit is None:
        replies.say(viewer.chat_id, text, markup)
    else:
        replies.edit(viewer.chat_id, edit, text, markup)


async def _pending_for(
    session: AsyncSession, context: Context, officer: Person, a: Assessment, kind: str
) -> OfficerPending:
    pending = await rv.get_pending(session=session, person_id=officer.id or 0, now=context.now())
    if pending is None or pending.kind != kind or pending.assessment_id != a.id:
        raise Refused("officer.review.stale")
    return pending


async def _name(session: AsyncSession, a: Assessment) -> str:
    person = await session.get(Person, a.person_id)
    return escape(person.full_name or "—") if person else "—"


# --------------------------------------------------------------------------- typed reasons


async def on_text(
    session: AsyncSession,
    context: Context,
    replies: Replies,
    officer: Person,
    pending: OfficerPending,
    text: str,
) -> None:
    """A reason typed for a pending adjustment or return; anything else while picking points to the buttons."""
    viewer = Viewer(officer.id or 0, officer.chat_id or officer.external_id, officer.locale)
    try:
        a, browse = await _load(session, context, officer, pending.assessment_id or 0, pending.unit_id or 0)
    except Refused as refused:
        await rv.clear_pending(session=session, person_id=officer.id or 0)
        replies.say(viewer.chat_id, viewer.t(refused.key))
        return
    if a.status != AssessmentStatus.SUBMITTED or pending.data.get("rev") != a.rev:
        await rv.clear_pending(session=session, person_id=officer.id or 0)
        replies.say(viewer.chat_id, viewer.t("officer.review.stale"))
        await show_next(session, context, replies, viewer, browse, a.year, 0)
        return
    if pending.kind == "return_pick":
        replies.say(viewer.chat_id, viewer.t("officer.review.use_buttons"))
        return
    reason = " ".join(text.split())
    if len(reason) < REASON_MIN:
        replies.say(viewer.chat_id, viewer.t("officer.review.reason_short"))
        return
    if len(reason) > REASON_MAX:
        replies.say(viewer.chat_id, viewer.t("officer.review.reason_long", max=REASON_MAX))
        return
    pack = rv.pack_of(context.registry, a)
    assert pack is not None
    await rv.clear_pending(session=session, person_id=officer.id or 0)
    if pending.kind == "adjust":
        n, points = int(pending.data["indicator"]), int(pending.data["points"])
        before, after = await rv.adjust(
            session=session,
            pack=pack,
            assessment=a,
            indicator=n,
            points=points,
            reason=reason,
            actor_id=officer.id or 0,
        )
        log.info("indicator adjusted: assessment=%s indicator=%s", a.id, n)
        replies.say(viewer.chat_id, viewer.t("officer.review.adjusted", n=n, before=before, after=after))
        await show_card(session, context, replies, viewer, a, browse, with_evidence=False)
        return
    if pending.kind == "return_reason":
        indicators = [int(n) for n in pending.data.get("indicators", [])]
        await rv.return_to_citizen(
            session=session, assessment=a, indicators=indicators, reason=reason, actor_id=officer.id or 0
        )
        log.info("assessment returned: id=%s", a.id)
        await _owe_returned(session, context, replies, a)
        replies.say(
            viewer.chat_id,
            viewer.t("officer.review.returned", name=await _name(session, a), indicators=_numbers(indicators)),
        )
        await show_next(session, context, replies, viewer, browse, a.year, a.id or 0)


async def _owe_returned(session: AsyncSession, context: Context, replies: Replies, a: Assessment) -> None:
    """The citizen's notice, owed in the return's own transaction (a crash after the commit cannot lose it);
    the dispatcher composes it from the assessment when it goes out, with a Continue button."""
    await ro.enqueue(
        session=session,
        person_id=a.person_id,
        kind=planning.RETURNED,
        cycle=planning.returned_cycle(a.year, a.rev),
        due_at=context.now(),
        payload={"assessment_id": a.id},
    )
    replies.owed()
