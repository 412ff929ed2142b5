"""Skip decisions, stored compactly and read back one line per integration.

An event's skips are written as one ``skips`` row per distinct reason, naming an
:class:`IntegrationSet`; a set's members are written once, the first time the set is used, and
shared by every later event skipped for the same integrations. Reading expands them: each member
becomes one skipped decision, shown like any delivery (a :class:`~gateway.store.deliveries.DeliveryRow`
with status ``skipped``, no attempts, and the id ``<event id>.<integration id>``). A delivery row for
the same event and integration (a replay of the skipped event) takes the place of the skip line.

Policy denials are recorded as one ``skips`` row per event, however many policies denied it: its
set (:meth:`IntegrationSet.denied`) names each member with the policy revision that denied it
(``policy_revisions``, kept by content). A denial follows from the event and the policy alone, so
its reason is not stored: reading evaluates the revision on the stored event
(:func:`denial_reasons`), which gives the reason the engine gave when the event arrived (for a
revision of allow statements only, read from the statements without compiling them:
:func:`~gateway.policy.denial_explainer`).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection, Float, Integer, String, Text, and_, case, cast, exists, literal, null, select,
)
from sqlalchemy.dialects import postgresql, sqlite

from gateway.policy import denial_explainer
from gateway.policy.errors import PolicyError
from gateway.store.base import loads
from gateway.store.tables import deliveries, events, integration_set_members, integration_sets, integrations, policy_revisions, skips

SEPARATOR = "."
"""Between the event id and the integration id in a skip line's id (neither id contains it)."""

KNOWN_TTL_SECONDS = 600.0
"""How long a process takes a set it wrote as still stored, without writing it again. Pruning
(:func:`prune_sets`) removes only sets unused for much longer than this."""

SET_GRACE_SECONDS = 86400.0
"""Pruning leaves sets created within this time, whatever the retention period."""


POLICY_DENIAL = "denied by its policy"
"""The reason stored on a skip row of policy denials (each member's own reason is read from its
policy revision; this one stands in should that revision be gone)."""

_POLICY_MARK = "\x1fpolicy:"
"""Starts the reason column of a denial line read from the database, followed by the revision id
(:func:`denial_reasons` reads the reason in its place). A stored reason never starts with it: every
reason a skip row stores begins with words of the gateway's."""


def revision_id(policy_json: str) -> str:
    """The id of a policy revision: a digest of its canonical JSON."""
    return hashlib.blake2b(policy_json.encode(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class IntegrationSet:
    """Integrations (id, plugin) that one skip row names. ``id`` is a digest of the sorted ids, so
    that the same integrations always make the same set. A set of policy denials also names, for
    each member, the policy revision that denied it (``policies``, in the order of ``members``) and
    carries those revisions' JSON (``revisions``: (id, JSON)), stored with the set."""

    id: str
    members: tuple[tuple[str, str], ...]
    policies: tuple[str, ...] = ()
    revisions: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, members: Iterable[tuple[str, str]]) -> IntegrationSet:
        ordered = tuple(sorted(set(members)))
        digest = hashlib.blake2b("\n".join(i for i, _ in ordered).encode(), digest_size=16).hexdigest()
        return cls(digest, ordered)

    @classmethod
    def denied(cls, members: Iterable[tuple[str, str, str]], revisions: dict[str, str]) -> IntegrationSet:
        """The set of integrations (id, plugin, policy revision id) that their policies denied;
        ``revisions`` maps each revision id to its JSON."""
        ordered = sorted(set(members))
        text = "policy\n" + "\n".join(f"{i} {p}" for i, _, p in ordered)
        digest = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
        used = sorted({p for _, _, p in ordered})
        return cls(digest, tuple((i, plugin) for i, plugin, _ in ordered), tuple(p for _, _, p in ordered),
                   tuple((p, revisions[p]) for p in used))


@dataclass(frozen=True)
class SkipGroup:
    """Integrations skipped for one event with one reason."""

    reason: str
    members: IntegrationSet


class KnownSets:
    """The sets this process has seen committed recently (written again after
    :data:`KNOWN_TTL_SECONDS`, a no-op when they are still there), and the sets made from the same
    member tuples (so that building one costs a dictionary look-up)."""

    def __init__(self, capacity: int = 4096):
        self._lock = threading.Lock()
        self._known: dict[str, float] = {}
        self._made: OrderedDict[tuple, IntegrationSet] = OrderedDict()
        self._capacity = capacity

    def make(self, members: tuple[tuple[str, str], ...]) -> IntegrationSet:
        with self._lock:
            found = self._made.get(members)
            if found is not None:
                self._made.move_to_end(members)
                return found
        made = IntegrationSet.of(members)
        with self._lock:
            self._made[members] = made
            if len(self._made) > self._capacity:
                self._made.popitem(last=False)
        return made

    def unknown(self, sets: Iterable[IntegrationSet]) -> list[IntegrationSet]:
        stamp = time.monotonic()
        with self._lock:
            return [s for s in sets if stamp - self._known.get(s.id, -KNOWN_TTL_SECONDS) >= KNOWN_TTL_SECONDS]

    def committed(self, sets: Iterable[IntegrationSet]) -> None:
        stamp = time.monotonic()
        with self._lock:
            for s in sets:
                self._known[s.id] = stamp
            if len(self._known) > 4 * self._capacity:
                self._known = {k: v for k, v in self._known.items() if stamp - v < KNOWN_TTL_SECONDS}

    def forget(self) -> None:
        with self._lock:
            self._known.clear()


_DIALECT_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
_ignoring: dict[tuple[str, str], Any] = {}


def insert_ignoring_duplicates(connection: Connection, table):
    """``INSERT ... ON CONFLICT DO NOTHING`` into ``table`` (built once per database kind; building
    a statement costs more than running it), or None where the database has no such statement."""
    key = (connection.dialect.name, table.name)
    statement = _ignoring.get(key)
    if statement is None and key[0] in _DIALECT_INSERTS:
        statement = _ignoring[key] = _DIALECT_INSERTS[key[0]](table).on_conflict_do_nothing()
    return statement


def write_sets(connection: Connection, sets: Sequence[IntegrationSet], stamp: float) -> None:
    """Store ``sets`` (with their members) that may already be stored: one statement per table."""
    if not sets:
        return
    _write_revisions(connection, {rid: text for s in sets for rid, text in s.revisions}, stamp)
    statement = insert_ignoring_duplicates(connection, integration_sets)
    if statement is None:  # another database: look first
        present = set(connection.execute(select(integration_sets.c.id).where(
            integration_sets.c.id.in_([s.id for s in sets]))).scalars())
        sets = [s for s in sets if s.id not in present]
        if not sets:
            return
        statement, members_statement = integration_sets.insert(), integration_set_members.insert()
    else:
        members_statement = insert_ignoring_duplicates(connection, integration_set_members)
    connection.execute(statement, [dict(id=s.id, size=len(s.members), created_at=stamp) for s in sets])
    connection.execute(members_statement, [
        dict(set_id=s.id, integration_id=integration_id, plugin=plugin,
             policy_id=s.policies[position] if s.policies else None)
        for s in sets for position, (integration_id, plugin) in enumerate(s.members)
    ])


def _write_revisions(connection: Connection, revisions: dict[str, str], stamp: float) -> None:
    """Store the policy revisions a set names (those already stored stay as they are)."""
    if not revisions:
        return
    statement = insert_ignoring_duplicates(connection, policy_revisions)
    if statement is None:
        present = set(connection.execute(select(policy_revisions.c.id).where(
            policy_revisions.c.id.in_(list(revisions)))).scalars())
        revisions = {k: v for k, v in revisions.items() if k not in present}
        if not revisions:
            return
        statement = policy_revisions.insert()
    connection.execute(statement, [dict(id=k, policy=v, created_at=stamp) for k, v in revisions.items()])


def skip_rows(event_id: str, groups: Sequence[SkipGroup], stamp: float) -> list[dict]:
    return [dict(event_id=event_id, set_id=g.members.id, reason=g.reason, created_at=stamp) for g in groups]


# reading ---------------------------------------------------------------------------------------


def line_id(event_id: str, integration_id: str) -> str:
    return f"{event_id}{SEPARATOR}{integration_id}"


def split_line_id(delivery_id: str) -> tuple[str, str] | None:
    """The (event id, integration id) of a skip line's id; None for any other id."""
    event_id, separator, integration_id = delivery_id.partition(SEPARATOR)
    return (event_id, integration_id) if separator and event_id and integration_id else None


def _superseded():
    """A delivery row for the same event and integration exists (it replaces the skip line)."""
    return exists().where(deliveries.c.event_id == skips.c.event_id,
                          deliveries.c.integration_id == integration_set_members.c.integration_id)


def select_lines():
    """Skip lines with the columns (and labels) of the deliveries query, superseded ones left out."""
    return (
        select(
            (skips.c.event_id + literal(SEPARATOR) + integration_set_members.c.integration_id).label("id"),
            skips.c.event_id.label("event_id"),
            integration_set_members.c.integration_id.label("integration_id"),
            integration_set_members.c.plugin.label("plugin"),
            cast(literal("skipped"), String(20)).label("status"),
            case((integration_set_members.c.policy_id.is_(None), skips.c.reason),
                 else_=literal(_POLICY_MARK) + integration_set_members.c.policy_id).label("reason"),
            cast(literal(0), Integer).label("attempts"),
            cast(literal(0), Integer).label("schedule_start"),
            cast(null(), Float).label("next_attempt_at"),
            cast(null(), String(100)).label("lease_owner"),
            cast(null(), Float).label("lease_expires_at"),
            cast(null(), Text).label("summary"),
            cast(null(), Text).label("details"),
            skips.c.created_at.label("created_at"),
            skips.c.created_at.label("updated_at"),
            cast(null(), String(36)).label("batch_id"),  # a skip is never part of a delivery batch
            integrations.c.name.label("integration_name"),
        )
        .select_from(
            skips.join(integration_set_members, integration_set_members.c.set_id == skips.c.set_id)
            .outerjoin(integrations, integrations.c.id == integration_set_members.c.integration_id)
        )
        .where(~_superseded())
    )


_compiled: OrderedDict[str, Any] = OrderedDict()
_compiled_lock = threading.Lock()
_COMPILED_KEPT = 2048


def _policy(revision: str, text: str):
    """What explains the denials of a stored revision (:func:`~gateway.policy.engine.denial_explainer`;
    kept by revision id: a revision never changes)."""
    with _compiled_lock:
        found = _compiled.get(revision)
        if found is not None:
            _compiled.move_to_end(revision)
            return found
    if not text:  # not stored (any more)
        return None
    try:
        found = denial_explainer(loads(text))  # validated when it judged: only explains its denials here
    except PolicyError:
        found = None
    with _compiled_lock:
        _compiled[revision] = found
        while len(_compiled) > _COMPILED_KEPT:
            _compiled.popitem(last=False)
    return found


def remember_policy(revision: str, compiled) -> None:
    """Keep ``compiled`` as the compiled policy of ``revision`` (the decision index has it compiled
    already), so that reading the denials it judged does not compile it again."""
    with _compiled_lock:
        if revision not in _compiled:
            _compiled[revision] = compiled
            while len(_compiled) > _COMPILED_KEPT:
                _compiled.popitem(last=False)


class _Access:
    __slots__ = ("action", "resource")

    def __init__(self, action: Any, resource: Any):
        self.action, self.resource = action, resource


def _judged(body: dict[str, Any] | None):
    """What a policy looks at in a stored event (its normalized JSON): accesses, tags, attributes."""
    if body is None:
        return None
    accesses = [_Access(a.get("action"), a.get("resource")) for a in body.get("accesses") or ()
                if isinstance(a, dict)]
    return accesses, body.get("scope_tags") or {}, body.get("scope_attributes") or {}


def policy_reason(policy_text: str | None, revision: str, body: dict[str, Any] | None, judged=None) -> str:
    """The reason the policy revision gives the stored event it denied (``body``: its normalized JSON;
    ``judged``: what :func:`_judged` read from it, when known already)."""
    policy = _policy(revision, policy_text) if policy_text is not None else None
    # (an empty text: the revision is compiled already, or was not found: then it stays None)
    judged = judged if judged is not None else _judged(body)
    if policy is None or judged is None:
        return f"{POLICY_DENIAL} (policy revision {revision}, no longer readable)"
    accesses, tags, attributes = judged
    return policy.denial_reason(accesses, tags=tags, attributes=attributes)


def is_denial(reason: str) -> bool:
    """Whether a line's reason, as read by :func:`select_lines`, is still to be explained."""
    return reason.startswith(_POLICY_MARK)


def denial_reasons(connection: Connection, lines: Sequence[Any]) -> dict[int, str]:
    """The reason of each policy denial among ``lines`` (rows read through :func:`select_lines`,
    maybe among others), by position: its policy revision evaluated on its stored event. One query
    for the events, one for the revisions."""
    pending = [(n, line) for n, line in enumerate(lines) if line.status == "skipped" and is_denial(line.reason)]
    if not pending:
        return {}
    event_ids = list({line.event_id for _, line in pending})
    revisions = list({line.reason[len(_POLICY_MARK):] for _, line in pending})
    bodies = {}
    for start in range(0, len(event_ids), 500):
        bodies.update(connection.execute(select(events.c.id, events.c.body)
                                         .where(events.c.id.in_(event_ids[start:start + 500]))).all())
    with _compiled_lock:  # a revision never changes: those compiled already are not read again
        missing = [r for r in revisions if r not in _compiled]
    texts: dict[str, str] = {}
    for start in range(0, len(missing), 500):
        texts.update(connection.execute(select(policy_revisions.c.id, policy_revisions.c.policy)
                                        .where(policy_revisions.c.id.in_(missing[start:start + 500]))).all())
    judged = {event_id: _judged(loads(body)) for event_id, body in bodies.items()}
    reasons: dict[tuple[str, str], str] = {}
    out = {}
    for n, line in pending:
        revision = line.reason[len(_POLICY_MARK):]
        key = (line.event_id, revision)
        reason = reasons.get(key)
        if reason is None:
            seen = judged.get(line.event_id)
            reason = reasons[key] = policy_reason(texts.get(revision, ""), revision, None, seen) if seen else \
                policy_reason(None, revision, None)
        out[n] = reason
    return out


def skipped_events(connection: Connection, integration_id: str, event_ids: Sequence[str]) -> set[str]:
    """Those of ``event_ids`` that skipped ``integration_id`` (compactly recorded)."""
    query = (select(skips.c.event_id)
             .join(integration_set_members, integration_set_members.c.set_id == skips.c.set_id)
             .where(integration_set_members.c.integration_id == integration_id, skips.c.event_id.in_(event_ids)))
    return set(connection.execute(query).scalars())


def skip_reasons(connection: Connection, integration_id: str, event_ids: Sequence[str]) -> dict[str, str]:
    """The skip reason of each of ``event_ids`` that skipped ``integration_id`` (by event id): a
    policy denial's read from its policy revision, as :func:`denial_reasons` does."""
    query = (select(skips.c.event_id.label("event_id"), cast(literal("skipped"), String(20)).label("status"),
                    case((integration_set_members.c.policy_id.is_(None), skips.c.reason),
                         else_=literal(_POLICY_MARK) + integration_set_members.c.policy_id).label("reason"))
             .join(integration_set_members, integration_set_members.c.set_id == skips.c.set_id)
             .where(integration_set_members.c.integration_id == integration_id, skips.c.event_id.in_(event_ids)))
    lines = connection.execute(query).all()
    explained = denial_reasons(connection, lines)
    return {line.event_id: explained.get(n, line.reason) for n, line in enumerate(lines)}


def prune_sets(connection: Connection, before: float) -> int:
    """Delete sets no skip names any more, created before ``before`` (and at least
    :data:`SET_GRACE_SECONDS` ago, so that no process still takes one as stored)."""
    cutoff = min(before, time.time() - SET_GRACE_SECONDS)
    unused = (select(integration_sets.c.id)
              .where(integration_sets.c.created_at < cutoff,
                     ~exists().where(skips.c.set_id == integration_sets.c.id))
              .scalar_subquery())
    connection.execute(integration_set_members.delete().where(integration_set_members.c.set_id.in_(unused)))
    removed = connection.execute(integration_sets.delete().where(and_(
        integration_sets.c.created_at < cutoff, ~exists().where(skips.c.set_id == integration_sets.c.id)))).rowcount
    connection.execute(policy_revisions.delete().where(
        policy_revisions.c.created_at < cutoff,
        ~exists().where(integration_set_members.c.policy_id == policy_revisions.c.id)))
    return removed


def forget_integration(connection: Connection, integration_id: str) -> None:
    """Before removing an integration: the sets it belongs to lose a member."""
    member_of = select(integration_set_members.c.set_id).where(
        integration_set_members.c.integration_id == integration_id).scalar_subquery()
    connection.execute(integration_sets.update().where(integration_sets.c.id.in_(member_of))
                       .values(size=integration_sets.c.size - 1))
    connection.execute(integration_set_members.delete().where(
        integration_set_members.c.integration_id == integration_id))
