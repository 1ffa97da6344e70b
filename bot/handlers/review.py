"""The team's review, written once for every messenger: ``/review [UNIT] [YEAR]`` shows the submitted
assessments of the reviewer's subtree one at a time, the card first and each indicator's evidence only when
asked for ("📎 CT 5": an album on Telegram, signed links on Zalo); the reviewer confirms, adjusts an indicator
(points from the pack's levels, then a typed reason) or returns the assessment to the citizen for chosen
indicators (then a typed reason). The choices are buttons on Telegram and numbered lines on Zalo; both come
back here as the same ``o|…`` data (bot.handlers.officer_buttons).

Every choice and every typed reason re-checks the reviewer's role and scope and the assessment's revision,
under a row lock on the assessment; the step waiting for a typed reason is a row in ``officer_pending``,
never process memory. A return, and a confirmation that changed the citizen's points, owe the citizen a
notice in the outbox, in the action's own transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

from babel.dates import format_datetime
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import BotData
from bot.handlers import recognition, review_findings
from bot.handlers.officer_buttons import BadOfficerButton, OButton, OVerb, decode
from bot.handlers.officer_scope import REVIEWERS, Refusal, officer_of_sender, scope_for
from bot.replies import EvidenceSet, Plan, StoredFile
from bot.screens import Choice, Screen
from bot.sender import Sender
from conversations import officer_steps as steps
from conversations.criteria import Indicator, Pack
from conversations.identity import Channel
from conversations.scoring import Score
from locales import SUPPORTED, gettext, gettext_typed, negotiate
from scheduler import planning
from storage import repo_assessments as ra
from storage import repo_outbox as ro
from storage import repo_review as rv
from storage import repo_roles as rr
from storage.db import unit_of_work
from storage.models import Answer, Assessment, AssessmentStatus, OfficerPending, Person, Unit

log = logging.getLogger(__name__)

# The card's text must leave room for its choices in one message: where they are typed (Zalo: 2000 characters,
# less a numbered line per choice and the reply hint), and on Telegram (4096).
TYPED_LIMIT = 2000
TYPED_LINE = 12  # "<b>14.</b> " and the line break around a choice's label
TYPED_HINT = 60  # "✍️ Gõ số 1–14." in italics, after a blank line
BUTTONS_CARD_BUDGET = 3900
# Buttons in a row of an indicator picker: four short labels ("CT 10") fit a small phone's width.
PICKER_WIDTH = 4
# How tersely a card is drawn, tried in order until it fits: characters kept of (an indicator's text, a
# reviewer's reason, the person's name / unit / pack). Points and evidence counts are never cut.
_TERSENESS = ((70, 1000, 200), (40, 120, 60), (24, 40, 40), (16, 24, 30), (12, 1, 30))


@dataclass(frozen=True)
class Viewer:
    """The reviewer reading the screen: their language, and whether choices are typed back (Zalo)."""

    officer_id: int
    locale: str
    typed: bool

    def t(self, key: str, **values: object) -> str:
        return gettext_typed(key, self.locale, typed=self.typed, **values)

    def budget(self, choices: Sequence[Choice]) -> int:
        """Characters the card's text may take beside ``choices`` in one message."""
        if not self.typed:
            return BUTTONS_CARD_BUDGET
        return TYPED_LIMIT - sum(len(c.label) + TYPED_LINE for c in choices) - TYPED_HINT


def viewer_of(officer: Person, who: Sender | None = None) -> Viewer:
    """From the update's sender when there is one; a typed step only has the officer, whose messenger is
    their row's channel (a person is one per messenger)."""
    typed = not who.buttons if who is not None else officer.channel != Channel.TELEGRAM.value
    return Viewer(officer.id or 0, officer.locale, typed)


class Refused(Exception):
    """The choice or text is not allowed now; ``key`` says why in the viewer's language."""

    def __init__(self, key: str, *, show_current: bool = True) -> None:
        super().__init__(key)
        self.key = key
        self.show_current = show_current  # only once the presser's scope has been checked


# --------------------------------------------------------------------------- the command


async def review_command(data: BotData, who: Sender, args: Sequence[str]) -> Plan:
    """Shows the first submitted assessment of the reviewer's unit (or the one named) for the year."""
    scope = await scope_for(data, who, REVIEWERS, args)
    if isinstance(scope, Refusal):
        return scope.plan()
    plan = Plan(locale=scope.locale, viewer_id=scope.officer_id)
    viewer = Viewer(scope.officer_id, scope.locale, typed=not who.buttons)
    async with unit_of_work(data.sessions) as session:
        # A fresh start: a reason still owed from an earlier card would otherwise take the next line typed.
        await rv.clear_pending(session=session, person_id=scope.officer_id)
        unit = await session.get(Unit, scope.unit_id)
        assert unit is not None
        await show_next(session, data, plan, viewer, unit, scope.year, after_id=0)
    return plan


# --------------------------------------------------------------------------- cards


async def show_next(
    session: AsyncSession, data: BotData, plan: Plan, viewer: Viewer, unit: Unit, year: int, after_id: int
) -> None:
    found = await rv.next_submitted(session=session, unit_path=unit.path, year=year, after_id=after_id)
    if found is None:
        plan.say(viewer.t("officer.review.none", unit=escape(unit.name), year=year))
        return
    await show_card(session, data, plan, viewer, found, unit)


async def show_card(
    session: AsyncSession, data: BotData, plan: Plan, viewer: Viewer, assessment: Assessment, browse: Unit
) -> None:
    """The assessment as the team sees it, its choices last; no file is sent with it: each indicator's evidence
    is a choice of its own ("📎 CT 5")."""
    facts = await _card_facts(session, data, viewer, assessment, browse)
    choices = _card_choices(viewer, assessment, browse, facts.counts)
    plan.show(Screen(card_text(viewer, facts, viewer.budget(tuple(c for row in choices for c in row))), choices))


async def _card_facts(
    session: AsyncSession, data: BotData, viewer: Viewer, assessment: Assessment, browse: Unit
) -> _CardFacts:
    person = await session.get(Person, assessment.person_id)
    unit = await rv.assessment_unit(session=session, assessment=assessment)
    pack = rv.pack_of(data.registry, assessment)
    assert person is not None and pack is not None
    place, queue = await rv.queue_position(
        session=session, unit_path=browse.path, year=assessment.year, assessment=assessment
    )
    officer = await session.get(Person, viewer.officer_id)  # whose scope decides who a copy's user is shown to
    found = (
        await review_findings.card_lines(session, data, officer, assessment.id or 0, assessment.year, viewer.locale)
        if officer is not None
        else {}
    )
    return _CardFacts(
        assessment=assessment,
        person=person,
        unit_name=unit.name if unit else "—",
        pack=pack,
        answers=await ra.answers(session=session, assessment_id=assessment.id or 0),
        counts=await ra.evidence_counts(session=session, assessment_id=assessment.id or 0),
        own=await rv.computed_score(session=session, pack=pack, assessment=assessment),
        reviewed=await rv.reviewed_score(session=session, pack=pack, assessment=assessment),
        place=place,
        queue=queue,
        browse_name=browse.name,
        submitted=format_datetime(
            assessment.submitted_at or assessment.updated_at,
            "short",
            tzinfo=data.settings.zone,
            locale=viewer.locale,
        ),
        notes={n: (line,) for n, line in found.items()},
    )


@dataclass(frozen=True)
class _CardFacts:
    """What a card shows, read once and drawn as tersely as the messenger needs."""

    assessment: Assessment
    person: Person
    unit_name: str
    pack: Pack
    answers: dict[int, Answer]
    counts: dict[int, int]
    own: Score
    reviewed: Score
    place: int  # the card's place among the unit's submitted assessments ("Bản 1/2")
    queue: int
    browse_name: str
    submitted: str
    # Lines to add under an indicator, by its number (what a reader of the evidence found, say): kept whole
    # while the card fits, cut as the indicator's text is when it does not.
    notes: Mapping[int, Sequence[str]] = field(default_factory=dict)


def card_text(viewer: Viewer, facts: _CardFacts, budget: int) -> str:
    """The card's text, drawn as tersely as it must be to fit ``budget`` characters."""
    text = ""
    for terseness in _TERSENESS:
        text = _card_text(viewer, facts, *terseness)
        if len(text) <= budget:
            break
    return text


def _card_text(viewer: Viewer, f: _CardFacts, label: int, reason: int, names: int) -> str:
    a = f.assessment
    lines = [
        viewer.t("officer.review.card_title", year=a.year),
        viewer.t(
            "officer.review.card_person",
            name=escape(_short(f.person.full_name or "—", names)),
            unit=escape(_short(f.unit_name, names)),
            pack=escape(_short(f.pack.title.get(viewer.locale), names)),
            when=f.submitted,
        ),
    ]
    if a.return_reason:
        lines.append(viewer.t("officer.review.was_returned", reason=escape(_short(a.return_reason, reason))))
    lines.append("")
    for ind in f.pack.indicators:
        lines += _indicator_lines(viewer, f, ind, label, reason)
    lines += [
        "",
        viewer.t("officer.review.card_totals", own=f.own.total, reviewed=f.reviewed.total),
        _verdict(viewer, f.reviewed),
        "",
    ]
    if not viewer.typed and any(f.counts.values()):  # Zalo's numbered lines say it themselves
        lines.append(viewer.t("officer.review.card_evidence_hint"))
    lines.append(
        viewer.t("officer.review.card_position", n=f.place, of=f.queue, unit=escape(_short(f.browse_name, names)))
    )
    return "\n".join(lines)


def _indicator_lines(viewer: Viewer, f: _CardFacts, ind: Indicator, label: int, reason: int) -> list[str]:
    """One indicator on the card: its points (the team's and why, once adjusted), its evidence count, notes."""
    n = ind.number
    answer = f.answers.get(n)
    values = {
        "n": n,
        "text": escape(_short(ind.text.get(viewer.locale), label)),
        "chosen": answer.chosen if answer and answer.chosen is not None else "—",
        "points": f.own.points[n],
        "files": f.counts.get(n, 0),
    }
    if answer is not None and answer.reviewer_points is not None and answer.reviewer_reason:
        line = viewer.t(
            "officer.review.card_line_adjusted",
            reviewed=answer.reviewer_points,
            reason=escape(_short(answer.reviewer_reason, reason)),
            **values,
        )
    else:
        line = viewer.t("officer.review.card_line", **values)
    return [line, *(_short(note, label * 2) for note in f.notes.get(n, ()))]


def _verdict(viewer: Viewer, result: Score) -> str:
    if result.recognised:
        return viewer.t("officer.review.qualifies")
    why = []
    if result.holds_back.below_minimum:
        why.append(viewer.t("officer.review.why_below", indicators=_numbers(result.holds_back.below_minimum)))
    if result.holds_back.missing_points:
        why.append(viewer.t("officer.review.why_missing", points=result.holds_back.missing_points))
    return viewer.t("officer.review.not_qualifies", why="; ".join(why))


async def _evidence_set(session: AsyncSession, viewer: Viewer, assessment: Assessment, n: int) -> EvidenceSet:
    """One indicator's files, as stored: each from the citizen's messenger, which decides how it is re-sent."""
    person = await session.get(Person, assessment.person_id)
    assert person is not None
    files = tuple(
        StoredFile(
            evidence_id=item.id or 0,
            kind=item.kind,
            channel=person.channel,
            file_id=item.file_id,
            path=item.path,
            mime=item.mime_type,
            name=item.file_name,
        )
        for item in await ra.list_evidence(session=session, assessment_id=assessment.id or 0)
        if item.indicator == n
    )
    name = escape(person.full_name or "—")
    return EvidenceSet(viewer.t("officer.review.evidence_caption", n=n, name=name), files)


def _words(label: str, key: str | None) -> tuple[str, ...]:
    """What may be typed for a choice besides its number: its label, and the key's words in every language
    (an officer reading Vietnamese may still type "confirm")."""
    if key is None:
        return (label,)
    return (label, *(w for locale in SUPPORTED for w in gettext(key, locale).split("|")))


def _choice(
    viewer: Viewer, key: str, verb: OVerb, a: Assessment, arg: str, typed: str | None = None, **values: object
) -> Choice:
    label = viewer.t(key, **values)
    return Choice(label, OButton(verb, a.id or 0, a.rev, arg).encode(), _words(label, typed))


def _card_choices(
    viewer: Viewer, a: Assessment, browse: Unit, counts: Mapping[int, int]
) -> tuple[tuple[Choice, ...], ...]:
    """Zalo numbers them in this order: 1 confirm, 2 adjust, 3 return, 4 next, then one per indicator with
    evidence ("5. 📎 Xem minh chứng CT1"); Telegram puts those four to a row ("📎 CT 1")."""
    u = str(browse.id)
    key = "officer.btn.evidence" if viewer.typed else "officer.btn.evidence_short"
    evidence = [
        Choice(
            viewer.t(key, n=n),
            OButton(OVerb.EVIDENCE, a.id or 0, a.rev, f"{u}:{n}").encode(),
            (
                viewer.t(key, n=n),
                *(w for locale in SUPPORTED for w in gettext("typed.officer.evidence", locale, n=n).split("|")),
            ),
        )
        for n, count in sorted(counts.items())
        if count
    ]
    return (
        (_choice(viewer, "officer.btn.confirm", OVerb.CONFIRM, a, u, "typed.officer.confirm"),),
        (
            _choice(viewer, "officer.btn.adjust", OVerb.ADJUST_MENU, a, u, "typed.officer.adjust"),
            _choice(viewer, "officer.btn.return", OVerb.RETURN_MENU, a, u, "typed.officer.return"),
        ),
        (_choice(viewer, "officer.btn.next", OVerb.NEXT, a, u, "typed.officer.next"),),
        *_rows(evidence),
    )


def _indicator_choice(viewer: Viewer, verb: OVerb, a: Assessment, u: str, n: int, mark: str = "") -> Choice:
    """An indicator in a picker: a short label ("CT 10"); "chỉ tiêu 10" and the label unmarked typed too."""
    label = viewer.t("officer.btn.indicator_short", n=n)
    words = {
        gettext(key, locale, n=n)
        for key in ("officer.btn.indicator", "officer.btn.indicator_short")
        for locale in SUPPORTED
    }
    return Choice(mark + label, OButton(verb, a.id or 0, a.rev, f"{u}:{n}").encode(), (mark + label, *sorted(words)))


def _rows(choices: Sequence[Choice], width: int = PICKER_WIDTH) -> tuple[tuple[Choice, ...], ...]:
    return tuple(tuple(choices[i : i + width]) for i in range(0, len(choices), width))


def _numbers(numbers: tuple[int, ...] | list[int]) -> str:
    return ", ".join(str(n) for n in numbers)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + "…"


# --------------------------------------------------------------------------- choices


async def press(data: BotData, who: Sender, payload: str) -> Plan:
    """An ``o|…`` choice (a button, or a number typed on Zalo). The decision's is the head's
    (bot.handlers.recognition); a review's checks role, scope and revision, then acts in one transaction."""
    try:
        pressed = decode(payload)
    except BadOfficerButton:
        log.info("refused officer choice: forged")
        return forged(data, who)
    if pressed.verb is OVerb.DECISION:
        return await recognition.decision_press(data, who, pressed)
    plan = Plan(locale=negotiate(who.language_code, data.settings.default_locale))
    async with unit_of_work(data.sessions) as session:
        officer = await officer_of_sender(session, who)
        if officer is None:
            plan.say(gettext("officer.scope.no_role", plan.locale))
            return plan
        plan.locale, plan.viewer_id = officer.locale, officer.id
        viewer = viewer_of(officer, who)
        try:
            assessment, browse = await _load(session, data, officer, pressed.owner, pressed.first())
            if pressed.verb is OVerb.NEXT:
                await show_next(session, data, plan, viewer, browse, assessment.year, assessment.id or 0)
            else:
                if pressed.rev != assessment.rev or assessment.status != AssessmentStatus.SUBMITTED:
                    raise Refused("officer.review.stale")
                await _act(session, data, plan, viewer, officer, assessment, browse, pressed)
        except Refused as refused:
            log.info("review choice refused: %s", refused.key)
            plan.say(viewer.t(refused.key))
            if refused.show_current:
                await _show_current(session, data, plan, viewer, pressed)
        except BadOfficerButton:
            log.info("refused officer choice: forged argument")
            plan.screens.clear()
            plan.toast = viewer.t("officer.forged")
    return plan


def forged(data: BotData, who: Sender) -> Plan:
    """Data this bot never showed: a polite line (the button's toast on Telegram), nothing else."""
    plan = Plan(locale=negotiate(who.language_code, data.settings.default_locale))
    plan.toast = gettext("officer.forged", plan.locale)
    return plan


async def _show_current(session: AsyncSession, data: BotData, plan: Plan, viewer: Viewer, pressed: OButton) -> None:
    """After a stale choice: the same assessment again if still to review, else the next one."""
    assessment = await session.get(Assessment, pressed.owner)
    try:
        browse = await session.get(Unit, pressed.first())
    except BadOfficerButton:
        return
    if assessment is None or browse is None:
        return
    if assessment.status == AssessmentStatus.SUBMITTED:
        await show_card(session, data, plan, viewer, assessment, browse)
    else:
        await show_next(session, data, plan, viewer, browse, assessment.year, assessment.id or 0)


async def _load(
    session: AsyncSession, data: BotData, officer: Person, assessment_id: int, browse_id: int
) -> tuple[Assessment, Unit]:
    """The assessment (row-locked until the commit) and the unit the reviewer browses, if both lie within the
    reviewer's scope now."""
    assessment = (
        await session.exec(select(Assessment).where(Assessment.id == assessment_id).with_for_update())
    ).first()
    browse = await session.get(Unit, browse_id)
    unit = await rv.assessment_unit(session=session, assessment=assessment) if assessment else None
    if assessment is None or browse is None or unit is None:
        raise Refused("officer.review.stale", show_current=False)
    allowed = await rr.may(
        session=session, person=officer, roles=REVIEWERS, unit=browse, admin_ids=data.settings.admin_ids
    )
    if not allowed or not rr.contains(browse, unit):
        raise Refused("officer.scope.no_role", show_current=False)
    return assessment, browse


async def _act(
    session: AsyncSession,
    data: BotData,
    plan: Plan,
    viewer: Viewer,
    officer: Person,
    a: Assessment,
    browse: Unit,
    pressed: OButton,
) -> None:
    """Acts on one choice of a card still current."""
    pack = rv.pack_of(data.registry, a)
    assert pack is not None
    u = str(browse.id)
    match pressed.verb:
        case OVerb.CONFIRM:
            await rv.clear_pending(session=session, person_id=officer.id or 0)
            result = await confirm_assessment(session, data, plan, officer, a, pack)
            verdict = viewer.t("officer.review.verdict_yes" if result.recognised else "officer.review.verdict_no")
            plan.say(
                viewer.t("officer.review.confirmed", name=await _name(session, a), total=result.total, verdict=verdict)
            )
            await show_next(session, data, plan, viewer, browse, a.year, a.id or 0)
        case OVerb.CARD:
            await rv.clear_pending(session=session, person_id=officer.id or 0)
            await show_card(session, data, plan, viewer, a, browse)
        case OVerb.EVIDENCE:
            _, n = pressed.ints(2)
            _indicator(pack, n)
            await _show_evidence(session, plan, viewer, a, browse, n)
        case OVerb.ADJUST_MENU:
            indicators = [_indicator_choice(viewer, OVerb.ADJUST_INDICATOR, a, u, n) for n in pack.numbers]
            back = _choice(viewer, "officer.btn.back", OVerb.CARD, a, u, "typed.back")
            plan.show(Screen(viewer.t("officer.review.adjust_pick"), (*_rows(indicators), (back,))))
        case OVerb.ADJUST_INDICATOR:
            _, n = pressed.ints(2)
            await _adjust_levels(session, plan, viewer, pack, a, browse, n)
        case OVerb.ADJUST_POINTS:
            _, n, points = pressed.ints(3)
            if _indicator(pack, n).level(points) is None:
                raise BadOfficerButton(pressed.arg)
            current = (await rv.reviewed_score(session=session, pack=pack, assessment=a)).points[n]
            await rv.set_pending(
                session=session,
                person_id=officer.id or 0,
                kind=steps.StepKind.ADJUST,
                now=data.now(),
                assessment_id=a.id,
                unit_id=browse.id,
                data={"indicator": n, "points": points, "rev": a.rev},
            )
            plan.say(viewer.t("officer.review.adjust_reason", n=n, before=current, after=points))
        case OVerb.RETURN_MENU:
            await rv.set_pending(
                session=session,
                person_id=officer.id or 0,
                kind=steps.StepKind.RETURN_PICK,
                now=data.now(),
                assessment_id=a.id,
                unit_id=browse.id,
                data={"indicators": [], "rev": a.rev},
            )
            plan.show(_return_picker(viewer, pack, a, browse, []))
        case OVerb.RETURN_TOGGLE:
            _, n = pressed.ints(2)
            _indicator(pack, n)
            pending = await _pending_for(session, data, officer, a, steps.StepKind.RETURN_PICK)
            chosen = sorted(set(pending.data.get("indicators", [])) ^ {n})
            pending.data = {**pending.data, "indicators": chosen}
            await session.flush()
            plan.show(_return_picker(viewer, pack, a, browse, chosen))
            plan.replace_pressed = True  # the picker redraws in place (Telegram); Zalo sends it again
        case OVerb.RETURN_REASON:
            pending = await _pending_for(session, data, officer, a, steps.StepKind.RETURN_PICK)
            chosen = list(pending.data.get("indicators", []))
            if not chosen:
                plan.toast = viewer.t("officer.review.return_none")
                return
            pending.kind = steps.StepKind.RETURN_REASON
            await session.flush()
            plan.say(viewer.t("officer.review.return_reason", indicators=_numbers(chosen)))
        case _:
            raise BadOfficerButton(pressed.verb)


async def _show_evidence(
    session: AsyncSession, plan: Plan, viewer: Viewer, a: Assessment, browse: Unit, n: int
) -> None:
    """One indicator's files (Telegram: photos as an album, documents as documents; Zalo: signed links bound
    to the reviewer), then the card's choices again under them, the pressed ones retired (one live set)."""
    found = await _evidence_set(session, viewer, a, n)
    if not found.files:  # the card offers no such choice: forged, or a file removed since (returned meanwhile)
        raise Refused("officer.review.no_evidence", show_current=False)
    plan.evidence.append(found)
    counts = await ra.evidence_counts(session=session, assessment_id=a.id or 0)
    name = await _name(session, a)
    plan.show(
        Screen(
            viewer.t("officer.review.evidence_shown", n=n, name=name, files=len(found.files)),
            _card_choices(viewer, a, browse, counts),
        )
    )
    plan.retire_pressed = True


async def confirm_assessment(
    session: AsyncSession, data: BotData, plan: Plan, officer: Person, a: Assessment, pack: Pack
) -> Score:
    """Confirms one assessment (its audit event) and owes the citizen the notice of what the team changed, if
    anything: the one path of the card's confirm and of the batch confirm (bot.handlers.batch_confirm)."""
    own = await rv.computed_score(session=session, pack=pack, assessment=a)
    result = await rv.confirm(session=session, pack=pack, assessment=a, actor_id=officer.id or 0, now=data.now())
    log.info("assessment reviewed: id=%s", a.id)
    if result.points != own.points:  # the citizen hears what the team changed, and why, at once
        await _owe_notice(session, data, plan, a, planning.REVIEWED, planning.reviewed_cycle(a.year, a.rev))
    return result


def _indicator(pack: Pack, n: int) -> Indicator:
    if n not in pack.numbers:
        raise BadOfficerButton(str(n))
    return pack.indicator(n)


async def _adjust_levels(
    session: AsyncSession, plan: Plan, viewer: Viewer, pack: Pack, a: Assessment, browse: Unit, n: int
) -> None:
    """The indicator's levels to choose the team's points from; "8 điểm" / "8 points" may be typed too."""
    ind = _indicator(pack, n)
    answers = await ra.answers(session=session, assessment_id=a.id or 0)
    counts = await ra.evidence_counts(session=session, assessment_id=a.id or 0)
    current = (await rv.reviewed_score(session=session, pack=pack, assessment=a)).points[n]
    chosen = answers[n].chosen if n in answers and answers[n].chosen is not None else "—"
    u = str(browse.id)
    levels = [
        Choice(
            viewer.t("officer.btn.points", points=lv.points),
            OButton(OVerb.ADJUST_POINTS, a.id or 0, a.rev, f"{u}:{n}:{lv.points}").encode(),
            tuple(gettext("officer.btn.points", locale, points=lv.points) for locale in SUPPORTED),
        )
        for lv in ind.levels
    ]
    back = _choice(viewer, "officer.btn.back", OVerb.ADJUST_MENU, a, u, "typed.back")
    text = viewer.t(
        "officer.review.adjust_levels",
        n=n,
        text=escape(ind.text.get(viewer.locale)),
        points=current,
        chosen=chosen,
        files=counts.get(n, 0),
    )
    plan.show(Screen(text, (*_rows(levels, 3), (back,))))


def _return_picker(viewer: Viewer, pack: Pack, a: Assessment, browse: Unit, chosen: list[int]) -> Screen:
    """The indicators to return, ticked as chosen."""
    u = str(browse.id)
    toggles = [
        _indicator_choice(viewer, OVerb.RETURN_TOGGLE, a, u, n, "✅ " if n in chosen else "") for n in pack.numbers
    ]
    selected = (
        viewer.t("officer.review.return_selected", indicators=_numbers(chosen))
        if chosen
        else viewer.t("officer.review.return_selected_none")
    )
    how = viewer.t("officer.review.return_pick_typed" if viewer.typed else "officer.review.return_pick")
    reason = _choice(viewer, "officer.btn.return_reason", OVerb.RETURN_REASON, a, u, "typed.officer.reason")
    back = _choice(viewer, "officer.btn.back", OVerb.CARD, a, u, "typed.back")
    return Screen(how + "\n" + selected, (*_rows(toggles), (reason,), (back,)))


async def _pending_for(
    session: AsyncSession, data: BotData, officer: Person, a: Assessment, kind: str
) -> OfficerPending:
    pending = await rv.get_pending(session=session, person_id=officer.id or 0, now=data.now())
    if pending is None or pending.kind != kind or pending.assessment_id != a.id:
        raise Refused("officer.review.stale")
    return pending


async def _name(session: AsyncSession, a: Assessment) -> str:
    person = await session.get(Person, a.person_id)
    return escape(person.full_name or "—") if person else "—"


# --------------------------------------------------------------------------- typed reasons


async def on_text(
    session: AsyncSession,
    data: BotData,
    plan: Plan,
    officer: Person,
    pending: OfficerPending,
    reading: steps.Reading,
) -> None:
    """A reason typed for a pending adjustment or return (officer_desk.TEXTS), inside the desk's transaction;
    role, scope and revision are checked again first."""
    viewer = viewer_of(officer)
    plan.locale, plan.viewer_id = officer.locale, officer.id
    try:
        a, browse = await _load(session, data, officer, pending.assessment_id or 0, pending.unit_id or 0)
    except Refused as refused:
        await rv.clear_pending(session=session, person_id=officer.id or 0)
        plan.say(viewer.t(refused.key))
        return
    if a.status != AssessmentStatus.SUBMITTED or pending.data.get("rev") != a.rev:
        log.info("typed reason refused: stale")
        await rv.clear_pending(session=session, person_id=officer.id or 0)
        plan.say(viewer.t("officer.review.stale"))
        await show_next(session, data, plan, viewer, browse, a.year, 0)
        return
    match reading:
        case steps.Text(text=reason) if pending.kind != steps.StepKind.RETURN_PICK:
            pass
        case steps.TooShort():
            plan.say(viewer.t("officer.review.reason_short"))
            return
        case steps.TooLong(most=most):
            plan.say(viewer.t("officer.review.reason_long", max=most))
            return
        case _:  # the picker takes choices, not text
            plan.say(viewer.t("officer.zalo.use_numbers" if viewer.typed else "officer.review.use_buttons"))
            return
    pack = rv.pack_of(data.registry, a)
    assert pack is not None
    await rv.clear_pending(session=session, person_id=officer.id or 0)
    if pending.kind == steps.StepKind.ADJUST:
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
        plan.say(viewer.t("officer.review.adjusted", n=n, before=before, after=after))
        await show_card(session, data, plan, viewer, a, browse)
    elif pending.kind == steps.StepKind.RETURN_REASON:
        indicators = [int(n) for n in pending.data.get("indicators", [])]
        await rv.return_to_citizen(
            session=session, assessment=a, indicators=indicators, reason=reason, actor_id=officer.id or 0
        )
        log.info("assessment returned: id=%s", a.id)
        await _owe_notice(session, data, plan, a, planning.RETURNED, planning.returned_cycle(a.year, a.rev))
        plan.say(viewer.t("officer.review.returned", name=await _name(session, a), indicators=_numbers(indicators)))
        await show_next(session, data, plan, viewer, browse, a.year, a.id or 0)


async def _owe_notice(session: AsyncSession, data: BotData, plan: Plan, a: Assessment, kind: str, cycle: str) -> None:
    """The citizen's notice (returned, or reviewed with changes), owed in the action's own transaction (a crash
    after the commit cannot lose it); the dispatcher of the citizen's messenger composes it from the assessment
    when it goes out."""
    await ro.enqueue(
        session=session,
        person_id=a.person_id,
        kind=kind,
        cycle=cycle,
        due_at=data.now(),
        payload={"assessment_id": a.id},
    )
    plan.notices_owed = True
