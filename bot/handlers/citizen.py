"""The citizen's handlers: each turns one update into a flow event inside one transaction, then replies.

Nothing is kept in memory between updates: the person's step is read from the database on every update
and written back in the same transaction as the change it caused.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from html import escape

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import BadRequest, TelegramError

from bot import evidence as ev
from bot.callbacks import BadCallback, Button, Verb, decode, int_args
from bot.context import Context
from bot.handlers import officer_roles
from bot.render import Renderer
from conversations import flow
from conversations.flow import FlowError, Step
from conversations.identity import Channel, shown_name
from locales import negotiate
from storage import journey as jr
from storage import repo_assessments as ra
from storage import repo_people as rp
from storage.db import unit_of_work
from storage.journey import Journey
from storage.models import Evidence, Person

log = logging.getLogger(__name__)

MAX_CODE = 32
TELEGRAM = Channel.TELEGRAM.value  # every person these handlers meet came through Telegram


# --------------------------------------------------------------------------- plumbing


@dataclass
class Turn:
    """One update's view: the open transaction, the person's journey and a renderer in their language."""

    session: AsyncSession
    journey: Journey
    render: Renderer
    # Work that must wait until the transaction has committed (removing an erased person's files).
    after_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @property
    def person(self) -> Person:
        return self.journey.person


def locale_for(update: Update, person: Person | None, default: str) -> str:
    if person is not None:
        return person.locale
    user = update.effective_user
    return negotiate(user.language_code if user else None, default)


@asynccontextmanager
async def turn(update: Update, context: Context, *, create: bool = False) -> AsyncIterator[Turn | None]:
    """Opens the update's transaction and loads the sender's journey (None for a stranger)."""
    user = update.effective_user
    chat = update.effective_chat
    assert user is not None and chat is not None
    async with unit_of_work(context.db) as session:
        person = await rp.get_person(session=session, channel=TELEGRAM, external_id=str(user.id), lock=True)
        if person is None and create:
            person = await rp.create_person(
                session=session,
                channel=TELEGRAM,
                external_id=str(user.id),
                chat_id=str(chat.id),
                locale=locale_for(update, None, context.settings.default_locale),
            )
        if person is None:
            yield None
            return
        person.chat_id = str(chat.id)
        person.display_name = shown_name(user.full_name)
        journey = await jr.load(session=session, registry=context.registry, person=person, year=context.year())
        t = Turn(session, journey, Renderer(person.locale, context.registry, context.settings.zone))
        yield t
    for then in t.after_commit:
        await then()


async def advance(t: Turn, context: Context, event: flow.Event) -> tuple[str, ...]:
    """Applies ``event`` to the journey (raises FlowError, changing nothing, if it is not allowed)."""
    transition = flow.transition(t.journey.state, event, t.journey.facts)
    t.journey = await jr.apply(
        session=t.session,
        registry=context.registry,
        journey=t.journey,
        transition=transition,
        year=context.year(),
        now=context.now(),
    )
    return transition.notices


async def say(message: Message, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    await message.reply_html(text, reply_markup=markup, disable_web_page_preview=True)


async def show(message: Message, t: Turn, notices: tuple[str, ...] = ()) -> None:
    """Sends the notices, then the current step with its buttons."""
    for key in notices:
        await say(message, t.render.t(key, unit=_unit_name(t)))
    text, markup = t.render.step(t.journey)
    await say(message, text, markup)


def _unit_name(t: Turn) -> str:
    return escape(t.journey.unit.name) if t.journey.unit else ""


def _refusal_key(error: FlowError) -> str:
    return {"stale": "flow.stale", "forged": "flow.forged", "locked": "flow.locked"}.get(error.reason, "flow.stale")


async def not_registered(update: Update, context: Context) -> None:
    await reply_in_own_language(update, context, "status.not_registered")


# --------------------------------------------------------------------------- commands


def for_registered(
    handler: Callable[[Message, Turn, Context], Awaitable[None]],
) -> Callable[[Update, Context], Awaitable[None]]:
    """Runs ``handler`` inside the sender's transaction with their journey; a stranger is told to /start."""

    @functools.wraps(handler)
    async def wrapped(update: Update, context: Context) -> None:
        message = update.effective_message
        assert message is not None
        async with turn(update, context) as t:
            if t is None:
                await not_registered(update, context)
                return
            await handler(message, t, context)

    return wrapped


async def start(update: Update, context: Context) -> None:
    """Greets a newcomer with the consent request, or shows a returning person the step they are on."""
    message = update.effective_message
    assert message is not None
    if context.args and context.args[0].startswith(officer_roles.ROLE_PREFIX):
        await officer_roles.redeem(update, context, context.args[0])  # a one-time role link, not a join code
        return
    code = (context.args[0] if context.args else "")[:MAX_CODE] or None
    async with turn(update, context, create=True) as t:
        assert t is not None
        notices: tuple[str, ...] = ()
        if t.journey.state.step is Step.DECLINED:
            notices = await advance(t, context, flow.Restart())
        if code:
            notices += await _offer_code(t, context, code)
        await show(message, t, notices)


async def _offer_code(t: Turn, context: Context, code: str) -> tuple[str, ...]:
    """A join code from a deep link: kept until consent, used at the unit step, ignored once in a unit."""
    person = t.person
    if person.unit_id is not None:
        unit = await rp.find_unit(session=t.session, code=code)
        return ("unit.already",) if unit is None or unit.id != person.unit_id else ()
    if t.journey.state.step is Step.UNIT:
        return await _join(t, context, code)
    person.pending_code = code
    t.journey = await jr.load(session=t.session, registry=context.registry, person=person, year=context.year())
    return ()


async def _join(t: Turn, context: Context, code: str) -> tuple[str, ...]:
    unit = await rp.find_unit(session=t.session, code=code)
    if unit is not None:
        t.person.unit_id = unit.id
        t.person.pending_code = None
        t.journey.unit = unit
    return await advance(t, context, flow.JoinedUnit(found=unit is not None))


async def reply_in_own_language(update: Update, context: Context, key: str) -> None:
    """Answers with one catalog text in the sender's language (stored, else Telegram's); changes nothing."""
    message, user = update.effective_message, update.effective_user
    assert message is not None and user is not None
    async with context.db() as session:
        person = await rp.get_person(session=session, channel=TELEGRAM, external_id=str(user.id))
    locale = locale_for(update, person, context.settings.default_locale)
    await say(message, Renderer(locale, context.registry, context.settings.zone).t(key))


async def help_command(update: Update, context: Context) -> None:
    """Explains the title, the rule and the commands."""
    await reply_in_own_language(update, context, "help.text")


async def status(update: Update, context: Context) -> None:
    """Shows the year's progress and a button to continue where the person left off."""
    message = update.effective_message
    assert message is not None
    async with turn(update, context) as t:
        if t is None or t.journey.state.step in flow.REGISTRATION_STEPS:
            if t is None:
                await not_registered(update, context)
            else:
                await show(message, t, ("status.registering",))
            return
        await say(
            message,
            status_text(t, context.year()),
            InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton(
                            t.render.t("btn.continue"), callback_data=t.render.data(t.journey, Verb.CONTINUE)
                        )
                    ]
                ]
            ),
        )


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
    lines.append(r.t("status.pack", pack=escape(j.pack.title.get(r.locale)), version=j.pack.version))
    lines.append(r.t("status.progress", answered=answered, total=len(j.pack.numbers), files=with_files))
    assert j.assessment is not None
    lines.append(r.t("result.status." + j.assessment.status))
    result = jr.score_of(j.pack, j.facts)
    lines.append(r.t("review.total", total=result.total))
    lines.append(r.holds_back(result.holds_back) if result.holds_back else r.t("review.would_pass"))
    return "\n".join(lines)


@for_registered
async def cancel(message: Message, t: Turn, context: Context) -> None:
    """Stops the current action; everything entered so far stays saved."""
    if t.journey.state.step in (Step.CONFIRM_SUBMIT, Step.SKIP_WARNING):
        notices = await advance(t, context, flow.Cancel())
        await show(message, t, notices)
    else:
        await say(message, t.render.t("flow.cancelled"))


async def language(update: Update, context: Context) -> None:
    """Offers Vietnamese or English."""
    message = update.effective_message
    assert message is not None
    async with turn(update, context, create=True) as t:
        assert t is not None
        data = [Button("p", t.person.id or 0, 0, Verb.LANGUAGE, code).encode() for code in ("vi", "en")]
        await say(
            message,
            t.render.t("language.ask"),
            InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton("Tiếng Việt", callback_data=data[0]),
                        InlineKeyboardButton("English", callback_data=data[1]),
                    ]
                ]
            ),
        )


@for_registered
async def my_data(message: Message, t: Turn, context: Context) -> None:
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
            locale=data["locale"],
            consent=r.when(data["consent_at"]) if data["consent_at"] else "—",
        ),
    ]
    for a in data["assessments"]:
        lines.append(
            r.t(
                "mydata.assessment",
                year=a["year"],
                status=r.t("result.status." + a["status"]),
                answered=len([v for v in a["answers"].values() if v is not None]),
                files=a["evidence_files"],
            )
        )
    lines.append(r.t("mydata.rights"))
    await say(message, "\n".join(lines))


def _e(value: object) -> str:
    return escape(str(value)) if value is not None else "—"


@for_registered
async def delete_me(message: Message, t: Turn, context: Context) -> None:
    """Asks for confirmation before erasing everything stored about the person."""
    p = t.person
    await say(
        message,
        t.render.t("deleteme.ask"),
        InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        t.render.t("btn.delete"),
                        callback_data=Button("p", p.id or 0, p.rev, Verb.DELETE_ME).encode(),
                    )
                ],
                [
                    InlineKeyboardButton(
                        t.render.t("btn.keep"), callback_data=Button("p", p.id or 0, p.rev, Verb.KEEP_ME).encode()
                    )
                ],
            ]
        ),
    )


async def unknown_command(update: Update, context: Context) -> None:
    """Answers a command the bot does not know by pointing to /help."""
    await reply_in_own_language(update, context, "unknown.command")


# --------------------------------------------------------------------------- typed text


@for_registered
async def text(message: Message, t: Turn, context: Context) -> None:
    """Takes a typed name or join code; elsewhere, points to the buttons and shows the step again."""
    assert message.text is not None
    step = t.journey.state.step
    if step is Step.NAME:
        notices = await advance(t, context, flow.GaveName(message.text))
    elif step is Step.UNIT:
        notices = await _join(t, context, message.text.strip()[:MAX_CODE])
    elif step in (Step.EVIDENCE, Step.SKIP_WARNING):
        notices = ("evidence.wrong_input",)
    else:
        notices = ("flow.use_buttons",)
    await show(message, t, notices)


# --------------------------------------------------------------------------- buttons

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
}


async def button(update: Update, context: Context) -> None:
    """Checks that a pressed button belongs to the presser and to the current step, then applies it."""
    query = update.callback_query
    assert query is not None
    message = query.message if isinstance(query.message, Message) else None
    async with turn(update, context) as t:
        if t is None or message is None:
            await query.answer()
            if message is not None:
                await not_registered(update, context)
            return
        try:
            pressed = decode(query.data)
            notices = await _press(t, context, pressed)
        except (BadCallback, FlowError) as exc:
            reason = "flow.forged" if isinstance(exc, BadCallback) else _refusal_key(exc)
            log.info("refused button: %s", reason)
            await query.answer(t.render.t(reason), show_alert=False)
            await show(message, t, (reason,))
            return
        except _Handled:
            await query.answer()
            return
        await query.answer()
        await _retire_buttons(message)
        await show(message, t, notices)


class _Handled(Exception):
    """The button was fully answered by its own code (language, deletion)."""


async def _press(t: Turn, context: Context, pressed: Button) -> tuple[str, ...]:
    person, assessment = t.person, t.journey.assessment
    mine = {"p": person.id, "a": assessment.id if assessment else None}
    if pressed.owner != mine[pressed.scope]:
        raise BadCallback("not the presser's")
    if pressed.verb is Verb.LANGUAGE:
        await _set_language(t, context, pressed.arg)
        raise _Handled
    if pressed.verb in (Verb.DELETE_ME, Verb.KEEP_ME):
        # Person-level, whatever step the assessment is on; a confirmation from before a change is stale.
        if pressed.scope != "p" or pressed.rev != person.rev:
            raise FlowError(t.journey.state, pressed, "stale")
        await _delete(t, context, pressed.verb is Verb.DELETE_ME)
        raise _Handled
    if (pressed.scope, pressed.owner, pressed.rev) != (*t.journey.owner, t.journey.rev):
        raise FlowError(t.journey.state, pressed, "stale")
    if pressed.verb is Verb.CONTINUE:
        return ()
    make = _VERB_EVENTS.get(pressed.verb)
    if make is None:
        raise BadCallback(pressed.verb)
    return await advance(t, context, make(pressed))


async def _set_language(t: Turn, context: Context, code: str) -> None:
    if code not in ("vi", "en"):
        raise BadCallback(code)
    t.person.locale = code
    t.render = Renderer(code, context.registry, context.settings.zone)
    message = context.bot  # the chat to answer is the person's own
    await message.send_message(
        t.person.chat_id or t.person.external_id, t.render.t("language.set"), parse_mode=ParseMode.HTML
    )


async def _delete(t: Turn, context: Context, confirmed: bool) -> None:
    """Erases the person; their files, folders included, go once the erasure has committed (a crash in
    between leaves only files no row points to, which the evidence sweep removes)."""
    chat_id = t.person.chat_id or t.person.external_id
    if not confirmed:
        await context.bot.send_message(chat_id, t.render.t("deleteme.kept"), parse_mode=ParseMode.HTML)
        return
    erased = await rp.delete_person(session=t.session, person=t.person)
    render, root = t.render, context.settings.evidence_dir

    async def remove_files() -> None:
        removed = await asyncio.to_thread(ev.erase, root, erased)
        await context.bot.send_message(chat_id, render.t("deleteme.done", files=removed), parse_mode=ParseMode.HTML)

    t.after_commit.append(remove_files)


async def _retire_buttons(message: Message) -> None:
    """Removes the buttons of a message once used, so the chat shows only live ones."""
    with contextlib.suppress(BadRequest):  # already gone, or too old to edit: harmless
        await message.edit_reply_markup(reply_markup=None)


# --------------------------------------------------------------------------- evidence


async def evidence(update: Update, context: Context) -> None:
    """Downloads a photo or document, checks its content, and records it for the current indicator."""
    message = update.effective_message
    assert message is not None
    # First transaction: is a file expected now, and is this one acceptable?
    async with turn(update, context) as t:
        if t is None:
            await not_registered(update, context)
            return
        state = t.journey.state
        if state.step not in (Step.EVIDENCE, Step.SKIP_WARNING) or t.journey.assessment is None:
            await show(message, t, ("evidence.not_now",))
            return
        try:
            item = ev.candidate(message)
        except ev.Refused as refused:
            await _refuse(message, t.render, refused, t.render.evidence_buttons(t.journey))
            return
        assert item is not None
        assessment_id, indicator, year = t.journey.assessment.id, state.indicator, t.journey.assessment.year
        assert assessment_id is not None
        if await ra.has_evidence(
            session=t.session, assessment_id=assessment_id, indicator=indicator, file_unique_id=item.file_unique_id
        ):
            await say(message, t.render.t("evidence.duplicate"), t.render.evidence_buttons(t.journey))
            return
        render, buttons = t.render, t.render.evidence_buttons(t.journey)
    # The download happens outside any transaction: no row lock is held while bytes travel.
    root = context.settings.evidence_dir
    try:
        fetched = await ev.download(context.bot, item, root, ev.folder(year, assessment_id, indicator))
    except ev.Refused as refused:
        await _refuse(message, render, refused, buttons)  # nothing stored; the person stays on the step
        return
    except (TelegramError, OSError) as exc:
        log.warning("evidence download failed: %s", type(exc).__name__)
        await say(message, render.t("evidence.download_failed"))
        return
    # The file keeps its temporary name until its row has committed: a crash before leaves no final file.
    try:
        recorded, reply = await _record(update, context, message, item, fetched, indicator)
    except BaseException:
        fetched.discard()
        raise
    if recorded:
        fetched.keep()
    else:
        fetched.discard()
    if reply is not None:
        await acknowledge(context, message, *reply)


async def _refuse(message: Message, render: Renderer, refused: ev.Refused, buttons: InlineKeyboardMarkup) -> None:
    """Says why a file is not accepted and what is; the evidence step's buttons stay at hand."""
    await say(message, render.t(refused.key, mb=ev.MAX_BYTES // (1024 * 1024)), buttons)


async def _record(
    update: Update, context: Context, message: Message, item: ev.Candidate, fetched: ev.Fetched, indicator: int
) -> tuple[bool, tuple[str, InlineKeyboardMarkup] | None]:
    """Second transaction: the step may have moved meanwhile; records the file only if it is still wanted.
    Returns, once committed, whether a new row points to the file, and the reply still to send (if any)."""
    async with turn(update, context) as t:
        if t is None:  # erased (/deleteme) while the file travelled
            return False, None
        try:
            await advance(t, context, flow.AttachedEvidence(indicator))
        except FlowError:
            await show(message, t, ("evidence.not_now",))
            return False, None
        assert t.journey.assessment is not None and t.journey.assessment.id is not None
        assessment_id = t.journey.assessment.id
        recorded = not await ra.has_evidence(
            session=t.session, assessment_id=assessment_id, indicator=indicator, file_unique_id=item.file_unique_id
        )
        if recorded:
            await ra.add_evidence(
                session=t.session,
                evidence=Evidence(
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
                ),
            )
        count = len(await ra.list_evidence(session=t.session, assessment_id=assessment_id, indicator=indicator))
        t.journey = await jr.load(
            session=t.session, registry=context.registry, person=t.person, year=context.year(), lock=False
        )
        reply = (t.render.t("evidence.received", n=indicator, count=count), t.render.evidence_buttons(t.journey))
    return recorded, reply


async def acknowledge(context: Context, message: Message, text: str, markup: InlineKeyboardMarkup) -> None:
    """One reply per file, but one per album: each file of an album postpones the reply a little, so the
    count is given once, after the last. Only the reply waits in memory; the files are already stored."""
    group = message.media_group_id
    delay = context.settings.album_settle_seconds
    if group is None or delay <= 0:
        await say(message, text, markup)
        return
    pending = context.bot_data.album_replies
    key = f"{message.chat_id}:{group}"
    earlier = pending.get(key)
    if earlier is not None and not earlier.done():
        earlier.cancel()

    async def reply_when_settled() -> None:
        await asyncio.sleep(delay)
        pending.pop(key, None)
        await say(message, text, markup)

    pending[key] = context.application.create_task(reply_when_settled(), name=f"album:{key}")


@for_registered
async def other_media(message: Message, t: Turn, context: Context) -> None:
    """A sticker, voice note, location, video … is not evidence: say what is accepted."""
    wanted = t.journey.state.step in (Step.EVIDENCE, Step.SKIP_WARNING)
    await show(message, t, ("evidence.wrong_input" if wanted else "flow.use_buttons",))


async def membership(update: Update, context: Context) -> None:
    """Notes when a person blocks or unblocks the bot, so nothing is sent to someone who left."""
    change = update.my_chat_member
    if change is None or change.chat.type != ChatType.PRIVATE:
        return
    async with unit_of_work(context.db) as session:
        person = await rp.get_person(session=session, channel=TELEGRAM, external_id=str(change.from_user.id), lock=True)
        if person is None:
            return
        blocked = change.new_chat_member.status in (ChatMemberStatus.BANNED, ChatMemberStatus.LEFT)
        person.blocked_at = context.now() if blocked else None
