"""Turns a journey (step, pack, facts) into the screen a person sees, in their language.

A screen is neutral (bot.screens): its choices carry the encoded event and the words a person may type for
them; each messenger draws it its own way. Every word comes from the catalogs in locales/ or from the
criteria pack's own translations; names and other values are HTML-escaped (both messengers read HTML).
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from bot.callbacks import Button, Verb
from bot.screens import Choice, Screen, one_per_row
from conversations.criteria import Indicator, Pack, Registry
from conversations.flow import Step
from conversations.scoring import HoldsBack, Score
from locales import gettext
from storage.journey import Journey, packs_for_unit, score_of

# The words a person may type for a choice, besides its number and its label (catalog keys typed.*).
_TYPED = {
    Verb.CONSENT_YES: "typed.agree",
    Verb.CONSENT_NO: "typed.disagree",
    Verb.DONE: "typed.done",
    Verb.BACK: "typed.back",
    Verb.SUBMIT: "typed.submit",
    Verb.CONFIRM_SUBMIT: "typed.submit",
    Verb.SKIP: "typed.skip",
    Verb.CONTINUE: "typed.continue",
}


class Renderer:
    """Renders for one locale."""

    def __init__(self, locale: str, registry: Registry, zone: ZoneInfo) -> None:
        self.locale = locale
        self.registry = registry
        self.zone = zone

    def t(self, key: str, /, **values: object) -> str:
        return gettext(key, self.locale, **values)

    # ------------------------------------------------------------------ buttons

    def choice(self, label: str, data: str, verb: Verb | None = None) -> Choice:
        """A choice with its label; the words typed for it are the label's and its verb's synonyms."""
        words = (label, *(self.t(_TYPED[verb]).split("|") if verb in _TYPED else ()))
        return Choice(label, data, words)

    def _btn(self, journey: Journey, label_key: str, verb: Verb, arg: str = "", **values: object) -> Choice:
        return self.choice(self.t(label_key, **values), self.data(journey, verb, arg), verb)

    def data(self, journey: Journey, verb: Verb, arg: str = "") -> str:
        scope, owner = journey.owner
        return Button(scope, owner, journey.rev, verb, arg).encode()

    # ------------------------------------------------------------------ the current step

    def screen(self, journey: Journey) -> Screen:
        """The screen for the step the person is on."""
        s = journey.state
        match s.step:
            case Step.CONSENT:
                return Screen(
                    self.t("consent.ask"),
                    one_per_row(
                        self._btn(journey, "btn.agree", Verb.CONSENT_YES),
                        self._btn(journey, "btn.disagree", Verb.CONSENT_NO),
                    ),
                )
            case Step.DECLINED:
                return Screen(self.t("consent.declined"), one_per_row(self._btn(journey, "btn.restart", Verb.RESTART)))
            case Step.NAME:
                return Screen(self.t("name.ask"))
            case Step.UNIT:
                return Screen(self.t("unit.ask"), one_per_row(self._btn(journey, "btn.back", Verb.BACK)))
            case Step.GROUP:
                return self._group(journey)
            case Step.LEVEL:
                return self._level(journey)
            case Step.EVIDENCE:
                return self._evidence(journey)
            case Step.SKIP_WARNING:
                assert journey.pack is not None
                return Screen(
                    self.t("skip.warning", n=s.indicator),
                    one_per_row(
                        self._btn(journey, "btn.skip", Verb.SKIP, str(s.indicator)),
                        self._btn(journey, "btn.add_evidence", Verb.MORE, str(s.indicator)),
                    ),
                )
            case Step.REVIEW:
                return self._review(journey)
            case Step.CONFIRM_SUBMIT:
                return Screen(
                    self.t("confirm.ask"),
                    one_per_row(
                        self._btn(journey, "btn.confirm_submit", Verb.CONFIRM_SUBMIT),
                        self._btn(journey, "btn.back", Verb.BACK),
                    ),
                )
            case Step.SUBMITTED:
                return Screen(self.result(journey))
        raise AssertionError(s.step)

    def _group(self, journey: Journey) -> Screen:
        choices = []
        packs = packs_for_unit(self.registry, journey.unit)
        for group, _ in self.registry.groups():
            if group.code in packs:
                label = group.label.get(self.locale)
                choices.append(self.choice(label, self.data(journey, Verb.GROUP, group.code)))
        choices.append(self._btn(journey, "btn.back", Verb.BACK))
        unit = escape(journey.unit.name) if journey.unit else ""
        return Screen(self.t("group.ask", unit=unit), one_per_row(*choices))

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

    def _level(self, journey: Journey) -> Screen:
        pack = journey.pack
        assert pack is not None
        ind = pack.indicator(journey.state.indicator)
        current = journey.facts.chosen.get(ind.number)
        text = self.indicator_text(pack, ind)
        if current is not None:
            text += "\n\n" + self.t("level.current", points=current)
        text += "\n\n" + self.t("level.choose")
        choices = [
            self.choice(
                ("✅ " if lv.points == current else "") + self.t("btn.points", points=lv.points),
                self.data(journey, Verb.LEVEL, f"{ind.number}:{lv.points}"),
            )
            for lv in ind.levels
        ]
        return Screen(text, one_per_row(*choices, self._btn(journey, "btn.back", Verb.BACK)))

    def _evidence(self, journey: Journey) -> Screen:
        n = journey.state.indicator
        count = journey.facts.evidence.get(n, 0)
        return self.evidence_screen(journey, self.t("evidence.ask", n=n, count=count))

    def evidence_screen(self, journey: Journey, text: str) -> Screen:
        """``text`` with the evidence step's choices (done, back), e.g. after a file was received."""
        n = journey.state.indicator
        return Screen(
            text,
            one_per_row(self._btn(journey, "btn.done", Verb.DONE, str(n)), self._btn(journey, "btn.back", Verb.BACK)),
        )

    def _review(self, journey: Journey) -> Screen:
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
        edits = [self.choice(self.t("btn.edit", n=n), self.data(journey, Verb.EDIT, str(n))) for n in editable]
        rows = [tuple(edits[i : i + 5]) for i in range(0, len(edits), 5)]
        rows.append((self._btn(journey, "btn.submit", Verb.SUBMIT),))
        return Screen("\n".join(lines), tuple(rows))

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
