"""The self-assessment state machine, walked step by step: plain values in, a Transition or a FlowError out."""

from __future__ import annotations

import copy
import dataclasses
import unicodedata
from typing import Any

import pytest

from conversations.flow import (
    HINT,
    INDICATOR_STEPS,
    AddEvidence,
    AddMoreEvidence,
    AskedHint,
    AskSubmit,
    AttachedEvidence,
    Back,
    Cancel,
    ChoseGroup,
    ChoseLevel,
    ConfirmedSkip,
    ConfirmedSubmit,
    Consented,
    Declined,
    Edit,
    Facts,
    FinishedEvidence,
    FlowError,
    ForgetPerson,
    GaveName,
    JoinedUnit,
    ListFiles,
    PickEvidence,
    RecordConsent,
    RecordGroup,
    RecordLevel,
    RecordName,
    RecordSubmission,
    RemoveFile,
    Restart,
    State,
    Step,
    Transition,
    accepts_evidence,
    clean_name,
    evidence_targets,
    initial_state,
    transition,
)

NUMBERS = tuple(range(1, 11))
LEVELS = (10, 8, 5, 0)


def facts(**overrides: Any) -> Facts:
    """A 10-indicator pack in one group, nothing answered yet."""
    base: dict[str, Any] = {
        "numbers": NUMBERS,
        "levels": {n: LEVELS for n in NUMBERS},
        "groups": {"community": NUMBERS},
    }
    return Facts(**{**base, **overrides})


def answered(*numbers: int, points: int = 8, evidence: int = 1, **overrides: Any) -> Facts:
    """Facts with ``numbers`` answered at ``points`` and ``evidence`` files each."""
    return facts(
        chosen={n: points for n in numbers},
        evidence={n: evidence for n in numbers if evidence},
        **overrides,
    )


def all_answered(**overrides: Any) -> Facts:
    return answered(*NUMBERS, **overrides)


def level(n: int, *, editing: bool = False) -> State:
    return State(Step.LEVEL, n, editing)


def evidence_step(n: int, *, editing: bool = False) -> State:
    return State(Step.EVIDENCE, n, editing)


def skip_warning(n: int, *, editing: bool = False) -> State:
    return State(Step.SKIP_WARNING, n, editing)


def refused(state: State, event: object, f: Facts, reason: str) -> FlowError:
    """Asserts the move raises FlowError with ``reason`` and leaves the state as it was."""
    before = copy.deepcopy(state)
    with pytest.raises(FlowError) as caught:
        transition(state, event, f)  # type: ignore[arg-type]
    assert caught.value.reason == reason, str(caught.value)
    assert caught.value.state == state
    assert caught.value.event == event
    assert state == before
    return caught.value


# --------------------------------------------------------------------------- consent


def test_starts_at_consent() -> None:
    assert initial_state() == State(Step.CONSENT)


def test_consent_leads_to_name_and_records_consent() -> None:
    t = transition(State(Step.CONSENT), Consented(), facts())
    assert t == Transition(State(Step.NAME), (RecordConsent(),))


def test_declining_forgets_the_person() -> None:
    t = transition(State(Step.CONSENT), Declined(), facts())
    assert t.state == State(Step.DECLINED)
    assert t.effects == (ForgetPerson(),)
    assert t.notices == ()


def test_restart_after_declining_asks_for_consent_again() -> None:
    t = transition(State(Step.DECLINED), Restart(), facts())
    assert t.state == State(Step.CONSENT)
    assert t.effects == ()


def test_restart_elsewhere_is_stale() -> None:
    refused(State(Step.CONSENT), Restart(), facts(), "stale")
    refused(level(2), Restart(), facts(), "stale")


def test_a_consent_button_pressed_later_is_stale() -> None:
    refused(level(3), Consented(), answered(1, 2), "stale")
    refused(State(Step.NAME), Consented(), facts(), "stale")
    refused(State(Step.DECLINED), Consented(), facts(), "stale")
    refused(State(Step.REVIEW), Declined(), all_answered(), "stale")


# --------------------------------------------------------------------------- name


def test_a_valid_name_leads_to_unit_without_a_unit() -> None:
    t = transition(State(Step.NAME), GaveName("Nguyễn Thị Lan"), facts(has_unit=False))
    assert t.state == State(Step.UNIT)
    assert t.effects == (RecordName("Nguyễn Thị Lan"),)
    assert t.notices == ()


def test_a_valid_name_leads_to_group_with_a_unit() -> None:
    t = transition(State(Step.NAME), GaveName("Nguyễn Thị Lan"), facts(has_unit=True))
    assert t.state == State(Step.GROUP)
    assert t.effects == (RecordName("Nguyễn Thị Lan"),)


def test_the_name_is_cleaned() -> None:
    decomposed = unicodedata.normalize("NFD", "  Nguyễn   Thị\tLan \n")
    assert decomposed != unicodedata.normalize("NFC", decomposed)
    t = transition(State(Step.NAME), GaveName(decomposed), facts())
    (effect,) = t.effects
    assert isinstance(effect, RecordName)
    assert effect.name == "Nguyễn Thị Lan"
    assert unicodedata.is_normalized("NFC", effect.name)


def test_vietnamese_names_with_diacritics_are_accepted() -> None:
    for name in ("Nguyễn Thị Lan", "Đặng Văn Ân", "Lê Ư", "Trương Thị Ngọc Ánh", "Hồ Xuân Hương", "Võ Văn A"):
        t = transition(State(Step.NAME), GaveName(name), facts())
        assert t.effects == (RecordName(name),), name
        assert t.state == State(Step.UNIT)


def test_names_with_punctuation_inside() -> None:
    assert clean_name("Lê Thị Kim-Ngân") == "Lê Thị Kim-Ngân"
    assert clean_name("Nguyễn Văn A.") == "Nguyễn Văn A."
    # Ê Đê and Jrai names carry an apostrophe; phones often type the typographic one.
    assert clean_name("H'Hen Niê") == "H'Hen Niê"
    assert clean_name("H\u2019Hen Niê") == "H'Hen Niê"
    assert clean_name("Ksor Y\u02bcMoan") == "Ksor Y'Moan"


def test_invalid_names_keep_the_step_with_a_notice() -> None:
    for raw in ("A", "123", "x" * 81, "Nguyễn 3", "", "   ", "@lan", "Lan_Anh", "Lan  -  Anh!"):
        t = transition(State(Step.NAME), GaveName(raw), facts())
        assert t == Transition(State(Step.NAME), notices=("name.invalid",)), repr(raw)


def test_name_length_edges() -> None:
    assert clean_name("Lê") == "Lê"
    assert clean_name("x" * 80) == "x" * 80
    assert clean_name("x" * 81) is None
    assert clean_name("A") is None


def test_a_name_outside_the_name_step_is_refused() -> None:
    refused(State(Step.UNIT), GaveName("Nguyễn Thị Lan"), facts(), "illegal")
    refused(level(1), GaveName("Nguyễn Thị Lan"), facts(), "illegal")


# --------------------------------------------------------------------------- unit and group


def test_an_unknown_unit_code_keeps_the_step() -> None:
    t = transition(State(Step.UNIT), JoinedUnit(found=False), facts())
    assert t == Transition(State(Step.UNIT), notices=("unit.unknown_code",))


def test_a_known_unit_code_leads_to_group() -> None:
    t = transition(State(Step.UNIT), JoinedUnit(found=True), facts())
    assert t.state == State(Step.GROUP)
    assert t.effects == ()
    assert t.notices == ("unit.joined",)


def test_back_from_unit_returns_to_name() -> None:
    assert transition(State(Step.UNIT), Back(), facts()).state == State(Step.NAME)


def test_back_from_group_returns_to_unit() -> None:
    assert transition(State(Step.GROUP), Back(), facts()).state == State(Step.UNIT)


def test_choosing_a_group_starts_at_its_first_indicator() -> None:
    t = transition(State(Step.GROUP), ChoseGroup("community"), facts(numbers=()))
    assert t.state == level(1)
    assert t.effects == (RecordGroup("community"),)


def test_an_unknown_group_is_forged() -> None:
    refused(State(Step.GROUP), ChoseGroup("pirates"), facts(), "forged")


def test_a_group_button_pressed_later_is_stale() -> None:
    refused(level(2), ChoseGroup("community"), answered(1), "stale")


# --------------------------------------------------------------------------- levels and evidence


def test_choosing_a_level_asks_for_evidence() -> None:
    t = transition(level(1), ChoseLevel(1, 8), facts())
    assert t.state == evidence_step(1)
    assert t.effects == (RecordLevel(1, 8),)


def test_every_offered_level_is_accepted() -> None:
    for points in LEVELS:
        t = transition(level(4), ChoseLevel(4, points), answered(1, 2, 3))
        assert t.effects == (RecordLevel(4, points),)


def test_a_level_for_another_indicator_is_stale() -> None:
    refused(level(1), ChoseLevel(2, 8), facts(), "stale")
    refused(level(5), ChoseLevel(4, 8), answered(1, 2, 3, 4), "stale")


def test_points_not_offered_are_forged() -> None:
    for points in (7, 11, -1, 100):
        refused(level(1), ChoseLevel(1, points), facts(), "forged")


def test_an_indicator_outside_the_pack_is_forged() -> None:
    refused(level(1), ChoseLevel(99, 8), facts(), "forged")
    refused(level(1), ChoseLevel(0, 0), facts(), "forged")


def test_a_level_button_pressed_at_the_evidence_step_is_stale() -> None:
    refused(evidence_step(1), ChoseLevel(1, 10), answered(1), "stale")


def test_choosing_zero_skips_the_evidence_step() -> None:
    t = transition(level(1), ChoseLevel(1, 0), facts())
    assert t.state == level(2)
    assert t.effects == (RecordLevel(1, 0),)


def test_choosing_zero_with_evidence_already_attached_still_shows_it() -> None:
    f = facts(evidence={1: 2})
    assert transition(level(1), ChoseLevel(1, 0), f).state == evidence_step(1)


def test_attaching_evidence_stays_at_evidence() -> None:
    t = transition(evidence_step(1), AttachedEvidence(1), answered(1, evidence=0))
    assert t == Transition(evidence_step(1))


def test_attaching_evidence_at_the_skip_warning_returns_to_evidence() -> None:
    t = transition(skip_warning(1), AttachedEvidence(1), answered(1, evidence=0))
    assert t.state == evidence_step(1)


def test_attaching_evidence_for_another_indicator_is_stale() -> None:
    refused(evidence_step(2), AttachedEvidence(1), answered(1, 2), "stale")
    refused(level(2), AttachedEvidence(2), answered(1), "stale")


def test_a_file_on_a_level_screen_whose_level_is_chosen_is_evidence() -> None:
    """Editing from the summary, the level screen comes back; a photo sent there is not thrown away."""
    f = answered(4, evidence=1)
    assert accepts_evidence(level(4, editing=True), f)
    t = transition(level(4, editing=True), AttachedEvidence(4), f)
    assert t == Transition(evidence_step(4, editing=True))
    # With nothing chosen yet, the level comes first.
    assert not accepts_evidence(level(5), f)
    refused(level(5), AttachedEvidence(5), f, "stale")


def test_the_hint_changes_nothing_and_asks_for_the_longer_text() -> None:
    for state in (level(2), evidence_step(2, editing=True)):
        assert transition(state, AskedHint(2), answered(2)) == Transition(state, notices=(HINT,))
    refused(level(3), AskedHint(2), answered(2), "stale")
    refused(skip_warning(2), AskedHint(2), answered(2), "stale")


def test_evidence_added_from_the_summary_returns_to_it() -> None:
    f = answered(1, 2, 3, evidence=0)
    assert evidence_targets(f) == (1, 2, 3)
    picked = transition(State(Step.REVIEW), PickEvidence(), f)
    assert picked.state == State(Step.PICK_EVIDENCE)
    there = transition(picked.state, AddEvidence(2), f)
    assert there.state == evidence_step(2, editing=True)
    assert transition(there.state, FinishedEvidence(2), answered(1, 2, 3)).state == State(Step.REVIEW)
    assert transition(picked.state, Back(), f).state == State(Step.REVIEW)
    refused(picked.state, AddEvidence(5), f, "forged")  # no level chosen: nothing to prove yet
    refused(State(Step.REVIEW), AddEvidence(2), f, "stale")


def test_returned_only_the_returned_indicators_take_evidence_from_the_summary() -> None:
    f = all_answered(editable=frozenset({3}))
    assert evidence_targets(f) == (3,)
    refused(State(Step.PICK_EVIDENCE), AddEvidence(2), f, "locked")
    refused(State(Step.REVIEW), PickEvidence(), all_answered(editable=frozenset()), "stale")


def test_removing_a_file_lists_them_then_returns_to_the_evidence_step() -> None:
    f = answered(1, evidence=2)
    listed = transition(evidence_step(1), ListFiles(1), f)
    assert listed.state == State(Step.REMOVE_FILE, 1)
    removed = transition(listed.state, RemoveFile(1, 2), f)
    assert removed == Transition(evidence_step(1), notices=("evidence.removed",))
    refused(listed.state, RemoveFile(1, 3), f, "forged")  # only two files
    refused(listed.state, RemoveFile(2, 1), f, "stale")
    assert transition(listed.state, Back(), f).state == evidence_step(1)
    # A photo sent while the list is shown is taken: back at the evidence step.
    assert transition(listed.state, AttachedEvidence(1), f).state == evidence_step(1)
    refused(evidence_step(1), ListFiles(1), answered(1, evidence=0), "stale")  # nothing to list


def test_finishing_with_evidence_goes_to_the_next_indicator() -> None:
    t = transition(evidence_step(1), FinishedEvidence(1), answered(1, evidence=1))
    assert t == Transition(level(2))


def test_finishing_without_evidence_warns() -> None:
    t = transition(evidence_step(1), FinishedEvidence(1), answered(1, evidence=0))
    assert t == Transition(skip_warning(1))


def test_finishing_a_zero_without_evidence_goes_on() -> None:
    t = transition(evidence_step(1), FinishedEvidence(1), answered(1, points=0, evidence=0))
    assert t.state == level(2)


def test_confirming_the_skip_goes_on_with_a_notice() -> None:
    t = transition(skip_warning(1), ConfirmedSkip(1), answered(1, evidence=0))
    assert t.state == level(2)
    assert t.effects == ()
    assert t.notices == ("evidence.skipped",)


def test_confirming_a_skip_elsewhere_is_stale() -> None:
    refused(evidence_step(1), ConfirmedSkip(1), answered(1, evidence=0), "stale")
    refused(skip_warning(2), ConfirmedSkip(1), answered(1, 2, evidence=0), "stale")


def test_cancel_at_the_skip_warning_returns_to_evidence() -> None:
    t = transition(skip_warning(3), Cancel(), answered(1, 2, 3, evidence=0))
    assert t.state == evidence_step(3)
    assert t.notices == ("flow.cancelled",)


def test_send_evidence_at_the_skip_warning_returns_to_evidence_not_the_level() -> None:
    t = transition(skip_warning(3), AddMoreEvidence(3), answered(1, 2, 3, evidence=0))
    assert t == Transition(evidence_step(3))
    t = transition(skip_warning(4, editing=True), AddMoreEvidence(4), all_answered(evidence=0))
    assert t == Transition(evidence_step(4, editing=True))


def test_send_evidence_elsewhere_is_stale_forged_or_locked() -> None:
    f = answered(1, 2, 3, evidence=0)
    refused(evidence_step(3), AddMoreEvidence(3), f, "stale")  # the warning was already answered
    refused(level(3), AddMoreEvidence(3), f, "stale")
    refused(skip_warning(2), AddMoreEvidence(3), f, "stale")  # another indicator's warning
    refused(State(Step.REVIEW), AddMoreEvidence(3), f, "stale")
    refused(skip_warning(3), AddMoreEvidence(99), f, "forged")
    locked = all_answered(evidence=0, editable=frozenset({3}))
    refused(skip_warning(4, editing=True), AddMoreEvidence(4), locked, "locked")


def test_the_last_indicator_leads_to_review() -> None:
    f = all_answered()
    assert transition(evidence_step(10), FinishedEvidence(10), f).state == State(Step.REVIEW)
    assert transition(level(10), ChoseLevel(10, 0), answered(*range(1, 10))).state == State(Step.REVIEW)
    skipped = answered(*NUMBERS, evidence=0)
    t = transition(skip_warning(10), ConfirmedSkip(10), skipped)
    assert t.state == State(Step.REVIEW)
    assert t.notices == ("evidence.skipped",)


# --------------------------------------------------------------------------- back


def test_back_from_evidence_returns_to_the_same_level() -> None:
    assert transition(evidence_step(4), Back(), answered(1, 2, 3, 4)).state == level(4)


def test_back_from_the_skip_warning_returns_to_the_same_level() -> None:
    assert transition(skip_warning(4), Back(), answered(1, 2, 3, 4, evidence=0)).state == level(4)


def test_back_from_a_level_returns_to_the_previous_one() -> None:
    t = transition(level(3), Back(), answered(1, 2))
    assert t == Transition(level(2))


def test_back_from_the_first_level_with_no_answers_returns_to_group() -> None:
    assert transition(level(1), Back(), facts()).state == State(Step.GROUP)


def test_back_from_the_first_level_with_answers_stays() -> None:
    t = transition(level(1), Back(), answered(1))
    assert t.state == level(1)
    assert t.notices == ("flow.first_indicator",)


def test_back_from_review_returns_to_the_last_indicator() -> None:
    assert transition(State(Step.REVIEW), Back(), all_answered()).state == level(10)


def test_back_where_there_is_no_way_back_stays_with_a_notice() -> None:
    for step in (Step.CONSENT, Step.DECLINED, Step.NAME):
        t = transition(State(step), Back(), facts())
        assert t == Transition(State(step), notices=("flow.cannot_go_back",))


# --------------------------------------------------------------------------- review, edit, submit


def test_edit_from_review_and_back_again() -> None:
    f = all_answered()
    t = transition(State(Step.REVIEW), Edit(4), f)
    assert t.state == level(4, editing=True)
    t = transition(t.state, ChoseLevel(4, 10), f)
    assert t.state == evidence_step(4, editing=True)
    assert t.effects == (RecordLevel(4, 10),)
    t = transition(t.state, FinishedEvidence(4), f)
    assert t.state == State(Step.REVIEW)


def test_editing_to_zero_returns_to_review() -> None:
    f = answered(*NUMBERS, evidence=0)
    t = transition(level(4, editing=True), ChoseLevel(4, 0), f)
    assert t.state == State(Step.REVIEW)


def test_editing_and_skipping_evidence_returns_to_review() -> None:
    f = answered(*NUMBERS, evidence=0)
    t = transition(evidence_step(4, editing=True), FinishedEvidence(4), f)
    assert t.state == skip_warning(4, editing=True)
    t = transition(t.state, ConfirmedSkip(4), f)
    assert t.state == State(Step.REVIEW)
    assert t.notices == ("evidence.skipped",)


def test_back_while_editing() -> None:
    f = all_answered()
    assert transition(evidence_step(4, editing=True), Back(), f).state == level(4, editing=True)
    assert transition(level(4, editing=True), Back(), f).state == State(Step.REVIEW)


def test_edit_outside_review_is_stale() -> None:
    refused(level(4), Edit(4), answered(1, 2, 3), "stale")


def test_edit_of_an_indicator_outside_the_pack_is_forged() -> None:
    refused(State(Step.REVIEW), Edit(99), all_answered(), "forged")


def test_ask_submit_with_unanswered_indicators_stays() -> None:
    t = transition(State(Step.REVIEW), AskSubmit(), answered(*range(1, 10)))
    assert t == Transition(State(Step.REVIEW), notices=("review.unanswered",))


def test_ask_submit_with_everything_answered_asks_to_confirm() -> None:
    t = transition(State(Step.REVIEW), AskSubmit(), all_answered())
    assert t == Transition(State(Step.CONFIRM_SUBMIT))


def test_ask_submit_allows_answers_without_evidence() -> None:
    # Evidence is not required to submit: such indicators simply score 0.
    t = transition(State(Step.REVIEW), AskSubmit(), answered(*NUMBERS, evidence=0))
    assert t.state == State(Step.CONFIRM_SUBMIT)


def test_ask_submit_outside_review_is_stale() -> None:
    refused(level(3), AskSubmit(), answered(1, 2), "stale")
    refused(State(Step.CONFIRM_SUBMIT), AskSubmit(), all_answered(), "stale")


def test_back_and_cancel_from_confirm_return_to_review() -> None:
    f = all_answered()
    assert transition(State(Step.CONFIRM_SUBMIT), Back(), f) == Transition(State(Step.REVIEW))
    assert transition(State(Step.CONFIRM_SUBMIT), Cancel(), f) == Transition(State(Step.REVIEW))


def test_confirmed_submit_submits() -> None:
    t = transition(State(Step.CONFIRM_SUBMIT), ConfirmedSubmit(), all_answered())
    assert t == Transition(State(Step.SUBMITTED), (RecordSubmission(),))


def test_confirmed_submit_with_an_answer_gone_returns_to_review() -> None:
    t = transition(State(Step.CONFIRM_SUBMIT), ConfirmedSubmit(), answered(*range(2, 11)))
    assert t == Transition(State(Step.REVIEW), notices=("review.unanswered",))


def test_confirmed_submit_elsewhere_is_stale() -> None:
    refused(State(Step.REVIEW), ConfirmedSubmit(), all_answered(), "stale")


def test_every_event_after_submission_is_locked() -> None:
    for event in all_events():
        refused(State(Step.SUBMITTED), event, all_answered(), "locked")


# --------------------------------------------------------------------------- returned assessments


def test_a_returned_assessment_can_edit_only_the_returned_indicators() -> None:
    f = all_answered(editable=frozenset({3}))
    t = transition(State(Step.REVIEW), Edit(3), f)
    assert t.state == level(3, editing=True)
    refused(State(Step.REVIEW), Edit(4), f, "locked")


def test_a_returned_indicator_can_be_answered_again_and_resubmitted() -> None:
    f = all_answered(editable=frozenset({3}))
    t = transition(level(3, editing=True), ChoseLevel(3, 10), f)
    assert t.state == evidence_step(3, editing=True)
    t = transition(t.state, FinishedEvidence(3), f)
    assert t.state == State(Step.REVIEW)
    t = transition(t.state, AskSubmit(), f)
    assert t.state == State(Step.CONFIRM_SUBMIT)
    t = transition(t.state, ConfirmedSubmit(), f)
    assert t.state == State(Step.SUBMITTED)


def test_a_locked_indicator_cannot_be_changed_by_an_old_button() -> None:
    f = all_answered(editable=frozenset({3}))
    refused(level(4), ChoseLevel(4, 10), f, "locked")
    refused(evidence_step(4), FinishedEvidence(4), f, "locked")


def test_back_from_review_of_a_returned_assessment_stays() -> None:
    f = all_answered(editable=frozenset({3}))
    t = transition(State(Step.REVIEW), Back(), f)
    assert t == Transition(State(Step.REVIEW), notices=("flow.cannot_go_back",))


# --------------------------------------------------------------------------- the whole walk


def test_the_whole_walk() -> None:
    """A person from consent to submission, the facts growing as the effects are stored."""
    chosen: dict[int, int] = {}
    evidence: dict[int, int] = {}

    def now(**overrides: Any) -> Facts:
        return facts(chosen=dict(chosen), evidence=dict(evidence), **overrides)

    state = initial_state()
    state = transition(state, Consented(), now()).state
    t = transition(state, GaveName("Trần  Văn Bình"), now())
    assert t.effects == (RecordName("Trần Văn Bình"),)
    state = transition(t.state, JoinedUnit(found=True), now()).state
    state = transition(state, ChoseGroup("community"), now(numbers=())).state
    plan = {1: 10, 2: 8, 3: 0, 4: 5, 5: 10, 6: 8, 7: 8, 8: 10, 9: 10, 10: 10}
    for n, points in plan.items():
        assert state == level(n)
        t = transition(state, ChoseLevel(n, points), now())
        for effect in t.effects:
            assert isinstance(effect, RecordLevel)
            chosen[effect.indicator] = effect.points
        state = t.state
        if points == 0:
            continue
        assert state == evidence_step(n)
        if n == 7:  # no evidence for 7: warned, then skipped
            state = transition(state, FinishedEvidence(n), now()).state
            assert state == skip_warning(n)
            t = transition(state, ConfirmedSkip(n), now())
            assert t.notices == ("evidence.skipped",)
            state = t.state
            continue
        state = transition(state, AttachedEvidence(n), now()).state
        evidence[n] = evidence.get(n, 0) + 1
        state = transition(state, FinishedEvidence(n), now()).state
    assert state == State(Step.REVIEW)
    state = transition(state, Edit(7), now()).state
    state = transition(state, ChoseLevel(7, 5), now()).state
    chosen[7] = 5
    evidence[7] = 1
    state = transition(state, FinishedEvidence(7), now()).state
    assert state == State(Step.REVIEW)
    state = transition(state, AskSubmit(), now()).state
    t = transition(state, ConfirmedSubmit(), now())
    assert t.state == State(Step.SUBMITTED)
    assert t.effects == (RecordSubmission(),)


# --------------------------------------------------------------------------- every step, every event


def all_events() -> list[object]:
    """One or more instances of every event type, for indicators in and out of the pack."""
    events: list[object] = [
        Consented(),
        Declined(),
        Restart(),
        GaveName("Nguyễn Thị Lan"),
        GaveName("1"),
        JoinedUnit(found=True),
        JoinedUnit(found=False),
        ChoseGroup("community"),
        ChoseGroup("nope"),
        Back(),
        AskSubmit(),
        ConfirmedSubmit(),
        Cancel(),
        PickEvidence(),
    ]
    for n in (1, 4, 10, 99):
        events += [
            ChoseLevel(n, 8),
            ChoseLevel(n, 0),
            ChoseLevel(n, 7),
            AttachedEvidence(n),
            FinishedEvidence(n),
            ConfirmedSkip(n),
            AddMoreEvidence(n),
            Edit(n),
            AskedHint(n),
            AddEvidence(n),
            ListFiles(n),
            RemoveFile(n, 1),
            RemoveFile(n, 3),
        ]
    return events


def all_states() -> list[State]:
    states = [State(step) for step in Step if step not in INDICATOR_STEPS]
    for n in (1, 4, 10):
        for step in INDICATOR_STEPS:
            states += [State(step, n), State(step, n, editing=True)]
    return states


def all_facts() -> list[Facts]:
    return [
        facts(),
        facts(numbers=()),
        facts(has_unit=True),
        answered(1, 2, 3),
        answered(1, 2, 3, evidence=0),
        answered(1, 4, points=0, evidence=0),
        all_answered(),
        all_answered(editable=frozenset({3})),
        all_answered(editable=frozenset()),
    ]


EVENT_TYPES = {
    Consented,
    Declined,
    Restart,
    GaveName,
    JoinedUnit,
    ChoseGroup,
    ChoseLevel,
    AttachedEvidence,
    FinishedEvidence,
    ConfirmedSkip,
    AddMoreEvidence,
    AskedHint,
    PickEvidence,
    AddEvidence,
    ListFiles,
    RemoveFile,
    Back,
    Edit,
    AskSubmit,
    ConfirmedSubmit,
    Cancel,
}


def test_the_table_covers_every_step_and_event_type() -> None:
    assert {type(e) for e in all_events()} == EVENT_TYPES
    assert {s.step for s in all_states()} == set(Step)
    assert all(s.indicator in NUMBERS for s in all_states() if s.step in INDICATOR_STEPS)


def test_every_move_returns_a_transition_or_raises_flow_error() -> None:
    """Illegal transitions raise an error and nothing happens; every other move yields a Transition."""
    outcomes = {"moved": 0, "refused": 0}
    for f in all_facts():
        f_before = copy.deepcopy(f)
        for state in all_states():
            for event in all_events():
                before = dataclasses.replace(state)
                try:
                    t = transition(state, event, f)  # type: ignore[arg-type]
                except FlowError as err:
                    assert err.reason in {"stale", "forged", "locked", "illegal"}, err
                    assert err.state is state
                    assert err.event is event
                    outcomes["refused"] += 1
                else:
                    assert isinstance(t, Transition), (state, event)
                    assert isinstance(t.state, State)
                    assert isinstance(t.state.step, Step)
                    assert all(isinstance(n, str) for n in t.notices)
                    if t.state.step in INDICATOR_STEPS:
                        assert t.state.indicator in NUMBERS
                    else:
                        assert t.state.indicator == 0
                    outcomes["moved"] += 1
                assert state == before
                assert f == f_before
    assert outcomes["moved"] > 0
    assert outcomes["refused"] > 0


def test_states_and_events_are_frozen() -> None:
    state = level(3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.indicator = 4  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ChoseLevel(3, 8).points = 10  # type: ignore[misc]


def test_steps_are_stored_by_name() -> None:
    assert {s.name.lower() for s in Step} == {s.value for s in Step}
    assert Step("level") is Step.LEVEL


def test_a_choice_shown_at_another_revision_is_stale_and_changes_nothing() -> None:
    facts = Facts(numbers=(1, 2), levels={1: (10, 5, 0), 2: (10, 5, 0)})
    here = State(Step.LEVEL, 1, rev=7)
    with pytest.raises(FlowError) as refused:
        transition(here, ChoseLevel(1, 10), facts, shown_at=6)
    assert refused.value.reason == "stale" and refused.value.state == here
    moved = transition(here, ChoseLevel(1, 10), facts, shown_at=7)
    assert moved.state == State(Step.EVIDENCE, 1) and moved.effects == (RecordLevel(1, 10),)
    # Without a revision (an event not chosen on a screen, e.g. a typed name) nothing is compared.
    assert transition(here, ChoseLevel(1, 5), facts).state == State(Step.EVIDENCE, 1)
