"""tokens: the subject (person or workload) every token belongs to

Existing tokens get ``legacy-token:<id>``, a subject no other token has; token names become unique
per subject. Waivers keep their requester's subject (NULL for requests made before this revision).

Revision ID: 0005_subjects
Revises: 0004_audit
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_subjects"
down_revision = "0004_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject", sa.String(length=100), nullable=True))
    tokens = sa.table("api_tokens", sa.column("id", sa.Integer()), sa.column("subject", sa.String()))
    op.execute(
        tokens.update().values(subject=sa.literal("legacy-token:") + sa.cast(tokens.c.id, sa.String()))
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.alter_column("subject", existing_type=sa.String(length=100), nullable=False)
        batch_op.create_unique_constraint("uq_api_tokens_subject_name", ["subject", "name"])
    with op.batch_alter_table("waivers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("requester_subject", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("waivers", schema=None) as batch_op:
        batch_op.drop_column("requester_subject")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_constraint("uq_api_tokens_subject_name", type_="unique")
        batch_op.drop_column("subject")
