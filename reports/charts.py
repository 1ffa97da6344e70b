"""PNG charts for officers: the distribution of totals, the average per indicator, progress against target.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no display, no global state), so it runs in
a worker thread of the bot and in the CLI alike. Labels come from the officer's catalog; DejaVu Sans, the
default font, has every Vietnamese letter. Numbers on axes and bars are Babel's, in the officer's locale
("8,5" and "2,5%" in Vietnamese). Each chart is built as a Figure (``*_figure``, which the tests read back)
and sent as a PNG (``*_chart``).

Every legend sits below the plot, outside it, so it never covers a bar or a line. The progress chart is
scaled to the people who have handed in, not to the target: a commune of 2,000 needing 1,400 recognitions
would otherwise see its first dozens as a flat line at 0. The target is said in the title, drawn as a line
only when it is within reach of the axis, and the right axis reads the same heights as shares of headcount.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

from babel.dates import get_month_names
from babel.numbers import format_decimal, format_percent
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from conversations.scoring import MIN_INDICATOR_POINTS, RECOGNITION_TOTAL
from locales import gettext
from storage.repo_reports import Progress, Tally

SIZE = (8, 4.5)  # inches at 120 dpi: 960 x 540, sharp on a phone, small to send
DPI = 120
BAR = "#2b6cb0"
LOW = "#c53030"
LINE = "#dd6b20"
GOOD = "#2f855a"
HEADROOM = 1.2  # the progress axis ends this far above the highest line
TARGET_REACH = 1.5  # the target line is drawn when it is at most this many times the highest line
MONTH_NAME_MAX = 4  # Babel's abbreviated month names up to this long fit twelve to an axis ("Jan"; not "thg 10")

# Titles carry the unit's name: parse_math=False keeps a "$" in it from being read as TeX.


def _figure() -> tuple[Figure, Axes]:
    """A figure on the Agg canvas (so it can be drawn and measured) whose layout makes room for the legend."""
    fig = Figure(figsize=SIZE, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _png(fig: Figure) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=DPI)
    return out.getvalue()


def number(value: float, locale: str, pattern: str = "#,##0.##") -> str:
    """A number as the officer writes it: "1.234,5" in Vietnamese, "1,234.5" in English."""
    return format_decimal(value, pattern, locale=locale)


def _numbers(ax: Axes, locale: str, *, x: bool = False) -> None:
    """The axis' tick labels through Babel (matplotlib would write "2.5" whatever the language)."""
    axis = ax.xaxis if x else ax.yaxis
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: number(v, locale)))


def _legend_below(fig: Figure, ax: Axes) -> None:
    """The legend under the plot, outside it, its entries side by side."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(handles), 3), frameon=False)


def _no_data(ax: Axes, locale: str) -> None:
    ax.text(
        0.5,
        0.5,
        gettext("reports.chart.no_data", locale),
        ha="center",
        va="center",
        transform=ax.transAxes,
        color="grey",
    )


def month_labels(locale: str) -> list[str]:
    """January to December, short: Babel's abbreviated names where they are short ("Jan"), else the catalog's
    pattern ("T1": Babel's Vietnamese "thg 10" would crowd the axis)."""
    names = get_month_names("abbreviated", locale=locale)
    if all(len(names[m]) <= MONTH_NAME_MAX for m in range(1, 13)):
        return [names[m] for m in range(1, 13)]
    return [gettext("reports.chart.month", locale, n=m) for m in range(1, 13)]


def totals_figure(distribution: Mapping[int, int], *, unit: str, year: int, locale: str) -> Figure:
    """Histogram of total points in bins of 5, with the recognition threshold."""
    fig, ax = _figure()
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
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    _numbers(ax, locale)
    _numbers(ax, locale, x=True)
    _legend_below(fig, ax)
    return fig


def indicators_figure(tally: Tally, *, unit: str, locale: str) -> Figure:
    """Average points per indicator (bars under the minimum in red, each with its value), the minimum line."""
    fig, ax = _figure()
    numbers = [i.number for i in tally.indicators]
    averages = [i.average or 0.0 for i in tally.indicators]
    bars = ax.bar(numbers, averages, color=[LOW if a < MIN_INDICATOR_POINTS else BAR for a in averages])
    if any(i.count for i in tally.indicators):
        ax.bar_label(bars, labels=[number(a, locale, "0.0") for a in averages], padding=2)
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
    _numbers(ax, locale)
    _legend_below(fig, ax)
    return fig


def progress_figure(progress: Progress, tally: Tally, *, unit: str, locale: str, last_month: int = 12) -> Figure:
    """Cumulative hand-ins and recognitions by month, the lines stopping at ``last_month`` (this month, for the
    current year); the axis fits the lines, the title says the target, the right axis the share of headcount."""
    fig, ax = _figure()
    months = list(range(1, 13))
    shown = months[:last_month]
    submitted = Progress.cumulative(progress.submitted)[:last_month]
    recognised = Progress.cumulative(progress.recognised)[:last_month]
    for values, colour, key in ((submitted, BAR, "submitted"), (recognised, GOOD, "recognised")):
        ax.plot(shown, values, marker="o", color=colour, label=gettext(f"reports.chart.{key}", locale))
        if values and values[-1]:  # the figure reached so far, at the line's end
            ax.annotate(
                number(values[-1], locale),
                (shown[-1], values[-1]),
                xytext=(6, 0),
                textcoords="offset points",
                va="center",
                color=colour,
            )
    total = tally.total
    highest = max(max(submitted, default=0), max(recognised, default=0), 1)
    top = highest * HEADROOM
    title = gettext("reports.chart.progress_title", locale, unit=unit, year=progress.year)
    if total.headcount > 0:
        title += "\n" + gettext(
            "reports.chart.target_line",
            locale,
            horizon=total.targets.horizon,
            n=number(total.needed, locale),
            share=format_percent(total.target_recognised or 0, "#,##0.#%", locale=locale),
            done=number(total.recognised, locale),
        )
        if total.needed <= highest * TARGET_REACH:  # within reach: the line shows how far is left
            ax.axhline(
                total.needed,
                color=LINE,
                linestyle="--",
                linewidth=2,
                label=gettext("reports.chart.target", locale, horizon=total.targets.horizon, n=total.needed),
            )
            top = max(top, total.needed * 1.1)
    ax.set_xticks(months, month_labels(locale))
    ax.set_xlim(0.5, 12.5)
    ax.set_ylim(0, top)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    _numbers(ax, locale)
    if total.headcount > 0:
        share = ax.twinx()
        share.set_ylim(0, top / total.headcount)
        share.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format_percent(v, "#,##0.##%", locale=locale)))
        share.set_ylabel(gettext("reports.chart.share_y", locale))
    ax.set_title(title, parse_math=False)
    ax.set_xlabel(gettext("reports.chart.month_x", locale))
    ax.set_ylabel(gettext("reports.chart.cumulative_y", locale))
    _legend_below(fig, ax)
    return fig


def totals_chart(distribution: Mapping[int, int], *, unit: str, year: int, locale: str) -> bytes:
    return _png(totals_figure(distribution, unit=unit, year=year, locale=locale))


def indicators_chart(tally: Tally, *, unit: str, locale: str) -> bytes:
    return _png(indicators_figure(tally, unit=unit, locale=locale))


def progress_chart(progress: Progress, tally: Tally, *, unit: str, locale: str, last_month: int = 12) -> bytes:
    return _png(progress_figure(progress, tally, unit=unit, locale=locale, last_month=last_month))


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
