"""The events list's source and kind filters read an index that fits them (``ix_events_source``,
``ix_events_kind``), on SQLite and PostgreSQL: the database's own plan says so. A rare source or
kind among many events is what would otherwise walk every stored event."""

from __future__ import annotations

from sqlalchemy import text

from gateway.host.state import get_state
from gateway.store.events import page_query
from gateway.store.tables import events

from .conftest import AUTH

MANY = 3000


def fill(engine) -> None:
    """MANY events of one source and kind, and one of a rare source and kind; statistics read."""
    rows = [dict(id=f"e-{n:05d}", source="launchdarkly" if n else "rare-source", source_id=f"s-{n}",
                 integration_id=None, dedupe_key=f"k-{n}", kind="flag" if n else "rare-kind", title="t",
                 occurred_at=1.7e9 + n, received_at=1.7e9 + n, body="{}", raw="{}") for n in range(MANY)]
    with engine.begin() as connection:
        connection.execute(events.insert(), rows)
        connection.execute(text("ANALYZE"))


def plan(engine, query) -> str:
    compiled = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as connection:
        return "\n".join(" ".join(str(c) for c in row) for row in connection.execute(text(prefix + compiled)))


def test_source_and_kind_read_their_indexes(make_app):
    app = make_app()
    engine = get_state(app).db.engine
    fill(engine)
    by_source = plan(engine, page_query(limit=51, source="rare-source"))
    by_kind = plan(engine, page_query(limit=51, kind="rare-kind"))
    both = plan(engine, page_query(limit=51, source="rare-source", kind="rare-kind"))
    further = plan(engine, page_query(limit=51, before=(1.7e9 + 10, "e-00010"), source="rare-source"))
    assert "ix_events_source" in by_source and "ix_events_source" in further, (by_source, further)
    assert "ix_events_kind" in by_kind, by_kind
    assert "ix_events_kind" in both and "ix_events_source" not in both, both
    with app.test_client() as client:  # and the list answers from them
        found = client.get("/api/v1/events?source=rare-source&kind=rare-kind", headers=AUTH).get_json()
        assert [e["id"] for e in found["items"]] == ["e-00000"] and found["total"]["count"] == 1
