"""Copies of evidence across people and years (storage.repo_duplicates), on SQLite and PostgreSQL: a re-compressed
and a cropped copy of a generated certificate are found from either side, the same bytes are found without any
reading, different certificates are not, what a reviewer may learn follows their scope, and a search decodes no
picture (the probes are stored with the reading). Readings are set directly (hashes from bot.evidence_hash, no
OCR)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from sqlmodel import select

from bot.evidence_hash import file_hashes, probe_files
from conversations.evidence_facts import phash_bands
from storage import repo_duplicates as rd
from storage import repo_evidence_reading as rer
from storage import repo_people as rp
from storage.db import Sessions, unit_of_work
from storage.models import Assessment, Evidence, EvidenceReading, Person, Unit
from tests.fakes.certificate_images import certificate, cropped, jpeg, recompressed


@dataclass
class Desk:
    sessions: Sessions
    folder: Path
    units: dict[str, Unit]
    people: dict[str, int]
    n: int = 0

    async def file(
        self,
        who: str,
        picture: Image.Image | bytes,
        *,
        unit: str = "THON1",
        year: int = 2026,
        indicator: int = 1,
        read: bool = True,
        name_found: bool = False,
        phash: str | None = None,
        dates: list[str] | None = None,
        text: str | None = None,
        probed: bool = True,
    ) -> int:
        """Stores ``picture`` as ``who``'s evidence for ``indicator`` in ``year`` (read, unless told otherwise),
        its hash and probes as the reader stores them (no probes: read before migration 0009)."""
        self.n += 1
        data = picture if isinstance(picture, bytes) else jpeg(picture)
        path = self.folder / f"{self.n}.jpg"
        path.write_bytes(data)
        async with unit_of_work(self.sessions) as s:
            if who not in self.people:
                person = Person(channel="telegram", external_id=who, full_name=who, step="ready")
                s.add(person)
                await s.flush()
                self.people[who] = person.id or 0
            person_id = self.people[who]
            a = (
                await s.exec(select(Assessment).where(Assessment.person_id == person_id, Assessment.year == year))
            ).first()
            if a is None:
                a = Assessment(person_id=person_id, year=year, unit_id=self.units[unit].id, status="submitted")
                s.add(a)
                await s.flush()
            e = Evidence(
                assessment_id=a.id or 0,
                indicator=indicator,
                kind="photo",
                file_id=f"f{self.n}",
                file_unique_id=f"u{self.n}",
                mime_type="image/jpeg",
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                path=str(path),
            )
            s.add(e)
            await s.flush()
            if read:
                hashed = file_hashes(path)
                assert hashed is not None
                stored = phash or hashed.stored
                b0, b1, b2, b3 = phash_bands(stored)
                s.add(
                    EvidenceReading(
                        evidence_id=e.id or 0,
                        name_found=name_found,
                        dates=dates or [],
                        text=text,
                        phash=stored,
                        phash_b0=b0,
                        phash_b1=b1,
                        phash_b2=b2,
                        phash_b3=b3,
                        phash_probes=list(hashed.probes) if probed else None,
                    )
                )
            return e.id or 0

    async def copies(self, evidence_id: int) -> list[rd.Copy]:
        """The copies of one file, searched with its stored probes as the card does."""
        async with unit_of_work(self.sessions) as s:
            return (await rd.copies_of(session=s, evidence_ids=[evidence_id])).get(evidence_id, [])


@pytest.fixture
async def desk(sessions: Sessions, tmp_path: Path) -> Desk:
    async with unit_of_work(sessions) as s:
        xa1 = await rp.add_unit(session=s, code="XA1", name="Xã Văn Bình", kind="commune")
        t1 = await rp.add_unit(session=s, code="THON1", name="Thôn Bình Vọng", parent=xa1)
        t2 = await rp.add_unit(session=s, code="THON2", name="Thôn Đông", parent=xa1)
        xa2 = await rp.add_unit(session=s, code="XA2", name="Xã Bên", kind="commune")
        t3 = await rp.add_unit(session=s, code="THON3", name="Thôn Ba", parent=xa2)
        units = {u.code: u for u in (xa1, t1, t2, xa2, t3)}
    return Desk(sessions, tmp_path, units, {})


async def test_recompressed_and_cropped_copies_are_found_from_either_side(desk: Desk) -> None:
    original = certificate(7)
    mine = await desk.file("An", original)
    q30 = await desk.file("Bình", recompressed(original, 30), unit="THON2")
    crop5 = await desk.file("Cường", cropped(original, 0.05), unit="THON3")
    crop10 = await desk.file("Dung", recompressed(cropped(original, 0.10), 60))
    last_year = await desk.file("An", cropped(original, 0.07), year=2025)
    await desk.file("An", original, indicator=4)  # the same person's same year: not of interest
    for other in range(20, 26):
        await desk.file(f"Khác {other}", certificate(other))

    found = {c.evidence_id: c for c in await desk.copies(mine)}
    assert set(found) == {q30, crop5, crop10, last_year}
    assert all(not c.exact and c.bits <= rd.NEAR_BITS for c in found.values())
    assert found[q30].full_name == "Bình" and found[q30].unit_name == "Thôn Đông" and found[q30].year == 2026
    assert found[last_year].year == 2025 and found[last_year].full_name == "An"
    for copy in (q30, crop5, crop10, last_year):  # and each copy finds the original
        assert mine in {c.evidence_id for c in await desk.copies(copy)}


async def test_the_same_bytes_are_found_before_anything_is_read(desk: Desk) -> None:
    data = jpeg(certificate(3))
    mine = await desk.file("An", data, read=False)
    theirs = await desk.file("Bình", data, read=False, unit="THON3", year=2024)
    found = await desk.copies(mine)
    assert [(c.evidence_id, c.exact, c.bits, c.year) for c in found] == [(theirs, True, 0, 2024)]


async def test_different_certificates_are_not_copies(desk: Desk) -> None:
    ids = [await desk.file(f"P{seed}", certificate(seed)) for seed in range(30, 42)]
    for evidence_id in ids:
        assert await desk.copies(evidence_id) == []


async def test_look_alike_certificates_with_each_persons_name_are_dismissed(desk: Desk) -> None:
    # One course, one template: the pictures hash alike, the names on them differ (the reader found each).
    same = "8f3c0a51d2e4b697"
    near = f"{int(same, 16) ^ 0b101:016x}"  # two bits apart
    mine = await desk.file("An", certificate(50), phash=same, name_found=True)
    await desk.file("Bình", certificate(51), phash=near, name_found=True)
    reused = await desk.file("Cường", certificate(52), phash=near, name_found=False)  # An's name, not Cường's
    async with unit_of_work(desk.sessions) as s:
        found = await rd.copies_of(session=s, evidence_ids=[mine])
    assert [c.evidence_id for c in found[mine]] == [reused]


async def test_what_was_read_tells_look_alikes_from_copies(desk: Desk) -> None:
    # Pictures that hash alike (the same hash set directly): the dates and words read on them decide.
    same = "73a5c1e09b4d2f68"
    words = "giấy chứng nhận hoàn thành khóa học tin học cơ bản nguyễn văn an"
    mine = await desk.file("An", certificate(60), phash=same, dates=["2026-05-12"], text=words)
    copy = await desk.file("Bình", certificate(61), phash=same, dates=["2026-05-12"], text=words + " 12/5")
    unread_words = await desk.file("Cường", certificate(62), phash=same)  # nothing read: the hash decides
    await desk.file("Dung", certificate(63), phash=same, dates=["2026-08-01"], text=words)  # another date
    await desk.file("Em", certificate(64), phash=same, text="thẻ thư viện xã văn bình số 0042 hạn dùng 2027")
    async with unit_of_work(desk.sessions) as s:
        found = await rd.copies_of(session=s, evidence_ids=[mine])
    assert sorted(c.evidence_id for c in found[mine]) == [copy, unread_words]


def _copy(unit_path: str | None, name: str = "X") -> rd.Copy:
    return rd.Copy(1, 2, True, 0, 3, 4, name, 5, "U", unit_path, 2026, 1)


def test_visible_names_only_copies_within_the_scope() -> None:
    inside, outside = rd.visible([_copy("/1/2/", "A"), _copy("/7/8/", "B")], ["/1/"])
    assert [c.full_name for c in inside] == ["A"] and outside
    inside, outside = rd.visible([_copy("/1/2/", "A")], ["/1/2/"])
    assert len(inside) == 1 and not outside
    inside, outside = rd.visible([_copy("/12/", "A"), _copy(None, "B")], ["/1/"])
    assert inside == [] and outside  # "/12/" is not under "/1/"; a copy with no unit is outside every scope
    inside, outside = rd.visible([_copy("/12/", "A")], None)  # an admin's scope is everywhere
    assert len(inside) == 1 and not outside


async def test_the_search_reads_stored_probes_and_decodes_no_picture(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = certificate(8)
    mine = await desk.file("An", original)
    q30 = await desk.file("Bình", recompressed(original, 30), unit="THON2")
    crop8 = await desk.file("Cường", cropped(original, 0.08), unit="THON3")
    for path in desk.folder.glob("*.jpg"):
        path.unlink()  # nothing left to decode

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("a picture was decoded during a search")

    monkeypatch.setattr(Image, "open", no_decoding)
    assert {c.evidence_id for c in await desk.copies(mine)} == {q30, crop8}
    assert mine in {c.evidence_id for c in await desk.copies(crop8)}


async def test_a_picture_read_before_its_probes_were_stored_gets_them_from_its_file(desk: Desk) -> None:
    # Read before migration 0009: only its stored hash is searched (re-compressed copies, not cropped ones)
    # until the reader stores its probes from the file, once.
    original = certificate(9)
    mine = await desk.file("An", original, probed=False)
    q30 = await desk.file("Bình", recompressed(original, 30), unit="THON2")
    crop8 = await desk.file("Cường", cropped(original, 0.08), unit="THON3")
    assert {c.evidence_id for c in await desk.copies(mine)} == {q30}

    async with unit_of_work(desk.sessions) as s:
        older = await rer.unprobed(session=s, limit=10)
    assert [evidence_id for evidence_id, _ in older] == [mine]
    probes = probe_files({evidence_id: Path(path) for evidence_id, path in older})
    async with unit_of_work(desk.sessions) as s:
        await rer.store_probes(session=s, probes=probes)
        assert await rer.unprobed(session=s, limit=10) == []
    assert {c.evidence_id for c in await desk.copies(mine)} == {q30, crop8}
