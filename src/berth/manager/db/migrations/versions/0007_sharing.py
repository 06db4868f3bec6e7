"""shared fairly: resource policies, presets, group settings and access, session priority,
cluster secrets, agent info

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GLOBAL_PRESET = sa.text("resource_group IS NULL")
#: Heartbeats (status changes since the last beat) and every sort key of the session list.
SESSION_INDEXES = {
    "ix_sessions_status_changed": ["status_changed_at"],
    "ix_sessions_name_created": ["name", "created_at"],
    "ix_sessions_status_created": ["status", "created_at"],
    "ix_sessions_type_created": ["type", "created_at"],
    "ix_sessions_image_created": ["image", "created_at"],
    "ix_sessions_started_created": ["started_at", "created_at"],
    "ix_sessions_agent_created": ["agent_id", "created_at"],
    "ix_sessions_creator_created": ["creator_id", "created_at"],
    "ix_sessions_created": ["created_at"],
}


def upgrade() -> None:
    op.create_table(
        "resource_policies",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=256), nullable=False),
        sa.Column("total_slots", sa.JSON(), nullable=False),
        sa.Column("max_concurrent_sessions", sa.Integer(), nullable=True),
        sa.Column("max_pending_sessions", sa.Integer(), nullable=True),
        sa.Column("max_containers_per_session", sa.Integer(), nullable=True),
        sa.Column("max_session_lifetime", sa.Integer(), nullable=True),
        sa.Column("idle_timeout", sa.Integer(), nullable=True),
        sa.Column("max_folders", sa.Integer(), nullable=True),
        sa.Column("max_customized_images", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resource_policy", sa.String(length=64), nullable=True))
        batch_op.create_foreign_key("fk_users_resource_policy", "resource_policies",
                                    ["resource_policy"], ["name"])
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("description", sa.String(length=256), nullable=False,
                                      server_default=""))
        batch_op.add_column(sa.Column("is_active", sa.Boolean(), nullable=False,
                                      server_default=sa.true()))
        batch_op.add_column(sa.Column("resource_policy", sa.String(length=64), nullable=True))
        batch_op.create_foreign_key("fk_projects_resource_policy", "resource_policies",
                                    ["resource_policy"], ["name"])
    with op.batch_alter_table("resource_groups", schema=None) as batch_op:
        batch_op.add_column(sa.Column("is_active", sa.Boolean(), nullable=False,
                                      server_default=sa.true()))
        batch_op.add_column(sa.Column("scheduler", sa.String(length=8), nullable=False,
                                      server_default="fifo"))
        batch_op.add_column(sa.Column("agent_selection", sa.String(length=16), nullable=False,
                                      server_default="dispersed"))
        batch_op.add_column(sa.Column("allowed_session_types", sa.JSON(), nullable=False,
                                      server_default='["interactive", "batch"]'))
        batch_op.add_column(sa.Column("pending_timeout", sa.Integer(), nullable=False,
                                      server_default="0"))
        batch_op.add_column(sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                                      server_default=sa.func.current_timestamp()))
    op.create_table(
        "resource_group_projects",
        sa.Column("resource_group", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(["resource_group"], ["resource_groups.name"]),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.PrimaryKeyConstraint("resource_group", "project_id"),
    )
    op.create_index("ix_resource_group_projects_project_id", "resource_group_projects",
                    ["project_id"])
    op.create_table(
        "resource_group_users",
        sa.Column("resource_group", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(["resource_group"], ["resource_groups.name"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("resource_group", "user_id"),
    )
    op.create_index("ix_resource_group_users_user_id", "resource_group_users", ["user_id"])
    op.create_table(
        "resource_presets",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("resource_group", sa.String(length=64), nullable=True),
        sa.Column("slots", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["resource_group"], ["resource_groups.name"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("uq_resource_presets_global_name", "resource_presets", ["name"],
                    unique=True, sqlite_where=GLOBAL_PRESET, postgresql_where=GLOBAL_PRESET)
    op.create_index("uq_resource_presets_group_name", "resource_presets",
                    ["resource_group", "name"], unique=True)
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("info", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("schedulable", sa.Boolean(), nullable=False,
                                      server_default=sa.true()))
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority", sa.Integer(), nullable=False,
                                      server_default="10"))
        batch_op.add_column(sa.Column("cluster_secret", sa.Text(), nullable=True))
        batch_op.create_index("ix_sessions_queue",
                              ["status", "resource_group", "priority", "created_at"])
        for name, columns in SESSION_INDEXES.items():
            batch_op.create_index(name, columns)


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        for name in SESSION_INDEXES:
            batch_op.drop_index(name)
        batch_op.drop_index("ix_sessions_queue")
        batch_op.drop_column("cluster_secret")
        batch_op.drop_column("priority")
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_column("schedulable")
        batch_op.drop_column("info")
    op.drop_index("uq_resource_presets_group_name", table_name="resource_presets")
    op.drop_index("uq_resource_presets_global_name", table_name="resource_presets")
    op.drop_table("resource_presets")
    op.drop_index("ix_resource_group_users_user_id", table_name="resource_group_users")
    op.drop_table("resource_group_users")
    op.drop_index("ix_resource_group_projects_project_id", table_name="resource_group_projects")
    op.drop_table("resource_group_projects")
    with op.batch_alter_table("resource_groups", schema=None) as batch_op:
        for column in ("created_at", "pending_timeout", "allowed_session_types",
                       "agent_selection", "scheduler", "is_active"):
            batch_op.drop_column(column)
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_constraint("fk_projects_resource_policy", type_="foreignkey")
        for column in ("resource_policy", "is_active", "description"):
            batch_op.drop_column(column)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint("fk_users_resource_policy", type_="foreignkey")
        batch_op.drop_column("resource_policy")
    op.drop_table("resource_policies")
