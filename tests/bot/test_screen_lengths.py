"""Every citizen screen of every criteria pack, in both languages, drawn for both messengers: none is over
1,000 characters to read (a small phone's two screens at most), and each fits its messenger's message limit
(Telegram 4096, Zalo 2000) without being cut. Rendered from plain values: no database, no messenger."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.message_split import TELEGRAM_LIMIT
from bot.render import Renderer
from bot.screens import Screen
from bot.zalo import draw
from conversations.criteria import Pack, default_registry
from conversations.flow import Facts, State, Step
from storage.journey import Journey, TeamPoints
from storage.models import Assessment, AssessmentStatus, Evidence, Person, Unit
from tests.bot.chat_view import visible

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
READ_LIMIT = 1000
WHEN = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
LONG_REASON = "Ảnh chưa ghi ngày và chưa có xác nhận của trưởng thôn, đề nghị bổ sung " * 20  # past any cap


def reading(text: str) -> int:
    """Characters a person reads: tags dropped, runs of blanks and line breaks as one space."""
    return len(" ".join(visible(text).split()))


def journey(
    pack: Pack,
    state: State,
    *,
    channel: str = "telegram",
    locale: str = "vi",
    status: str = AssessmentStatus.DRAFT,
    chosen: dict[int, int] | None = None,
    evidence: dict[int, int] | None = None,
    files: int = 0,
    team: dict[int, TeamPoints] | None = None,
    editable: frozenset[int] | None = None,
    **assessment: Any,
) -> Journey:
    person = Person(id=7, channel=channel, external_id="u7", locale=locale, full_name="Nguyễn Thị Lan")
    a = Assessment(
        id=9, person_id=7, year=2026, pack_id=pack.id, pack_version=pack.version, status=status, rev=3, **assessment
    )
    facts = Facts(
        numbers=pack.numbers,
        levels={i.number: tuple(lv.points for lv in i.levels) for i in pack.indicators},
        chosen=chosen or {},
        evidence=evidence or {},
        has_unit=True,
        editable=editable,
    )
    rows = tuple(
        Evidence(
            id=i,
            assessment_id=9,
            indicator=state.indicator,
            kind="photo" if i % 2 else "document",
            file_id=f"f{i}",
            file_unique_id=f"u{i}",
            file_name=None if i % 2 else "ke-hoach-hoc-tap-nam-2026-cua-gia-dinh.pdf",
            mime_type="image/jpeg",
            size=10,
            sha256="0" * 64,
            path=f"2026/9/{state.indicator}/u{i}.jpg",
            created_at=WHEN,
        )
        for i in range(1, files + 1)
    )
    unit = Unit(id=1, code="THON1", name="Thôn Bình Vọng")
    return Journey(person, a, unit, pack, facts, state, team or {}, rows)


def every_screen(pack: Pack, render: Renderer, channel: str) -> Iterator[tuple[str, Screen]]:
    """Each screen a citizen of ``pack`` can be shown, named."""
    all_chosen = {n: 10 for n in pack.numbers}
    all_files = {n: 3 for n in pack.numbers}
    kw = {"channel": channel, "locale": render.locale}
    for ind in pack.indicators:
        n = ind.number
        level = State(Step.LEVEL, n)
        yield f"level {n}", render.screen(journey(pack, level, **kw))
        yield f"level {n} chosen", render.screen(journey(pack, level, chosen={n: 5}, **kw))
        yield f"hint {n}", render.hint(journey(pack, level, **kw))
        evidence = State(Step.EVIDENCE, n)
        yield f"evidence {n}", render.screen(journey(pack, evidence, chosen={n: 10}, **kw))
        with_files = journey(pack, evidence, chosen={n: 10}, evidence={n: 9}, files=9, **kw)
        yield f"evidence {n} with files", render.screen(with_files)
        yield f"receipt {n}", render.evidence_screen(with_files, render.receipt(with_files))
        yield f"hint {n} at evidence", render.hint(journey(pack, evidence, chosen={n: 10}, **kw))
        remove = State(Step.REMOVE_FILE, n)
        yield f"remove {n}", render.screen(journey(pack, remove, chosen={n: 10}, evidence={n: 9}, files=9, **kw))
        yield f"skip {n}", render.screen(journey(pack, State(Step.SKIP_WARNING, n), chosen={n: 10}, **kw))
    yield "review", render.screen(journey(pack, State(Step.REVIEW), chosen=all_chosen, evidence=all_files, **kw))
    yield "review, nothing yet", render.screen(journey(pack, State(Step.REVIEW), **kw))
    # Returned with a reason of some length, two more indicators scored otherwise by the team with theirs.
    team = {n: TeamPoints(5, LONG_REASON[:90]) for n in pack.numbers[1:3]}
    returned = journey(
        pack,
        State(Step.REVIEW),
        status=AssessmentStatus.RETURNED,
        chosen=all_chosen,
        evidence=all_files,
        team=team,
        editable=frozenset({pack.numbers[0]}),
        return_reason=LONG_REASON[:160],
        **kw,
    )
    yield "review, returned", render.screen(returned)
    yield "pick evidence", render.screen(journey(pack, State(Step.PICK_EVIDENCE), chosen=all_chosen, **kw))
    yield "confirm", render.screen(journey(pack, State(Step.CONFIRM_SUBMIT), **kw))
    for status in (
        AssessmentStatus.SUBMITTED,
        AssessmentStatus.REVIEWED,
        AssessmentStatus.RECOGNISED,
        AssessmentStatus.NOT_RECOGNISED,
        AssessmentStatus.EXPIRED,
    ):
        done = journey(
            pack,
            State(Step.SUBMITTED),
            status=status,
            chosen=all_chosen,
            evidence=all_files,
            team=({n: TeamPoints(10) for n in pack.numbers} | team) if status != "submitted" else {},
            submitted_at=WHEN,
            decision_no="12/QĐ-UBND",
            decision_date=WHEN,
            **kw,
        )
        yield f"result {status}", render.screen(done)
    yield "group", render.screen(journey(pack, State(Step.GROUP), **kw))
    for step in (Step.CONSENT, Step.DECLINED, Step.NAME, Step.UNIT):
        yield step.value, render.screen(journey(pack, State(step), **kw))


def packs() -> list[Pack]:
    registry = default_registry()
    return [registry.latest(i) for i in registry.ids()]


def test_the_longest_reasons_on_every_indicator_still_fit_one_message_each() -> None:
    """Every indicator but one changed by the team with a reason of 1,000 characters: each reason is shown cut,
    so the result fits one message on either messenger (the team's card keeps the whole text)."""
    pack = default_registry().latest("phu-luc-i")
    render = Renderer("vi", default_registry(), ZONE)
    common: dict[str, Any] = {
        "chosen": {n: 10 for n in pack.numbers},
        "evidence": {n: 1 for n in pack.numbers},
        "team": {n: TeamPoints(5, LONG_REASON[:1000]) for n in pack.numbers[1:]},
    }
    done = journey(pack, State(Step.SUBMITTED), status=AssessmentStatus.REVIEWED, **common)
    text = render.screen(done).text
    assert len(text) <= draw.TEXT_LIMIT and text.count(" → tổ 5 — ") == 9
    back = journey(
        pack,
        State(Step.REVIEW),
        status=AssessmentStatus.RETURNED,
        editable=frozenset({1}),
        return_reason=LONG_REASON[:1000],
        **common,
    )
    # The summary a returned assessment opens on, here with nine reasons and the return's: past one Zalo
    # message, so it is cut at a paragraph, the numbered choices in the last part (bot.message_split).
    parts = draw.messages(render.screen(back), "vi")
    assert all(len(p) <= draw.TEXT_LIMIT for p in parts) and "".join(parts).count(", lý do: ") == 9
    assert "📤 Nộp bản tự đánh giá" in parts[-1]


@pytest.mark.parametrize("locale", ["vi", "en"])
@pytest.mark.parametrize("pack", packs(), ids=lambda p: p.id)
def test_no_citizen_screen_is_over_a_thousand_characters_on_either_messenger(pack: Pack, locale: str) -> None:
    render = Renderer(locale, default_registry(), ZONE)
    too_long = {}
    for channel in ("telegram", "zalo"):
        for name, screen in every_screen(pack, render, channel):
            if channel == "telegram":
                text = screen.full_text
                read = reading(text) + sum(len(c.label) for c in screen.choices)
                assert len(text) <= TELEGRAM_LIMIT, name
            else:
                text = draw.lines(screen, locale)
                read = reading(text)
                assert len(text) <= draw.TEXT_LIMIT, name  # one Zalo message: nothing is cut
            if read > READ_LIMIT:
                too_long[f"{channel} {name}"] = read
    assert too_long == {}


def test_the_level_screen_holds_the_indicator_one_line_and_the_levels() -> None:
    pack = default_registry().latest("phu-luc-i")
    ind = pack.indicator(2)
    render = Renderer("vi", default_registry(), ZONE)
    screen = render.screen(journey(pack, State(Step.LEVEL, 2)))
    text = screen.full_text
    assert ind.text.vi in text and ind.summary is not None and ind.summary.vi in text
    assert ind.explanation.vi not in text and ind.evidence_examples[0].vi not in text  # behind "💡 Gợi ý"
    assert "• <b>10 điểm</b>: Có kế hoạch học tập của năm" in text
    assert [c.label for c in screen.choices] == ["10 điểm", "8 điểm", "5 điểm", "0 điểm", "💡 Gợi ý", "◀️ Quay lại"]
    hint = render.hint(journey(pack, State(Step.LEVEL, 2)))
    assert ind.explanation.vi in hint.text and ind.evidence_examples[0].vi in hint.text
    assert [c.label for c in hint.choices] == [c.label for c in screen.choices]  # typed numbers mean the same
    assert "Có kế hoạch học tập của năm" not in hint.full_text  # the levels are not repeated under the hint
    # On Zalo the levels are the numbered lines themselves.
    zalo = draw.lines(render.screen(journey(pack, State(Step.LEVEL, 2), channel="zalo")), "vi")
    assert "<b>1. 10 điểm</b>: Có kế hoạch học tập của năm" in zalo and "<b>5.</b> 💡 Gợi ý" in zalo


def test_the_evidence_step_says_what_counts_as_evidence_in_both_languages() -> None:
    pack = default_registry().latest("phu-luc-i")
    for locale, photos, expected in (
        ("vi", "telegram", "📎 Gửi ảnh chụp hoặc tệp làm minh chứng cho chỉ tiêu 1, ví dụ: thẻ thư viện"),
        ("vi", "zalo", "📎 Gửi ảnh chụp làm minh chứng cho chỉ tiêu 1, ví dụ: thẻ thư viện"),
        ("en", "telegram", "📎 Send photos or files as evidence for indicator 1, for example: a library card"),
    ):
        render = Renderer(locale, default_registry(), ZONE)
        screen = render.screen(journey(pack, State(Step.EVIDENCE, 1), channel=photos, locale=locale, chosen={1: 8}))
        assert screen.text.startswith(expected), screen.text


def test_a_group_choice_has_a_short_label_and_the_message_the_whole_description() -> None:
    pack = default_registry().latest("phu-luc-i")
    for locale in ("vi", "en"):
        render = Renderer(locale, default_registry(), ZONE)
        screen = render.screen(journey(pack, State(Step.GROUP), locale=locale))
        labels = [c.label for c in screen.choices][:-1]
        assert labels and all(len(label) <= 25 for label in labels), labels
        for group, _ in default_registry().groups():
            assert visible(screen.text).count(group.label.get(locale)) == 1  # described once, not twice
    vi = Renderer("vi", default_registry(), ZONE).screen(journey(pack, State(Step.GROUP)))
    assert [c.label for c in vi.choices] == [
        "Người dân trong cộng đồng",
        "Công nhân, người lao động",
        "Cán bộ, công chức",
        "◀️ Quay lại",
    ]
    assert "• <b>Cán bộ, công chức</b>, viên chức, người lao động trong cơ quan" in vi.text


def test_english_dates_are_day_first() -> None:
    assert Renderer("en", default_registry(), ZONE).when(WHEN) == "01/06/2026, 10:00"
    assert Renderer("vi", default_registry(), ZONE).when(WHEN) == "10:00 1/6/26"
