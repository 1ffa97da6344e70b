"""The bot's side of reminders: compose each outbox row from the database as it is now, send it through
python-telegram-bot (whose rate limiter is the throttle), and translate Telegram's answer into an Outcome.

Also installs the two repeating jobs on the Application's JobQueue: planning (who is owed what) and
dispatch (send what is due). Composing at send time means a reminder always says what is left *now*, and
a person who submitted, switched reminders off or blocked the bot since planning gets nothing. The same
holds for the notices an officer's action owes a citizen (the decision, a return): they are read from the
assessment as it stands when sent, and a return the citizen has already answered is not announced.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import escape

from babel.dates import format_date
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, TelegramError
from telegram.error import RetryAfter as TelegramRetryAfter
from telegram.ext import AIORateLimiter, Application, BaseRateLimiter

from bot import evidence_reader, metrics
from bot.context import BotData, Context
from bot.render import Renderer
from bot.settings import Settings
from bot.shared_rate import BURST, OUTBOX, SharedRate, SharedRateLimiter
from conversations.criteria import Registry
from conversations.flow import REGISTRATION_STEPS, Step
from conversations.identity import Channel
from scheduler import jobs, planning
from scheduler.dispatch import Dispatcher, Failed, Outcome, RetryAfter, Sent, Skipped, Unreachable
from scheduler.planning import Policy
from storage import journey as jr
from storage import repo_evidence_reading as rer
from storage import repo_outbox as ro
from storage import repo_people as rp
from storage import repo_roles as rr
from storage.cluster import once_per_cluster
from storage.db import Sessions, unit_of_work
from storage.models import Assessment, AssessmentStatus, Outbox, OutboxStatus, Person

log = logging.getLogger(__name__)

# The reminder's Continue button. Not a step button (Renderer.data): those carry the step's revision and
# turn stale ("this button is out of date") as soon as the person moves on, while a reminder is often
# pressed days later. This one always just shows the step the person is on (bot/handlers/reminders.py).
CONTINUE_DATA = "rm|go"
DISPATCH_JOB = "reminders:dispatch"
# Cluster-wide job locks (storage.cluster): one worker plans, one closes broadcasts, the others skip that run.
PLAN_LOCK = "reminders:plan"
CLOSE_LOCK = "broadcasts:close"
# Telegram answers these as BadRequest when the person can never be reached again.
_GONE = ("chat not found", "user is deactivated", "peer_id_invalid", "bot was blocked")


def rate_limiter(settings: Settings, shared: SharedRate | None = None) -> BaseRateLimiter:
    """python-telegram-bot's limiter with a small bucket: at most 2 messages at once, refilled at SEND_RATE
    a second, so no 1-second window ever holds more than 2 + SEND_RATE (30 at the default 28).

    Its default bucket of 30 lets a wave's first second carry ~59 messages, which Telegram answers with
    429 and a pause of every request; a bucket of 1 loses the scheduler's lateness on every message
    (~26.5/s measured); a bucket of 2 keeps the rate at SEND_RATE (bench/reminders_wave.py).

    With ``shared`` (REDIS_URL) the same bucket is kept in Redis for every worker (bot.shared_rate)."""
    burst = BURST
    if shared is not None:
        assert settings.bot_token is not None
        bucket = SharedRate.bucket_of("telegram", settings.bot_token.get_secret_value())
        return SharedRateLimiter(shared, bucket, settings.send_rate, burst=burst, max_retries=3)
    return AIORateLimiter(overall_max_rate=burst, overall_time_period=burst / settings.send_rate, max_retries=3)


def policy_for(settings: Settings) -> Policy:
    return Policy(
        zone=settings.zone,
        offsets=tuple(settings.reminder_offsets),
        reminder_time=settings.reminder_time,
        quiet_start=settings.quiet_hours_start,
        quiet_end=settings.quiet_hours_end,
    )


@dataclass(frozen=True)
class Composed:
    chat_id: str
    text: str
    markup: InlineKeyboardMarkup | None = None


class Composer:
    """What an outbox row says now, in its person's language (``compose``), whatever the messenger."""

    def __init__(
        self, sessions: Sessions, registry: Registry, settings: Settings, clock: Callable[[], datetime]
    ) -> None:
        self.sessions = sessions
        self.registry = registry
        self.settings = settings
        self.clock = clock

    # ------------------------------------------------------------------ composing, per kind

    async def compose(self, session: AsyncSession, row: Outbox) -> Composed | Outcome:
        person = await session.get(Person, row.person_id)
        if person is None:
            return Skipped("person gone")
        if person.blocked_at is not None:
            return Unreachable("blocked earlier")
        render = Renderer(person.locale, self.registry, self.settings.zone, typed=person.channel == "zalo")
        chat_id = person.chat_id or person.external_id
        match row.kind:
            case planning.CITIZEN_REMINDER:
                return await self._reminder(session, row, person, render, chat_id)
            case planning.REVIEW_PENDING:
                return await self._review(session, person, render, chat_id)
            case planning.REPORT_DUE:
                return await self._report(session, row, person, render, chat_id)
            case planning.BROADCAST:
                return await self._broadcast(session, row, render, chat_id)
            case planning.BROADCAST_SUMMARY:
                return await self._summary(session, row, render, chat_id)
            case planning.DECISION:
                return await self._decision(session, row, person, render, chat_id)
            case planning.RETURNED:
                return await self._returned(session, row, person, render, chat_id)
            case rer.FOLLOWUP_KIND:
                return await self._evidence_check(session, row, person, render, chat_id)
            case planning.REVIEWED:
                return await self._reviewed(session, row, person, render, chat_id)
        return Failed(f"unknown kind {row.kind}", permanent=True)

    def _today(self) -> date:
        return self.clock().astimezone(self.settings.zone).date()

    async def _reminder(
        self, session: AsyncSession, row: Outbox, person: Person, render: Renderer, chat_id: str
    ) -> Composed | Outcome:
        year = int(row.payload.get("year") or row.cycle.split(":", 1)[0])
        if not person.reminders:
            return Skipped("reminders off")
        if year != self._today().year:
            return Skipped("cycle closed")
        journey = await jr.load(session=session, registry=self.registry, person=person, year=year, lock=False)
        if journey.state.step is Step.SUBMITTED or journey.state.step in REGISTRATION_STEPS:
            return Skipped("nothing to do")
        text = reminder_text(render, journey, year, (date(year, 12, 31) - self._today()).days)
        button = InlineKeyboardButton(render.t("reminders.btn.continue"), callback_data=CONTINUE_DATA)
        return Composed(chat_id, text, InlineKeyboardMarkup([[button]]))

    async def _review(
        self, session: AsyncSession, person: Person, render: Renderer, chat_id: str
    ) -> Composed | Outcome:
        if not person.reminders:
            return Skipped("reminders off")
        roots = await rr.scope_roots(session=session, person=person, roles=jobs.REVIEW_ROLES)
        count = await ro.count_awaiting_review(session=session, roots=roots)
        if count == 0:
            return Skipped("nothing waits for review")
        return Composed(chat_id, render.t("reminders.review_pending", count=count))

    async def _report(
        self, session: AsyncSession, row: Outbox, person: Person, render: Renderer, chat_id: str
    ) -> Composed | Outcome:
        if not person.reminders:
            return Skipped("reminders off")
        year = int(row.payload.get("year", self._today().year - 1))
        deadline = date(year + 1, *planning.REPORT_DEADLINE)
        days = (deadline - self._today()).days
        if days <= 0:
            return Skipped("report deadline passed")
        roots = await rr.scope_roots(session=session, person=person, roles=jobs.REVIEW_ROLES | jobs.REPORT_ROLES)
        pending = await ro.count_awaiting_review(session=session, roots=roots)
        lines = [render.t("reminders.report_due", days=days, year=year, deadline=render_date(deadline))]
        if pending:
            lines.append(render.t("reminders.report_due.pending", count=pending))
        return Composed(chat_id, "\n".join(lines))

    async def _broadcast(
        self, session: AsyncSession, row: Outbox, render: Renderer, chat_id: str
    ) -> Composed | Outcome:
        broadcast = await ro.get_broadcast(session=session, broadcast_id=int(row.payload["broadcast_id"]))
        if broadcast is None or broadcast.status == ro.BroadcastStatus.CANCELLED:
            return Skipped("broadcast withdrawn")
        unit = await rp.get_unit(session=session, unit_id=broadcast.unit_id)
        return Composed(chat_id, broadcast_text(render, unit.name if unit else "", broadcast.text))

    async def _summary(self, session: AsyncSession, row: Outbox, render: Renderer, chat_id: str) -> Composed | Outcome:
        broadcast = await ro.get_broadcast(session=session, broadcast_id=int(row.payload["broadcast_id"]))
        if broadcast is None:
            return Skipped("broadcast gone")
        unit = await rp.get_unit(session=session, unit_id=broadcast.unit_id)
        found = await ro.counts(session=session, kind=planning.BROADCAST, cycle=row.cycle)
        return Composed(
            chat_id,
            render.t(
                "broadcast.summary",
                unit=escape(unit.name if unit else ""),
                sent=found.get(OutboxStatus.SENT, 0),
                blocked=found.get(OutboxStatus.BLOCKED, 0),
                failed=found.get(OutboxStatus.FAILED, 0) + found.get(OutboxStatus.CANCELLED, 0),
            ),
        )

    async def _decision(
        self, session: AsyncSession, row: Outbox, person: Person, render: Renderer, chat_id: str
    ) -> Composed | Outcome:
        """The head's decision on the person's assessment, as it is recorded now."""
        assessment = await session.get(Assessment, int(row.payload.get("assessment_id", 0)))
        if assessment is None or assessment.person_id != person.id:
            return Skipped("assessment gone")
        if assessment.decision_no is None or assessment.decision_date is None:
            return Skipped("no decision")
        match assessment.status:
            case AssessmentStatus.RECOGNISED:
                key = "officer.notify.recognised"
            case AssessmentStatus.NOT_RECOGNISED:
                key = "officer.notify.not_recognised"
            case _:
                return Skipped("decision withdrawn")
        day = assessment.decision_date.astimezone(self.settings.zone).date()
        total = row.payload.get("total", assessment.reviewed_total)
        text = render.t(
            key,
            year=assessment.year,
            decision=escape(assessment.decision_no),
            date=show_date(day, render.locale),
            total=total,
        )
        return Composed(chat_id, text + await team_changes(session, self.registry, render, person, assessment.year))

    async def _reviewed(
        self, session: AsyncSession, row: Outbox, person: Person, render: Renderer, chat_id: str
    ) -> Composed | Outcome:
        """The team's confirmation that changed the person's points: what changed and why, the total it counts
        and what happens next, as /status shows it."""
        assessment = await session.get(Assessment, int(row.payload.get("assessment_id", 0)))
        if assessment is None or assessment.person_id != person.id:
            return Skipped("assessment gone")
        if assessment.status != AssessmentStatus.REVIEWED:
            return Skipped("decided since")  # the decision's notice lists the changes itself
        journey = await jr.load(
            session=session, registry=self.registry, person=person, year=assessment.year, lock=False
        )
        if journey.assessment is None or journey.assessment.id != assessment.id or not render.changes(journey):
            return Skipped("nothing changed")
        title = render.t("officer.notify.reviewed", year=assessment.year)
        return Composed(chat_id, "\n".join([title, *render.standing(journey)]))

    async def _returned(
        self, session: AsyncSession, row: Outbox, person: Person, render: Renderer, chat_id: str
    ) -> Composed | Outcome:
        """What the team asks the person to fix, with a Continue button that still works days later."""
        assessment = await session.get(Assessment, int(row.payload.get("assessment_id", 0)))
        if assessment is None or assessment.person_id != person.id:
            return Skipped("assessment gone")
        if assessment.status != AssessmentStatus.RETURNED:
            return Skipped("no longer returned")  # resubmitted (or expired) before the notice went out
        if await ro.superseded(session=session, row=row):
            return Skipped("returned again")  # the later return's notice says it all
        text = render.t(
            "officer.notify.returned",
            year=assessment.year,
            indicators=", ".join(str(n) for n in sorted(assessment.returned_indicators or ())),
            reason=escape(assessment.return_reason or ""),
        )
        button = InlineKeyboardButton(render.t("btn.continue"), callback_data=CONTINUE_DATA)
        return Composed(chat_id, text, InlineKeyboardMarkup([[button]]))

    async def _evidence_check(
        self, session: AsyncSession, row: Outbox, person: Person, render: Renderer, chat_id: str
    ) -> Composed | Outcome:
        """The evidence reader's word on files just read (bot.evidence_reader): still-present files only, and
        only while the assessment is open or waiting for the team."""
        found = await rer.followup_files(session=session, evidence_ids=list(row.payload.get("evidence_ids", [])))
        found = [(ev, rd, a) for ev, rd, a in found if a.person_id == person.id]
        if not found:
            return Skipped("files removed")
        assessment = found[0][2]
        open_statuses = (AssessmentStatus.DRAFT, AssessmentStatus.RETURNED)
        if assessment.status not in (*open_statuses, AssessmentStatus.SUBMITTED):
            return Skipped("already decided")
        notes = [
            evidence_reader.FileNote(
                indicator=ev.indicator,
                sent=ev.created_at.astimezone(self.settings.zone).strftime("%d/%m"),
                flags=tuple(rd.flags),
                dates=tuple(rd.dates),
                better=rd.matched_indicators[0] if rd.matched_indicators else None,
            )
            for ev, rd, _ in found
        ]
        submitted = assessment.status not in open_statuses
        text = evidence_reader.followup_text(render, assessment.year, notes, submitted=submitted)
        if submitted:
            return Composed(chat_id, text)
        button = InlineKeyboardButton(render.t("btn.continue"), callback_data=CONTINUE_DATA)
        return Composed(chat_id, text, InlineKeyboardMarkup([[button]]))


class TelegramSender(Composer):
    """``send(row) -> Outcome`` for the dispatcher of Telegram's rows."""

    def __init__(
        self, bot: Bot, sessions: Sessions, registry: Registry, settings: Settings, clock: Callable[[], datetime]
    ) -> None:
        super().__init__(sessions, registry, settings, clock)
        self.bot = bot

    async def __call__(self, row: Outbox) -> Outcome:
        async with unit_of_work(self.sessions) as session:
            composed = await self.compose(session, row)
        if not isinstance(composed, Composed):
            return composed
        # Behind this process's other outbox sends, so a citizen's reply never waits for the whole wave.
        queued = {"rate_limit_args": OUTBOX} if isinstance(self.bot.rate_limiter, SharedRateLimiter) else {}
        try:
            await self.bot.send_message(
                chat_id=composed.chat_id,
                text=composed.text,
                parse_mode=ParseMode.HTML,
                reply_markup=composed.markup,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                **queued,
            )
        except TelegramRetryAfter as exc:
            metrics.RATE_LIMITED.labels("telegram").inc()
            return RetryAfter(_seconds(exc))
        except Forbidden:
            return Unreachable("forbidden")
        except BadRequest as exc:
            if any(gone in exc.message.lower() for gone in _GONE):
                return Unreachable("chat gone")
            return Failed(f"BadRequest: {exc.message}", permanent=True)
        except NetworkError as exc:  # TimedOut included: transient, try again later
            return Failed(f"{type(exc).__name__}: {exc.message}")
        except TelegramError as exc:
            return Failed(f"{type(exc).__name__}: {exc.message}")
        metrics.SENT.labels("telegram").inc()
        return Sent()


def _seconds(exc: TelegramRetryAfter) -> float:
    # The timedelta behind the deprecated int property (python-telegram-bot 22 warns on .retry_after).
    value = getattr(exc, "_retry_after", None)
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(exc.retry_after)  # type: ignore[arg-type]


def render_date(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def show_date(day: date, locale: str) -> str:
    """A decision's date the way each language writes it on paper: 20/12/2026, 20 December 2026."""
    return format_date(day, "dd/MM/yyyy" if locale == "vi" else "d MMMM yyyy", locale=locale)


def reminder_text(render: Renderer, journey: jr.Journey, year: int, days: int) -> str:
    """What is left for this person, counted from their answers now ("còn 3 chỉ tiêu chưa có minh chứng")."""
    lines = [
        render.t("reminders.last_day", year=year) if days <= 0 else render.t("reminders.title", days=days, year=year)
    ]
    assessment, pack = journey.assessment, journey.pack
    if assessment is None or pack is None:
        lines.append(render.t("reminders.not_started"))
    else:
        holds = jr.score_of(pack, journey.facts).holds_back
        if assessment.status == AssessmentStatus.RETURNED:
            returned = ", ".join(str(n) for n in sorted(journey.facts.editable or ()))
            lines.append(render.t("reminders.returned", indicators=returned))
        if holds.unanswered:
            lines.append(render.t("reminders.unanswered", count=len(holds.unanswered)))
        if holds.lacking_evidence:
            lines.append(render.t("reminders.lacking", count=len(holds.lacking_evidence)))
        if not holds.unanswered and not holds.lacking_evidence:
            lines.append(render.t("reminders.ready_to_submit"))
    lines += ["", render.t("reminders.footer")]
    return "\n".join(lines)


async def team_changes(session: AsyncSession, registry: Registry, render: Renderer, person: Person, year: int) -> str:
    """What the team scored otherwise than the person's own answers, and why, as lines to add to a notice
    (empty when the team changed nothing): the total a notice gives is never a surprise."""
    journey = await jr.load(session=session, registry=registry, person=person, year=year, lock=False)
    changed = render.changes(journey)
    return "\n\n" + "\n".join([render.t("team.changes_title"), *changed]) if changed else ""


def broadcast_text(render: Renderer, unit_name: str, body: str) -> str:
    """A broadcast as recipients see it; ``body`` is the officer's text as Telegram HTML, already safe."""
    return render.t("broadcast.header", unit=escape(unit_name)) + "\n\n" + body


# --------------------------------------------------------------------------- jobs


def schedule(app: Application) -> Dispatcher | None:
    """Installs the planning and dispatch jobs (unless SCHEDULER_ENABLED is off); returns the dispatcher."""
    data: BotData = app.bot_data
    settings = data.settings
    if not settings.scheduler_enabled or app.job_queue is None:
        return None
    policy = policy_for(settings)
    dispatcher = make_dispatcher(app.bot, data, policy)
    app.job_queue.run_repeating(
        _plan_job,
        interval=settings.planning_interval,
        first=min(1.0, settings.planning_interval),
        data=policy,
        name="reminders:plan",
    )
    # A wave outlasts the interval: the run overlapping it returns at once (two instances allowed, so
    # APScheduler does not log a skipped run every few seconds of a long wave).
    app.job_queue.run_repeating(
        _dispatch_job,
        interval=settings.dispatch_interval,
        first=settings.dispatch_interval,
        data=dispatcher,
        name=DISPATCH_JOB,
        job_kwargs={"max_instances": 2, "coalesce": True},
    )
    return dispatcher


def dispatch_soon(app: Application) -> None:
    """Runs this process's dispatch job once now, so notices just owed need not wait for its next interval.

    Safe to call any time: it is the same job with the same dispatcher, which runs one wave at a time (a
    call during a wave returns at once; that wave claims until nothing is due, so the rows are taken by it
    or, if it had just finished claiming, by the next interval), claims are leased, and the quiet hours
    hold. Without the scheduler in this process (SCHEDULER_ENABLED off) it does nothing: the process that
    runs it sends within its interval."""
    if app.job_queue is None:
        return
    for job in app.job_queue.get_jobs_by_name(DISPATCH_JOB):
        app.create_task(job.run(app), name=f"{DISPATCH_JOB}:now")


def make_dispatcher(bot: Bot, data: BotData, policy: Policy | None) -> Dispatcher:
    settings = data.settings
    sender = TelegramSender(bot, data.sessions, data.registry, settings, data.clock)
    shared = data.shared_rate()
    return Dispatcher(
        data.sessions,
        sender,
        policy=policy,
        batch_size=settings.dispatch_batch,
        lease=timedelta(seconds=settings.lease_seconds),
        max_attempts=settings.max_attempts,
        clock=data.clock,
        channel=Channel.TELEGRAM,  # Zalo's people are sent to by bot/zalo/outbox.py, at Zalo's rate
        gate=shared.chat_gate(Channel.TELEGRAM) if shared is not None else None,
    )


async def _plan_job(context: Context) -> None:
    policy: Policy = context.job.data  # type: ignore[union-attr,assignment]
    async with once_per_cluster(context.db, PLAN_LOCK) as mine:
        if not mine:
            return  # another worker is planning right now
        report = await jobs.plan(sessions=context.db, policy=policy, now=context.now())
    if report.expired or report.cancelled or report.reminders or report.notices:
        log.info(
            "planned: %d reminders, %d notices; rollover expired %d, cancelled %d",
            report.reminders,
            report.notices,
            report.expired,
            report.cancelled,
        )


async def _dispatch_job(context: Context) -> None:
    dispatcher: Dispatcher = context.job.data  # type: ignore[union-attr,assignment]
    stats = await dispatcher.run()  # every worker: claims are leased row by row (scheduler.dispatch)
    closed = 0
    async with once_per_cluster(context.db, CLOSE_LOCK) as mine:
        if mine:  # one worker is enough (a second summary would be refused by the outbox's key anyway)
            closed = await jobs.close_broadcasts(sessions=context.db, now=context.now())
    if stats.claimed or closed:
        log.info(
            "dispatched: %d sent, %d retried, %d deferred, %d blocked, %d failed, %d skipped; %d broadcasts done",
            stats.sent,
            stats.retried,
            stats.deferred,
            stats.blocked,
            stats.failed,
            stats.skipped,
            closed,
        )
