"""evidence reading probes: the search probes of each read picture, stored when it is read

``evidence_reading.phash_probes`` holds the picture's 21 probe hashes (bot.evidence_hash, hex) so the review
card and the batch confirm search for copies from stored values instead of decoding the picture each time.
Rows read before this revision keep NULL: the reader fills them in from the file (hashes only, no OCR).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("evidence_reading", sa.Column("phash_probes", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("evidence_reading") as batch:
        batch.drop_column("phash_probes")
