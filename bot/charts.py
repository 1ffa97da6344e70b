"""PNG charts for officers: the distribution of totals, the average per indicator, progress against target.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no display, no global state), so it runs in
a worker thread of the bot and in the CLI alike. Labels come from the officer's catalog; DejaVu Sans, the
default font, has every Vietnamese letter.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

from babel.dates import get_month_names
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from conversations.scoring import MIN_INDICATOR_POINTS, RECOGNITION_TOTAL
from locales import gettext
from storage.repo_reports import Progress, Tally

SIZE = (8, 4.5)  # inches at 120 dpi: 960 x 540, sharp on a phone, small to send
DPI = 120
BAR = "#2b6cb0"
LOW = "#c53030"
LINE = "#dd6b20"
GOOD = "#2f855a"


# Titles carry the unit's name: parse_math=False keeps a "$" in it from being read as TeX.


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=DPI)
    return out.getvalue()


def _no_data(ax, locale: str) -> None:  # type: ignore[no-untyped-def]
    ax.text(
        0.5,
        0.5,
        gettext("reports.chart.no_data", locale),
        ha="center",
        va="center",
        transform=ax.transAxes,
        color="grey",
    )


def totals_chart(distribution: Mapping[int, int], *, unit: str, year: int, locale: str) -> bytes:
    """Histogram of total points in bins of 5, with the recognition threshold."""
    fig = Figure(figsize=SIZE)
    ax = fig.add_subplot()
    totals = sorted(distribution)
    if totals:
        ax.hist(totals, bins=range(0, 105, 5), weights=[distribution[t] for t in totals], color=BAR, edgecolor="white")
    else:
        _no_data(ax, locale)
    ax.axvline(
        RECOGNITION_TOTAL,
        color=LINE,
        linewidth=2,
        label=gettext("reports.chart.threshold", locale, points=RECOGNITION_TOTAL),
    )
    ax.set_xlim(0, 100)
    ax.set_title(gettext("reports.chart.totals_title", locale, unit=unit, year=year), parse_math=False)
    ax.set_xlabel(gettext("reports.chart.totals_x", locale))
    ax.set_ylabel(gettext("reports.chart.people", locale))
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="upper left")
    return _png(fig)


def indicators_chart(tally: Tally, *, unit: str, locale: str) -> bytes:
    """Average points per indicator (bars under the minimum in red), with the minimum line."""
    fig = Figure(figsize=SIZE)
    ax = fig.add_subplot()
    numbers = [i.number for i in tally.indicators]
    averages = [i.average or 0.0 for i in tally.indicators]
    bars = ax.bar(numbers, averages, color=[LOW if a < MIN_INDICATOR_POINTS else BAR for a in averages])
    if any(i.count for i in tally.indicators):
        ax.bar_label(bars, fmt="%.1f", padding=2)
    else:
        _no_data(ax, locale)
    ax.axhline(
        MIN_INDICATOR_POINTS,
        color=LINE,
        linewidth=2,
        label=gettext("reports.chart.minimum", locale, points=MIN_INDICATOR_POINTS),
    )
    ax.set_ylim(0, 10.9)
    ax.set_xticks(numbers)
    ax.set_title(gettext("reports.chart.indicators_title", locale, unit=unit, year=tally.year), parse_math=False)
    ax.set_xlabel(gettext("reports.chart.indicator_x", locale))
    ax.set_ylabel(gettext("reports.chart.average_y", locale))
    ax.legend(loc="lower right")
    return _png(fig)


def progress_chart(progress: Progress, tally: Tally, *, unit: str, locale: str, last_month: int = 12) -> bytes:
    """Cumulative hand-ins and recognitions by month, against the number of people the target needs; the
    lines stop at ``last_month`` (this month, for the current year)."""
    fig = Figure(figsize=SIZE)
    ax = fig.add_subplot()
    months = list(range(1, 13))
    shown = months[:last_month]
    ax.plot(
        shown,
        Progress.cumulative(progress.submitted)[:last_month],
        marker="o",
        color=BAR,
        label=gettext("reports.chart.submitted", locale),
    )
    ax.plot(
        shown,
        Progress.cumulative(progress.recognised)[:last_month],
        marker="o",
        color=GOOD,
        label=gettext("reports.chart.recognised", locale),
    )
    total = tally.total
    if total.headcount > 0:
        ax.axhline(
            total.needed,
            color=LINE,
            linestyle="--",
            linewidth=2,
            label=gettext("reports.chart.target", locale, horizon=total.targets.horizon, n=total.needed),
        )
    names = get_month_names("abbreviated", locale=locale)
    ax.set_xticks(months, [names[m] for m in months])
    ax.set_xlim(0.5, 12.5)
    highest = max(total.needed if total.headcount > 0 else 0, sum(progress.submitted), 1)
    ax.set_ylim(0, highest * 1.3)  # room for the legend above the lines
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title(gettext("reports.chart.progress_title", locale, unit=unit, year=progress.year), parse_math=False)
    ax.set_xlabel(gettext("reports.chart.month_x", locale))
    ax.set_ylabel(gettext("reports.chart.cumulative_y", locale))
    ax.legend(loc="upper left", ncols=1)
    return _png(fig)


def all_charts(
    tally: Tally,
    distribution: Mapping[int, int],
    progress: Progress,
    *,
    unit: str,
    locale: str,
    last_month: int = 12,
) -> list[tuple[str, bytes]]:
    """(file name, PNG) for the three charts, in the order an officer reads them."""
    return [
        (f"totals-{tally.year}.png", totals_chart(distribution, unit=unit, year=tally.year, locale=locale)),
        (f"indicators-{tally.year}.png", indicators_chart(tally, unit=unit, locale=locale)),
        (
            f"progress-{tally.year}.png",
            progress_chart(progress, tally, unit=unit, locale=locale, last_month=last_month),
        ),
    ]
