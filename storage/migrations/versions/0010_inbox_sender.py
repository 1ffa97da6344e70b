"""inbox sender: whose update each inbox row is, so one person's updates keep their order across workers

``update_inbox.sender`` is the messenger's id of the person who sent the update (Telegram: the user, else the
chat; Zalo: the sender), and ``ix_update_inbox_pending_sender`` finds "a pending update of this person received
before this one" without reading done rows (partial: only rows not done, on both backends). Rows recorded
before this revision keep NULL and never hold anyone back.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("done_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("update_inbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sender", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.create_index(
            "ix_update_inbox_pending_sender",
            ["channel", "sender", "id"],
            unique=False,
            postgresql_where=PENDING,
            sqlite_where=PENDING,
        )


def downgrade() -> None:
    with op.batch_alter_table("update_inbox", schema=None) as batch_op:
        batch_op.drop_index("ix_update_inbox_pending_sender")
        batch_op.drop_column("sender")
