"""Turns a journey (step, pack, facts) into the text and buttons a person sees, in their language.

Every word comes from the catalogs in locales/ or from the criteria pack's own translations; names and
other values are HTML-escaped because messages are sent with parse_mode HTML.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import Button, Verb
from conversations.criteria import Indicator, Pack, Registry
from conversations.flow import Step
from conversations.scoring import HoldsBack, Score
from locales import gettext
from storage.journey import Journey, packs_for_unit, score_of

Reply = tuple[str, InlineKeyboardMarkup | None]


class Renderer:
    """Renders for one locale."""

    def __init__(self, locale: str, registry: Registry, zone: ZoneInfo) -> None:
        self.locale = locale
        self.registry = registry
        self.zone = zone

    def t(self, key: str, /, **values: object) -> str:
        return gettext(key, self.locale, **values)

    # ------------------------------------------------------------------ buttons

    def _btn(
        self, journey: Journey, label_key: str, verb: Verb, arg: str = "", **values: object
    ) -> InlineKeyboardButton:
        return InlineKeyboardButton(self.t(label_key, **values), callback_data=self.data(journey, verb, arg))

    def data(self, journey: Journey, verb: Verb, arg: str = "") -> str:
        scope, owner = journey.owner
        return Button(scope, owner, journey.rev, verb, arg).encode()

    # ------------------------------------------------------------------ the current step

    def step(self, journey: Journey) -> Reply:
        """The message for the step the person is on."""
        s = journey.state
        match s.step:
            case Step.CONSENT:
                return self.t("consent.ask"), InlineKeyboardMarkup(
                    [
                        [self._btn(journey, "btn.agree", Verb.CONSENT_YES)],
                        [self._btn(journey, "btn.disagree", Verb.CONSENT_NO)],
                    ]
                )
            case Step.DECLINED:
                return self.t("consent.declined"), InlineKeyboardMarkup(
                    [[self._btn(journey, "btn.restart", Verb.RESTART)]]
                )
            case Step.NAME:
                return self.t("name.ask"), None
            case Step.UNIT:
                return self.t("unit.ask"), InlineKeyboardMarkup([[self._btn(journey, "btn.back", Verb.BACK)]])
            case Step.GROUP:
                return self._group(journey)
            case Step.LEVEL:
                return self._level(journey)
            case Step.EVIDENCE:
                return self._evidence(journey)
            case Step.SKIP_WARNING:
                assert journey.pack is not None
                return self.t("skip.warning", n=s.indicator), InlineKeyboardMarkup(
                    [
                        [self._btn(journey, "btn.skip", Verb.SKIP, str(s.indicator))],
                        [self._btn(journey, "btn.add_evidence", Verb.MORE, str(s.indicator))],
                    ]
                )
            case Step.REVIEW:
                return self._review(journey)
            case Step.CONFIRM_SUBMIT:
                return self.t("confirm.ask"), InlineKeyboardMarkup(
                    [
                        [self._btn(journey, "btn.confirm_submit", Verb.CONFIRM_SUBMIT)],
                        [self._btn(journey, "btn.back", Verb.BACK)],
                    ]
                )
            case Step.SUBMITTED:
                return self.result(journey), None
        raise AssertionError(s.step)

    def _group(self, journey: Journey) -> Reply:
        rows = []
        packs = packs_for_unit(self.registry, journey.unit)
        for group, _ in self.registry.groups():
            if group.code in packs:
                label = group.label.get(self.locale)
                rows.append([InlineKeyboardButton(label, callback_data=self.data(journey, Verb.GROUP, group.code))])
        rows.append([self._btn(journey, "btn.back", Verb.BACK)])
        unit = escape(journey.unit.name) if journey.unit else ""
        return self.t("group.ask", unit=unit), InlineKeyboardMarkup(rows)

    def indicator_text(self, pack: Pack, ind: Indicator) -> str:
        lang = self.locale
        lines = [
            self.t(
                "level.header",
                n=pack.numbers.index(ind.number) + 1,
                total=len(pack.numbers),
                criterion=escape(pack.criterion(ind.criterion).title.get(lang)),
            ),
            f"<b>{escape(ind.text.get(lang))}</b>",
            "",
            escape(ind.explanation.get(lang)),
            "",
            self.t("level.examples"),
            *(f"• {escape(ex.get(lang))}" for ex in ind.evidence_examples),
            "",
            self.t("level.levels"),
            *(self.t("level.line", points=lv.points, label=escape(lv.label.get(lang))) for lv in ind.levels),
        ]
        return "\n".join(lines)

    def _level(self, journey: Journey) -> Reply:
        pack = journey.pack
        assert pack is not None
        ind = pack.indicator(journey.state.indicator)
        current = journey.facts.chosen.get(ind.number)
        text = self.indicator_text(pack, ind)
        if current is not None:
            text += "\n\n" + self.t("level.current", points=current)
        text += "\n\n" + self.t("level.choose")
        rows = [
            [
                InlineKeyboardButton(
                    ("✅ " if lv.points == current else "") + self.t("btn.points", points=lv.points),
                    callback_data=self.data(journey, Verb.LEVEL, f"{ind.number}:{lv.points}"),
                )
            ]
            for lv in ind.levels
        ]
        rows.append([self._btn(journey, "btn.back", Verb.BACK)])
        return text, InlineKeyboardMarkup(rows)

    def _evidence(self, journey: Journey) -> Reply:
        n = journey.state.indicator
        count = journey.facts.evidence.get(n, 0)
        text = self.t("evidence.ask", n=n, count=count)
        return text, self.evidence_buttons(journey)

    def evidence_buttons(self, journey: Journey) -> InlineKeyboardMarkup:
        n = journey.state.indicator
        return InlineKeyboardMarkup(
            [
                [self._btn(journey, "btn.done", Verb.DONE, str(n))],
                [self._btn(journey, "btn.back", Verb.BACK)],
            ]
        )

    def _review(self, journey: Journey) -> Reply:
        pack = journey.pack
        assert pack is not None
        facts = journey.facts
        result = score_of(pack, facts)
        lines = [self.t("review.title"), ""]
        for ind in pack.indicators:
            n = ind.number
            lines.append(self._summary_line(ind, facts.chosen.get(n), facts.evidence.get(n, 0), result.points[n]))
        lines += ["", self.t("review.total", total=result.total)]
        if facts.editable is not None and journey.assessment is not None:
            lines += [
                "",
                self.t(
                    "review.returned",
                    indicators=_numbers(sorted(facts.editable)),
                    reason=escape(journey.assessment.return_reason or ""),
                ),
            ]
        lines += ["", self.holds_back(result.holds_back) if result.holds_back else self.t("review.would_pass")]
        editable = [n for n in pack.numbers if facts.editable is None or n in facts.editable]
        edit_buttons = [
            InlineKeyboardButton(self.t("btn.edit", n=n), callback_data=self.data(journey, Verb.EDIT, str(n)))
            for n in editable
        ]
        rows = [edit_buttons[i : i + 5] for i in range(0, len(edit_buttons), 5)]
        rows.append([self._btn(journey, "btn.submit", Verb.SUBMIT)])
        return "\n".join(lines), InlineKeyboardMarkup(rows)

    def _summary_line(self, ind: Indicator, chosen: int | None, files: int, points: int) -> str:
        text = escape(_short(ind.text.get(self.locale)))
        if chosen is None:
            return self.t("review.line_unanswered", n=ind.number, text=text)
        if chosen > 0 and files == 0:
            return self.t("review.line_no_evidence", n=ind.number, text=text, chosen=chosen)
        return self.t("review.line", n=ind.number, text=text, points=points, files=files)

    def holds_back(self, holds: HoldsBack) -> str:
        lines = [self.t("holds.title")]
        if holds.unanswered:
            lines.append(self.t("holds.unanswered", indicators=_numbers(holds.unanswered)))
        if holds.lacking_evidence:
            lines.append(self.t("holds.lacking", indicators=_numbers(holds.lacking_evidence)))
        # Unanswered indicators are listed once, above, not again as "below 5".
        below = [n for n in holds.below_minimum if n not in holds.unanswered and n not in holds.lacking_evidence]
        if below:
            lines.append(self.t("holds.below", indicators=_numbers(below)))
        if holds.missing_points:
            lines.append(self.t("holds.missing", points=holds.missing_points))
        return "\n".join(lines)

    # ------------------------------------------------------------------ outcome and status

    def result(self, journey: Journey) -> str:
        a = journey.assessment
        assert a is not None and journey.pack is not None
        score: Score = score_of(journey.pack, journey.facts)
        lines = [
            self.t("result.title", year=a.year),
            self.t("result.total", total=score.total),
            self.t("result.status." + a.status),
        ]
        if a.submitted_at:
            lines.append(self.t("result.submitted_at", when=self.when(a.submitted_at)))
        lines.append("")
        lines.append(self.t("result.would_pass") if score.recognised else self.holds_back(score.holds_back))
        return "\n".join(lines)

    def when(self, moment: datetime) -> str:
        """A date and time in the configured zone, formatted the way the person's language writes it."""
        return format_datetime(moment, "short", tzinfo=self.zone, locale=self.locale)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _numbers(numbers: tuple[int, ...] | list[int]) -> str:
    return ", ".join(str(n) for n in numbers)
