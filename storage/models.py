"""All tables, in one place. Every schema change here goes with an Alembic revision in migrations/.

Steps and statuses are stored as strings by name (see conversations.flow.Step), so a reordered enum never
corrupts a stored row. Times are stored timezone-aware in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Column, Field, SQLModel

from conversations.identity import Contact


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite keeps no zone: naive values read back as UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored; use an aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def _ts(**kw: Any) -> Any:
    return Field(sa_column=Column(UTCDateTime(), **kw))


class UnitKind(StrEnum):
    PROVINCE = "province"
    COMMUNE = "commune"
    COMMUNITY = "community"  # village, residential group: a community unit
    LEARNING = "learning"  # school, office, company: a learning unit


class AssessmentStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    RETURNED = "returned"
    REVIEWED = "reviewed"
    RECOGNISED = "recognised"
    NOT_RECOGNISED = "not_recognised"
    EXPIRED = "expired"


class RoleName(StrEnum):
    ADMIN = "admin"
    OFFICER = "officer"
    REVIEWER = "reviewer"
    HEAD = "head"


class Unit(SQLModel, table=True):
    # A subtree is ``path LIKE '/1/4/%'``: PostgreSQL answers that from an index of the pattern operator class
    # whatever the database's collation (SQLite keeps a plain second index, unused).
    __table_args__ = (sa.Index("ix_unit_path_prefix", "path", postgresql_ops={"path": "varchar_pattern_ops"}),)
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True, index=True)
    name: str = Field(max_length=200)
    kind: str = Field(default=UnitKind.COMMUNITY, max_length=16)
    parent_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    path: str = Field(default="/", max_length=512, index=True)  # "/1/4/9/": ancestors for subtree queries
    headcount: int = Field(default=0)
    targets: dict[str, float] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # base pack id -> pack id to use instead in this unit (the Phụ lục IV 6/7 swap)
    pack_overrides: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts(nullable=False, default=utcnow)


class Person(SQLModel, table=True):
    """Someone who reached the bot on one messenger: a person is (channel, external id), both strings."""

    __table_args__ = (sa.UniqueConstraint("channel", "external_id", name="uq_person_channel_external_id"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)  # conversations.identity.Channel: "telegram" | "zalo"
    external_id: str = Field(max_length=64)  # the messenger's user id, as text (Telegram's numbers too)
    chat_id: str | None = Field(default=None, max_length=64)  # where to write to them; None: external_id
    # The messenger's name for them, refreshed on every contact, so officers see names rather than ids.
    display_name: str | None = Field(default=None, max_length=128)
    full_name: str | None = Field(default=None, max_length=80)
    unit_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    locale: str = Field(default="vi", max_length=8)
    consent_at: datetime | None = _ts(nullable=True)
    step: str = Field(default="consent", max_length=32)  # registration step, "ready" once registered
    rev: int = Field(default=0)  # bumped on every step change; buttons carry it so stale ones are caught
    pending_code: str | None = Field(default=None, max_length=32)  # a deep-link code waiting for consent
    reminders: bool = Field(default=True)
    blocked_at: datetime | None = _ts(nullable=True)  # the person blocked the bot: send nothing
    created_at: datetime = _ts(nullable=False, default=utcnow)

    @property
    def contact(self) -> Contact:
        return Contact(self.channel, self.external_id)


class Role(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("person_id", "unit_id", "role"),)
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", ondelete="CASCADE", index=True)
    unit_id: int | None = Field(default=None, foreign_key="unit.id")  # None: everywhere (admin)
    role: str = Field(max_length=16)
    granted_by: int | None = Field(default=None, foreign_key="person.id", ondelete="SET NULL")
    created_at: datetime = _ts(nullable=False, default=utcnow)


class Assessment(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("person_id", "year"),)
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", ondelete="CASCADE", index=True)
    unit_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    year: int = Field(index=True)
    group_code: str | None = Field(default=None, max_length=32)
    pack_id: str | None = Field(default=None, max_length=64)
    pack_version: int | None = Field(default=None)
    step: str = Field(default="group", max_length=32)
    indicator: int = Field(default=0)
    editing: bool = Field(default=False)
    rev: int = Field(default=0)
    status: str = Field(default=AssessmentStatus.DRAFT, max_length=16, index=True)
    total: int | None = Field(default=None)  # self-assessed total at submission
    reviewed_total: int | None = Field(default=None)
    recognised: bool | None = Field(default=None)
    returned_indicators: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    return_reason: str | None = Field(default=None, max_length=1000)
    submitted_at: datetime | None = _ts(nullable=True)
    reviewed_at: datetime | None = _ts(nullable=True)
    reviewed_by: int | None = Field(default=None, foreign_key="person.id", ondelete="SET NULL")
    decision_no: str | None = Field(default=None, max_length=64)
    decision_date: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts(nullable=False, default=utcnow)
    updated_at: datetime = _ts(nullable=False, default=utcnow)


class Answer(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("assessment_id", "indicator"),)
    id: int | None = Field(default=None, primary_key=True)
    assessment_id: int = Field(foreign_key="assessment.id", ondelete="CASCADE", index=True)
    indicator: int
    chosen: int | None = Field(default=None)
    reviewer_points: int | None = Field(default=None)
    reviewer_reason: str | None = Field(default=None, max_length=1000)
    updated_at: datetime = _ts(nullable=False, default=utcnow)


class Evidence(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("assessment_id", "indicator", "file_unique_id"),)
    id: int | None = Field(default=None, primary_key=True)
    assessment_id: int = Field(foreign_key="assessment.id", ondelete="CASCADE", index=True)
    indicator: int
    kind: str = Field(max_length=16)  # photo | document
    file_id: str = Field(max_length=256)
    file_unique_id: str = Field(max_length=64)
    file_name: str | None = Field(default=None, max_length=255)
    mime_type: str = Field(max_length=128)
    size: int
    sha256: str = Field(max_length=64, index=True)
    path: str = Field(max_length=512)
    media_group_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = _ts(nullable=False, default=utcnow)


class AuditEvent(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    actor_id: int | None = Field(default=None, foreign_key="person.id", ondelete="SET NULL", index=True)
    assessment_id: int | None = Field(default=None, foreign_key="assessment.id", ondelete="CASCADE", index=True)
    action: str = Field(max_length=32)
    indicator: int | None = Field(default=None)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    reason: str | None = Field(default=None, max_length=1000)
    at: datetime = _ts(nullable=False, default=utcnow)


class OutboxStatus(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    SENT = "sent"
    FAILED = "failed"
    BLOCKED = "blocked"
    CANCELLED = "cancelled"


class Outbox(SQLModel, table=True):
    """A message owed to one person: reminders, notices and broadcasts. Unique per person, kind, cycle."""

    __table_args__ = (
        sa.UniqueConstraint("person_id", "kind", "cycle"),
        sa.Index("ix_outbox_due", "status", "due_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", ondelete="CASCADE", index=True)
    # The person's messenger, copied when the row is written, so the dispatcher paces each channel on its own.
    channel: str = Field(default="telegram", max_length=16, sa_column_kwargs={"server_default": "telegram"})
    kind: str = Field(max_length=32)
    cycle: str = Field(max_length=64)  # e.g. "2026" or "2026:d7" or "broadcast:12"
    due_at: datetime = _ts(nullable=False)
    status: str = Field(default=OutboxStatus.PENDING, max_length=16)
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, max_length=500)
    lease_until: datetime | None = _ts(nullable=True)
    claimed_by: str | None = Field(default=None, max_length=64)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    sent_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts(nullable=False, default=utcnow)


class Broadcast(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    # The officer may erase themselves (/deleteme): what was sent to others stays, without its author.
    officer_id: int | None = Field(default=None, foreign_key="person.id", ondelete="SET NULL")
    unit_id: int = Field(foreign_key="unit.id")
    text: str = Field(max_length=4000)
    status: str = Field(default="draft", max_length=16)  # draft | queued | done
    created_at: datetime = _ts(nullable=False, default=utcnow)


class RoleInvite(SQLModel, table=True):
    """A one-time link granting a role on a unit; only the SHA-256 of its token is stored."""

    __tablename__ = "role_invite"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    role: str = Field(max_length=16)
    unit_id: int = Field(sa_column=Column(sa.Integer, sa.ForeignKey("unit.id", ondelete="CASCADE"), nullable=False))
    created_by: int | None = Field(
        default=None, sa_column=Column(sa.Integer, sa.ForeignKey("person.id", ondelete="SET NULL"), nullable=True)
    )
    expires_at: datetime = _ts(nullable=False)
    used_at: datetime | None = _ts(nullable=True)
    used_by: int | None = Field(
        default=None, sa_column=Column(sa.Integer, sa.ForeignKey("person.id", ondelete="SET NULL"), nullable=True)
    )
    created_at: datetime = _ts(nullable=False, default=utcnow)
    # Set when the maker lost the right to grant it (their role was revoked): the link is void for good.
    revoked_at: datetime | None = _ts(nullable=True)


class OfficerPending(SQLModel, table=True):
    """The one typed answer an officer owes next (a reason, a decision number), so any process can take it."""

    __tablename__ = "officer_pending"
    person_id: int = Field(
        sa_column=Column(sa.Integer, sa.ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    )
    kind: str = Field(max_length=16)  # adjust | return_pick | return_reason | decision
    assessment_id: int | None = Field(
        default=None, sa_column=Column(sa.Integer, sa.ForeignKey("assessment.id", ondelete="CASCADE"), nullable=True)
    )
    unit_id: int | None = Field(
        default=None, sa_column=Column(sa.Integer, sa.ForeignKey("unit.id", ondelete="CASCADE"), nullable=True)
    )
    year: int | None = Field(default=None)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts(nullable=False, default=utcnow)


class UpdateInbox(SQLModel, table=True):
    """An incoming update, recorded before it is handled; rows not done are replayed on start (repo_inbox)."""

    __tablename__ = "update_inbox"
    __table_args__ = (
        sa.UniqueConstraint("channel", "key"),
        # "A pending update of this person received before this one" (one person's order across workers).
        sa.Index(
            "ix_update_inbox_pending_sender",
            "channel",
            "sender",
            "id",
            postgresql_where=sa.text("done_at IS NULL"),
            sqlite_where=sa.text("done_at IS NULL"),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)  # arrival order
    channel: str = Field(max_length=16)  # "telegram", later "zalo"
    key: str = Field(max_length=128)  # the messenger's id of the update (Telegram: update_id)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    received_at: datetime = _ts(nullable=False, default=utcnow)
    done_at: datetime | None = _ts(nullable=True, index=True)
    # Whose update (Telegram: the user's id, else the chat's; Zalo: the sender's); NULL in rows from before 0010.
    sender: str | None = Field(default=None, max_length=64)


class TallyCount(SQLModel, table=True):
    """One figure of one unit's year (``status:recognised``, ``points:3``, ``joined`` ...), kept by
    storage.tally_counters in the transaction of every change it counts; tallies sum these rows."""

    __tablename__ = "tally_count"
    unit_id: int = Field(sa_column=Column(sa.Integer, sa.ForeignKey("unit.id", ondelete="CASCADE"), primary_key=True))
    year: int = Field(sa_column=Column(sa.Integer, primary_key=True))
    figure: str = Field(sa_column=Column(sa.String(100), primary_key=True))
    n: int = Field(default=0, sa_column=Column(sa.Integer, nullable=False, server_default="0"))


class EvidenceReading(SQLModel, table=True):
    """What the evidence reader found in one stored file (bot.evidence_reader): one row per file once read.

    A file with no row is still waiting to be read, so the queue is ``evidence`` left-joined to this table. The
    perceptual hash is kept whole and cut in four 16-bit bands, each indexed: two hashes within Hamming
    distance 3 share at least one band exactly, so a near-copy search probes four indexes, never all pairs.
    """

    __tablename__ = "evidence_reading"
    evidence_id: int = Field(
        sa_column=Column(sa.Integer, sa.ForeignKey("evidence.id", ondelete="CASCADE"), primary_key=True)
    )
    reader_version: int = Field(default=1)
    status: str = Field(default="read", max_length=16)  # read | unreadable | failed | off
    text: str | None = Field(default=None, sa_column=Column(sa.Text, nullable=True))
    dates: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # ISO dates found
    name_found: bool = Field(default=False)
    matched_indicators: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    confidence: float | None = Field(default=None)  # mean word confidence, 0..100
    sharpness: float | None = Field(default=None)  # variance of the Laplacian: low is blurred
    brightness: float | None = Field(default=None)  # mean grey level, 0..255: low is too dark
    phash: str | None = Field(default=None, max_length=16)  # 64-bit perceptual hash, hex
    phash_b0: int | None = Field(default=None, index=True)
    phash_b1: int | None = Field(default=None, index=True)
    phash_b2: int | None = Field(default=None, index=True)
    phash_b3: int | None = Field(default=None, index=True)
    # the search probes of the picture (bot.evidence_hash), hex, computed when read so a card never decodes it;
    # None: not a picture, or read before they were stored (the reader fills them in)
    phash_probes: list[str] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True), nullable=True))
    flags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    notified_at: datetime | None = _ts(nullable=True)  # the citizen's follow-up was queued
    read_at: datetime = _ts(nullable=False, default=utcnow)
