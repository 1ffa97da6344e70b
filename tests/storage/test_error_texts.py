"""A statement that fails names no value it was given: a failed update's traceback goes to the logs, and its
values are names, messenger ids and answers (Decree 13/2023; storage.db.make_engine)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine


async def test_a_failed_statement_keeps_its_values_out_of_the_error_text(engine: AsyncEngine) -> None:
    secret = "Nguyễn Thị Bí Mật 0912345678"
    with pytest.raises(DBAPIError) as failed:
        async with engine.begin() as conn:
            # No time received: the NOT NULL constraint refuses the row.
            await conn.execute(
                text("insert into update_inbox (channel, key, payload) values (:channel, :key, :payload)"),
                {"channel": "telegram", "key": secret, "payload": f'{{"name": "{secret}"}}'},
            )
    said = str(failed.value)
    assert "update_inbox" in said  # the statement is still named: the log says where it failed
    assert secret not in said and "0912345678" not in said
