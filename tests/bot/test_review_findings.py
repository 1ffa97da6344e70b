"""The review card's findings (bot.handlers.review_findings), in Vietnamese and English, on SQLite and
PostgreSQL: dates in the officer's language, outside the year, hard to read, a better-fitting indicator,
matches, more still being read (nothing while none is); the scope rule for a copy used by someone else:
named within the reviewer's scope, outside it only "also used outside your unit"; and the card's and the batch
confirm's copy check reading stored hashes only, never decoding a picture."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from bot.handlers import batch_confirm, review
from bot.handlers import review_findings as rf
from bot.sender import Sender
from storage import repo_people as rp
from storage.db import Sessions
from tests.bot.findings_desk import add_file, bot_data, reviewer, seed_units, submitted
from tests.fakes.certificate_images import certificate, cropped, jpeg, recompressed


async def lines(sessions: Sessions, evidence: Path, who: Sender, assessment_id: int, locale: str) -> dict[int, str]:
    data = bot_data(sessions, evidence)
    async with sessions() as s:
        person = await rp.get_person(session=s, channel=who.channel, external_id=who.external_id)
        assert person is not None
        return await rf.card_lines(s, data, person, assessment_id, 2026, locale)


async def test_findings_per_indicator_in_both_languages(sessions: Sessions, tmp_path: Path) -> None:
    await seed_units(sessions)
    vi = await reviewer(sessions, "901", "XA1", "vi")
    en = await reviewer(sessions, "902", "XA1", "en")
    a = await submitted(sessions, "Nguyễn Văn An", "THON1")
    await add_file(sessions, tmp_path, a, 1, jpeg(certificate(1)), dates=["2026-05-12", "2026-11-03"])
    await add_file(sessions, tmp_path, a, 2, jpeg(certificate(2)), dates=["2025-04-30"], flags=["outside_year"])
    await add_file(
        sessions, tmp_path, a, 3, jpeg(certificate(3)), matched=[], flags=["unreadable"], status="unreadable"
    )
    await add_file(sessions, tmp_path, a, 4, jpeg(certificate(4)), matched=[6], flags=["other_indicator"])
    await add_file(sessions, tmp_path, a, 5, jpeg(certificate(5)), read=False)
    await add_file(sessions, tmp_path, a, 6, jpeg(certificate(6)), dates=["2026-01-01"])
    await add_file(sessions, tmp_path, a, 6, jpeg(certificate(7)), read=False)

    shown = await lines(sessions, tmp_path, vi, a, "vi")
    assert shown[1] == "      🔎 📅 12/05/2026, 03/11/2026 · ✓ khớp chỉ tiêu"
    assert shown[2] == "      🔎 📅 30/04/2025 · ⚠ ngày ngoài năm 2026 · ✓ khớp chỉ tiêu"
    assert shown[3] == "      🔎 ⚠ ảnh khó đọc"
    assert shown[4] == "      🔎 ⚠ hợp chỉ tiêu 6 hơn"
    assert shown[6] == "      🔎 📅 01/01/2026 · ✓ khớp chỉ tiêu · đang đọc…"
    assert set(shown) == {1, 2, 3, 4, 6}  # nothing where no file is read yet, nor where there is none

    shown = await lines(sessions, tmp_path, en, a, "en")
    assert shown[1] == "      🔎 📅 12 May 2026, 3 Nov 2026 · ✓ matches the indicator"
    assert shown[2] == "      🔎 📅 30 Apr 2025 · ⚠ date outside 2026 · ✓ matches the indicator"
    assert shown[3] == "      🔎 ⚠ hard to read"
    assert shown[4] == "      🔎 ⚠ fits indicator 6 better"
    assert shown[6] == "      🔎 📅 1 Jan 2026 · ✓ matches the indicator · reading…"


async def test_a_copy_names_its_user_only_within_the_reviewers_scope(sessions: Sessions, tmp_path: Path) -> None:
    await seed_units(sessions)
    commune = await reviewer(sessions, "901", "XA1", "vi")  # THON1 and THON2
    village = await reviewer(sessions, "902", "THON1", "en")  # THON1 only
    original = certificate(11)
    mine = await submitted(sessions, "Nguyễn Văn An", "THON1")
    await add_file(sessions, tmp_path, mine, 3, jpeg(original))
    neighbour = await submitted(sessions, "Trần Thị Bình", "THON2")
    await add_file(sessions, tmp_path, neighbour, 3, jpeg(recompressed(original, 30)))
    elsewhere = await submitted(sessions, "Lê Văn Cường", "THON3")
    await add_file(sessions, tmp_path, elsewhere, 5, jpeg(cropped(original, 0.08)))

    shown = await lines(sessions, tmp_path, commune, mine, "vi")
    assert shown[3] == (
        "      🔎 ⚠ trùng ảnh của Trần Thị Bình (Thôn Đông, 2026, CT 3)"
        " · ⚠ ảnh này cũng được dùng ngoài đơn vị của bạn · ✓ khớp chỉ tiêu"
    )
    assert "Cường" not in shown[3] and "Thôn Ba" not in shown[3]

    shown = await lines(sessions, tmp_path, village, mine, "en")
    assert shown[3] == "      🔎 ⚠ also used outside your unit · ✓ matches the indicator"

    # From the other side: the commune's reviewer sees An's and Bình's file used outside (in THON3's file).
    shown = await lines(sessions, tmp_path, commune, elsewhere, "vi")
    assert shown[5].startswith("      🔎 ⚠ trùng ảnh của Nguyễn Văn An (Thôn Bình Vọng, 2026, CT 3)")
    assert "Trần Thị Bình" in shown[5]


async def test_the_review_card_shows_the_findings_under_each_indicator(sessions: Sessions, tmp_path: Path) -> None:
    await seed_units(sessions)
    village = await reviewer(sessions, "902", "THON1", "en")
    commune = await reviewer(sessions, "901", "XA1", "vi")
    original = certificate(21)
    mine = await submitted(sessions, "Nguyễn Văn An", "THON1")
    await add_file(sessions, tmp_path, mine, 2, jpeg(original), dates=["2026-03-08"])
    theirs = await submitted(sessions, "Trần Thị Bình", "THON2")
    await add_file(sessions, tmp_path, theirs, 2, jpeg(cropped(original, 0.06)))
    data = bot_data(sessions, tmp_path)

    card = (await review.review_command(data, village, ["THON1"])).screens[-1].text
    assert "\n      🔎 📅 8 Mar 2026 · ⚠ also used outside your unit · ✓ matches the indicator\n" in card
    assert "Trần Thị Bình" not in card and "Thôn Đông" not in card

    card = (await review.review_command(data, commune, ["THON1"])).screens[-1].text
    assert "🔎 📅 08/03/2026 · ⚠ trùng ảnh của Trần Thị Bình (Thôn Đông, 2026, CT 2) · ✓ khớp chỉ tiêu" in card
    assert "ngoài đơn vị" not in card


def remove_pictures(folder: Path) -> None:
    for path in folder.rglob("*.jpg"):
        path.unlink()


async def test_the_cards_copy_check_decodes_no_picture(
    sessions: Sessions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed_units(sessions)
    commune = await reviewer(sessions, "901", "XA1", "vi")
    original = certificate(31)
    mine = await submitted(sessions, "Nguyễn Văn An", "THON1")
    await add_file(sessions, tmp_path, mine, 2, jpeg(original), dates=["2026-03-08"])
    theirs = await submitted(sessions, "Trần Thị Bình", "THON2")
    await add_file(sessions, tmp_path, theirs, 2, jpeg(recompressed(original, 30)))
    cut = await submitted(sessions, "Lê Văn Cường", "THON1")
    await add_file(sessions, tmp_path, cut, 4, jpeg(cropped(original, 0.08)))
    clean = await submitted(sessions, "Phạm Thị Dung", "THON2")
    await add_file(sessions, tmp_path, clean, 1, jpeg(certificate(32)), dates=["2026-06-01"])
    remove_pictures(tmp_path)  # read and hashed already: nothing is left to decode

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("a picture was decoded for the card")

    monkeypatch.setattr(Image, "open", no_decoding)
    data = bot_data(sessions, tmp_path)
    card = (await review.review_command(data, commune, ["THON1"])).screens[-1].text
    line = next(row for row in card.splitlines() if "📅 08/03/2026" in row)
    assert "⚠ trùng ảnh của" in line
    assert "Trần Thị Bình (Thôn Đông, 2026, CT 2)" in line  # re-compressed
    assert "Lê Văn Cường (Thôn Bình Vọng, 2026, CT 4)" in line  # cropped 8% off each edge

    preview = await batch_confirm.confirm_clean_command(data, commune, [])
    text = "\n".join(screen.text for screen in preview.screens)
    assert "Phạm Thị Dung" in text
    assert "Nguyễn Văn An" not in text and "Trần Thị Bình" not in text and "Lê Văn Cường" not in text
