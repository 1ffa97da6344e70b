"""The officers' charts read back from the matplotlib figure, in both languages: the progress axis fits the
lines (the 2030 target is said in the title, drawn only when within reach), numbers carry the locale's
decimal mark, months read "T1…T12" / "Jan…Dec", and no legend covers a bar or the plot."""

from __future__ import annotations

import pytest
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from reports import charts
from storage.repo_reports import Figures, IndicatorAverage, Progress, Tally, resolve_targets

PNG = b"\x89PNG\r\n\x1a\n"
# People handing in by month (cumulative 1, 3, 6, 7, 9, 9, 12 by July) and recognised (1, 2, 2, 3, 3, 5).
PROGRESS = Progress(
    2026, submitted=[1, 2, 3, 1, 2, 0, 3, 0, 0, 0, 0, 0], recognised=[0, 1, 1, 0, 1, 0, 2, 0, 0, 0, 0, 0]
)
HIGHEST = 12
POINTS = [85, 92, 100, 40, 77, 95, 88, 61, 99, 90]  # summed over 10 assessments: averages 8.5, 9.2, ...


def tally(headcount: int, recognised: int = 5) -> Tally:
    total = Figures(1, "XA1", "Xã Một", "commune", resolve_targets(2026), headcount=headcount, recognised=recognised)
    return Tally(2026, total, [], [IndicatorAverage(n, p, 10) for n, p in enumerate(POINTS, 1)])


def drawn(fig: Figure) -> Figure:
    fig.canvas.draw()  # lays out the figure and fills in the tick labels
    return fig


def texts(labels: list) -> list[str]:  # type: ignore[type-arg]
    return [t.get_text() for t in labels if t.get_text()]


def targets(fig: Figure) -> list[Line2D]:
    return [line for line in fig.axes[0].get_lines() if line.get_linestyle() == "--"]


def assert_legend_clear(fig: Figure) -> None:
    """The legend lies outside the plot (so over no bar or line) and off the axis labels."""
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    [legend] = fig.legends
    box = legend.get_window_extent(renderer)
    ax = fig.axes[0]
    assert not box.overlaps(ax.get_window_extent(renderer))
    assert not box.overlaps(ax.xaxis.label.get_window_extent(renderer))
    for patch in ax.patches:
        assert not box.overlaps(patch.get_window_extent(renderer))
    assert box.y1 < ax.get_window_extent(renderer).y0  # below the plot, inside the picture
    assert box.y0 >= 0 and box.x0 >= 0 and box.x1 <= fig.bbox.width


@pytest.mark.parametrize(
    ("locale", "months", "share_tick"),
    [
        ("vi", [f"T{m}" for m in range(1, 13)], "0,2%"),
        ("en", ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], "0.2%"),
    ],
)
def test_progress_fits_the_lines_and_says_the_target(locale: str, months: list[str], share_tick: str) -> None:
    # 1,000 people, 600 to recognise by 2030: a line at 600 would flatten twelve hand-ins against the axis.
    fig = drawn(charts.progress_figure(PROGRESS, tally(1_000), unit="Xã Một", locale=locale, last_month=7))
    ax, share = fig.axes
    low, high = ax.get_ylim()
    assert low == 0 and HIGHEST < high <= 1.5 * HIGHEST
    assert targets(fig) == []  # too far to draw
    title = ax.get_title()
    assert "2030" in title and "600" in title and ("60%" in title)
    assert ("đã công nhận 5" if locale == "vi" else "recognised so far: 5") in title
    assert texts(ax.get_xticklabels()) == months
    assert texts(ax.get_yticklabels())[:3] == ["0", "2", "4"]
    assert share_tick in texts(share.get_yticklabels())  # 14.4 of 1,000 people: ticks of 0.2%
    assert share.get_ylim() == pytest.approx((0, high / 1_000))
    assert_legend_clear(fig)


@pytest.mark.parametrize("locale", ["vi", "en"])
def test_a_target_within_reach_is_drawn_and_fits(locale: str) -> None:
    fig = drawn(charts.progress_figure(PROGRESS, tally(16), unit="Xã Một", locale=locale, last_month=7))
    [line] = targets(fig)
    assert line.get_ydata()[0] == 10  # 60% of 16, rounded up
    assert fig.axes[0].get_ylim()[1] == pytest.approx(HIGHEST * charts.HEADROOM)
    fig = drawn(charts.progress_figure(PROGRESS, tally(30), unit="Xã Một", locale=locale, last_month=7))
    [line] = targets(fig)  # 18 people: above the lines, so the axis reaches past it
    assert line.get_ydata()[0] == 18 and 18 < fig.axes[0].get_ylim()[1] <= 18 * 1.2
    assert_legend_clear(fig)
    [legend] = fig.legends
    assert len(legend.get_texts()) == 3  # hand-ins, recognitions, the target


@pytest.mark.parametrize(
    ("locale", "labels", "ticks"),
    [
        ("vi", ["8,5", "9,2", "10,0", "4,0"], ("2,5", "1.234,5")),
        ("en", ["8.5", "9.2", "10.0", "4.0"], ("2.5", "1,234.5")),
    ],
)
def test_indicator_values_and_ticks_in_the_locale(locale: str, labels: list[str], ticks: tuple[str, str]) -> None:
    fig = drawn(charts.indicators_figure(tally(100), unit="Xã Một", locale=locale))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts][:4] == labels  # each bar's value
    formatter = ax.yaxis.get_major_formatter()
    assert (formatter(2.5, 0), formatter(1234.5, 0)) == ticks
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(bars) == 10
    assert_legend_clear(fig)


@pytest.mark.parametrize("locale", ["vi", "en"])
def test_totals_legend_is_off_the_bars(locale: str) -> None:
    # Bars at both ends, where a legend inside the plot would sit.
    fig = drawn(charts.totals_figure({2: 4, 12: 3, 50: 1, 95: 6, 100: 5}, unit="Xã Một", year=2026, locale=locale))
    ax = fig.axes[0]
    assert len([p for p in ax.patches if p.get_height() > 0]) == 4  # 95 and 100 share the last bin
    assert_legend_clear(fig)


@pytest.mark.parametrize("locale", ["vi", "en"])
def test_all_charts_are_pngs_even_without_data(locale: str) -> None:
    empty = Tally(2026, Figures(1, "XA1", "Xã Một", "commune", resolve_targets(2026)), [], [])
    for _name, png in charts.all_charts(tally(180), {90: 2}, PROGRESS, unit="Xã $1$", locale=locale, last_month=7):
        assert png.startswith(PNG)
    for _name, png in charts.all_charts(empty, {}, Progress(2026), unit="Xã Một", locale=locale):
        assert png.startswith(PNG)
