"""rounds.state and round_pairs.status: CHECK constraints admitting only the known states

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 09:00:00

The values are written out here rather than taken from ``store.states``: a revision keeps the
schema it introduced even when the enums change later (such a change gets a revision of its own).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ROUND_STATES = "state IN ('selecting', 'labelling', 'verifying', 'closed')"
ROUND_PAIR_STATUSES = "status IN ('selected', 'proposed', 'auto_accepted', 'pushed', 'adjudicating')"


@contextmanager
def foreign_keys_off_on_sqlite() -> Iterator[None]:
    """SQLite has no ALTER for constraints: batch mode copies ``rounds`` to a new table and drops
    the old one, and with foreign keys enforced that drop deletes every round's pairs (ON DELETE
    CASCADE) and clears ``labels.round_id``. Enforcement is switched off around it; the pragma
    is ignored inside a transaction, so the revisions run before this one are committed first."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    driver = bind.connection.dbapi_connection
    if driver.in_transaction:
        driver.commit()
    bind.exec_driver_sql("PRAGMA foreign_keys=OFF")
    try:
        yield
        broken = bind.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise RuntimeError(f"foreign keys broken by revision 0004: {broken[:5]}")
    finally:
        bind.exec_driver_sql("PRAGMA foreign_keys=ON")


def upgrade() -> None:
    with foreign_keys_off_on_sqlite():
        with op.batch_alter_table("rounds", schema=None) as batch_op:
            batch_op.create_check_constraint("ck_rounds_state", ROUND_STATES)
        with op.batch_alter_table("round_pairs", schema=None) as batch_op:
            batch_op.create_check_constraint("ck_round_pairs_status", ROUND_PAIR_STATUSES)


def downgrade() -> None:
    with foreign_keys_off_on_sqlite():
        with op.batch_alter_table("round_pairs", schema=None) as batch_op:
            batch_op.drop_constraint("ck_round_pairs_status", type_="check")
        with op.batch_alter_table("rounds", schema=None) as batch_op:
            batch_op.drop_constraint("ck_rounds_state", type_="check")
