"""Records incoming updates in the inbox, several in one transaction when they arrive together.

Webhook deliveries come in concurrently (and a burst of 200 people tapping at once is the December rush): one
transaction each held a pooled connection each, opened spare connections past the pool, and cost a BEGIN, an
INSERT and a COMMIT per update. Here one transaction at a time records every update that has arrived
meanwhile (group commit): alone, an update is recorded at once as before; in a burst, a waiting update is
recorded with the others in the next transaction, and no caller returns before its own row has committed.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from storage import repo_inbox
from storage.db import Sessions, once_more_if_lost, unit_of_work


class InboxWriter:
    """``record(key, payload, sender)`` for one channel: True once newly recorded, False when it was recorded
    before. ``sender``: the messenger's id of the person, kept so workers can keep their updates in order."""

    def __init__(self, sessions: Sessions, channel: str) -> None:
        self.sessions, self.channel = sessions, channel
        self._waiting: list[tuple[str, dict[str, Any], str | None, asyncio.Future[bool]]] = []
        self._turn: asyncio.Lock | None = None  # made in the running loop, on first use

    async def record(self, key: str, payload: dict[str, Any], sender: str | None = None) -> bool:
        if self._turn is None:
            self._turn = asyncio.Lock()
        mine: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((key, payload, sender, mine))
        async with self._turn:
            if not mine.done():  # nobody took it along while this waited: record everything waiting now
                batch, self._waiting = self._waiting, []
                # Shielded: a caller that gives up (its webhook request cut) must not leave the others waiting.
                await asyncio.shield(self._write(batch))
        return await mine

    async def _write(self, batch: list[tuple[str, dict[str, Any], str | None, asyncio.Future[bool]]]) -> None:
        rows: list[tuple[str, dict[str, Any]]] = []  # in arrival order (replays go by it), one row per key
        senders: dict[str, str | None] = {}
        for key, payload, sender, _ in batch:
            if key not in senders:
                rows.append((key, payload))
                senders[key] = sender

        async def insert() -> set[str]:
            async with unit_of_work(self.sessions) as session:
                return await repo_inbox.record_updates(
                    session=session, channel=self.channel, updates=rows, now=datetime.now(UTC), senders=senders
                )

        try:
            new = await once_more_if_lost(insert)
        except Exception as exc:
            for *_, waiter in batch:
                waiter.set_exception(exc)
            return
        for key, _, _, waiter in batch:  # a key delivered twice in one batch is new for its first delivery only
            waiter.set_result(key in new)
            new.discard(key)
