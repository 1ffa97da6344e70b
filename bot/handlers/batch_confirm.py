"""The batch confirm, written once for every messenger: ``/confirmclean [UNIT] [YEAR]`` (on Zalo «xác nhận
hàng loạt») previews the submitted assessments of the reviewer's subtree whose files are all read and raised
no warning (bot.handlers.review_findings), with a count, names and totals; one choice confirms them. A batch
takes at most ``MOST``, so the preview stays short enough to read and the check quick (stored values only,
no picture decoded: bench/RESULTS.md), while a village sends thousands.

The preview's assessments and their revisions wait in the reviewer's ``officer_pending`` row (kind
``batch``), never in process memory. At the choice, inside one transaction, each is locked and checked
again: still submitted, at the revision shown, within the reviewer's scope, still clean; the others are
skipped and named. Each one confirmed goes through the single confirm's own path (bot.handlers.review):
its own audit event, and the citizen's notice where the team's points differ from theirs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from html import escape

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import BotData
from bot.handlers import review
from bot.handlers import review_findings as findings
from bot.handlers.officer_scope import REVIEWERS, Refusal, officer_of_sender, scope_for
from bot.replies import Plan
from bot.screens import Choice, Screen
from bot.sender import Sender
from locales import SUPPORTED, gettext, negotiate
from storage import repo_review as rv
from storage import repo_roles as rr
from storage.db import unit_of_work
from storage.models import Assessment, AssessmentStatus, Person, Unit

log = logging.getLogger(__name__)

PREFIX = "bk"
KIND = "batch"  # the officer_pending kind holding the preview's assessments
SHOWN = 10  # names previewed; the count covers the rest
MOST = 50  # submissions one batch takes (measured: bench/RESULTS.md); the next command takes the next ones
STEP = 10  # submissions checked at a time while looking for them
YES, NO = "ok", "no"


def _data(verb: str, unit_id: int, year: int) -> str:
    return f"{PREFIX}|{verb}|{unit_id}|{year}"


def _choice(viewer: review.Viewer, key: str, typed: str, data: str, **values: object) -> Choice:
    label = viewer.t(key, **values)
    words = (label, *(w for locale in SUPPORTED for w in gettext(typed, locale).split("|")))
    return Choice(label, data, words)


async def _submitted(session: AsyncSession, unit: Unit, year: int) -> list[tuple[Assessment, Person, Unit]]:
    """The subtree's submitted assessments of ``year``, by unit then name (the order the preview lists)."""
    stmt = (
        select(Assessment, Person, Unit)
        .join(Person, col(Person.id) == Assessment.person_id)
        .join(Unit, col(Unit.id) == Assessment.unit_id)
        .where(
            col(Unit.path).startswith(unit.path),
            Assessment.year == year,
            Assessment.status == AssessmentStatus.SUBMITTED,
        )
        .order_by(Unit.path, Person.full_name, Assessment.id)
    )
    return [(a, p, u) for a, p, u in (await session.exec(stmt)).all()]


async def _clean(
    session: AsyncSession, data: BotData, rows: Sequence[tuple[Assessment, Person, Unit]]
) -> tuple[list[tuple[Assessment, Person, Unit]], int]:
    """The first MOST clean assessments of ``rows`` and how many rows were checked to find them: a large unit is
    taken MOST at a time."""
    clean: list[tuple[Assessment, Person, Unit]] = []
    checked = 0
    while checked < len(rows) and len(clean) < MOST:
        step = rows[checked : checked + min(STEP, MOST - len(clean))]
        facts = await findings.facts_of(session, [(a.id or 0, a.year) for a, _, _ in step])
        clean += [(a, p, u) for a, p, u in step if facts[a.id or 0].clean]
        checked += len(step)
    return clean, checked


async def confirm_clean_command(data: BotData, who: Sender, args: Sequence[str]) -> Plan:
    """Previews the clean submissions of the reviewer's unit (or the one named) and offers to confirm them."""
    scope = await scope_for(data, who, REVIEWERS, args)
    if isinstance(scope, Refusal):
        return scope.plan()
    plan = Plan(locale=scope.locale, viewer_id=scope.officer_id)
    viewer = review.Viewer(scope.officer_id, scope.locale, typed=not who.buttons)
    async with unit_of_work(data.sessions) as session:
        await rv.clear_pending(session=session, person_id=scope.officer_id)
        unit = await session.get(Unit, scope.unit_id)
        assert unit is not None
        rows = await _submitted(session, unit, scope.year)
        clean, checked = await _clean(session, data, rows)
        if not clean:
            plan.say(viewer.t("officer.batch.none", unit=escape(unit.name), year=scope.year, waiting=len(rows)))
            return plan
        lines = [viewer.t("officer.batch.preview", n=len(clean), unit=escape(unit.name), year=scope.year)]
        for a, person, held in clean[:SHOWN]:
            pack = rv.pack_of(data.registry, a)
            total = (await rv.reviewed_score(session=session, pack=pack, assessment=a)).total if pack else "—"
            lines.append(
                viewer.t(
                    "officer.batch.preview_line",
                    name=escape(person.full_name or "—"),
                    unit=escape(held.name),
                    total=total,
                )
            )
        if len(clean) > SHOWN:
            lines.append(viewer.t("officer.batch.preview_more", n=len(clean) - SHOWN))
        if checked > len(clean):
            lines.append(viewer.t("officer.batch.left_out", n=checked - len(clean)))
        if len(rows) > checked:
            lines.append(viewer.t("officer.batch.later", n=len(rows) - checked))
        await rv.set_pending(
            session=session,
            person_id=scope.officer_id,
            kind=KIND,
            now=data.now(),
            unit_id=unit.id,
            year=scope.year,
            data={"items": [[a.id, a.rev] for a, _, _ in clean]},
        )
        u = unit.id or 0
        yes = _choice(
            viewer, "officer.batch.btn_yes", "typed.officer.batch_yes", _data(YES, u, scope.year), n=len(clean)
        )
        no = _choice(viewer, "officer.batch.btn_no", "typed.officer.batch_no", _data(NO, u, scope.year))
        plan.show(Screen("\n".join(lines), ((yes,), (no,))))
    return plan


async def press(data: BotData, who: Sender, payload: str) -> Plan:
    """``bk|ok|UNIT|YEAR`` confirms the previewed assessments still clean; ``bk|no|…`` drops the preview."""
    plan = Plan(locale=negotiate(who.language_code, data.settings.default_locale))
    parts = payload.split("|")
    if len(parts) != 4 or parts[1] not in (YES, NO) or not parts[2].isdigit() or not parts[3].isdigit():
        log.info("refused officer choice: forged batch")
        return review.forged(data, who)
    verb, unit_id, year = parts[1], int(parts[2]), int(parts[3])
    async with unit_of_work(data.sessions) as session:
        officer = await officer_of_sender(session, who)
        if officer is None:
            plan.say(gettext("officer.scope.no_role", plan.locale))
            return plan
        plan.locale, plan.viewer_id = officer.locale, officer.id
        viewer = review.viewer_of(officer, who)
        pending = await rv.get_pending(session=session, person_id=officer.id or 0, now=data.now())
        if pending is None or pending.kind != KIND or pending.unit_id != unit_id or pending.year != year:
            plan.say(viewer.t("officer.batch.stale"))
            return plan
        await rv.clear_pending(session=session, person_id=officer.id or 0)
        if verb == NO:
            plan.say(viewer.t("officer.batch.dropped"))
            return plan
        unit = await session.get(Unit, unit_id)
        allowed = unit is not None and await rr.may(
            session=session, person=officer, roles=REVIEWERS, unit=unit, admin_ids=data.settings.admin_ids
        )
        if unit is None or not allowed:
            log.info("batch confirm refused: out of scope")
            plan.say(viewer.t("officer.scope.no_role"))
            return plan
        shown = {int(i): int(rev) for i, rev in pending.data.get("items", [])}
        await _confirm(session, data, plan, viewer, officer, unit, shown)
    return plan


async def _confirm(
    session: AsyncSession,
    data: BotData,
    plan: Plan,
    viewer: review.Viewer,
    officer: Person,
    unit: Unit,
    shown: dict[int, int],
) -> None:
    """Confirms each previewed assessment that is, under its row lock, as it was shown and still clean."""
    locked = (
        await session.exec(
            select(Assessment).where(col(Assessment.id).in_(list(shown))).order_by(Assessment.id).with_for_update()
        )
    ).all()
    facts = await findings.facts_of(session, [(a.id or 0, a.year) for a in locked])
    units = {
        u.id: u for u in (await session.exec(select(Unit).where(col(Unit.id).in_([a.unit_id for a in locked])))).all()
    }
    done, skipped = 0, []
    for a in locked:
        held = units.get(a.unit_id)
        pack = rv.pack_of(data.registry, a)
        current = (
            a.status == AssessmentStatus.SUBMITTED
            and a.rev == shown.get(a.id or 0)
            and held is not None
            and rr.contains(unit, held)
            and pack is not None
            and facts[a.id or 0].clean
        )
        if not current or pack is None:
            skipped.append(a)
            continue
        await review.confirm_assessment(session, data, plan, officer, a, pack)
        done += 1
    gone = len(shown) - len(locked)  # erased since the preview
    log.info("batch confirm: unit=%s confirmed=%s skipped=%s", unit.id, done, len(skipped) + gone)
    lines = [viewer.t("officer.batch.done", n=done)]
    if skipped or gone:
        names = [escape(p.full_name or "—") for p in await _people(session, skipped)]
        lines.append(viewer.t("officer.batch.skipped", n=len(skipped) + gone, names=", ".join(names) or "—"))
    plan.say("\n".join(lines))


async def _people(session: AsyncSession, assessments: Sequence[Assessment]) -> list[Person]:
    ids = [a.person_id for a in assessments]
    if not ids:
        return []
    return list((await session.exec(select(Person).where(col(Person.id).in_(ids)).order_by(Person.full_name))).all())
