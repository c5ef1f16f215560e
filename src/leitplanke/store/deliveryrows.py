"""The delivery tables: deployments (one row per app, environment and revision), the commits each
deployment brought, and incidents. Written by ``leitplanke.delivery``; the schema is migration
``0009_delivery``. Their own module beside ``rows`` so that change control's tables sit apart.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from leitplanke.store.rows import Row


class Deployment(Row):
    """A revision of an app observed in an environment; the same (app, env, revision) is one row, so an
    event delivered twice counts once. ``rolled_back_at``: a later deployment went back before it."""

    __tablename__ = "deployments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id"))
    env_id: Mapped[int] = mapped_column(ForeignKey("environments.id"))
    revision: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(10))  # succeeded | failed
    rollback: Mapped[bool] = mapped_column(Boolean, default=False)  # this deployment reverts earlier ones
    source: Mapped[str] = mapped_column(String(20))  # argocd | flux | ci | gitops | api
    deployed_at: Mapped[datetime]
    received_at: Mapped[datetime]
    rolled_back_at: Mapped[datetime | None]
    commits: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        UniqueConstraint("app_id", "env_id", "revision", name="uq_deployments_app_env_revision"),
        Index("ix_deployments_scope_time", "app_id", "env_id", "deployed_at"),
    )


class DeploymentCommit(Row):
    """One commit a deployment brought into its environment, with its commit time (lead time's start)."""

    __tablename__ = "deployment_commits"
    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True
    )
    sha: Mapped[str] = mapped_column(String(64), primary_key=True)
    committed_at: Mapped[datetime]


class Incident(Row):
    """A production problem of an app in an environment, opened and resolved through the API or by
    Alertmanager; ``key`` makes a notification delivered twice one incident. ``deployment_id``: the
    deployment it is attributed to (the last one live when it opened)."""

    __tablename__ = "incidents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id"))
    env_id: Mapped[int] = mapped_column(ForeignKey("environments.id"))
    title: Mapped[str] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(20))  # api | alertmanager
    opened_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    deployment_id: Mapped[int | None] = mapped_column(ForeignKey("deployments.id"))

    __table_args__ = (Index("ix_incidents_scope_time", "app_id", "env_id", "opened_at"),)
