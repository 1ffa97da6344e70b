"""What a running bot tells Prometheus (``GET /metrics``): updates by messenger and kind, how long they took,
messages sent and refused for the rate (429) per messenger, and, read from the database when scraped, the
outbox backlog and the updates waiting in the inbox. No names, ids or texts: only counts and times.

One registry per process (workers are scraped one by one; Prometheus sums them).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from storage.db import Sessions
from storage.models import Outbox, OutboxStatus, UpdateInbox
from storage.repo_evidence_reading import queue_size

REGISTRY = CollectorRegistry()

UPDATES = Counter("cdht_updates", "Updates handled", ["channel", "kind"], registry=REGISTRY)
UPDATE_FAILURES = Counter("cdht_update_failures", "Updates whose handling raised", ["channel"], registry=REGISTRY)
UPDATE_SECONDS = Histogram(
    "cdht_update_seconds",
    "Time to handle one update (from taking it to its reply sent)",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
UPDATES_RUNNING = Gauge("cdht_updates_running", "Updates being handled now", ["channel"], registry=REGISTRY)
SENT = Counter("cdht_outbox_sent", "Reminders, notices and broadcasts sent", ["channel"], registry=REGISTRY)
RATE_LIMITED = Counter(
    "cdht_rate_limited", "Sends refused for the messenger's rate or quota (429)", ["channel"], registry=REGISTRY
)
OUTBOX_DUE = Gauge("cdht_outbox_pending", "Outbox messages not yet sent", ["channel"], registry=REGISTRY)
INBOX_WAITING = Gauge("cdht_inbox_waiting", "Updates recorded but not yet handled", ["channel"], registry=REGISTRY)
READER_ON = Gauge("cdht_reader_on", "1 when this process's evidence reader runs, 0 when it is off", registry=REGISTRY)
READER_QUEUE = Gauge("cdht_reader_queue", "Evidence files not yet read (being read included)", registry=REGISTRY)
READ = Counter("cdht_reader_files", "Evidence files read by this process", ["status"], registry=REGISTRY)


def observe_update(channel: str, kind: str, seconds: float, *, failed: bool = False) -> None:
    UPDATES.labels(channel, kind).inc()
    UPDATE_SECONDS.labels(channel).observe(seconds)
    if failed:
        UPDATE_FAILURES.labels(channel).inc()


def route(sessions: Sessions, *, reader: Callable[[], str] | None = None) -> Route:
    """GET /metrics in Prometheus's text format; the database figures are read at each scrape (``reader``: the
    evidence reader's status, "on" or "off: why")."""

    async def metrics(request: Request) -> Response:
        async with sessions() as session:
            pending = await session.exec(
                select(Outbox.channel, func.count())
                .where(col(Outbox.status).in_((OutboxStatus.PENDING, OutboxStatus.CLAIMED)))
                .group_by(Outbox.channel)
            )
            waiting = await session.exec(
                select(UpdateInbox.channel, func.count())
                .where(col(UpdateInbox.done_at).is_(None))
                .group_by(UpdateInbox.channel)
            )
            OUTBOX_DUE.clear()
            for channel, n in pending.all():
                OUTBOX_DUE.labels(channel).set(n)
            INBOX_WAITING.clear()
            for channel, n in waiting.all():
                INBOX_WAITING.labels(channel).set(n)
            READER_QUEUE.set(await queue_size(session=session))
        if reader is not None:
            READER_ON.set(1 if reader() == "on" else 0)
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return Route("/metrics", metrics, methods=["GET"])
