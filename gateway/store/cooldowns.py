"""Cooldowns (``gateway.Cooldown``): an event that an integration takes with a cooldown claims the
cooldown's key for that integration, atomically, in the transaction that stores the event.

A claim is one statement, ``INSERT ... ON CONFLICT (integration_id, key) DO UPDATE ... WHERE
claimed_until <= <now>``: it inserts the key, or takes it over once the previous claim has run out,
or changes nothing, and the row it returns (or not) says which. There is no read before the write,
so two processes or nodes claiming the same key at once cannot both take it: on PostgreSQL the
second waits for the first's row lock and then sees its claim; on SQLite writers take turns. Claims
of one batch run one after the other in its transaction, so the second of two events with the same
key sees the first's claim.

A *shared* claim (``Cooldown.shared``) is refused while another integration holds the same key
too: before its claim, the claimant looks for one, under a lock on the key (PostgreSQL: a
transaction-level advisory lock; SQLite: the write lock the transaction holds), so two integrations
claiming at once cannot both take it. When a delivery fails for good, :func:`release_for_delivery`
removes the claims its event made for its integration: an action that was not done holds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Connection, and_, delete, exc, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from gateway.store.base import Repository, reading
from gateway.store.tables import cooldowns, deliveries


def utc(stamp: float) -> str:
    """A time for people, in UTC (``2026-11-28 11:14:38 UTC``)."""
    return datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class Claim:
    """A cooldown an event is to claim for an integration."""

    integration_id: str
    key: str
    seconds: float
    description: str
    shared: bool = False


@dataclass(frozen=True)
class Held:
    """A claim on a key: the event that made it, when, and until when it holds."""

    integration_id: str
    key: str
    event_id: str
    description: str
    seconds: float
    claimed_at: float
    claimed_until: float

    def taken_reason(self) -> str:
        """What a decision that made this claim says of it."""
        return f"cooldown: claimed until {utc(self.claimed_until)} ({self.seconds:g} s)"

    def refusal(self, description: str) -> str:
        """Why another event wanting the key is skipped (``description``: what that event would do)."""
        return (f"cooldown: {description or self.key} was last done for event {self.event_id} at "
                f"{utc(self.claimed_at)}; the next is allowed after {utc(self.claimed_until)} "
                f"(cooldown {self.seconds:g} s)")


_UPSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def claim(connection: Connection, wanted: Claim, event_id: str, at: float, *,
          force: bool = False) -> tuple[bool, Held]:
    """Claim ``wanted`` for ``event_id`` at time ``at``: (True, the new claim), or (False, the claim
    that still holds the key). A claim the same event holds does not hold it back (a replay of an
    event claims its key again); ``force`` takes the key whoever holds it (an override of the
    cooldown: the action happens, so the next one waits). A ``shared`` key held by another
    integration's claim holds it back too (the same event's included: one action per flag), unless
    ``force``."""
    if wanted.shared and not force:
        other = _held_elsewhere(connection, wanted, at)
        if other is not None:
            return False, other
    values = dict(integration_id=wanted.integration_id, key=wanted.key, event_id=event_id,
                  description=wanted.description, seconds=float(wanted.seconds), claimed_at=at,
                  claimed_until=at + wanted.seconds)
    insert = _UPSERTS.get(connection.dialect.name)
    if insert is not None:
        statement = insert(cooldowns).values(values)
        statement = statement.on_conflict_do_update(
            index_elements=[cooldowns.c.integration_id, cooldowns.c.key],
            set_={name: statement.excluded[name] for name in
                  ("event_id", "description", "seconds", "claimed_at", "claimed_until")},
            where=None if force else or_(cooldowns.c.claimed_until <= at, cooldowns.c.event_id == event_id),
        ).returning(cooldowns.c.event_id)
        took = connection.execute(statement).first() is not None
    else:  # a database without INSERT ... ON CONFLICT: take over a run-out claim, else insert
        free = [] if force else [or_(cooldowns.c.claimed_until <= at, cooldowns.c.event_id == event_id)]
        took = bool(connection.execute(update(cooldowns).where(and_(
            cooldowns.c.integration_id == wanted.integration_id, cooldowns.c.key == wanted.key,
            *free)).values(values)).rowcount)
        if not took:
            try:
                with connection.begin_nested():
                    connection.execute(cooldowns.insert().values(values))
                took = True
            except exc.IntegrityError:  # held (by a claim committed meanwhile, perhaps)
                took = False
    if took:
        return True, Held(**values)
    return False, _held(connection, wanted.integration_id, wanted.key)


def _held_elsewhere(connection: Connection, wanted: Claim, at: float) -> Held | None:
    """The claim another integration holds on ``wanted.key`` at ``at``, taken under a lock on the key."""
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(func.hashtextextended("cooldown:" + wanted.key, 0))))
    row = connection.execute(select(cooldowns).where(and_(
        cooldowns.c.key == wanted.key, cooldowns.c.integration_id != wanted.integration_id,
        cooldowns.c.claimed_until > at)).order_by(cooldowns.c.claimed_until.desc()).limit(1)).first()
    return Held(**row._mapping) if row else None


def release_for_delivery(connection: Connection, delivery_id: str) -> None:
    """Remove the claims the delivery's event made for the delivery's integration (it failed for good)."""
    row = connection.execute(select(deliveries.c.integration_id, deliveries.c.event_id)
                             .where(deliveries.c.id == delivery_id)).first()
    if row is not None:
        connection.execute(delete(cooldowns).where(and_(cooldowns.c.integration_id == row.integration_id,
                                                        cooldowns.c.event_id == row.event_id)))


def _held(connection: Connection, integration_id: str, key: str) -> Held:
    row = connection.execute(select(cooldowns).where(and_(
        cooldowns.c.integration_id == integration_id, cooldowns.c.key == key))).first()
    return Held(**row._mapping)


class CooldownStore(Repository):
    """Reading the claims (what an explanation shows; claims are made by the event store)."""

    def current(self, integration_id: str, key: str, at: float, shared: bool = False) -> Held | None:
        """The claim holding ``key`` for the integration at ``at`` (``shared``: for any integration), if any."""
        whose = cooldowns.c.integration_id == integration_id
        with reading(self.engine) as connection:
            row = connection.execute(select(cooldowns).where(and_(
                cooldowns.c.key == key, cooldowns.c.claimed_until > at, *(() if shared else (whose,))))
                .order_by(cooldowns.c.claimed_until.desc()).limit(1)).first()
        return Held(**row._mapping) if row else None

    def for_integration(self, integration_id: str) -> list[Held]:
        """Every claim of the integration, running or run out, by key."""
        with reading(self.engine) as connection:
            rows = connection.execute(select(cooldowns).where(cooldowns.c.integration_id == integration_id)
                                      .order_by(cooldowns.c.key)).all()
        return [Held(**row._mapping) for row in rows]
