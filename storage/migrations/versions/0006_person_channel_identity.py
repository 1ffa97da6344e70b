"""a person is (channel, external id), not a Telegram id: Zalo's ids are strings

Every person so far came from Telegram: their ``external_id`` becomes their Telegram id as text, their
``channel`` 'telegram', their chat id text too; each outbox row takes its person's channel, so the
dispatcher can pace each messenger on its own. ``display_name`` (the messenger's name for them) starts
empty and is filled on their next contact. SQLite rebuilds the tables (batch mode); storage.db.upgrade turns
key enforcement off meanwhile.

The downgrade gives Telegram people back their numeric id; it refuses while people of another messenger are
stored, since the old schema cannot hold them (erase them first: /deleteme, or by hand).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNIQUE = "uq_person_channel_external_id"


def upgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.add_column(sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column("display_name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))
    op.execute("UPDATE person SET channel = 'telegram', external_id = CAST(telegram_id AS VARCHAR(64))")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.alter_column("channel", existing_type=sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False)
        batch_op.alter_column("external_id", existing_type=sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False)
        batch_op.alter_column(
            "chat_id",
            existing_type=sa.BigInteger(),
            type_=sqlmodel.sql.sqltypes.AutoString(length=64),
            existing_nullable=True,
            postgresql_using="chat_id::varchar(64)",
        )
        batch_op.create_unique_constraint(UNIQUE, ["channel", "external_id"])
        batch_op.drop_index("ix_person_telegram_id")
        batch_op.drop_column("telegram_id")

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default="telegram")
        )
    op.execute("UPDATE outbox SET channel = (SELECT person.channel FROM person WHERE person.id = outbox.person_id)")


def downgrade() -> None:
    others = op.get_bind().execute(sa.text("SELECT count(*) FROM person WHERE channel <> 'telegram'")).scalar()
    if others:
        raise RuntimeError(
            f"{others} people reached the bot through another messenger than Telegram; the schema before 0006 "
            "cannot hold them: erase them first"
        )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("channel")

    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(sa.Column("telegram_id", sa.BigInteger(), nullable=True))
    op.execute("UPDATE person SET telegram_id = CAST(external_id AS BIGINT)")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.alter_column("telegram_id", existing_type=sa.BigInteger(), nullable=False)
        batch_op.create_index("ix_person_telegram_id", ["telegram_id"], unique=True)
        batch_op.drop_constraint(UNIQUE, type_="unique")
        batch_op.alter_column(
            "chat_id",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=64),
            type_=sa.BigInteger(),
            existing_nullable=True,
            postgresql_using="chat_id::bigint",
        )
        batch_op.drop_column("display_name")
        batch_op.drop_column("external_id")
        batch_op.drop_column("channel")
