"""Signed file links (bot.file_links), on both databases: a link serves its bytes to whoever holds it for 24
hours, while its officer holds a role and its evidence row is there; a forged, altered, expired, revoked or
deleted one is the same empty 403; the sweep removes only files no link can reach."""

from __future__ import annotations

import io
import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import pytest
from PIL import Image
from pydantic import ValidationError

from bot import file_links as fl
from bot.file_links import FileLinks
from bot.replies import OutFile, StoredFile
from bot.settings import Settings
from bot.web import build_web_app
from conversations.identity import Contact
from storage import repo_assessments as ra
from storage import repo_people as rp
from storage import repo_roles as rr
from storage.db import Sessions, unit_of_work
from storage.models import Evidence
from tests.bot.harness import Clock, make_settings

BASE = "https://bot.example.org"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NAME = "Tổng hợp Đồng Tâm 2026.xlsx"
START = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 8), (10, 200, 30)).save(buf, "PNG")
    return buf.getvalue()


@dataclass
class World:
    sessions: Sessions
    settings: Settings
    clock: Clock
    links: FileLinks
    http: httpx.AsyncClient
    officer_id: int
    evidence: StoredFile
    photo: bytes

    async def get(self, url: str) -> httpx.Response:
        assert url.startswith(BASE + "/files/"), url
        return await self.http.get(urlsplit(url).path)


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"public_base_url": BASE, "files_dir": tmp_path / "files"} | overrides
    return make_settings(tmp_path / "evidence", **values)


async def _officer(sessions: Sessions, external_id: str, role: str = "officer") -> int:
    async with unit_of_work(sessions) as s:
        unit = await rp.find_unit(session=s, code="X01") or await rp.add_unit(session=s, code="X01", name="Xã Một")
        person = await rp.create_person(
            session=s, channel="zalo", external_id=external_id, chat_id=external_id, locale="vi"
        )
        await rr.grant(session=s, person=person, role=role, unit=unit)
        assert person.id is not None
        return person.id


async def _evidence(sessions: Sessions, root: Path, content: bytes) -> StoredFile:
    """A citizen's photo, stored as the bot stores one, and the StoredFile a review plan would carry."""
    path = "2026/1/3/AgADphoto.jpg"
    async with unit_of_work(sessions) as s:
        citizen = await rp.create_person(
            session=s, channel="zalo", external_id="citizen-1", chat_id="citizen-1", locale="vi"
        )
        assessment = await ra.open_assessment(session=s, person=citizen, year=2026, step="evidence")
        row = Evidence(
            assessment_id=assessment.id or 0,
            indicator=3,
            kind="photo",
            file_id="zalo-photo",
            file_unique_id="AgADphoto",
            file_name="ảnh giấy khen.jpg",
            mime_type="image/jpeg",
            size=len(content),
            sha256="0" * 64,
            path=path,
        )
        await ra.add_evidence(session=s, evidence=row)
        assert row.id is not None
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_bytes(content)
    return StoredFile(row.id, "photo", "zalo", "zalo-photo", path, "image/jpeg", "ảnh giấy khen.jpg")


@pytest.fixture
async def world(sessions: Sessions, tmp_path: Path) -> Any:
    settings = settings_for(tmp_path)
    clock = Clock(START)
    links = FileLinks(settings, sessions, clock=clock)
    officer_id = await _officer(sessions, "officer-1")
    photo = b"\xff\xd8\xff\xe0 a citizen's certificate"
    evidence = await _evidence(sessions, settings.evidence_dir, photo)
    app = build_web_app([links.route()])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield World(sessions, settings, clock, links, http, officer_id, evidence, photo)


def _token(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[1]


def _assert_refused(answer: httpx.Response) -> None:
    assert answer.status_code == 403
    assert answer.content == b""
    assert "content-disposition" not in answer.headers and "content-type" not in answer.headers
    assert answer.headers["cache-control"] == "private, no-store"


# --------------------------------------------------------------------------- serving


async def test_a_chart_is_served_inline_with_its_bytes_and_private_headers(world: World) -> None:
    content = png()
    url = world.links.file_url(OutFile("biểu đồ X01.png", content, "image/png"), officer_id=world.officer_id)
    assert len(url) < 200  # fits a Zalo message with room to spare
    answer = await world.get(url)
    assert answer.status_code == 200
    assert answer.content == content
    assert answer.headers["content-type"] == "image/png"
    assert answer.headers["content-disposition"].startswith("inline; ")
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "private, no-store"
    assert answer.headers["referrer-policy"] == "no-referrer"
    # The name shown is never a name on disk: one random name, nothing else.
    [stored] = os.listdir(world.settings.files_dir)
    assert "X01" not in stored and stored.endswith(".file") and stored.split(".")[0] in url


async def test_an_export_is_an_attachment_under_its_vietnamese_name(world: World) -> None:
    content = b"PK\x03\x04 an export"
    url = world.links.file_url(OutFile(NAME, content, XLSX), officer_id=world.officer_id)
    answer = await world.get(url)
    assert answer.status_code == 200 and answer.content == content
    assert answer.headers["content-type"] == XLSX
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="Tong_hop_Dong_Tam_2026.xlsx"; ')
    encoded = disposition.split("filename*=", 1)[1]
    assert encoded.startswith("UTF-8''") and encoded.isascii()
    assert unquote(encoded.removeprefix("UTF-8''"), encoding="utf-8") == NAME


def test_a_name_cannot_break_the_header() -> None:
    header = fl.content_disposition("attachment", 'a"b\r\nSet-Cookie: x=1/..\\c.pdf')
    assert "\r" not in header and "\n" not in header
    ascii_part = header.split("; ")[1]
    assert ascii_part.count('"') == 2 and "/" not in ascii_part and "\\" not in ascii_part


async def test_evidence_is_served_from_evidence_dir_without_a_copy(world: World) -> None:
    url = world.links.evidence_url(world.evidence, officer_id=world.officer_id)
    answer = await world.get(url)
    assert answer.status_code == 200 and answer.content == world.photo
    assert answer.headers["content-type"] == "image/jpeg"
    assert "filename*=UTF-8''%E1%BA%A3nh%20gi%E1%BA%A5y%20khen.jpg" in answer.headers["content-disposition"]
    assert not world.settings.files_dir.exists()


async def test_a_link_still_works_at_the_last_second_and_not_after(world: World) -> None:
    url = world.links.file_url(OutFile("a.png", png(), "image/png"), officer_id=world.officer_id)
    evidence = world.links.evidence_url(world.evidence, officer_id=world.officer_id)
    world.clock.now = START + fl.VALID_FOR - timedelta(seconds=1)
    assert (await world.get(url)).status_code == 200
    assert (await world.get(evidence)).status_code == 200
    world.clock.now = START + fl.VALID_FOR
    _assert_refused(await world.get(url))
    _assert_refused(await world.get(evidence))


# --------------------------------------------------------------------------- refusing


def _bump(number: str) -> str:
    return str(int(number) + 1)


def _flip(text: str, at: int) -> str:
    at %= len(text)
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]


_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _padding_bit(mac: str) -> str:
    """The same 32 bytes spelled otherwise: the last character's lowest bit is padding."""
    return mac[:-1] + _B64[_B64.index(mac[-1]) ^ 1]


Parts = list[str]
ALTERATIONS = {
    "kind": lambda p, other: ["e" if p[0] == "f" else "f", *p[1:]],
    "reference": lambda p, other: [p[0], _flip(p[1], 0) if p[0] == "f" else _bump(p[1]), *p[2:]],
    "another officer": lambda p, other: [*p[:2], str(other), *p[3:]],
    "expiry": lambda p, other: [*p[:3], _bump(p[3]), p[4]],
    "expiry with a leading zero": lambda p, other: [*p[:3], "0" + p[3], p[4]],
    "mac first": lambda p, other: [*p[:4], _flip(p[4], 0)],
    "mac last": lambda p, other: [*p[:4], _flip(p[4], -1)],
    "mac padding bit": lambda p, other: [*p[:4], _padding_bit(p[4])],
    "mac cut": lambda p, other: [*p[:4], p[4][:-1]],
    "no mac": lambda p, other: p[:4],
}


@pytest.mark.parametrize("kind", ["file", "evidence"])
@pytest.mark.parametrize("part", sorted(ALTERATIONS))
async def test_an_altered_token_is_the_same_empty_403(world: World, kind: str, part: str) -> None:
    # Another real officer with a role: putting their id in must not lend their standing to the link.
    other = await _officer(world.sessions, "officer-2")
    if kind == "file":
        url = world.links.file_url(OutFile("a.png", png(), "image/png"), officer_id=world.officer_id)
        world.links.file_url(OutFile("b.png", png(), "image/png"), officer_id=world.officer_id)  # a neighbour
    else:
        url = world.links.evidence_url(world.evidence, officer_id=world.officer_id)
    assert (await world.get(url)).status_code == 200
    token = _token(url)
    altered = ".".join(ALTERATIONS[part](token.split("."), other))
    assert altered != token
    _assert_refused(await world.http.get(f"/files/{altered}"))


@pytest.mark.parametrize("token", ["", "x", "f..1.1.", "../../etc/passwd", "e.1.1.99999999999.%00", "f." + "A" * 300])
async def test_garbage_is_the_same_empty_403(world: World, token: str) -> None:
    answer = await world.http.get(f"/files/{token}")
    assert answer.status_code in (403, 404)  # an empty token is not this route at all
    if answer.status_code == 403:
        _assert_refused(answer)


async def test_a_link_made_with_another_secret_is_refused(world: World, tmp_path: Path) -> None:
    other = FileLinks(
        settings_for(tmp_path, file_link_secret="another-secret-of-enough-length", files_dir=world.settings.files_dir),
        world.sessions,
        clock=world.clock,
    )
    _assert_refused(await world.get(other.file_url(OutFile("a.png", png(), "image/png"), officer_id=world.officer_id)))


async def test_revoking_the_officers_role_kills_their_links(world: World) -> None:
    url = world.links.file_url(OutFile(NAME, b"PK", XLSX), officer_id=world.officer_id)
    evidence = world.links.evidence_url(world.evidence, officer_id=world.officer_id)
    assert (await world.get(url)).status_code == 200
    async with unit_of_work(world.sessions) as s:
        person = await rp.get_person(session=s, channel="zalo", external_id="officer-1")
        unit = await rp.find_unit(session=s, code="X01")
        assert person is not None and await rr.revoke(session=s, person=person, role="officer", unit=unit)
    _assert_refused(await world.get(url))
    _assert_refused(await world.get(evidence))


async def test_an_admin_by_admin_ids_needs_no_role(sessions: Sessions, tmp_path: Path) -> None:
    async with unit_of_work(sessions) as s:
        admin = await rp.create_person(session=s, channel="zalo", external_id="boss", chat_id="boss", locale="vi")
        plain = await rp.create_person(session=s, channel="zalo", external_id="nobody", chat_id="nobody", locale="vi")
    assert admin.id is not None and plain.id is not None
    settings = settings_for(tmp_path, admin_ids=[Contact("zalo", "boss")])
    links = FileLinks(settings, sessions)
    app = build_web_app([links.route()])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        file = OutFile("a.png", png(), "image/png")
        assert (await http.get(urlsplit(links.file_url(file, officer_id=admin.id)).path)).status_code == 200
        _assert_refused(await http.get(urlsplit(links.file_url(file, officer_id=plain.id)).path))
        _assert_refused(await http.get(urlsplit(links.file_url(file, officer_id=plain.id + 1000)).path))


async def test_a_deleted_evidence_row_kills_its_link(world: World) -> None:
    url = world.links.evidence_url(world.evidence, officer_id=world.officer_id)
    assert (await world.get(url)).status_code == 200
    async with unit_of_work(world.sessions) as s:  # what /deleteme does
        citizen = await rp.get_person(session=s, channel="zalo", external_id="citizen-1")
        assert citizen is not None
        await rp.delete_person(session=s, person=citizen)
    _assert_refused(await world.get(url))


async def test_an_evidence_link_is_bound_to_the_file_not_only_the_row_id(world: World) -> None:
    """A row id used again for another file (SQLite reuses the highest id after a delete) serves nothing."""
    url = world.links.evidence_url(world.evidence, officer_id=world.officer_id)
    async with unit_of_work(world.sessions) as s:
        row = await s.get(Evidence, world.evidence.evidence_id)
        assert row is not None
        row.path = "2026/9/3/AgADother.jpg"
    other = world.settings.evidence_dir / "2026/9/3/AgADother.jpg"
    other.parent.mkdir(parents=True)
    other.write_bytes(b"someone else's photo")
    _assert_refused(await world.get(url))


async def test_a_swept_file_is_refused(world: World) -> None:
    url = world.links.file_url(OutFile("a.png", png(), "image/png"), officer_id=world.officer_id)
    for name in os.listdir(world.settings.files_dir):
        os.unlink(world.settings.files_dir / name)
    _assert_refused(await world.get(url))


async def test_neither_token_nor_path_is_logged(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = world.links.evidence_url(world.evidence, officer_id=world.officer_id)
    assert (await world.get(url)).status_code == 200
    _assert_refused(await world.get(url[:-3] + "AAA"))
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("bot"))  # not httpx's client
    token = _token(url)
    assert f"officer {world.officer_id}" in ours
    assert token not in ours and token.rsplit(".", 1)[1] not in ours
    assert world.evidence.path not in ours and "AgADphoto" not in ours


# --------------------------------------------------------------------------- secret, settings, route


def test_workers_with_the_same_token_agree_and_another_token_does_not(tmp_path: Path) -> None:
    one = fl.link_secret(settings_for(tmp_path, zalo_bot_token="123:zalo-token-one"))
    assert one == fl.link_secret(settings_for(tmp_path, zalo_bot_token="123:zalo-token-one"))
    assert one != fl.link_secret(settings_for(tmp_path, zalo_bot_token="123:zalo-token-two"))
    assert b"zalo-token-one" not in one
    chosen = fl.link_secret(settings_for(tmp_path, file_link_secret="chosen-secret-16-chars"))
    assert chosen == b"chosen-secret-16-chars"


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("https://bot.example.org/", "https://bot.example.org"),
        ("https://bot.example.org/cdht//", "https://bot.example.org/cdht"),
        ("http://127.0.0.1:8443", "http://127.0.0.1:8443"),
        ("", None),
    ],
)
def test_public_base_url_is_kept_without_its_trailing_slash(tmp_path: Path, given: str, kept: str | None) -> None:
    assert settings_for(tmp_path, public_base_url=given).public_base_url == kept


@pytest.mark.parametrize(
    "given", ["http://bot.example.org", "bot.example.org", "ftp://x.org", "https://", "https://x.org/?a=1"]
)
def test_public_base_url_must_be_https(tmp_path: Path, given: str) -> None:
    with pytest.raises(ValidationError, match="PUBLIC_BASE_URL"):
        settings_for(tmp_path, public_base_url=given)


def test_a_short_link_secret_is_refused_without_echoing_it(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="FILE_LINK_SECRET") as caught:
        settings_for(tmp_path, file_link_secret="short-secret")
    assert "short-secret" not in str(caught.value)


async def test_a_base_address_with_a_path_serves_under_it(sessions: Sessions, tmp_path: Path) -> None:
    officer_id = await _officer(sessions, "officer-9")
    links = FileLinks(settings_for(tmp_path, public_base_url="https://example.org/cdht/"), sessions)
    url = links.file_url(OutFile("a.png", png(), "image/png"), officer_id=officer_id)
    assert url.startswith("https://example.org/cdht/files/")
    app = build_web_app([links.route()])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://example.org") as http:
        assert (await http.get(urlsplit(url).path)).status_code == 200


# --------------------------------------------------------------------------- sweep


def test_the_sweep_removes_only_expired_files_of_ours(tmp_path: Path) -> None:
    root = tmp_path / "files"
    root.mkdir()
    now = time.time()
    day = fl.VALID_FOR.total_seconds()
    ages = {
        "AAAAAAAAAAAAAAAAAAAAAA.file": day + 120,  # no link to it is valid any more
        "BBBBBBBBBBBBBBBBBBBBBB.file": day - 120,  # its link has two minutes left
        "CCCCCCCCCCCCCCCCCCCCCC.0a1b2c3d.part": day + 120,  # a crash while writing
        "DDDDDDDDDDDDDDDDDDDDDD.0a1b2c3d.part": 5,  # being written now
        "notes.txt": day * 30,  # not ours
        "EEEEEEEEEEEEEEEEEEEEEE.file.bak": day * 30,  # not a name we make
    }
    for name, age in ages.items():
        (root / name).write_bytes(b"x")
        os.utime(root / name, (now - age, now - age))
    (root / "FFFFFFFFFFFFFFFFFFFFFF.file").mkdir()  # a folder by our pattern: left alone
    assert fl.sweep(root, now=now) == 2
    assert sorted(os.listdir(root)) == sorted(
        [
            "BBBBBBBBBBBBBBBBBBBBBB.file",
            "DDDDDDDDDDDDDDDDDDDDDD.0a1b2c3d.part",
            "notes.txt",
            "EEEEEEEEEEEEEEEEEEEEEE.file.bak",
            "FFFFFFFFFFFFFFFFFFFFFF.file",
        ]
    )
    assert fl.sweep(tmp_path / "missing", now=now) == 0


async def test_a_file_made_now_survives_the_sweep_until_its_link_expires(world: World) -> None:
    world.clock.now = datetime.now(UTC)
    url = world.links.file_url(OutFile("a.png", png(), "image/png"), officer_id=world.officer_id)
    root = world.settings.files_dir
    assert fl.sweep(root) == 0 and (await world.get(url)).status_code == 200
    assert fl.sweep(root, now=time.time() + fl.VALID_FOR.total_seconds() + 120) == 1
    assert os.listdir(root) == []
