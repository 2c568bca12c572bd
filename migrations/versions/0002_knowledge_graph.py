"""knowledge graph: item_entities

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 03:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "item_entities",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["entity_id"], ["items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("item_id", "entity_id"),
    )
    with op.batch_alter_table("item_entities", schema=None) as batch_op:
        batch_op.create_index("ix_item_entities_entity", ["entity_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("item_entities", schema=None) as batch_op:
        batch_op.drop_index("ix_item_entities_entity")
    op.drop_table("item_entities")
