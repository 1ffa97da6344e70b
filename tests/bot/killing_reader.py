"""A reading that kills its own child process, for tests/bot/test_evidence_reader.py: the reader's child is spawned
and imports the function it runs by name, so it lives in this small module (the test module's imports, heavier,
would be imported again in every child)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from bot import evidence_reader as er

READ_FILE = er.read_file  # in each child read_file is the real one; in the tests' process it is patched to below


def read_or_die(path: Path, mime_type: str) -> er.Raw:
    """``read_file``, except that it kills its own process as the OOM killer would when a marker lies next to the
    file: "<file>.kill-once" (taken away first, so the next reading lives) or "<file>.kill-always"; and
    "<file>.raise" fails the reading on its own."""
    once = path.with_name(path.name + ".kill-once")
    if once.exists():
        once.unlink()
        os.kill(os.getpid(), signal.SIGKILL)
    if path.with_name(path.name + ".kill-always").exists():
        os.kill(os.getpid(), signal.SIGKILL)
    if path.with_name(path.name + ".raise").exists():
        raise ValueError("a reading that fails on its own")
    return READ_FILE(path, mime_type)
