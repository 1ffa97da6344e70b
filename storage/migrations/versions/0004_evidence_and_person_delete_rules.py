"""delete rules so a person (citizen or officer) can be erased; evidence file bookkeeping

Every foreign key that points at a person, or at an assessment (whose rows are its person's), gets the rule
that /deleteme needs: CASCADE for the person's own rows, SET NULL for history kept about others (a review,
a role granted, an audit entry, a broadcast sent: the row stays, its author is gone). role_invite and
officer_pending got their rules when 0002 created them.

0001 left these keys unnamed. PostgreSQL named them ``<table>_<column>_fkey``; on SQLite the naming
convention below gives the reflected keys the same names, so one ``drop_constraint`` serves both, and the
new keys carry those names on both backends. SQLite rebuilds each table (batch mode); storage.db.upgrade
turns key enforcement off meanwhile (a downgrade needs the same), or dropping the old ``assessment`` would
delete the rows pointing at it.

Evidence files need no schema change: a file is written under a temporary name and renamed to its final
one only after its row commits, and ``cdht evidence sweep`` removes what no row points to.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 14:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAMING = {"fk": "%(table_name)s_%(column_0_name)s_fkey"}  # PostgreSQL's own names for 0001's keys

# table -> [(column, referred table, rule)]
RULES: dict[str, list[tuple[str, str, str]]] = {
    "role": [("person_id", "person", "CASCADE"), ("granted_by", "person", "SET NULL")],
    "assessment": [("person_id", "person", "CASCADE"), ("reviewed_by", "person", "SET NULL")],
    "answer": [("assessment_id", "assessment", "CASCADE")],
    "evidence": [("assessment_id", "assessment", "CASCADE")],
    "auditevent": [("actor_id", "person", "SET NULL"), ("assessment_id", "assessment", "CASCADE")],
    "outbox": [("person_id", "person", "CASCADE")],
    "broadcast": [("officer_id", "person", "SET NULL")],
}


def _set_rules(with_rules: bool) -> None:
    for table, keys in RULES.items():
        with op.batch_alter_table(table, naming_convention=NAMING) as batch_op:
            if table == "broadcast" and with_rules:
                batch_op.alter_column("officer_id", existing_type=sa.Integer(), nullable=True)
            for column, referred, rule in keys:
                name = f"{table}_{column}_fkey"
                batch_op.drop_constraint(name, type_="foreignkey")
                batch_op.create_foreign_key(name, referred, [column], ["id"], ondelete=rule if with_rules else None)
            if table == "broadcast" and not with_rules:
                batch_op.alter_column("officer_id", existing_type=sa.Integer(), nullable=False)


def upgrade() -> None:
    _set_rules(True)


def downgrade() -> None:
    # The old schema cannot hold a broadcast without its author: those rows go.
    op.execute("DELETE FROM broadcast WHERE officer_id IS NULL")
    _set_rules(False)
