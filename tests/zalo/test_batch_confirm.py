"""The batch confirm on Zalo: «xác nhận hàng loạt» typed, then the confirmation typed as a word or its number."""

from __future__ import annotations

from pathlib import Path

from storage.db import Sessions
from storage.models import Assessment
from tests.bot.findings_desk import add_file, seed_units, submitted
from tests.fakes.certificate_images import certificate, jpeg
from tests.fakes.zalo_api import FakeZaloApi
from tests.zalo.people import Typist, give_zalo_role, make_bot


async def test_typed_command_and_typed_confirmation(zalo_api: FakeZaloApi, sessions: Sessions, tmp_path: Path) -> None:
    await seed_units(sessions)
    bot = make_bot(zalo_api, sessions, tmp_path)
    await give_zalo_role(sessions, "ba", "reviewer", "THON1")
    ids = []
    for k, name in enumerate(("Nguyễn Văn An", "Trần Thị Bình")):
        a = await submitted(sessions, name, "THON1")
        await add_file(sessions, tmp_path, a, 1, jpeg(certificate(500 + k)), text=f"giấy khen {name} số {k} năm 2026")
        ids.append(a)
    desk = Typist(bot, zalo_api, "ba")

    preview = await desk.say("xác nhận hàng loạt")
    assert "Xác nhận 2 bài nộp không có cảnh báo" in preview and "Nguyễn Văn An" in preview
    assert "1.</b> ✅ Xác nhận 2 bài" in preview and "2.</b> Để sau" in preview
    done = await desk.say("xác nhận")
    assert "✅ Đã xác nhận 2 bài nộp." in done
    async with sessions() as s:
        assert [(await s.get(Assessment, a)).status for a in ids] == ["reviewed", "reviewed"]  # type: ignore[union-attr]
    assert "Không có bài nộp nào" in await desk.say("/confirmclean")  # nothing left to confirm
    await bot.close()
