"""Officers' numbers: ``/tally``, ``/export`` and ``/chart`` for a unit and year they are responsible for.

Written once for every messenger (bot.handlers.officer_desk.COMMANDS): each takes ``[UNIT_CODE] [YEAR]``
(defaults: the officer's own unit, the current cycle; past years stay readable), checks role and scope
through ``officer_scope.scope_for``, reads in one transaction and returns a reply plan: the tally as text,
the export (XLSX, or two CSV files) and the three PNG charts as files. Telegram uploads them; Zalo sends
signed links bound to the officer (``plan.viewer_id``).
Who may use them: admins and officers of the unit or an ancestor; the unit's head (who issues the decision
and signs the upward report) may use all three; reviewers, the unit's team, may use ``/tally`` and ``/chart``
but not ``/export``, whose list sheet names every person.
Files are built on a small pool of threads of their own, so a large export never stalls other people's
updates, and several officers exporting at once never take the threads citizens' evidence checks use.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from html import escape
from typing import TypeVar

from babel.dates import format_datetime
from babel.numbers import format_decimal

from bot.context import BotData
from bot.handlers.officer_scope import Refusal, Scope, scope_for
from bot.message_split import TELEGRAM_LIMIT, ZALO_LIMIT
from bot.replies import OutFile, Plan
from bot.sender import Sender
from conversations.criteria import Registry
from conversations.identity import Channel
from locales import gettext
from reports import charts, exports
from storage import repo_reports as rr
from storage.db import unit_of_work
from storage.models import RoleName, Unit
from storage.repo_reports import Figures, Tally

log = logging.getLogger(__name__)

VIEW_ROLES = frozenset({RoleName.OFFICER, RoleName.HEAD, RoleName.REVIEWER})
EXPORT_ROLES = frozenset({RoleName.OFFICER, RoleName.HEAD})
CSV_FLAGS = frozenset({"csv", "--csv", "-csv", "—csv", "–csv"})  # phones turn "--" into a dash
MET, SHORT, NONE = "✅", "⚠️", "▫️"
WEAK_TEXT = 70  # characters of an indicator's text shown next to its average
PNG = "image/png"
# The longest message each messenger takes: the tally is cut between units, never inside one.
TEXT_LIMITS = {Channel.ZALO.value: ZALO_LIMIT}

# Building a workbook or three charts is CPU work of a second or more: off the event loop, two at a time.
_BUILDERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="reports")
_T = TypeVar("_T")


async def _built(make: Callable[..., _T], *args: object, **kwargs: object) -> _T:
    return await asyncio.get_running_loop().run_in_executor(_BUILDERS, functools.partial(make, *args, **kwargs))


def _plan(scope: Scope) -> Plan:
    """An empty reply for the officer in ``scope``: their language, and their id for Zalo's file links."""
    return Plan(locale=scope.locale, viewer_id=scope.officer_id)


# --------------------------------------------------------------------------- /tally


async def tally(data: BotData, who: Sender, args: Sequence[str]) -> Plan:
    """The unit's and each child unit's figures, shares against targets and weakest indicators."""
    scope = await scope_for(data, who, VIEW_ROLES, args)
    if isinstance(scope, Refusal):
        return scope.plan()
    async with unit_of_work(data.sessions) as session:
        unit = await session.get(Unit, scope.unit_id)
        assert unit is not None
        found = await rr.tally(
            session=session, unit=unit, year=scope.year, registry=data.registry, zone=data.settings.zone
        )
    log.info("tally officer=%s unit=%s year=%s", scope.officer_id, scope.unit_id, scope.year)
    plan = _plan(scope)
    for text in _chunks(tally_text(found, scope, data), TEXT_LIMITS.get(who.channel, TELEGRAM_LIMIT)):
        plan.say(text)
    return plan


def _n(value: int, locale: str) -> str:
    return format_decimal(value, locale=locale)


def _pct(value: float | None, locale: str) -> str:
    return exports.pct(value, locale) or gettext("reports.na", locale)


def _mark(flag: bool | None) -> str:
    return NONE if flag is None else MET if flag else SHORT


def _figures_block(f: Figures, locale: str) -> list[str]:
    def t(key: str, **values: object) -> str:
        return gettext(key, locale, **values)

    lines = [
        t("reports.tally.people", headcount=_n(f.headcount, locale), registered=_n(f.registered, locale)),
        t(
            "reports.tally.work",
            in_progress=_n(f.in_progress, locale),
            submitted=_n(f.submitted, locale),
            returned=_n(f.returned, locale),
        ),
        t(
            "reports.tally.decided",
            reviewed=_n(f.reviewed, locale),
            recognised=_n(f.recognised, locale),
            not_recognised=_n(f.not_recognised, locale),
        ),
    ]
    if f.headcount <= 0:
        lines.append(t("reports.tally.no_headcount"))
    else:
        lines.append(
            t(
                "reports.tally.share_all",
                mark=_mark(f.meets_target),
                recognised=_n(f.recognised, locale),
                headcount=_n(f.headcount, locale),
                share=_pct(f.share_recognised, locale),
                target=_pct(f.target_recognised, locale),
            )
        )
        if f.headcount_staff and f.headcount_community:  # a mixed subtree: each group against its own target
            for key, rec, head, s, target in (
                ("community", f.recognised_community, f.headcount_community, f.share_community, f.targets.community),
                ("staff", f.recognised_staff, f.headcount_staff, f.share_staff, f.targets.staff),
            ):
                lines.append(
                    t(
                        f"reports.tally.share_{key}",
                        recognised=_n(rec, locale),
                        headcount=_n(head, locale),
                        share=_pct(s, locale),
                        target=_pct(target, locale),
                    )
                )
        missing = f.needed - f.recognised
        horizon = f.targets.horizon
        lines.append(
            t("reports.tally.needed", n=_n(missing, locale), horizon=horizon)
            if missing > 0
            else t("reports.tally.met", horizon=horizon)
        )
    if f.recognised:
        lines.append(
            t(
                "reports.tally.share_digital",
                mark=_mark(f.meets_digital),
                digital=_n(f.digital, locale),
                recognised=_n(f.recognised, locale),
                share=_pct(f.share_digital, locale),
                target=_pct(f.targets.digital, locale),
            )
        )
    if f.unit_title is not None:
        lines.append(t("reports.tally.unit_title", mark=_mark(f.unit_title), target=_pct(f.targets.unit_title, locale)))
    return lines


def _child_line(f: Figures, name: str, locale: str) -> str:
    return gettext(
        "reports.tally.child",
        locale,
        mark=_mark(f.meets_target),
        name=escape(name),
        code=escape(f.code),
        registered=_n(f.registered, locale),
        assessed=_n(f.assessed, locale),
        recognised=_n(f.recognised, locale),
        headcount=_n(f.headcount, locale),
        share=_pct(f.share_recognised, locale),
        target=_pct(f.target_recognised, locale),
    )


def _indicator_text(registry: Registry, pack: tuple[str, int] | None, number: int, locale: str) -> str:
    if pack is None:
        return ""
    try:
        text = registry.get(*pack).indicator(number).text.get(locale)
    except KeyError:
        return ""
    return escape(text if len(text) <= WEAK_TEXT else text[: WEAK_TEXT - 1].rstrip() + "…")


def tally_text(found: Tally, scope: Scope, data: BotData) -> list[list[str]]:
    """The reply as blocks of lines: the title, the unit's figures, its units, its weakest indicators, what
    else to ask for. Blocks are separated by a blank line; a block too long for one message is cut between
    lines (a unit's two lines are one line here), its heading repeated."""
    locale = scope.locale
    total = found.total
    when = format_datetime(data.now(), "HH:mm dd/MM/yyyy", tzinfo=data.settings.zone, locale=locale)
    blocks = [
        [
            gettext(
                "reports.tally.title",
                locale,
                year=found.year,
                unit=escape(total.name),
                code=escape(total.code),
                date=when,
            ),
        ],
        _figures_block(total, locale),
    ]
    if found.children:
        lines = [gettext("reports.tally.children", locale)]
        lines.extend(_child_line(c, c.name, locale) for c in found.children)
        if (own := found.own) is not None:
            lines.append(_child_line(own, gettext("reports.tally.own", locale, name=total.name), locale))
        blocks.append(lines)
    weakest = found.weakest()
    if weakest:
        lines = [gettext("reports.tally.weakest", locale, count=_n(weakest[0].count, locale))]
        lines.extend(
            gettext(
                "reports.tally.weak_line",
                locale,
                n=i.number,
                average=format_decimal(i.average or 0, "0.0", locale=locale),
                text=_indicator_text(data.registry, found.pack, i.number, locale),
            )
            for i in weakest
        )
        blocks.append(lines)
    else:
        blocks.append([gettext("reports.tally.no_scores", locale, year=found.year)])
    blocks.append([gettext("reports.tally.more", locale, code=escape(total.code), year=found.year)])
    return blocks


def _chunks(blocks: list[list[str]], limit: int = TELEGRAM_LIMIT) -> list[str]:
    """As few messages of at most ``limit`` characters as the blocks fit in: blocks joined by a blank line,
    lines by a line break. A block that does not fit (a province's fifty communes) is cut between lines and
    goes on under its heading (its first line) again, so each message reads on its own; a line is never cut
    (the messenger's adapter would split one longer than a whole message)."""
    out: list[str] = []
    current = ""
    for block in blocks:
        start = len(current)  # where this block begins in ``current``
        for i, line in enumerate(block):
            sep = "" if not current else "\n\n" if i == 0 else "\n"
            joined = current + sep + line
            if len(joined) <= limit or not current:
                current = joined
                continue
            # Only the heading of this block would stay behind: it goes on with its lines.
            out.append(current[:start] if i == 1 and start > 0 else current)
            heading = f"{block[0]}\n" if i > 0 else ""
            current = heading + line if len(heading) + len(line) <= limit else line
            start = 0
    if current:
        out.append(current)
    return out


# --------------------------------------------------------------------------- /export


def _wants_csv(args: Sequence[str]) -> tuple[bool, list[str]]:
    rest = [a for a in args if a.strip().lower() not in CSV_FLAGS]
    return len(rest) != len(args), rest


async def export(data: BotData, who: Sender, args: Sequence[str]) -> Plan:
    """The year's report as an XLSX workbook, or (``--csv``) as two CSV files."""
    as_csv, rest = _wants_csv(args)
    scope = await scope_for(data, who, EXPORT_ROLES, rest)
    if isinstance(scope, Refusal):
        return scope.plan()
    locale = scope.locale
    try:  # streamed: a province's list is never held in memory whole, nor the SQLite writer's turn
        made = await exports.build_export(
            data.sessions,
            unit_id=scope.unit_id,
            year=scope.year,
            registry=data.registry,
            zone=data.settings.zone,
            locale=locale,
            now=data.now(),
            as_csv=as_csv,
            executor=_BUILDERS,
        )
    except LookupError:  # the unit went between the scope check and now
        return Refusal("officer.scope.unknown_unit", locale, (("code", scope.unit_code),)).plan()
    log.info(
        "export officer=%s unit=%s year=%s rows=%s csv=%s",
        scope.officer_id,
        scope.unit_id,
        scope.year,
        made.people,
        as_csv,
    )
    values = {"year": scope.year, "unit": escape(made.report.unit_name), "rows": _n(made.people, locale)}
    caption = gettext("reports.export.caption_csv" if as_csv else "reports.export.caption", locale, **values)
    plan = _plan(scope)
    for i, file in enumerate(made.files):  # the caption under the last, as an album ends
        plan.attach(OutFile(file.name, file.content, file.mime, caption if i == len(made.files) - 1 else ""))
    return plan


# --------------------------------------------------------------------------- /chart


async def chart(data: BotData, who: Sender, args: Sequence[str]) -> Plan:
    """Three PNG charts (one album on Telegram): totals, average per indicator, progress against the target."""
    scope = await scope_for(data, who, VIEW_ROLES, args)
    if isinstance(scope, Refusal):
        return scope.plan()
    zone = data.settings.zone
    async with unit_of_work(data.sessions) as session:
        unit = await session.get(Unit, scope.unit_id)
        assert unit is not None
        found = await rr.tally(session=session, unit=unit, year=scope.year, registry=data.registry, zone=zone)
        distribution = await rr.totals_distribution(session=session, unit=unit, year=scope.year)
        progress = await rr.monthly_progress(session=session, unit=unit, year=scope.year, zone=zone)
    log.info("chart officer=%s unit=%s year=%s", scope.officer_id, scope.unit_id, scope.year)
    now = data.now().astimezone(zone)
    last_month = now.month if scope.year == now.year else 12
    pngs = await _built(
        charts.all_charts,
        found,
        distribution,
        progress,
        unit=scope.unit_name,
        locale=scope.locale,
        last_month=last_month,
    )
    caption = gettext("reports.chart.caption", scope.locale, year=scope.year, unit=escape(scope.unit_name))
    plan = _plan(scope)
    for i, (name, content) in enumerate(pngs):  # the caption on the first, as the album begins
        plan.attach(OutFile(name, content, PNG, caption if i == 0 else ""))
    return plan
