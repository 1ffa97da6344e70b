"""The citizen's handlers, written once for every messenger: each takes one person's update as plain values
(a command, typed text, a chosen option, a file), turns it into a flow event inside one transaction, and
returns the reply plan that the messenger's adapter sends after the commit (bot.telegram.citizen, bot.zalo).

Nothing is kept in memory between updates: the person's step is read from the database on every update
and written back in the same transaction as the change it caused. A choice comes back as the data it was
shown with (a pressed Telegram button, or the number typed on Zalo for the screen the person is on now), so
the stale-or-forged rule is the same on both messengers.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Concatenate, ParamSpec

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import evidence as ev
from bot.callbacks import BadCallback, Button, Verb, decode, int_args
from bot.context import BotData
from bot.handlers import officer_desk, officer_help
from bot.render import Renderer
from bot.replies import Plan
from bot.screens import Screen, one_per_row
from bot.sender import Sender
from conversations import flow
from conversations.flow import FlowError, Step
from conversations.typed_choice import Chosen, OutOfRange, fold, match_choice
from locales import gettext, negotiate
from scheduler import planning
from storage import journey as jr
from storage import repo_assessments as ra
from storage import repo_inbox
from storage import repo_outbox as ro
from storage import repo_people as rp
from storage.db import unit_of_work
from storage.journey import Journey
from storage.models import AssessmentStatus, Evidence, Person

log = logging.getLogger(__name__)

MAX_CODE = 32
P = ParamSpec("P")
# Fetches an accepted file into EVIDENCE_DIR (root, folder) under a temporary name: the messenger's download.
Fetch = Callable[[Path, Path], Awaitable[ev.Fetched]]


# --------------------------------------------------------------------------- plumbing


@dataclass
class Turn:
    """One update's view: the open transaction, the person's journey, a renderer in their language, and
    the plan of what to send once the transaction has committed."""

    session: AsyncSession
    journey: Journey
    render: Renderer
    data: BotData
    who: Sender
    plan: Plan
    # Work that must wait until the transaction has committed (removing an erased person's files).
    after_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    created: bool = False  # this update is the person's first contact
    # This transaction ends the update (marks it done as it commits); False when the handler hands it on.
    ends_update: bool = True

    @property
    def person(self) -> Person:
        return self.journey.person


@asynccontextmanager
async def turn(
    data: BotData,
    who: Sender,
    plan: Plan,
    *,
    create: bool = False,
    write: bool = True,
    command: bool = False,
    ends_update: bool = True,
) -> AsyncIterator[Turn | None]:
    """Opens the update's transaction and loads the sender's journey in one statement (None for a stranger).

    The transaction ends the update: it marks it done in the inbox as it commits, whether it changed anything
    or not, unless the handler hands the update on (``ends_update`` False, or ``Turn.ends_update`` set so).
    ``write`` False: a look that changes nothing, without SQLite's writer turn or row locks, that does not end
    the update (a file checked before its download). ``command``: on a messenger without buttons, a command
    drops the choices remembered for an officer's last screen (numbers typed next are for the citizen's
    screen); citizens, who owe no officer step, pay nothing for it (the step owed comes with the person)."""
    if not write:
        async with data.sessions() as session:
            journey = await _load(session, data, who, lock=False)
            if journey is None:
                plan.locale = negotiate(who.language_code, data.settings.default_locale)
                yield None
                return
            plan.locale = journey.person.locale
            yield Turn(session, journey, _renderer(data, who, journey.person.locale), data, who, plan)
        return
    async with unit_of_work(data.sessions) as session:
        journey = await _load(session, data, who, lock=True)
        created = journey is None and create
        if created:
            person = await rp.create_person(
                session=session,
                channel=who.channel,
                external_id=who.external_id,
                chat_id=who.chat_id,
                locale=negotiate(who.language_code, data.settings.default_locale),
                display_name=who.display_name,
            )
            journey = jr.assemble(data.registry, person, None, None, {}, ())
        if journey is None:
            plan.locale = negotiate(who.language_code, data.settings.default_locale)
            yield None
            if ends_update:
                repo_inbox.settle(session)
            return
        person = journey.person
        if person.chat_id != who.chat_id:  # no UPDATE when nothing changed
            person.chat_id = who.chat_id
        if who.display_name and person.display_name != who.display_name:
            person.display_name = who.display_name
        if command and not who.buttons and journey.pending is not None:
            await officer_desk.forget_menu_in(session, person, data.now())
        plan.locale = person.locale
        t = Turn(session, journey, _renderer(data, who, person.locale), data, who, plan)
        t.created, t.ends_update = created, ends_update
        yield t
        if t.ends_update:
            repo_inbox.settle(session)
    for then in t.after_commit:
        await then()


async def _load(session: AsyncSession, data: BotData, who: Sender, *, lock: bool) -> Journey | None:
    return await jr.load_sender(
        session=session,
        registry=data.registry,
        channel=who.channel,
        external_id=who.external_id,
        year=data.year(),
        lock=lock,
    )


def _renderer(data: BotData, who: Sender, locale: str) -> Renderer:
    return Renderer(locale, data.registry, data.settings.zone, typed=not who.buttons)


def owes_officer_step(t: Turn) -> bool:
    """Whether the sender owes a typed officer step (loaded with them: False for every citizen, at no cost)."""
    return t.journey.pending is not None


async def advance(
    t: Turn,
    event: flow.Event,
    *,
    shown_at: int | None = None,
    allowed: Callable[[], Awaitable[None]] | None = None,
) -> tuple[str, ...]:
    """Applies ``event`` (chosen on a screen of revision ``shown_at``, if it was) to the journey; raises
    FlowError, changing nothing, if it is not allowed. ``allowed`` runs once the flow has allowed the move,
    before the new step is stored (a file's row removed, so the journey stored after counts without it)."""
    transition = flow.transition(t.journey.state, event, t.journey.facts, shown_at=shown_at)
    if allowed is not None:
        await allowed()
    t.journey = await jr.apply(
        session=t.session,
        registry=t.data.registry,
        journey=t.journey,
        transition=transition,
        year=t.data.year(),
        now=t.data.now(),
    )
    return transition.notices


def show(t: Turn, notices: tuple[str, ...] = ()) -> None:
    """Plans the notices, then the current step with its choices (or, asked for a hint, the step's longer
    explanation with the same choices)."""
    if flow.HINT in notices:
        t.plan.show(t.render.hint(t.journey))
        return
    for key in notices:
        t.plan.say(t.render.t(key, unit=_unit_name(t)))
    t.plan.show(t.render.screen(t.journey))


def say_locked(t: Turn, key: str) -> None:
    """After submitting nothing more is taken: say so, what happens next, and where to look (no dead end)."""
    a = t.journey.assessment
    assert a is not None
    r = t.render
    t.plan.say("\n".join([r.t(key, year=a.year), r.next_step(t.journey), r.t("locked.status_hint")]))


def _unit_name(t: Turn) -> str:
    return escape(t.journey.unit.name) if t.journey.unit else ""


def _refusal_key(error: FlowError) -> str:
    return {"stale": "flow.stale", "forged": "flow.forged", "locked": "flow.locked"}.get(error.reason, "flow.stale")


def _registered(
    handler: Callable[Concatenate[Turn, P], Awaitable[None]], *, command: bool
) -> Callable[Concatenate[BotData, Sender, P], Awaitable[Plan]]:
    @functools.wraps(handler)
    async def wrapped(data: BotData, who: Sender, /, *args: P.args, **kwargs: P.kwargs) -> Plan:
        plan = Plan()
        async with turn(data, who, plan, command=command) as t:
            if t is None:
                plan.say(gettext("status.not_registered", plan.locale))
                return plan
            await handler(t, *args, **kwargs)
        return plan

    return wrapped


def for_registered(
    handler: Callable[Concatenate[Turn, P], Awaitable[None]],
) -> Callable[Concatenate[BotData, Sender, P], Awaitable[Plan]]:
    """Runs ``handler`` inside the sender's transaction with their journey; a stranger is told to /start."""
    return _registered(handler, command=False)


def registered_command(
    handler: Callable[Concatenate[Turn, P], Awaitable[None]],
) -> Callable[Concatenate[BotData, Sender, P], Awaitable[Plan]]:
    """``for_registered`` for a command (see ``turn``'s ``command``)."""
    return _registered(handler, command=True)


async def reply_in_own_language(data: BotData, who: Sender, key: str) -> Plan:
    """One catalog text in the sender's language (stored, else the messenger's); a command, so it ends an
    officer's remembered menu on a messenger without buttons, as every command does."""
    plan = Plan()
    async with turn(data, who, plan, command=True):
        plan.say(gettext(key, plan.locale))
    return plan


# --------------------------------------------------------------------------- commands


async def start(data: BotData, who: Sender, args: Sequence[str] = ()) -> Plan:
    """Greets a newcomer with the consent request, or shows a returning person the step they are on."""
    code = (args[0] if args else "")[:MAX_CODE] or None
    plan = Plan()
    async with turn(data, who, plan, create=True, command=True) as t:
        assert t is not None
        notices: tuple[str, ...] = ()
        if t.journey.state.step is Step.DECLINED:
            notices = await advance(t, flow.Restart())
        if code:
            notices += await _offer_code(t, code)
        show(t, notices)
        if t.created:  # an ADMIN_IDS admin's first contact: their commands too
            officer_help.welcome_admin(plan, t.person, data.settings.admin_ids, typed=not who.buttons)
    return plan


async def _offer_code(t: Turn, code: str) -> tuple[str, ...]:
    """A join code from a deep link: kept until consent, used at the unit step, ignored once in a unit."""
    person = t.person
    if person.unit_id is not None:
        unit = await rp.find_unit(session=t.session, code=code)
        return ("unit.already",) if unit is None or unit.id != person.unit_id else ()
    if t.journey.state.step is Step.UNIT:
        return await _join(t, code)
    person.pending_code = code
    unit = await rp.find_unit(session=t.session, code=code)
    t.journey = jr.with_unit(t.data.registry, t.journey, unit)
    return ()


async def _join(t: Turn, code: str) -> tuple[str, ...]:
    unit = await rp.find_unit(session=t.session, code=code)
    if unit is not None:
        t.person.unit_id = unit.id
        t.person.pending_code = None
        t.journey.unit = unit
    return await advance(t, flow.JoinedUnit(found=unit is not None))


async def help_command(data: BotData, who: Sender) -> Plan:
    """Explains the title, the rule and the commands; a role holder's sections follow (bot.handlers.officer_help)."""
    return await officer_help.help_command(data, who)


async def unknown_command(data: BotData, who: Sender) -> Plan:
    """Answers a command the bot does not know by pointing to /help."""
    return await reply_in_own_language(data, who, "unknown.command")


@registered_command
async def status(t: Turn) -> None:
    """Shows the year's progress and how to continue where the person left off."""
    if t.journey.state.step in flow.REGISTRATION_STEPS:
        show(t, ("status.registering",))
        return
    text = status_text(t, t.data.year())
    if t.journey.state.step is Step.SUBMITTED:  # nothing left to continue: the status says what comes next
        t.plan.say(text)
    elif t.who.buttons:
        t.plan.show(Screen(text, one_per_row(t.render.choice(t.render.t("btn.continue"), _data(t, Verb.CONTINUE)))))
    else:  # typed answers apply to the step itself: show it right away
        t.plan.say(text)
        show(t)


def _data(t: Turn, verb: Verb, arg: str = "") -> str:
    return t.render.data(t.journey, verb, arg)


def status_text(t: Turn, year: int) -> str:
    j = t.journey
    r = t.render
    lines = [
        r.t(
            "status.title",
            year=year,
            name=escape(t.person.full_name or ""),
            unit=escape(j.unit.name if j.unit else "—"),
        )
    ]
    if j.pack is None:
        lines.append(r.t("status.no_group"))
        return "\n".join(lines)
    answered = sum(1 for n in j.pack.numbers if n in j.facts.chosen)
    with_files = sum(1 for n in j.pack.numbers if j.facts.evidence.get(n))
    lines.append(r.t("status.pack", pack=escape(j.pack.title.get(r.locale))))
    assert j.assessment is not None
    if j.state.step is Step.SUBMITTED:
        return "\n".join([*lines, *r.standing(j)])
    lines.append(r.t("status.progress", answered=answered, total=len(j.pack.numbers), files=with_files))
    lines.append(r.status_line(j.assessment.status))
    result = r.score(j)
    lines.append(r.t("review.total", total=result.total))
    changed = r.changes(j)
    if changed:
        lines += [r.t("team.changes_title"), *changed]
    lines.append(r.holds_back(result.holds_back) if result.holds_back else r.t("review.would_pass"))
    return "\n".join(lines)


async def cancel(data: BotData, who: Sender) -> Plan:
    """Stops the current action; everything entered so far stays saved. Someone who owes a typed officer step
    (loaded with them: never a citizen) drops that step instead."""
    plan = Plan()
    async with turn(data, who, plan) as t:
        if t is None:
            plan.say(gettext("status.not_registered", plan.locale))
            return plan
        if owes_officer_step(t):
            dropped = await officer_desk.cancel_in(t.session, t.person, data.now())
            if dropped is not None:
                return dropped
            if not who.buttons:
                await officer_desk.forget_menu_in(t.session, t.person, data.now())
        if t.journey.state.step in (Step.CONFIRM_SUBMIT, Step.SKIP_WARNING, Step.PICK_EVIDENCE, Step.REMOVE_FILE):
            show(t, await advance(t, flow.Cancel()))
        else:
            t.plan.say(t.render.t("flow.cancelled"))
    return plan


# Each language by its own name (the same in every catalog), and the names a person may type for it.
_LANGUAGES = (("vi", "Tiếng Việt"), ("en", "English"))
_LANGUAGE_WORDS = {"vi": ("tiếng việt", "vietnamese"), "en": ("english", "tiếng anh")}


def language_of(typed: str) -> str | None:
    """The locale a typed language name asks for ("English", "tiếng việt"), else None."""
    wanted = fold(typed)
    for code, words in _LANGUAGE_WORDS.items():
        if wanted in {fold(w) for w in words}:
            return code
    return None


async def language(data: BotData, who: Sender) -> Plan:
    """Offers Vietnamese or English."""
    plan = Plan()
    async with turn(data, who, plan, create=True, command=True) as t:
        assert t is not None
        if who.buttons:
            owner = t.person.id or 0
            choices = [
                t.render.choice(name, Button("p", owner, 0, Verb.LANGUAGE, code).encode()) for code, name in _LANGUAGES
            ]
            plan.show(Screen(t.render.t("language.ask"), (tuple(choices),)))
        else:
            plan.say(t.render.t("language.ask_typed"))
    return plan


@registered_command
async def my_data(t: Turn) -> None:
    """Shows everything stored about the person (Decree 13/2023: the right to see one's data)."""
    data = await rp.person_data(session=t.session, person=t.person)
    r = t.render
    lines = [
        r.t("mydata.title"),
        r.t(
            "mydata.fields",
            name=_e(data["full_name"]),
            unit=_e(t.journey.unit.name if t.journey.unit else "—"),
            channel=data["channel"].capitalize(),
            external_id=_e(data["external_id"]),
            display_name=_e(data["display_name"]),
            locale=dict(_LANGUAGES).get(data["locale"], data["locale"]),
            consent=r.when(data["consent_at"]) if data["consent_at"] else "—",
        ),
    ]
    for a in data["assessments"]:
        lines.append(
            r.t(
                "mydata.assessment",
                year=a["year"],
                status=r.t("result.status." + a["status"]),  # the words alone: the line has its own label
                answered=len([v for v in a["answers"].values() if v is not None]),
                files=a["evidence_files"],
            )
        )
    lines.append(r.t("mydata.rights"))
    t.plan.say("\n".join(lines))


def _e(value: object) -> str:
    return escape(str(value)) if value is not None else "—"


@registered_command
async def delete_me(t: Turn) -> None:
    """Asks for confirmation before erasing everything stored about the person."""
    p = t.person
    if t.who.buttons:
        choices = one_per_row(
            t.render.choice(t.render.t("btn.delete"), Button("p", p.id or 0, p.rev, Verb.DELETE_ME).encode()),
            t.render.choice(t.render.t("btn.keep"), Button("p", p.id or 0, p.rev, Verb.KEEP_ME).encode()),
        )
        t.plan.show(Screen(t.render.t("deleteme.ask"), choices))
    else:  # typed: a phrase nobody types by chance
        t.plan.say(t.render.t("deleteme.ask_typed", phrase=t.render.t("typed.deleteme_confirm").split("|")[0]))


def _confirms_deletion(typed: str, locale: str) -> bool:
    return fold(typed) in {fold(w) for w in gettext("typed.deleteme_confirm", locale).split("|")}


# --------------------------------------------------------------------------- typed text


async def text(data: BotData, who: Sender, typed: str, *, instead: Callable[[], Awaitable[Plan]] | None = None) -> Plan:
    """Typed text: first the answer to a step the sender owes as an officer, if they owe one; on a messenger
    without buttons then an answer to the choices on screen; then a name or join code where one is asked;
    elsewhere, says what the step wants and shows it again. Where there are no commands to find (Zalo), a
    stranger's first words ("Xin chào") are the start. ``instead``: what answers a line no officer step takes
    (a command word with more after it, on Zalo), in a transaction of its own."""
    plan = Plan()
    officer: officer_desk.Answered | None = None
    async with turn(data, who, plan, create=not who.buttons and instead is None, ends_update=instead is None) as t:
        if t is not None and owes_officer_step(t):  # only someone who owes one: loaded with the person
            officer = await officer_desk.answer_typed(t.session, data, who, t.person, typed)
            t.ends_update = t.ends_update or officer is not None
        if officer is not None or instead is not None:
            pass
        elif t is None:
            plan.say(gettext("status.not_registered", plan.locale))
        elif t.created:
            show(t)
        else:
            await _typed(t, typed)
    if officer is not None:
        return await officer_desk.answered(data, who, officer)
    if instead is not None:
        return await instead()
    return plan


async def _typed(t: Turn, typed: str) -> None:
    if not t.who.buttons and await _typed_answer(t, typed):
        return
    step = t.journey.state.step
    if step is Step.SUBMITTED:
        say_locked(t, "locked.text")
        return
    if step is Step.NAME:
        notices = await advance(t, flow.GaveName(typed))
    elif step is Step.UNIT:
        notices = await _join(t, typed.strip()[:MAX_CODE])
    elif step in flow.EVIDENCE_STEPS:
        notices = ("evidence.wrong_input",)
    else:
        notices = ("flow.use_buttons",) if t.who.buttons else ("zalo.not_understood",)
    show(t, notices)


async def _typed_answer(t: Turn, typed: str) -> bool:
    """Takes a typed number or word for a choice on the current screen (or a language name, or the
    deletion phrase); True when the text was such an answer and has been handled."""
    wanted = language_of(typed)
    if wanted is not None and t.journey.state.step is not Step.NAME:
        await _set_language(t, wanted)
        show(t)
        return True
    if _confirms_deletion(typed, t.render.locale):
        await _delete(t, confirmed=True)
        return True
    screen = t.render.screen(t.journey)
    if not screen.choices:
        return False
    found = match_choice(typed, [c.words for c in screen.choices])
    if isinstance(found, Chosen):
        before = len(t.plan.screens)
        await _choose(t, screen.choices[found.index].data)
        if t.plan.record:  # the choice kept in the chat ("➡️ Bạn chọn: 10 điểm"), as Telegram keeps it in place
            t.plan.screens.insert(before, Screen(t.plan.record))
        return True
    if isinstance(found, OutOfRange):
        t.plan.say(t.render.t("zalo.out_of_range", count=len(screen.choices)))
        show(t)
        return True
    return False


# --------------------------------------------------------------------------- choices

_VERB_EVENTS = {
    Verb.CONSENT_YES: lambda b: flow.Consented(),
    Verb.CONSENT_NO: lambda b: flow.Declined(),
    Verb.RESTART: lambda b: flow.Restart(),
    Verb.GROUP: lambda b: flow.ChoseGroup(b.arg),
    Verb.LEVEL: lambda b: flow.ChoseLevel(*int_args(b, 2)),
    Verb.DONE: lambda b: flow.FinishedEvidence(*int_args(b, 1)),
    Verb.SKIP: lambda b: flow.ConfirmedSkip(*int_args(b, 1)),
    Verb.MORE: lambda b: flow.AddMoreEvidence(*int_args(b, 1)),
    Verb.BACK: lambda b: flow.Back(),
    Verb.EDIT: lambda b: flow.Edit(*int_args(b, 1)),
    Verb.SUBMIT: lambda b: flow.AskSubmit(),
    Verb.CONFIRM_SUBMIT: lambda b: flow.ConfirmedSubmit(),
    Verb.HINT: lambda b: flow.AskedHint(*int_args(b, 1)),
    Verb.PICK_EVIDENCE: lambda b: flow.PickEvidence(),
    Verb.ADD_EVIDENCE: lambda b: flow.AddEvidence(*int_args(b, 1)),
    Verb.LIST_FILES: lambda b: flow.ListFiles(*int_args(b, 1)),
    Verb.REMOVE_FILE: lambda b: flow.RemoveFile(*int_args(b, 2)),
}


@for_registered
async def press(t: Turn, raw: str | None) -> None:
    """A chosen option (a pressed button): checked against the presser and the current step, then applied."""
    await _choose(t, raw)


async def _choose(t: Turn, raw: str | None) -> None:
    try:
        notices = await _press(t, decode(raw))
    except (BadCallback, FlowError) as exc:
        reason = "flow.forged" if isinstance(exc, BadCallback) else _refusal_key(exc)
        log.info("refused choice: %s", reason)
        t.plan.toast = t.render.t(reason)
        show(t, (reason,))
        return
    except _Handled:
        return
    t.plan.retire_pressed = True
    show(t, notices)


def _record_of(t: Turn, event: flow.Event) -> str | None:
    """The line a pressed message becomes once its choice is made (Telegram keeps the choice in the chat;
    Zalo echoes a typed one): the level chosen, the group."""
    r = t.render
    match event:
        case flow.ChoseLevel(points=points) if t.journey.pack is not None:
            return r.chosen_level(t.journey, points)
        case flow.ChoseGroup(code=code):
            for group, _ in t.data.registry.groups():
                if group.code == code:
                    return r.t("choice.recorded", label=escape(group.choice_label.get(r.locale)))
    return None


class _Handled(Exception):
    """The choice was fully answered by its own code (language, deletion)."""


async def _press(t: Turn, pressed: Button) -> tuple[str, ...]:
    person, assessment = t.person, t.journey.assessment
    mine = {"p": person.id, "a": assessment.id if assessment else None}
    if pressed.owner != mine[pressed.scope]:
        raise BadCallback("not the presser's")
    if pressed.verb is Verb.LANGUAGE:
        if pressed.arg not in ("vi", "en"):
            raise BadCallback(pressed.arg)
        await _set_language(t, pressed.arg)
        raise _Handled
    if pressed.verb in (Verb.DELETE_ME, Verb.KEEP_ME):
        # Person-level, whatever step the assessment is on; a confirmation from before a change is stale.
        if pressed.scope != "p" or pressed.rev != person.rev:
            raise FlowError(t.journey.state, pressed, "stale")
        await _delete(t, pressed.verb is Verb.DELETE_ME)
        raise _Handled
    if (pressed.scope, pressed.owner) != t.journey.owner:  # a registration button once the assessment began
        raise FlowError(t.journey.state, pressed, "stale")
    if pressed.verb is Verb.CONTINUE:  # shows the step the person is on, however old the button
        return ()
    make = _VERB_EVENTS.get(pressed.verb)
    if make is None:
        raise BadCallback(pressed.verb)
    event = make(pressed)
    record = _record_of(t, event)
    if isinstance(event, flow.RemoveFile):
        notices = await advance(t, event, shown_at=pressed.rev, allowed=functools.partial(_remove_file, t, event))
    else:
        notices = await advance(t, event, shown_at=pressed.rev)
    t.plan.record = record
    return notices


async def _remove_file(t: Turn, event: flow.RemoveFile) -> None:
    """Deletes the row of the file the flow just allowed to go; the file itself goes once that has committed
    (a crash between leaves only a file no row points to, which the evidence sweep removes). Audited when the
    team has seen it: the assessment was submitted, then returned."""
    assessment = t.journey.assessment
    assert assessment is not None
    chosen = t.journey.files[event.position - 1]
    row = await t.session.get(Evidence, chosen.id)  # the whole row: an audited removal says what it was
    assert row is not None  # the person's row is locked: nobody else removes their files meanwhile
    path = await ra.remove_evidence(
        session=t.session,
        evidence=row,
        actor_id=t.person.id,
        audited=assessment.status == AssessmentStatus.RETURNED,
    )
    kept = tuple(f for f in t.journey.stored_files if f.id != chosen.id)
    t.journey = jr.with_files(t.data.registry, t.journey, kept)
    root = t.data.settings.evidence_dir

    async def remove_from_disk() -> None:
        await asyncio.to_thread(ev.remove, root, path)

    t.after_commit.append(remove_from_disk)


async def _set_language(t: Turn, code: str) -> None:
    t.person.locale = code
    t.render = Renderer(code, t.data.registry, t.data.settings.zone, typed=not t.who.buttons)
    t.plan.locale = code
    t.plan.say(t.render.t("language.set"))
    if t.who.buttons:  # a role holder's Telegram menu speaks the new language too (one read of their roles)
        menu = await officer_help.menu_after_change(
            session=t.session, person=t.person, admin_ids=t.data.settings.admin_ids
        )
        if menu is not None and menu.commands:
            t.plan.menus.append(menu)


async def _delete(t: Turn, confirmed: bool) -> None:
    """Erases the person; their files, folders included, go once the erasure has committed (a crash in
    between leaves only files no row points to, which the evidence sweep removes)."""
    if not confirmed:
        t.plan.say(t.render.t("deleteme.kept"))
        return
    erased = await rp.delete_person(session=t.session, person=t.person)
    render, root, plan = t.render, t.data.settings.evidence_dir, t.plan

    async def remove_files() -> None:
        removed = await asyncio.to_thread(ev.erase, root, erased)
        plan.say(render.t("deleteme.done", files=removed))

    t.after_commit.append(remove_files)


# --------------------------------------------------------------------------- evidence


async def evidence(data: BotData, who: Sender, item: ev.Candidate | ev.Refused, fetch: Fetch) -> Plan:
    """Downloads a photo or document, checks its content, and records it for the current indicator.
    ``item`` is the file the message offers, or why the messenger's side already refused it."""
    plan = Plan(coalesce=item.media_group_id if isinstance(item, ev.Candidate) else None)
    # First a look (no writer's turn, no lock, nothing written): is a file expected now, and is this one acceptable?
    async with turn(data, who, plan, write=False) as t:
        if t is None:
            plan.say(gettext("status.not_registered", plan.locale))
            return plan
        state = t.journey.state
        if state.step is Step.SUBMITTED:
            say_locked(t, "locked.file")
            return plan
        if t.journey.assessment is None or not flow.accepts_evidence(state, t.journey.facts):
            show(t, ("evidence.pick_first" if state.step is Step.PICK_EVIDENCE else "evidence.not_now",))
            return plan
        if isinstance(item, ev.Refused):
            _refuse(t, item)
            return plan
        assessment_id, indicator, year = t.journey.assessment.id, state.indicator, t.journey.assessment.year
        assert assessment_id is not None
        if _has_file(t.journey, indicator, item.file_unique_id):
            plan.screens += _about_a_file(t.render, t.journey, t.render.t("evidence.duplicate"))
            return plan
        render, journey = t.render, t.journey
    # The download happens outside any transaction: no row lock is held while bytes travel.
    try:
        fetched = await fetch(data.settings.evidence_dir, ev.folder(year, assessment_id, indicator))
    except ev.Refused as refused:  # nothing stored; the person stays on the step
        plan.screens += _about_a_file(render, journey, render.t(refused.key, mb=ev.MAX_BYTES // (1024 * 1024)))
        return plan
    except Exception as exc:  # the messenger or the disk failed: say so, keep the step
        log.warning("evidence download failed: %s", type(exc).__name__)
        plan.say(render.t("evidence.download_failed"))
        return plan
    # The file keeps its temporary name until its row has committed: a crash before leaves no final file.
    try:
        recorded = await _record(data, who, plan, item, fetched, indicator)
    except BaseException:
        fetched.discard()
        raise
    if recorded:
        fetched.keep()
    else:
        fetched.discard()
    return plan


def _has_file(journey: Journey, indicator: int, file_unique_id: str) -> bool:
    """Whether this file is stored for the indicator already (the journey holds every file of the assessment)."""
    return any(f.indicator == indicator and f.file_unique_id == file_unique_id for f in journey.stored_files)


def _refuse(t: Turn, refused: ev.Refused) -> None:
    """Says why a file is not accepted and what is; the evidence step's choices stay at hand."""
    t.plan.screens += _about_a_file(t.render, t.journey, t.render.t(refused.key, mb=ev.MAX_BYTES // (1024 * 1024)))


def _about_a_file(render: Renderer, journey: Journey, text: str) -> list[Screen]:
    """``text`` with the evidence step's choices on that step; elsewhere (a level screen, the skip warning,
    the list of files) a line of its own before the step, whose numbers a Zalo answer keeps meaning."""
    if journey.state.step is Step.EVIDENCE:
        return [render.evidence_screen(journey, text)]
    return [Screen(text), render.screen(journey)]


async def _record(
    data: BotData, who: Sender, plan: Plan, item: ev.Candidate, fetched: ev.Fetched, indicator: int
) -> bool:
    """Second transaction: the step may have moved meanwhile; records the file only if it is still wanted.
    Returns, once committed, whether a new row points to the file."""
    async with turn(data, who, plan) as t:
        if t is None:  # erased (/deleteme) while the file travelled
            return False
        try:
            await advance(t, flow.AttachedEvidence(indicator))
        except FlowError:
            show(t, ("evidence.not_now",))
            return False
        assert t.journey.assessment is not None and t.journey.assessment.id is not None
        assessment_id = t.journey.assessment.id
        recorded = not _has_file(t.journey, indicator, item.file_unique_id)
        if recorded:
            row = Evidence(
                assessment_id=assessment_id,
                indicator=indicator,
                kind=item.kind,
                file_id=item.file_id,
                file_unique_id=item.file_unique_id,
                file_name=item.file_name,
                mime_type=fetched.mime_type,
                size=fetched.size,
                sha256=fetched.sha256,
                path=fetched.relative.as_posix(),
                media_group_id=item.media_group_id,
                created_at=data.now(),  # the bot's clock: the list of files says when each came
            )
            await ra.add_evidence(session=t.session, evidence=row)
            t.journey = jr.with_files(data.registry, t.journey, (*t.journey.stored_files, jr.light_file(row)))
        # One receipt per evidence step, updated in place where the messenger can edit (Telegram).
        plan.receipt = f"{assessment_id}:{indicator}"
        plan.show(t.render.evidence_screen(t.journey, t.render.receipt(t.journey)))
    return recorded


@for_registered
async def other_media(t: Turn, *, photos_only: bool = False) -> None:
    """A sticker, voice note, location, video … is not evidence: say what is accepted. ``photos_only``: the
    messenger passes bots nothing but photos (Zalo), so a paper must be photographed."""
    if t.journey.state.step is Step.SUBMITTED:
        say_locked(t, "locked.file")
        return
    if flow.accepts_evidence(t.journey.state, t.journey.facts):
        notice = "zalo.photos_only" if photos_only else "evidence.wrong_input"
    else:
        notice = "flow.use_buttons" if t.who.buttons else "zalo.not_understood"
    show(t, (notice,))


async def set_blocked(data: BotData, who: Sender, blocked: bool) -> None:
    """Notes that a person blocked (or unblocked) the bot, so nothing is sent to someone who left."""
    async with unit_of_work(data.sessions) as session:
        person = await rp.get_person(session=session, channel=who.channel, external_id=who.external_id, lock=True)
        if person is not None:
            person.blocked_at = data.now() if blocked else None


_ON, _OFF = frozenset({"on", "bật", "bat"}), frozenset({"off", "tắt", "tat"})
# What /reminders off stops: the reminders and notices planned for the person, not the decisions owed to them.
REMINDER_KINDS = (planning.CITIZEN_REMINDER, planning.REVIEW_PENDING, planning.REPORT_DUE)


async def reminders(data: BotData, who: Sender, wanted: str = "") -> Plan:
    """Switches the person's reminders off or on (``on`` / ``off``, ``bật`` / ``tắt``; nothing: the other way)."""
    plan = Plan()
    async with turn(data, who, plan, command=True) as t:
        if t is None:
            plan.say(gettext("reminders.not_registered", plan.locale))
            return plan
        person, choice = t.person, wanted.strip().lower()
        person.reminders = True if choice in _ON else False if choice in _OFF else not person.reminders
        if not person.reminders:
            await ro.cancel_pending(session=t.session, person_id=person.id or 0, kinds=REMINDER_KINDS)
        plan.say(t.render.t("reminders.on" if person.reminders else "reminders.off"))
    return plan


@for_registered
async def resume(t: Turn) -> None:
    """Shows the step the person is on now (a reminder's Continue, however old the reminder)."""
    show(t)
