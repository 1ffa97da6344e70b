"""tally counters: each unit's yearly figures kept as they change, filled here from the stored rows

``tally_count`` holds one number per (unit, year, figure) (see storage.tally_counters), summed over a subtree
found by path prefix (``ix_unit_path_prefix``, range-scanned by PostgreSQL in any collation); the upgrade counts
every assessment, answer, evidence file and consented person already stored, with the counting code of this
revision (``rebuild_sync``, the same as ``cdht tally rebuild``). A later change to what is counted brings its
own migration that rebuilds.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tally_count",
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("figure", sa.String(length=100), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False, server_default="0"),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("unit_id", "year", "figure"),
    )
    # Subtrees are read by path prefix: an index PostgreSQL can range-scan for LIKE '/1/4/%' in any collation.
    op.create_index("ix_unit_path_prefix", "unit", ["path"], postgresql_ops={"path": "varchar_pattern_ops"})
    from storage.tally_counters import rebuild_sync  # the counting code, at this revision

    rebuild_sync(op.get_bind())


def downgrade() -> None:
    op.drop_table("tally_count")
    op.drop_index("ix_unit_path_prefix", table_name="unit")
