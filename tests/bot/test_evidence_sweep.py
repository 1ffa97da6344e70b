"""``cdht evidence sweep`` and the sweep behind it, on both databases: what no row points to goes, what a row
points to stays, a temporary file goes only when stale, and nothing outside the evidence layout is touched."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bot import evidence as ev
from bot.cli import main
from storage import repo_assessments as ra
from storage import repo_people as rp
from storage.db import Sessions, unit_of_work
from storage.models import Evidence


async def _rows(sessions: Sessions, paths: list[str]) -> None:
    async with unit_of_work(sessions) as s:
        person = await rp.create_person(session=s, channel="telegram", external_id="1", chat_id="1", locale="vi")
        assessment = await ra.open_assessment(session=s, person=person, year=2026, step="evidence")
        for n, path in enumerate(paths):
            await ra.add_evidence(
                session=s,
                evidence=Evidence(
                    assessment_id=assessment.id or 0,
                    indicator=1,
                    kind="photo",
                    file_id=f"f{n}",
                    file_unique_id=f"u{n}",
                    mime_type="image/jpeg",
                    size=1,
                    sha256="0" * 64,
                    path=path,
                ),
            )


def _write(root: Path, relative: str, *, age: float = 0) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    if age:
        os.utime(path, (time.time() - age, time.time() - age))
    return path


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


async def test_sweep_removes_only_what_no_row_wants(sessions: Sessions, tmp_path: Path) -> None:
    root = tmp_path / "evidence"
    await _rows(sessions, ["2026/1/1/Ukept.jpg", "2026/1/2/Ulost.jpg"])
    _write(root, "2026/1/1/Ukept.jpg")
    _write(root, "2026/1/1/Uorphan.jpg")  # a row that never committed, under the old scheme
    _write(root, "2026/9/3/Uerased.png")  # an assessment erased before its file
    _write(root, "2026/1/1/Ufresh.0a0b0c0d.part")  # a download in progress
    _write(root, "2026/1/1/Ustale.0a0b0c0d.part", age=2 * ev.STALE_SECONDS)
    _write(root, "2026/1/2/Ulost.0a0b0c0d.part", age=2 * ev.STALE_SECONDS)  # committed, rename lost
    _write(root, "README.txt")  # not ours: the layout is <year>/<assessment>/<indicator>/<file>
    _write(root, "2026/notes/todo.txt")
    before = _files(root)

    dry = await ev.sweep(sessions, root, dry_run=True)
    assert dry == ev.SweepReport(orphans=2, stale=1, restored=1, folders=2)  # 2026/9/3 and 2026/9
    assert _files(root) == before
    assert dry.line(dry_run=True) == (
        "evidence sweep: would remove 2 orphaned files, 1 stale temporary files and 2 empty folders; "
        "would restore 1 files"
    )

    done = await ev.sweep(sessions, root)
    assert done == dry
    assert _files(root) == [
        "2026/1/1/Ufresh.0a0b0c0d.part",
        "2026/1/1/Ukept.jpg",
        "2026/1/2/Ulost.jpg",
        "2026/notes/todo.txt",
        "README.txt",
    ]
    assert not (root / "2026" / "9").exists()
    assert await ev.sweep(sessions, root) == ev.SweepReport()  # nothing left to do


async def test_sweep_refuses_when_the_database_has_no_evidence(sessions: Sessions, tmp_path: Path) -> None:
    root = tmp_path / "evidence"
    _write(root, "2026/1/1/Ua.jpg")
    with pytest.raises(ev.SweepRefused, match="check DATABASE_URL"):
        await ev.sweep(sessions, root)
    assert _files(root) == ["2026/1/1/Ua.jpg"]
    assert await ev.sweep(sessions, tmp_path / "nothing-here") == ev.SweepReport()


def test_the_command_prints_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cdht.db'}")
    monkeypatch.setenv("EVIDENCE_DIR", str(tmp_path / "evidence"))
    stale = _write(tmp_path / "evidence", "2026/1/1/Ua.0a0b0c0d.part", age=2 * ev.STALE_SECONDS)
    assert main(["evidence", "sweep", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("evidence sweep: would remove 0 orphaned files, 1 stale")
    assert stale.exists()
    assert main(["evidence", "sweep"]) == 0
    assert capsys.readouterr().out.startswith("evidence sweep: removed 0 orphaned files, 1 stale")
    assert not (tmp_path / "evidence" / "2026").exists()
    # A fresh database beside a folder full of evidence: surely the wrong one. One line, nothing removed.
    _write(tmp_path / "evidence", "2026/1/1/Ub.jpg")
    assert main(["evidence", "sweep"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and captured.err.startswith("cdht: ")
    assert (tmp_path / "evidence" / "2026/1/1/Ub.jpg").exists()
