"""Officers' numbers: ``/tally``, ``/export`` and ``/chart`` for a unit and year they are responsible for.

Each command takes ``[UNIT_CODE] [YEAR]`` (defaults: the officer's own unit, the current cycle; past years
stay readable), checks role and scope through ``officer_scope``, reads in one transaction and then replies.
Who may use them: admins and officers of the unit or an ancestor; the unit's head (who issues the decision
and signs the upward report) may use all three; reviewers, the unit's team, may use ``/tally`` and ``/chart``
but not ``/export``, whose list sheet names every person.
Files are built in a worker thread so a large export never stalls other officers' updates.
"""

from __future__ import annotations

import asyncio
import logging
from html import escape

from babel.dates import format_datetime
from babel.numbers import format_decimal
from telegram import InputMediaDocument, InputMediaPhoto, Message, Update
from telegram.constants import ChatAction, MessageLimit
from telegram.ext import BaseHandler, CommandHandler, filters

from bot import charts, exports
from bot.context import Context
from bot.handlers.officer_scope import Scope, officer_scope
from conversations.criteria import Registry
from locales import gettext
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


def handlers() -> list[BaseHandler]:
    """The officers' report commands, private chats only (they carry names and figures)."""
    private = filters.ChatType.PRIVATE
    return [
        CommandHandler("tally", tally, filters=private),
        CommandHandler("export", export, filters=private),
        CommandHandler("chart", chart, filters=private),
    ]


# --------------------------------------------------------------------------- /tally


async def tally(update: Update, context: Context) -> None:
    """Replies with the unit's and each child unit's figures, shares against targets and weakest indicators."""
    message = update.effective_message
    assert message is not None
    scope = await officer_scope(update, context, VIEW_ROLES)
    if scope is None:
        return
    async with unit_of_work(context.db) as session:
        unit = await session.get(Unit, scope.unit_id)
        assert unit is not None
        found = await rr.tally(
            session=session, unit=unit, year=scope.year, registry=context.registry, zone=context.settings.zone
        )
    log.info("tally officer=%s unit=%s year=%s", scope.officer_id, scope.unit_id, scope.year)
    for chunk in _chunks(tally_text(found, scope, context)):
        await message.reply_html(chunk, disable_web_page_preview=True)


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


def tally_text(found: Tally, scope: Scope, context: Context) -> list[list[str]]:
    """The reply as blocks of lines; blocks are separated by a blank line, a long block may be split."""
    locale = scope.locale
    total = found.total
    when = format_datetime(context.now(), "HH:mm dd/MM/yyyy", tzinfo=context.settings.zone, locale=locale)
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
                text=_indicator_text(context.registry, found.pack, i.number, locale),
            )
            for i in weakest
        )
        blocks.append(lines)
    else:
        blocks.append([gettext("reports.tally.no_scores", locale, year=found.year)])
    blocks.append([gettext("reports.tally.more", locale, code=escape(total.code), year=found.year)])
    return blocks


def _chunks(blocks: list[list[str]], limit: int = MessageLimit.MAX_TEXT_LENGTH) -> list[str]:
    """As few messages as fit Telegram's limit: blocks joined by a blank line, split between lines when a
    block (a province's fifty communes) does not fit; a line is never cut."""
    out: list[str] = []
    current = ""
    for block in blocks:
        sep = "\n\n"
        for line in block:
            joined = f"{current}{sep}{line}" if current else line
            if len(joined) > limit and current:
                out.append(current)
                joined = line
            current = joined
            sep = "\n"
    if current:
        out.append(current)
    return out


# --------------------------------------------------------------------------- /export


def _wants_csv(args: list[str]) -> tuple[bool, list[str]]:
    rest = [a for a in args if a.strip().lower() not in CSV_FLAGS]
    return len(rest) != len(args), rest


async def export(update: Update, context: Context) -> None:
    """Sends the year's report as an XLSX workbook, or (``--csv``) as two CSV files."""
    message = update.effective_message
    assert message is not None
    as_csv, args = _wants_csv(list(context.args or []))
    scope = await officer_scope(update, context, EXPORT_ROLES, args=args)
    if scope is None:
        return
    await message.reply_chat_action(ChatAction.UPLOAD_DOCUMENT)
    zone, locale = context.settings.zone, scope.locale
    async with unit_of_work(context.db) as session:
        unit = await session.get(Unit, scope.unit_id)
        assert unit is not None
        report = await exports.gather(
            session=session, unit=unit, year=scope.year, registry=context.registry, zone=zone, now=context.now()
        )
    log.info(
        "export officer=%s unit=%s year=%s rows=%s csv=%s",
        scope.officer_id,
        scope.unit_id,
        scope.year,
        len(report.rows),
        as_csv,
    )
    values = {"year": scope.year, "unit": escape(report.unit_name), "rows": _n(len(report.rows), locale)}
    if as_csv:
        files = await asyncio.to_thread(exports.csv_files, report, locale, zone)
        caption = gettext("reports.export.caption_csv", locale, **values)
        media = [
            InputMediaDocument(
                content, filename=name, caption=caption if i == len(files) - 1 else None, parse_mode="HTML"
            )
            for i, (name, content) in enumerate(files)
        ]
        await message.reply_media_group(media)
        return
    content = await asyncio.to_thread(exports.xlsx, report, locale, zone)
    await message.reply_document(
        content,
        filename=exports.file_name(report, locale, "report", "xlsx"),
        caption=gettext("reports.export.caption", locale, **values),
        parse_mode="HTML",
    )


# --------------------------------------------------------------------------- /chart


async def chart(update: Update, context: Context) -> None:
    """Sends three PNG charts as one album: totals, average per indicator, progress against the target."""
    message = update.effective_message
    assert message is not None
    scope = await officer_scope(update, context, VIEW_ROLES)
    if scope is None:
        return
    await message.reply_chat_action(ChatAction.UPLOAD_PHOTO)
    zone = context.settings.zone
    async with unit_of_work(context.db) as session:
        unit = await session.get(Unit, scope.unit_id)
        assert unit is not None
        found = await rr.tally(session=session, unit=unit, year=scope.year, registry=context.registry, zone=zone)
        distribution = await rr.totals_distribution(session=session, unit=unit, year=scope.year)
        progress = await rr.monthly_progress(session=session, unit=unit, year=scope.year, zone=zone)
    log.info("chart officer=%s unit=%s year=%s", scope.officer_id, scope.unit_id, scope.year)
    now = context.now().astimezone(zone)
    last_month = now.month if scope.year == now.year else 12
    pngs = await asyncio.to_thread(
        charts.all_charts,
        found,
        distribution,
        progress,
        unit=scope.unit_name,
        locale=scope.locale,
        last_month=last_month,
    )
    await _send_album(
        message, pngs, gettext("reports.chart.caption", scope.locale, year=scope.year, unit=escape(scope.unit_name))
    )


async def _send_album(message: Message, pngs: list[tuple[str, bytes]], caption: str) -> None:
    media = [
        InputMediaPhoto(content, filename=name, caption=caption if i == 0 else None, parse_mode="HTML")
        for i, (name, content) in enumerate(pngs)
    ]
    await message.reply_media_group(media)
