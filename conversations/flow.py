"""The self-assessment conversation as a state machine: ``transition(state, event, facts) -> Transition``.

Rule: a transition either returns the next state with the effects to store and the notices to show, or
raises ``FlowError`` and nothing happens. Bad input the person can correct (a name that is too short,
an unknown join code, finishing an indicator without evidence) is not an error: the state stays or moves
to a warning step and a notice says why. Illegal moves (a stale button, a forged choice, a change after
submission) are errors. No Telegram and no SQL here: ``facts`` is a read-only snapshot of what is stored.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from conversations.scoring import MIN_INDICATOR_POINTS


class Step(StrEnum):
    """Where a person is. Stored by name, so members may be added but never renamed."""

    CONSENT = "consent"
    DECLINED = "declined"
    NAME = "name"
    UNIT = "unit"
    GROUP = "group"
    LEVEL = "level"
    EVIDENCE = "evidence"
    SKIP_WARNING = "skip_warning"
    REVIEW = "review"
    CONFIRM_SUBMIT = "confirm_submit"
    SUBMITTED = "submitted"
    PICK_EVIDENCE = "pick_evidence"  # from the summary: which indicator to add evidence to
    REMOVE_FILE = "remove_file"  # the evidence step's files listed, one to remove


REGISTRATION_STEPS = frozenset({Step.CONSENT, Step.DECLINED, Step.NAME, Step.UNIT})
INDICATOR_STEPS = frozenset({Step.LEVEL, Step.EVIDENCE, Step.SKIP_WARNING, Step.REMOVE_FILE})
# Where a file sent now is taken as evidence of the indicator on screen (besides a level screen whose level
# is already chosen: see ``accepts_evidence``).
EVIDENCE_STEPS = frozenset({Step.EVIDENCE, Step.SKIP_WARNING, Step.REMOVE_FILE})


@dataclass(frozen=True)
class State:
    step: Step
    indicator: int = 0  # the indicator number on the indicator steps, else 0
    editing: bool = False  # came from the review summary: finishing an indicator returns there
    # The stored revision of this step: a choice shown at another revision is stale (see ``transition``).
    # Not part of equality: a state is where a person is, whatever revision brought them there.
    rev: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Facts:
    """What the flow may read of the stored assessment."""

    numbers: tuple[int, ...] = ()  # the pack's indicator numbers in order; empty before a group is chosen
    levels: Mapping[int, tuple[int, ...]] = field(default_factory=dict)  # points a person may choose
    chosen: Mapping[int, int] = field(default_factory=dict)
    evidence: Mapping[int, int] = field(default_factory=dict)
    groups: Mapping[str, tuple[int, ...]] = field(default_factory=dict)  # group code -> its pack's numbers
    has_unit: bool = False
    editable: frozenset[int] | None = None  # returned by the team: only these may change


# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class Consented:
    pass


@dataclass(frozen=True)
class Declined:
    pass


@dataclass(frozen=True)
class Restart:
    """/start after declining consent."""


@dataclass(frozen=True)
class GaveName:
    name: str


@dataclass(frozen=True)
class JoinedUnit:
    found: bool  # the code named a unit


@dataclass(frozen=True)
class ChoseGroup:
    code: str


@dataclass(frozen=True)
class ChoseLevel:
    indicator: int
    points: int


@dataclass(frozen=True)
class AttachedEvidence:
    indicator: int


@dataclass(frozen=True)
class FinishedEvidence:
    indicator: int


@dataclass(frozen=True)
class ConfirmedSkip:
    indicator: int


@dataclass(frozen=True)
class AddMoreEvidence:
    """ "Send evidence" on the skip warning: back to the evidence step of the same indicator."""

    indicator: int


@dataclass(frozen=True)
class AskedHint:
    """ "💡 Gợi ý" on a level or evidence screen: the longer explanation, nothing changes."""

    indicator: int


@dataclass(frozen=True)
class PickEvidence:
    """ "Add evidence" on the summary: choose the indicator."""


@dataclass(frozen=True)
class AddEvidence:
    """The indicator chosen to add evidence to, from the summary: its evidence step, back to the summary after."""

    indicator: int


@dataclass(frozen=True)
class ListFiles:
    """ "Remove a file" on the evidence step: the indicator's files, listed."""

    indicator: int


@dataclass(frozen=True)
class RemoveFile:
    """The ``position``-th file (1-based, in the order received) of the indicator removed. The handler removes
    the row, as it adds one for ``AttachedEvidence``: the flow only says whether the move is allowed."""

    indicator: int
    position: int


@dataclass(frozen=True)
class Back:
    pass


@dataclass(frozen=True)
class Edit:
    indicator: int


@dataclass(frozen=True)
class AskSubmit:
    pass


@dataclass(frozen=True)
class ConfirmedSubmit:
    pass


@dataclass(frozen=True)
class Cancel:
    pass


Event = (
    Consented
    | Declined
    | Restart
    | GaveName
    | JoinedUnit
    | ChoseGroup
    | ChoseLevel
    | AttachedEvidence
    | FinishedEvidence
    | ConfirmedSkip
    | AddMoreEvidence
    | AskedHint
    | PickEvidence
    | AddEvidence
    | ListFiles
    | RemoveFile
    | Back
    | Edit
    | AskSubmit
    | ConfirmedSubmit
    | Cancel
)

# --------------------------------------------------------------------------- effects (what to store)


@dataclass(frozen=True)
class RecordConsent:
    pass


@dataclass(frozen=True)
class ForgetPerson:
    """Consent refused: keep nothing but the Telegram id and the step."""


@dataclass(frozen=True)
class RecordName:
    name: str


@dataclass(frozen=True)
class RecordGroup:
    code: str


@dataclass(frozen=True)
class RecordLevel:
    indicator: int
    points: int


@dataclass(frozen=True)
class RecordSubmission:
    pass


Effect = RecordConsent | ForgetPerson | RecordName | RecordGroup | RecordLevel | RecordSubmission


@dataclass(frozen=True)
class Transition:
    state: State
    effects: tuple[Effect, ...] = ()
    notices: tuple[str, ...] = ()  # message ids for the renderer, shown before the step itself


# The notice of ``AskedHint``: the renderer shows the step's longer explanation in place of the step itself.
HINT = "hint"


class FlowError(Exception):
    """An illegal move; nothing was changed. ``reason`` is one of stale, forged, locked, illegal."""

    def __init__(self, state: State, event: object, reason: str) -> None:
        self.state = state
        self.event = event
        self.reason = reason
        super().__init__(f"{reason}: {type(event).__name__} at {state.step}/{state.indicator}")


# --------------------------------------------------------------------------- names

NAME_MIN, NAME_MAX = 2, 80
_NAME_OK = re.compile(r"^[^\W\d_]+(?:[ .'\-][^\W\d_]+)*\.?$")
# Phone keyboards type a typographic apostrophe (H’Hen Niê); store the plain one.
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'"})


def clean_name(raw: str) -> str | None:
    """A full name tidied (NFC, single spaces), or None when it does not look like a person's name."""
    name = " ".join(unicodedata.normalize("NFC", raw).translate(_APOSTROPHES).split())
    if not NAME_MIN <= len(name) <= NAME_MAX or not _NAME_OK.match(name):
        return None
    return name


# --------------------------------------------------------------------------- the machine

# Moves that need no look at the facts: (step, event type) -> next step.
_SIMPLE: dict[tuple[Step, type], Step] = {
    (Step.CONSENT, Consented): Step.NAME,
    (Step.CONSENT, Declined): Step.DECLINED,
    (Step.DECLINED, Restart): Step.CONSENT,
    (Step.UNIT, Back): Step.NAME,
    (Step.GROUP, Back): Step.UNIT,
    (Step.CONFIRM_SUBMIT, Back): Step.REVIEW,
    (Step.CONFIRM_SUBMIT, Cancel): Step.REVIEW,
    (Step.PICK_EVIDENCE, Back): Step.REVIEW,
    (Step.PICK_EVIDENCE, Cancel): Step.REVIEW,
}

_SIMPLE_EFFECTS: dict[tuple[Step, type], tuple[Effect, ...]] = {
    (Step.CONSENT, Consented): (RecordConsent(),),
    (Step.CONSENT, Declined): (ForgetPerson(),),
}


def initial_state() -> State:
    return State(Step.CONSENT)


def first_step_after_registration() -> State:
    return State(Step.GROUP)


def transition(state: State, event: Event, facts: Facts, *, shown_at: int | None = None) -> Transition:
    """The next state for ``event``; raises FlowError for a move that is not allowed now. ``shown_at``: the
    revision of the screen the event was chosen on (a button, a typed number); another than the state's is a
    choice from an older screen, refused as stale on every messenger alike."""
    if shown_at is not None and shown_at != state.rev:
        raise FlowError(state, event, "stale")
    if state.step is Step.SUBMITTED:
        raise FlowError(state, event, "locked")
    key = (state.step, type(event))
    if key in _SIMPLE:
        return Transition(State(_SIMPLE[key]), _SIMPLE_EFFECTS.get(key, ()))
    handler = _HANDLERS.get(type(event))
    if handler is None:
        raise FlowError(state, event, "illegal")
    return handler(state, event, facts)


def _ask_submit(state: State, event: AskSubmit, facts: Facts) -> Transition:
    if state.step is not Step.REVIEW:
        raise FlowError(state, event, "stale")
    missing = [n for n in facts.numbers if n not in facts.chosen]
    if missing:
        return Transition(state, notices=("review.unanswered",))
    return Transition(State(Step.CONFIRM_SUBMIT))


def _gave_name(state: State, event: GaveName, facts: Facts) -> Transition:
    if state.step is not Step.NAME:
        raise FlowError(state, event, "illegal")
    name = clean_name(event.name)
    if name is None:
        return Transition(state, notices=("name.invalid",))
    nxt = Step.GROUP if facts.has_unit else Step.UNIT
    return Transition(State(nxt), (RecordName(name),))


def _joined_unit(state: State, event: JoinedUnit, facts: Facts) -> Transition:
    if state.step is not Step.UNIT:
        raise FlowError(state, event, "illegal")
    if not event.found:
        return Transition(state, notices=("unit.unknown_code",))
    return Transition(State(Step.GROUP), notices=("unit.joined",))


def _chose_group(state: State, event: ChoseGroup, facts: Facts) -> Transition:
    if state.step is not Step.GROUP:
        raise FlowError(state, event, "stale")
    if event.code not in facts.groups:
        raise FlowError(state, event, "forged")
    first = facts.groups[event.code][0]
    return Transition(State(Step.LEVEL, first), (RecordGroup(event.code),))


def _check_indicator(state: State, event: object, indicator: int, facts: Facts, *steps: Step) -> None:
    if indicator not in facts.numbers:
        raise FlowError(state, event, "forged")
    if state.step not in steps or state.indicator != indicator:
        raise FlowError(state, event, "stale")
    if facts.editable is not None and indicator not in facts.editable:
        raise FlowError(state, event, "locked")


def _chose_level(state: State, event: ChoseLevel, facts: Facts) -> Transition:
    _check_indicator(state, event, event.indicator, facts, Step.LEVEL)
    if event.points not in facts.levels.get(event.indicator, ()):
        raise FlowError(state, event, "forged")
    effects = (RecordLevel(event.indicator, event.points),)
    # Under 5 on any indicator rules the title out this year: say so while the choice can still change.
    notices = ("level.below_minimum",) if event.points < MIN_INDICATOR_POINTS else ()
    if event.points == 0 and not facts.evidence.get(event.indicator):
        # Nothing to prove for "not yet": go on without asking for evidence.
        return Transition(_after_indicator(state, facts), effects, notices)
    return Transition(replace(state, step=Step.EVIDENCE), effects, notices)


def accepts_evidence(state: State, facts: Facts) -> bool:
    """Whether a file sent now is evidence of the indicator on screen: on its evidence steps, and on its level
    screen once a level is chosen (editing from the summary, a photo needs no detour through the levels)."""
    if state.step in EVIDENCE_STEPS:
        return True
    return state.step is Step.LEVEL and state.indicator in facts.chosen


def _attached(state: State, event: AttachedEvidence, facts: Facts) -> Transition:
    _check_indicator(state, event, event.indicator, facts, Step.LEVEL, *EVIDENCE_STEPS)
    if not accepts_evidence(state, facts):
        raise FlowError(state, event, "stale")  # a level screen with nothing chosen yet
    return Transition(replace(state, step=Step.EVIDENCE))


def _asked_hint(state: State, event: AskedHint, facts: Facts) -> Transition:
    _check_indicator(state, event, event.indicator, facts, Step.LEVEL, Step.EVIDENCE)
    return Transition(state, notices=(HINT,))


def _pick_evidence(state: State, event: PickEvidence, facts: Facts) -> Transition:
    if state.step is not Step.REVIEW or not evidence_targets(facts):
        raise FlowError(state, event, "stale")
    return Transition(State(Step.PICK_EVIDENCE))


def evidence_targets(facts: Facts) -> tuple[int, ...]:
    """The indicators evidence may be added to from the summary: those with a level, if they may change."""
    return tuple(n for n in facts.numbers if n in facts.chosen and (facts.editable is None or n in facts.editable))


def _add_evidence(state: State, event: AddEvidence, facts: Facts) -> Transition:
    if state.step is not Step.PICK_EVIDENCE:
        raise FlowError(state, event, "stale")
    if event.indicator not in facts.numbers or event.indicator not in facts.chosen:
        raise FlowError(state, event, "forged")
    if facts.editable is not None and event.indicator not in facts.editable:
        raise FlowError(state, event, "locked")
    return Transition(State(Step.EVIDENCE, event.indicator, editing=True))


def _list_files(state: State, event: ListFiles, facts: Facts) -> Transition:
    _check_indicator(state, event, event.indicator, facts, Step.EVIDENCE)
    if not facts.evidence.get(event.indicator):
        raise FlowError(state, event, "stale")
    return Transition(replace(state, step=Step.REMOVE_FILE))


def _remove_file(state: State, event: RemoveFile, facts: Facts) -> Transition:
    _check_indicator(state, event, event.indicator, facts, Step.REMOVE_FILE)
    if not 1 <= event.position <= facts.evidence.get(event.indicator, 0):
        raise FlowError(state, event, "forged")
    return Transition(replace(state, step=Step.EVIDENCE), notices=("evidence.removed",))


def _finished(state: State, event: FinishedEvidence, facts: Facts) -> Transition:
    _check_indicator(state, event, event.indicator, facts, Step.EVIDENCE)
    if facts.evidence.get(event.indicator, 0) > 0 or facts.chosen.get(event.indicator) == 0:
        return Transition(_after_indicator(state, facts))
    return Transition(replace(state, step=Step.SKIP_WARNING))


def _confirmed_skip(state: State, event: ConfirmedSkip, facts: Facts) -> Transition:
    _check_indicator(state, event, event.indicator, facts, Step.SKIP_WARNING)
    return Transition(_after_indicator(state, facts), notices=("evidence.skipped",))


def _add_more_evidence(state: State, event: AddMoreEvidence, facts: Facts) -> Transition:
    _check_indicator(state, event, event.indicator, facts, Step.SKIP_WARNING)
    return Transition(replace(state, step=Step.EVIDENCE))


def _after_indicator(state: State, facts: Facts) -> State:
    """Where to go when an indicator is done: back to the summary when editing, else the next one."""
    if state.editing:
        return State(Step.REVIEW)
    later = [n for n in facts.numbers if n > state.indicator]
    return State(Step.LEVEL, later[0]) if later else State(Step.REVIEW)


def _back(state: State, event: Back, facts: Facts) -> Transition:
    if state.step is Step.REMOVE_FILE:
        return Transition(replace(state, step=Step.EVIDENCE))
    if state.step in (Step.EVIDENCE, Step.SKIP_WARNING):
        return Transition(replace(state, step=Step.LEVEL))
    if state.step is Step.LEVEL:
        if state.editing:
            return Transition(State(Step.REVIEW))
        earlier = [n for n in facts.numbers if n < state.indicator]
        if earlier:
            return Transition(State(Step.LEVEL, earlier[-1]))
        if facts.chosen:
            return Transition(state, notices=("flow.first_indicator",))
        return Transition(State(Step.GROUP))
    if state.step is Step.REVIEW and facts.editable is None and facts.numbers:
        return Transition(State(Step.LEVEL, facts.numbers[-1]))
    return Transition(state, notices=("flow.cannot_go_back",))


def _edit(state: State, event: Edit, facts: Facts) -> Transition:
    if state.step is not Step.REVIEW:
        raise FlowError(state, event, "stale")
    if event.indicator not in facts.numbers:
        raise FlowError(state, event, "forged")
    if facts.editable is not None and event.indicator not in facts.editable:
        raise FlowError(state, event, "locked")
    return Transition(State(Step.LEVEL, event.indicator, editing=True))


def _confirmed_submit(state: State, event: ConfirmedSubmit, facts: Facts) -> Transition:
    if state.step is not Step.CONFIRM_SUBMIT:
        raise FlowError(state, event, "stale")
    if any(n not in facts.chosen for n in facts.numbers):
        return Transition(State(Step.REVIEW), notices=("review.unanswered",))
    return Transition(State(Step.SUBMITTED), (RecordSubmission(),))


def _cancel(state: State, event: Cancel, facts: Facts) -> Transition:
    if state.step in (Step.SKIP_WARNING, Step.REMOVE_FILE):
        return Transition(replace(state, step=Step.EVIDENCE), notices=("flow.cancelled",))
    return Transition(state, notices=("flow.cancelled",))


def _registration_event(state: State, event: object, facts: Facts) -> Transition:
    # Consent and restart buttons pressed at the wrong step are stale messages.
    raise FlowError(state, event, "stale")


_HANDLERS = {
    Consented: _registration_event,
    Declined: _registration_event,
    Restart: _registration_event,
    GaveName: _gave_name,
    JoinedUnit: _joined_unit,
    ChoseGroup: _chose_group,
    ChoseLevel: _chose_level,
    AttachedEvidence: _attached,
    FinishedEvidence: _finished,
    ConfirmedSkip: _confirmed_skip,
    AddMoreEvidence: _add_more_evidence,
    AskedHint: _asked_hint,
    PickEvidence: _pick_evidence,
    AddEvidence: _add_evidence,
    ListFiles: _list_files,
    RemoveFile: _remove_file,
    Back: _back,
    Edit: _edit,
    AskSubmit: _ask_submit,
    ConfirmedSubmit: _confirmed_submit,
    Cancel: _cancel,
}
