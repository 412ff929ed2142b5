"""Integrations: a plugin, a name, its config (secret fields sealed apart) and its policy."""

from __future__ import annotations

import uuid

from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, delete, func, select, update

from gateway.store import audit_log
from gateway.store.audit_log import Entry
from gateway.store.base import Repository, dumps, loads, now, reading, writing
from gateway.store.tables import integrations
from gateway.store.wakeups import announce


@dataclass(frozen=True)
class IntegrationRow:
    id: str
    plugin: str
    name: str
    enabled: bool
    config: dict[str, Any]
    secrets: str | None
    policy: list[dict[str, Any]]
    created_at: float
    updated_at: float


def _row(row) -> IntegrationRow:
    return IntegrationRow(
        id=row.id,
        plugin=row.plugin,
        name=row.name,
        enabled=bool(row.enabled),
        config=loads(row.config) or {},
        secrets=row.secrets,
        policy=loads(row.policy) or [],
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class IntegrationStore(Repository):
    def create(self, *, plugin: str, name: str, enabled: bool, config: dict, secrets: str | None, policy: list,
               audit: Entry | None = None) -> IntegrationRow:
        """A new integration. Its id is a random UUID (122 random bits), not :func:`new_id`'s cheaper
        per-process prefix and counter: an inbound integration's id is its webhook URL, which must not
        be guessable from another's. Ids of either kind (36 characters) are read alike. ``audit``: the
        action's audit log entry (given the new id), written in the same transaction."""
        stamp = now()
        values = dict(
            id=str(uuid.uuid4()), plugin=plugin, name=name, enabled=enabled, config=dumps(config),
            secrets=secrets, policy=dumps(policy), created_at=stamp, updated_at=stamp,
        )
        with writing(self.engine) as connection:
            connection.execute(integrations.insert().values(**values))
            audit_log.write_with(connection, audit, values["id"])
        return self.get(values["id"])

    def get(self, integration_id: str) -> IntegrationRow | None:
        with reading(self.engine) as connection:
            row = connection.execute(
                select(integrations).where(integrations.c.id == integration_id)
            ).first()
        return _row(row) if row else None

    def list(self, *, enabled_only: bool = False, plugin: str | None = None) -> list[IntegrationRow]:
        query = select(integrations).order_by(integrations.c.created_at, integrations.c.id)
        if enabled_only:
            query = query.where(integrations.c.enabled.is_(True))
        if plugin:
            query = query.where(integrations.c.plugin == plugin)
        with reading(self.engine) as connection:
            return [_row(row) for row in connection.execute(query)]

    def signature(self) -> tuple:
        """A summary that changes whenever an integration is added, changed, enabled, disabled or
        removed (count, enabled count, latest and sum of the change times): one row to read where
        :meth:`list` reads them all."""
        query = select(func.count(), func.sum(case((integrations.c.enabled.is_(True), 1), else_=0)),
                       func.max(integrations.c.updated_at), func.sum(integrations.c.updated_at))
        with reading(self.engine) as connection:
            return tuple(connection.execute(query).one())

    def update(self, integration_id: str, audit: Entry | None = None, **changes: Any) -> IntegrationRow | None:
        """Change the integration; None when there is none. ``audit``: the action's audit log entry
        (given whether the integration was changed), written in the same transaction."""
        values: dict[str, Any] = {}
        for key, value in changes.items():
            values[key] = dumps(value) if key in ("config", "policy") else value
        values["updated_at"] = now()
        with writing(self.engine) as connection:
            if changes.get("enabled"):  # its held deliveries are due again
                announce(connection)
            result = connection.execute(
                update(integrations).where(integrations.c.id == integration_id).values(**values)
            )
            audit_log.write_with(connection, audit, result.rowcount > 0)
        return self.get(integration_id) if result.rowcount else None

    def delete(self, integration_id: str, audit: Entry | None = None) -> bool:
        """Remove the integration; its deliveries go with it, and it leaves the sets of skipped
        integrations it was in (its skip lines go). ``audit``: the action's audit log entry (given
        whether the integration was removed), written in the same transaction."""
        from gateway.store.skips import forget_integration

        with writing(self.engine) as connection:
            forget_integration(connection, integration_id)
            result = connection.execute(delete(integrations).where(integrations.c.id == integration_id))
            audit_log.write_with(connection, audit, result.rowcount > 0)
        return bool(result.rowcount)
