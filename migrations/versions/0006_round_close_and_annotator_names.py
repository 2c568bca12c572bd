"""Closing rounds: late answers, the classifier a close produced, annotators' e-mails

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 09:00:00

- ``labels.late``: an answer that reached the store after its round closed; kept, never a vote.
  Every label stored before this revision counts as it did (``false``).
- ``rounds.closed_classifier_version``: the classifier version a round's close trained (or kept,
  when no label had changed). Filled for rounds closed before this revision from what their
  close recorded in ``rounds.metrics`` (``classifier.version``).
- ``annotator_names``: Label Studio's e-mail of each actor (``label-studio:<user id>``), cached.

Columns are added and dropped with plain ``ALTER TABLE`` (SQLite 3.35+ drops columns natively):
a batch rebuild of ``rounds`` would cascade to the rows that refer to it (see revision 0004).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("labels", sa.Column("late", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("rounds", sa.Column("closed_classifier_version", sa.String(length=64), nullable=True))
    op.create_table(
        "annotator_names",
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("actor"),
    )
    bind = op.get_bind()
    rounds = sa.table("rounds", sa.column("id"), sa.column("state"), sa.column("metrics", sa.JSON),
                      sa.column("closed_classifier_version"))
    closed = bind.execute(sa.select(rounds.c.id, rounds.c.metrics).where(rounds.c.state == "closed")).all()
    for round_id, metrics in closed:
        version = ((metrics or {}).get("classifier") or {}).get("version")
        if version:
            bind.execute(rounds.update().where(rounds.c.id == round_id).values(closed_classifier_version=version))


def downgrade() -> None:
    op.drop_table("annotator_names")
    op.drop_column("rounds", "closed_classifier_version")
    op.drop_column("labels", "late")
