"""Turns a journey (step, pack, facts) into the screen a person sees, in their language.

A screen is neutral (bot.screens): its choices carry the encoded event and the words a person may type for
them; each messenger draws it its own way. Every word comes from the catalogs in locales/ or from the
criteria pack's own translations; names and other values are HTML-escaped (both messengers read HTML).

Screens are kept short for a small phone (no citizen screen over 1,000 characters): a level screen holds the
indicator, one line of explanation and the levels; the evidence step says what counts as evidence; the longer
explanation and the list of examples wait behind "💡 Gợi ý". Once the team has reviewed an assessment, every
screen counts the team's points and says what the team changed and why.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime

from bot.callbacks import Button, Verb
from bot.screens import Choice, Screen, one_per_row
from conversations.criteria import Indicator, Pack, Registry
from conversations.flow import Step, evidence_targets
from conversations.identity import Channel
from conversations.scoring import AnswerFacts, HoldsBack, Score, indicator_points
from locales import gettext_typed
from storage.journey import Journey, TeamPoints, packs_for_unit, score_of
from storage.models import AssessmentStatus, Evidence

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
    Verb.HINT: "typed.hint",
}
# Messengers that pass bots nothing but photos: their evidence step asks for photos, not files.
PHOTOS_ONLY = frozenset({Channel.ZALO})
# Once the team has looked at an assessment its figures are what counts: shown, and counted, on every screen.
# A returned assessment shows those the team set on the indicators it did not return (the returned ones are
# cleared for the citizen to answer again).
TEAM_SHOWN = frozenset(
    {
        AssessmentStatus.RETURNED,
        AssessmentStatus.REVIEWED,
        AssessmentStatus.RECOGNISED,
        AssessmentStatus.NOT_RECOGNISED,
    }
)
SUMMARY_TEXT = 32  # characters of an indicator's wording on a summary line: one line on a small phone
# A reason the team typed may be 1,000 characters: a screen (or notice) shows its start, so ten of them still fit
# one message; the team's review card keeps the whole text.
REASON_SHOWN = 100
# Past this many changed indicators a change is one short line ("CT 2: 10 → 8 — …") with its reason cut
# shorter, so ten changes with a sentence each still read under 1,000 characters.
CHANGES_IN_FULL = 3
REASON_SHOWN_SHORT = 32
RETURN_REASON_SHOWN = 300
EDITS_PER_ROW = 5
# Babel's short date of English is month first (6/1/26); Vietnamese readers of the English screens read
# dates day first, as British English writes them.
_DATE_LOCALE = {"en": "en_GB"}


class Renderer:
    """Renders for one locale."""

    def __init__(self, locale: str, registry: Registry, zone: ZoneInfo, *, typed: bool = False) -> None:
        self.locale = locale
        self.registry = registry
        self.zone = zone
        self.typed = typed  # choices are typed back (Zalo): texts that say "press" have a typed wording

    def t(self, key: str, /, **values: object) -> str:
        return gettext_typed(key, self.locale, typed=self.typed, **values)

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
            case Step.REMOVE_FILE:
                return self._remove_file(journey)
            case Step.SKIP_WARNING:
                return Screen(
                    self.t("skip.warning", n=s.indicator),
                    one_per_row(
                        self._btn(journey, "btn.skip", Verb.SKIP, str(s.indicator)),
                        self._btn(journey, "btn.add_evidence", Verb.MORE, str(s.indicator)),
                    ),
                )
            case Step.REVIEW:
                return self._review(journey)
            case Step.PICK_EVIDENCE:
                return self._pick_evidence(journey)
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
        """Short labels on the choices (a small phone cuts a button at about 25 characters), each group's full
        description in the message."""
        choices, described = [], []
        packs = packs_for_unit(self.registry, journey.unit)
        for group, _ in self.registry.groups():
            if group.code in packs:
                label = group.choice_label.get(self.locale)
                choices.append(self.choice(label, self.data(journey, Verb.GROUP, group.code)))
                full = group.label.get(self.locale)
                if full.startswith(label):  # "Người dân trong cộng đồng (nông dân, ...)": the short label leads
                    described.append(f"• <b>{escape(label)}</b>{escape(full[len(label) :])}")
                else:
                    described.append(self.t("group.line", short=escape(label), label=escape(full)))
        choices.append(self._btn(journey, "btn.back", Verb.BACK))
        unit = escape(journey.unit.name) if journey.unit else ""
        text = "\n".join([self.t("group.ask", unit=unit), *(["", *described] if described else [])])
        return Screen(text, one_per_row(*choices))

    # ------------------------------------------------------------------ one indicator

    def _indicator(self, journey: Journey) -> tuple[Pack, Indicator]:
        pack = journey.pack
        assert pack is not None
        return pack, pack.indicator(journey.state.indicator)

    def header(self, pack: Pack, ind: Indicator) -> str:
        """The header "Chỉ tiêu 3/10", with the criterion's title on the first indicator of each criterion."""
        n, total = pack.numbers.index(ind.number) + 1, len(pack.numbers)
        first = next(i for i in pack.indicators if i.criterion == ind.criterion)
        if first.number != ind.number:
            return self.t("level.header", n=n, total=total)
        title = escape(pack.criterion(ind.criterion).title.get(self.locale))
        return self.t("level.header_criterion", n=n, total=total, criterion=title)

    def _level(self, journey: Journey) -> Screen:
        pack, ind = self._indicator(journey)
        lang = self.locale
        current = journey.facts.chosen.get(ind.number)
        lines = [
            self.header(pack, ind),
            f"<b>{escape(ind.text.get(lang))}</b>",
            escape(ind.short_explanation().get(lang)),
        ]
        if current is not None:
            lines.append(self.t("level.current", points=current))
        # Each level's description goes with its choice: a line of the text beside buttons (Telegram), the
        # numbered line itself where choices are typed (Zalo).
        levels = [
            replace(
                self.choice(
                    ("✅ " if lv.points == current else "") + self.t("btn.points", points=lv.points),
                    self.data(journey, Verb.LEVEL, f"{ind.number}:{lv.points}"),
                ),
                detail=escape(lv.label.get(lang)),
            )
            for lv in ind.levels
        ]
        extra = (self._hint_choice(journey, ind.number), self._btn(journey, "btn.back", Verb.BACK))
        return Screen("\n".join(lines), (*one_per_row(*levels), extra))

    def _hint_choice(self, journey: Journey, n: int) -> Choice:
        return self._btn(journey, "btn.hint", Verb.HINT, str(n))

    def hint(self, journey: Journey) -> Screen:
        """The "💡 Gợi ý" screen: the indicator's full explanation and examples of evidence, with the choices of
        the step the person is on (numbered alike on Zalo, so a number typed next means the same choice)."""
        _, ind = self._indicator(journey)
        lang = self.locale
        lines = [
            self.t("hint.title", n=ind.number),
            escape(ind.explanation.get(lang)),
            "",
            self.t("level.examples"),
            *(f"• {escape(ex.get(lang))}" for ex in ind.evidence_examples),
        ]
        return Screen("\n".join(lines), self.screen(journey).without_details().rows)

    def chosen_level(self, journey: Journey, points: int) -> str:
        """The level screen once a level was chosen on it: one line in the chat's history (Telegram)."""
        pack, ind = self._indicator(journey)
        n, total = pack.numbers.index(ind.number) + 1, len(pack.numbers)
        return self.t("level.chosen", n=n, total=total, label=self.t("btn.points", points=points))

    def _evidence(self, journey: Journey) -> Screen:
        _, ind = self._indicator(journey)
        photos_only = journey.person.channel in PHOTOS_ONLY
        text = self.t(
            "evidence.ask_photos" if photos_only else "evidence.ask",
            n=ind.number,
            hint=escape(ind.short_evidence().get(self.locale)),
        )
        if journey.files:
            text += "\n" + self.t("evidence.so_far", files=self.files_count(journey.files))
        return self.evidence_screen(journey, text)

    def receipt(self, journey: Journey) -> str:
        """What the evidence step's one receipt says now: "📎 Chỉ tiêu 3 · Đã nhận: 2 ảnh"."""
        return self.t("evidence.received", n=journey.state.indicator, files=self.files_count(journey.files))

    def files_count(self, files: Sequence[Evidence]) -> str:
        photos = sum(1 for f in files if f.kind == "photo")
        others = len(files) - photos
        parts = []
        if photos or not others:
            parts.append(self.t("evidence.photo_one") if photos == 1 else self.t("evidence.photos", count=photos))
        if others:
            parts.append(self.t("evidence.file_one") if others == 1 else self.t("evidence.files", count=others))
        return ", ".join(parts)

    def evidence_screen(self, journey: Journey, text: str) -> Screen:
        """``text`` with the evidence step's choices, e.g. after a file was received: the same choices, in the same
        order, as the step itself (done; the examples until a file came, then removing one; back)."""
        n = journey.state.indicator
        if journey.facts.evidence.get(n):
            middle = self._btn(journey, "btn.remove_file", Verb.LIST_FILES, str(n))
        else:
            middle = self._hint_choice(journey, n)
        done, back = self._btn(journey, "btn.done", Verb.DONE, str(n)), self._btn(journey, "btn.back", Verb.BACK)
        return Screen(text, one_per_row(done, middle, back))

    def _remove_file(self, journey: Journey) -> Screen:
        n = journey.state.indicator
        lines = [self.t("remove.ask", n=n)]
        for i, f in enumerate(journey.files, start=1):
            lines.append(self.t("remove.line", i=i, file=self.file_name(f)))
        choices = [
            self.choice(self.t("btn.remove_one", i=i), self.data(journey, Verb.REMOVE_FILE, f"{n}:{i}"))
            for i in range(1, len(journey.files) + 1)
        ]
        rows = [tuple(choices[i : i + EDITS_PER_ROW]) for i in range(0, len(choices), EDITS_PER_ROW)]
        rows.append((self._btn(journey, "btn.back", Verb.BACK),))
        return Screen("\n".join(lines), tuple(rows))

    def file_name(self, f: Evidence) -> str:
        """A file as its sender knows it: a document by its name, a photo by when it came."""
        when = self.when(f.created_at) if f.created_at else ""
        if f.kind == "photo" or not f.file_name:
            return self.t("remove.photo", when=when)
        return self.t("remove.document", name=escape(f.file_name), when=when)

    # ------------------------------------------------------------------ the summary

    def _review(self, journey: Journey) -> Screen:
        pack = journey.pack
        assert pack is not None
        facts = journey.facts
        team = self.team(journey)
        result = self.score(journey)
        lines = [self.t("review.title"), ""]
        # Returned: the indicators to fix and those the team changed, each on its line; the rest in one line.
        own = self.own_score(journey).points
        kept = [
            n
            for n in pack.numbers
            if facts.editable is not None and n not in facts.editable and (n not in team or team[n].points == own[n])
        ]
        for ind in (i for i in pack.indicators if i.number not in kept):
            n = ind.number
            lines.append(self._summary_line(ind, facts.chosen.get(n), facts.evidence.get(n, 0), result.points[n], team))
        if kept:
            lines.append(self.t("review.kept", indicators=_numbers(kept), points=sum(result.points[n] for n in kept)))
        lines += ["", self.t("review.total", total=result.total)]
        if facts.editable is not None and journey.assessment is not None:
            lines += [
                "",
                self.t(
                    "review.returned",
                    indicators=_numbers(sorted(facts.editable)),
                    reason=escape(_short(journey.assessment.return_reason or "", RETURN_REASON_SHOWN)),
                ),
            ]
        lines += ["", self.holds_back(result.holds_back) if result.holds_back else self.t("review.would_pass")]
        editable = [n for n in pack.numbers if facts.editable is None or n in facts.editable]
        edits = [self.choice(self.t("btn.edit", n=n), self.data(journey, Verb.EDIT, str(n))) for n in editable]
        rows = [tuple(edits[i : i + EDITS_PER_ROW]) for i in range(0, len(edits), EDITS_PER_ROW)]
        if evidence_targets(facts):
            rows.append((self._btn(journey, "btn.pick_evidence", Verb.PICK_EVIDENCE),))
        rows.append((self._btn(journey, "btn.submit", Verb.SUBMIT),))
        return Screen("\n".join(lines), tuple(rows))

    def _summary_line(
        self, ind: Indicator, chosen: int | None, files: int, points: int, team: dict[int, TeamPoints]
    ) -> str:
        n = ind.number
        text = escape(_short(ind.text.get(self.locale), SUMMARY_TEXT))
        if n in team:
            own = indicator_points(AnswerFacts(chosen, files))
            if team[n].points != own:
                why = escape(_short(team[n].reason or "—", REASON_SHOWN))
                return self.t("review.line_team", n=n, text=text, team=team[n].points, own=own, reason=why)
        if chosen is None:
            return self.t("review.line_unanswered", n=n, text=text)
        if chosen > 0 and files == 0:
            return self.t("review.line_no_evidence", n=n, text=text, chosen=chosen)
        return self.t("review.line", n=n, text=text, points=points, files=files)

    def _pick_evidence(self, journey: Journey) -> Screen:
        targets = evidence_targets(journey.facts)
        choices = [
            self.choice(self.t("btn.add_to", n=n), self.data(journey, Verb.ADD_EVIDENCE, str(n))) for n in targets
        ]
        rows = [tuple(choices[i : i + EDITS_PER_ROW]) for i in range(0, len(choices), EDITS_PER_ROW)]
        rows.append((self._btn(journey, "btn.back", Verb.BACK),))
        return Screen(self.t("pick.ask"), tuple(rows))

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

    # ------------------------------------------------------------------ the team's figures

    def team(self, journey: Journey) -> dict[int, TeamPoints]:
        """The team's figures the person is shown (see TEAM_SHOWN); none while the team is still at work."""
        a = journey.assessment
        return dict(journey.team) if a is not None and a.status in TEAM_SHOWN else {}

    def score(self, journey: Journey) -> Score:
        """The score as it stands for the person: their own answers, with the team's figures once shown."""
        assert journey.pack is not None
        team = self.team(journey)
        return score_of(journey.pack, journey.facts, {n: p.points for n, p in team.items()} or None)

    def own_score(self, journey: Journey) -> Score:
        assert journey.pack is not None
        return score_of(journey.pack, journey.facts)

    def changes(self, journey: Journey) -> list[str]:
        """One line per indicator the team scored otherwise than the person's own answer gives, with why."""
        if journey.pack is None:
            return []
        team, own = self.team(journey), self.own_score(journey)
        changed = [n for n in journey.pack.numbers if n in team and team[n].points != own.points[n]]
        short = len(changed) > CHANGES_IN_FULL
        return ["• " + self._change(n, own.points[n], team[n], short=short) for n in changed]

    def _change(self, n: int, own: int, team: TeamPoints, *, short: bool = False) -> str:
        if team.reason:
            reason = escape(_short(team.reason, REASON_SHOWN_SHORT if short else REASON_SHOWN))
            key = "team.change_short" if short else "team.change"
            return self.t(key, n=n, own=own, team=team.points, reason=reason)
        key = "team.change_short_no_reason" if short else "team.change_no_reason"
        return self.t(key, n=n, own=own, team=team.points)

    # ------------------------------------------------------------------ outcome and status

    def result(self, journey: Journey) -> str:
        a = journey.assessment
        assert a is not None and journey.pack is not None
        return "\n".join([self.t("result.title", year=a.year), *self.standing(journey)])

    def standing(self, journey: Journey) -> list[str]:
        """A submitted assessment as it stands now: the points (the team's too, once reviewed), the status,
        what the team changed and why, and a closing sentence that follows the status."""
        a = journey.assessment
        assert a is not None and journey.pack is not None
        own, team = self.own_score(journey), self.team(journey)
        lines = []
        if team and a.status != AssessmentStatus.RETURNED:
            lines.append(self.t("result.total_team", own=own.total, team=self.score(journey).total))
        else:
            lines.append(self.t("result.total", total=own.total))
        lines.append(self.status_line(a.status))
        if a.submitted_at:
            lines.append(self.t("result.submitted_at", when=self.when(a.submitted_at)))
        changed = self.changes(journey)
        if changed:
            lines += ["", self.t("team.changes_title"), *changed]
        lines += ["", *self.closing(journey)]
        return lines

    def status_line(self, status: str) -> str:
        return self.t("result.status", status=self.t("result.status." + status))

    def closing(self, journey: Journey) -> list[str]:
        """What is true now and what happens next, by status: nobody is told the team "will review" once it
        has, nor offered to go on once there is nothing left to do."""
        a = journey.assessment
        assert a is not None
        match a.status:
            case AssessmentStatus.SUBMITTED:
                own = self.own_score(journey)
                verdict = self.t("result.would_pass") if own.recognised else self.holds_back(own.holds_back)
                return [verdict, self.next_step(journey)]
            case AssessmentStatus.REVIEWED:
                counted = self.score(journey)
                verdict = self.t("result.team_pass") if counted.recognised else self.holds_back(counted.holds_back)
                return [verdict, self.next_step(journey)]
        return [self.next_step(journey)]

    def next_step(self, journey: Journey) -> str:
        """One sentence: what happens next to a submitted assessment (or what was decided)."""
        a = journey.assessment
        assert a is not None
        if a.status in (AssessmentStatus.RECOGNISED, AssessmentStatus.NOT_RECOGNISED) and a.decision_no:
            day = self.day(a.decision_date) if a.decision_date else "—"
            return self.t(f"next.{a.status}_decision", year=a.year, decision=escape(a.decision_no), date=day)
        return self.t(f"next.{a.status}", year=a.year)

    def when(self, moment: datetime) -> str:
        """A date and time in the configured zone, day first, the way the person's language writes it."""
        return format_datetime(moment, "short", tzinfo=self.zone, locale=_DATE_LOCALE.get(self.locale, self.locale))

    def day(self, moment: datetime) -> str:
        """A date alone, in the configured zone, day first."""
        return format_date(moment.astimezone(self.zone).date(), "dd/MM/yyyy", locale=self.locale)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _numbers(numbers: Iterable[int]) -> str:
    return ", ".join(str(n) for n in numbers)
