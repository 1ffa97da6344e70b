"""What one update owes the person, composed inside its transaction and sent only after the commit.

A handler fills a ``Plan`` while it holds the transaction (screens to show, a short toast for a pressed
button, files made for an officer, evidence to show a reviewer); the messenger's adapter sends it once the
transaction has committed, so no row lock is held over a network call and nobody is told of a change that
was rolled back. The plan is neutral: Telegram draws its screens with buttons and uploads files; Zalo draws
numbered lines and sends files as signed links (bot.telegram, bot.zalo).

Order of sending: evidence, then screens, then files (the evidence a reviewer asked for comes above the
card's choices drawn again under it; an export's file follows the line that names it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.screens import Screen


@dataclass(frozen=True)
class OutFile:
    """A file made for the person now (an export, a chart, a QR code): uploaded on Telegram, a signed link
    on Zalo (which takes no uploads); an image goes as a photo on both."""

    name: str  # shown to the person: "tong-hop-X01-2026.xlsx"
    content: bytes
    mime: str
    caption: str = ""

    @property
    def is_image(self) -> bool:
        return self.mime.startswith("image/")


@dataclass(frozen=True)
class StoredFile:
    """One evidence file as stored: Telegram re-sends its own files by ``file_id``; anything else (a Zalo
    photo shown to a Telegram reviewer, any file shown on Zalo) goes from ``path`` under EVIDENCE_DIR."""

    evidence_id: int
    kind: str  # photo | document
    channel: str  # the messenger it came from
    file_id: str
    path: str
    mime: str
    name: str | None = None


@dataclass(frozen=True)
class EvidenceSet:
    """One indicator's files, with the caption that names the indicator."""

    caption: str
    files: tuple[StoredFile, ...]


@dataclass(frozen=True)
class CommandMenu:
    """A person's own command menu, where the messenger has one (Telegram): the commands of the roles they hold,
    or none to fall back to the menu everyone has (the citizen's)."""

    channel: str
    chat_id: str
    commands: tuple[tuple[str, str], ...]  # (command, description in the person's language); () drops it


@dataclass
class Plan:
    screens: list[Screen] = field(default_factory=list)
    locale: str = "vi"  # the person's language: the adapter's own words (Zalo's reply hint) follow it
    toast: str | None = None  # Telegram: the answer to a pressed button; elsewhere a plain line before the screens
    retire_pressed: bool = False  # the pressed message's buttons are spent: remove them (Telegram)
    replace_pressed: bool = False  # the first screen redraws the pressed message (Telegram); elsewhere it is sent
    # The pressed message becomes this line, its buttons gone: the choice kept in the chat ("➡️ Bạn chọn: 10
    # điểm", Telegram). Zalo echoes a typed choice already.
    record: str | None = None
    # The first screen is a receipt ("Đã nhận: 2 ảnh"): Telegram updates the last one of this key in place while
    # it is still the latest prompt, instead of a new message each time; elsewhere it is sent.
    receipt: str | None = None
    # Several files of one album arrive as separate updates: their replies coalesce under this key (Telegram).
    coalesce: str | None = None
    notices_owed: bool = False  # outbox rows were written: wake the dispatcher once committed
    files: list[OutFile] = field(default_factory=list)
    evidence: list[EvidenceSet] = field(default_factory=list)  # only on demand: one indicator's, never with a card
    viewer_id: int | None = None  # Person.id of the officer the files are for: Zalo's signed links are bound to it
    menus: list[CommandMenu] = field(default_factory=list)  # command menus to set or drop once committed

    def say(self, text: str) -> None:
        self.screens.append(Screen(text))

    def show(self, screen: Screen) -> None:
        self.screens.append(screen)

    def attach(self, file: OutFile) -> None:
        self.files.append(file)
