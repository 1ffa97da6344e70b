"""Officers on Zalo find their commands as words to type, see names in /roles, revoke with a typed confirmation
and grant by numbered choices or Vietnamese role words (issue 10, items 10-12), over real HTTP against the fake
Zalo Bot API. Every message within Zalo's 2000 characters; both languages; SQLite and PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlmodel import col, select

from storage.db import Sessions
from storage.models import AuditEvent, Person, Role
from tests.bot.officer_helpers import seed_commune
from tests.fakes.zalo_api import FakeZaloApi, text_update
from tests.zalo.people import MAX, Typist, give_zalo_role, make_bot

ADMIN = "zadmin"
PASS = re.compile(r"role-[A-Za-z0-9_-]{24}")
ON_PERSON = col(Person.id) == Role.person_id  # a role names its holder and its granter


class Named(Typist):
    """A Zalo user with a display name of their own."""

    def __init__(self, bot, api: FakeZaloApi, user_id: str, name: str) -> None:  # type: ignore[no-untyped-def]
        super().__init__(bot, api, user_id)
        self.name = name

    async def say(self, text: str) -> str:
        return await self.send(text_update(text, user_id=self.id, display_name=self.name))


@pytest.fixture
async def bot(zalo_api: FakeZaloApi, sessions: Sessions, tmp_path: Path):
    await seed_commune(sessions)
    made = make_bot(zalo_api, sessions, tmp_path / "evidence", admin_ids=[f"zalo:{ADMIN}"])
    yield made
    await made.close()


def _longest(api: FakeZaloApi, user_id: str) -> int:
    return max(len(t) for t in api.texts(user_id))


async def test_help_on_zalo_names_the_words_to_type_for_each_role_held(
    bot, zalo_api: FakeZaloApi, sessions: Sessions
) -> None:
    citizen = Typist(bot, zalo_api, "zcitizen")
    text = await citizen.say("trợ giúp")
    assert "<b>trạng thái</b>" in text and "/status" not in text and "Lệnh của cán bộ" not in text

    await give_zalo_role(sessions, "zrev", "reviewer", "THON1")
    text = await Typist(bot, zalo_api, "zrev").say("/help")
    assert "Lệnh của tổ đánh giá" in text and "<b>duyệt</b> [mã] [năm]" in text and "/review" not in text
    assert "Lệnh của cán bộ" not in text

    admin = Typist(bot, zalo_api, ADMIN)
    text = await admin.say("hướng dẫn")
    for part in ("<b>cấp quyền</b>", "<b>vai trò</b> [mã]", "<b>duyệt</b>", "<b>công nhận</b>", "Quản trị viên"):
        assert part in text
    assert _longest(zalo_api, ADMIN) <= MAX and len(text) <= MAX  # one message, whole

    await give_zalo_role(sessions, "zen", "officer", "XA1", locale="en")
    await give_zalo_role(sessions, "zen", "reviewer", "XA1", locale="en")
    await give_zalo_role(sessions, "zen", "head", "XA1", locale="en")
    text = await Typist(bot, zalo_api, "zen").say("help")
    for part in ("<b>status</b>", "Officer commands", "<b>grant</b>", "<b>review</b>", "<b>recognise</b>"):
        assert part in text
    assert len(text) <= MAX


async def test_grant_by_numbers_and_by_vietnamese_words_on_zalo(bot, zalo_api: FakeZaloApi, sessions: Sessions) -> None:
    await give_zalo_role(sessions, "zoanh", "officer", "XA1")
    oanh, ba = Named(bot, zalo_api, "zoanh", "Chị Oanh"), Named(bot, zalo_api, "zba", "Trần Thị Ba")
    text = await oanh.say("cấp quyền")
    assert "Giao vai trò nào?" in text and "1.</b> cán bộ Khuyến học" in text and "3.</b> người ký" in text
    text = await oanh.say("2")
    assert "Giao vai trò <b>thành viên tổ đánh giá</b> tại đơn vị nào?" in text
    assert "2.</b> Thôn Bình Vọng (THON1)" in text and "XA2" not in text
    [role_pass] = PASS.findall(await oanh.say("2"))
    taken = await ba.say(role_pass)
    assert "thành viên tổ đánh giá</b> tại <b>Thôn Bình Vọng" in taken and "<b>duyệt</b>" in taken

    # The role by its word among the choices, then the unit by its code.
    await oanh.say("/grant")
    assert "Giao vai trò <b>người ký" in await oanh.say("thủ trưởng")
    assert PASS.search(await oanh.say("thon2"))
    # All in one line, accents or not.
    for line in ("cấp quyền cán bộ THON1", "cap quyen can bo THON1", "/grant to danh gia THON2"):
        text = await oanh.say(line)
        assert PASS.search(text) and len(text) <= MAX, line
    assert "Khuyến học" in await oanh.say("cấp quyền can bo THON1")
    async with sessions() as s:
        held = (await s.exec(select(Role.role).join(Person, ON_PERSON).where(Person.external_id == "zba"))).all()
    assert held == ["reviewer"]


async def test_roles_on_zalo_by_name_and_revoked_by_typing(bot, zalo_api: FakeZaloApi, sessions: Sessions) -> None:
    await give_zalo_role(sessions, "zoanh", "officer", "XA1")
    await give_zalo_role(sessions, "zba", "reviewer", "THON1")
    await give_zalo_role(sessions, "znobody", "head", "THON2")  # named at the desk, never wrote
    oanh, ba = Named(bot, zalo_api, "zoanh", "Chị Oanh"), Named(bot, zalo_api, "zba", "Trần Thị Ba")
    await ba.say("/help")  # writing once is enough for the name to be known
    text = await oanh.say("vai trò")
    assert "1.</b> ❌ Chị Oanh — cán bộ Khuyến học, XA1" in text
    assert "2.</b> ❌ Trần Thị Ba — thành viên tổ đánh giá, THON1" in text
    assert "(chưa rõ tên, id zalo:znobody) — người ký" in text
    assert "Gõ số thứ tự của một vai trò để thu hồi" in text and len(text) <= MAX

    ask = await oanh.say("2")
    assert "Thu hồi vai trò <b>thành viên tổ đánh giá</b> của <b>Trần Thị Ba</b> tại <b>Thôn Bình Vọng</b>" in ask
    assert "1.</b> ✅ Thu hồi" in ask and "2.</b> ↩️ Không" in ask
    assert "Không thu hồi" in await oanh.say("không")
    await oanh.say("vai trò")
    await oanh.say("2")
    done = await oanh.say("thu hồi")
    assert "Đã thu hồi vai trò <b>thành viên tổ đánh giá</b> của <b>Trần Thị Ba</b>" in done
    async with sessions() as s:
        assert (await s.exec(select(Role).join(Person, ON_PERSON).where(Person.external_id == "zba"))).all() == []
        [revoked] = (await s.exec(select(AuditEvent).where(AuditEvent.action == "role_revoked"))).all()
    assert revoked.before is not None and revoked.before["via"] == "chat"
    assert "chưa được giao vai trò" in await ba.say("duyệt")  # the role is gone


async def test_an_admin_ids_admin_first_hello_on_zalo_brings_the_officer_words(bot, zalo_api: FakeZaloApi) -> None:
    admin = Named(bot, zalo_api, ADMIN, "Quản trị Xã")
    await admin.say("xin chào")
    first, *_, last = zalo_api.texts(ADMIN)
    assert (
        "<b>cấp quyền</b>" in first and "<b>duyệt</b>" in first and "Quản trị viên" in first and "/grant" not in first
    )
    assert "Lệnh của cán bộ" not in last  # the citizen's prompt, with its numbers, comes last
    assert _longest(zalo_api, ADMIN) <= MAX
    await admin.say("xin chào")  # no first contact any more: no second copy
    assert sum("Lệnh của cán bộ" in t for t in zalo_api.texts(ADMIN)) == 1
