"""GET /metrics: Prometheus's text format with the update counters and, read at each scrape, the outbox
backlog and the inbox's waiting updates per messenger; never a name or an id."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx

from bot import metrics
from bot.web import build_web_app
from storage import repo_inbox
from storage import repo_outbox as ro
from storage import repo_people as rp
from storage.db import Sessions, unit_of_work
from tests.fakes.zalo_api import FakeZaloApi
from tests.zalo.people import Typist, make_bot

NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)


def _sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


async def test_metrics_count_updates_and_read_the_backlogs(sessions: Sessions, tmp_path: Path) -> None:
    async with FakeZaloApi() as api:
        bot = make_bot(api, sessions, tmp_path / "evidence")
        texts = _sample("cdht_updates_total", channel="zalo", kind="text")
        timed = _sample("cdht_update_seconds_count", channel="zalo")
        await Typist(bot, api, "m1").say("Xin chào")
        await bot.close()
    assert _sample("cdht_updates_total", channel="zalo", kind="text") - texts == 1
    assert _sample("cdht_update_seconds_count", channel="zalo") - timed == 1

    async with unit_of_work(sessions) as s:
        for i, channel in enumerate(("zalo", "zalo", "telegram")):
            person = await rp.create_person(
                session=s, channel=channel, external_id=f"x{i}", chat_id=f"x{i}", locale="vi", display_name="Bình"
            )
            await ro.enqueue(session=s, person_id=person.id or 0, kind="broadcast", cycle=f"c{i}", due_at=NOW)
        await repo_inbox.record_updates(session=s, channel="telegram", updates=[("77", {"secret": "Bình"})], now=NOW)
    app = build_web_app([metrics.route(sessions)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://metrics") as client:
        answer = await client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    body = answer.text
    assert 'cdht_outbox_pending{channel="zalo"} 2.0' in body
    assert 'cdht_outbox_pending{channel="telegram"} 1.0' in body
    assert 'cdht_inbox_waiting{channel="telegram"} 1.0' in body
    assert "Bình" not in body and "x0" not in body and "m1" not in body
