"""evidence reading: what the evidence reader found in each stored file, and an index for exact duplicates

``evidence_reading`` holds one row per file once read (text, dates, matched indicators, image measures, a
perceptual hash cut in four indexed bands for near-copy search); files with no row are the reader's queue.
``ix_evidence_sha256`` finds exact copies of a file across people and years without a scan.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evidence_reading",
        sa.Column("evidence_id", sa.Integer(), nullable=False),
        sa.Column("reader_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("dates", sa.JSON(), nullable=False),
        sa.Column("name_found", sa.Boolean(), nullable=False),
        sa.Column("matched_indicators", sa.JSON(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("sharpness", sa.Float(), nullable=True),
        sa.Column("brightness", sa.Float(), nullable=True),
        sa.Column("phash", sa.String(length=16), nullable=True),
        sa.Column("phash_b0", sa.Integer(), nullable=True),
        sa.Column("phash_b1", sa.Integer(), nullable=True),
        sa.Column("phash_b2", sa.Integer(), nullable=True),
        sa.Column("phash_b3", sa.Integer(), nullable=True),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["evidence_id"], ["evidence.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("evidence_id"),
    )
    for band in range(4):
        op.create_index(f"ix_evidence_reading_phash_b{band}", "evidence_reading", [f"phash_b{band}"])
    op.create_index("ix_evidence_sha256", "evidence", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_evidence_sha256", table_name="evidence")
    for band in range(4):
        op.drop_index(f"ix_evidence_reading_phash_b{band}", table_name="evidence_reading")
    op.drop_table("evidence_reading")
