"""The gateway at size: one integration per team (each with a policy of its own), and a big database.

    python bench/bench_sizes.py intake [--seconds 5] [--rounds 3] [--many 1000]
    python bench/bench_sizes.py pages [--events 1000000] [--integrations 1000] [--database PATH]
                                      [--database-url postgresql://postgres@127.0.0.1:5432/NAME]

``intake``: two gateways (`event-gateway serve`, delivery workers off), one with 10 integrations and
one with ``--many`` (1,000), each integration with a policy of its own
(``proj/team-<i>:env/*:flag/*``, as a platform team sets them up), loaded in the same run by wrk
with flag changes of another project (``proj/shop``), so every integration declines every event.
It reports each one's accepted/s (median of alternating rounds) and the ratio (goal >= 0.5), and
the bytes the database grows by per event in each (goal: at 1,000 no more than twice those at 10).

``pages``: builds a database of ``--integrations`` integrations (one policy each) and ``--events``
events directly, in bulk, through the store's tables (each event a flag change of one team's project:
delivered to that team's integration, denied by every other policy; some dead, some queued, some
skipped by the plugin), then times, in process (server time, no network), /healthz, /metrics and
each web UI page: overview, events (unfiltered and with each filter), an event with
``--integrations`` - 1 skips, an integration, deliveries. Goals: /healthz < 50 ms, /metrics <
200 ms, every page < 300 ms (the median; "first" is the first view, in a process that has read
nothing yet: the event page then reads the policy revisions of its denials). ``--database`` keeps
the built database there and reuses it on the next run (building a million events takes minutes);
``--database-url`` builds it in (or reuses) a PostgreSQL database instead.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_intake import (PAYLOAD, Run, Wrk, database_bytes, events_stored, find_wrk, median,  # noqa: E402
                          start_gateway)


def team_policy(index: int) -> list[dict]:
    return [{"effect": "allow", "resources": [f"proj/team-{index}:env/*:flag/*"], "actions": ["*"]}]


def intake(args) -> None:
    wrk = Wrk(find_wrk(), "", args.connections, args.seconds)
    workdir = tempfile.mkdtemp(prefix="bench-sizes-")
    payload = json.loads(PAYLOAD.read_text())  # proj/shop: no team's project
    payload["_id"] = "BENCH_ID"
    wrk.body_file = os.path.join(workdir, "body.json")
    Path(wrk.body_file).write_text(json.dumps(payload))
    started = time.monotonic()
    ten = start_gateway(workdir, "ten", args.processes, args.threads, 10, team_policy)
    many = start_gateway(workdir, "many", args.processes, args.threads, args.many, team_policy)
    print(f"servers up, integrations added in {time.monotonic() - started:.0f}s", flush=True)
    servers = {"ten": ten, "many": many}
    try:
        for g in servers.values():  # warm up (each process reads the integrations)
            wrk.run(g.url, g.process.pid, seconds=max(3, args.many // 200), check=False)
        paths = {name: os.path.join(g.instance_path, "gateway.db") for name, g in servers.items()}
        sizes = {name: (database_bytes(path), events_stored(path)) for name, path in paths.items()}
        results: dict[str, list[Run]] = {name: [] for name in servers}
        for _ in range(args.rounds):
            for name, g in servers.items():
                results[name].append(wrk.run(g.url, g.process.pid))
        grown = {}
        for name, path in paths.items():
            size, count = sizes[name]
            grown[name] = (database_bytes(path) - size) / max(1, events_stored(path) - count)
    finally:
        ten.terminate(60)
        many.terminate(60)
    t, m = median(results["ten"]), median(results["many"])
    print(f"intake over HTTP, one policy per integration (proj/team-<i>:env/*:flag/*), flag changes of another "
          f"project: wrk -c{args.connections}, {args.processes} processes x {args.threads} threads, "
          f"{args.rounds} alternating rounds of {args.seconds:g}s (median); {os.cpu_count()} CPU cores, shared")
    print(f"\n{'server':<44}{'accepted/s':>11}{'p50 ms':>8}{'p99 ms':>8}{'bytes/event':>13}   rounds")
    for label, name, r in (("gateway, 10 integrations", "ten", t), (f"gateway, {args.many:,} integrations", "many", m)):
        print(f"{label:<44}{r.rate:>11.0f}{r.p50_ms:>8.1f}{r.p99_ms:>8.1f}{grown[name]:>13.0f}   "
              + ", ".join(f"{x.rate:.0f}" for x in results[name]))
    ratio, growth = m.rate / t.rate, grown["many"] / max(1.0, grown["ten"])
    print(f"\nintake ({args.many:,}) / intake (10): {ratio:.2f}   goal >= 0.50 {'met' if ratio >= 0.5 else 'MISSED'}")
    print(f"bytes per event ({args.many:,}) / (10): {growth:.2f}   goal <= 2.00 {'met' if growth <= 2 else 'MISSED'}")
    shutil.rmtree(workdir, ignore_errors=True)


ADMIN_TOKEN = "bench-admin-token-0123456789"
SECRET_KEY = "bench-secret-key-not-for-use-anywhere-else"
STATUS_MIX = (("delivered", 900), ("plugin-skip", 60), ("dead", 30), ("retrying", 5), ("pending", 5))
"""Per 1,000 events: what the team's own integration made of it (every other policy denies it)."""


def _app(instance: str, database_url: str | None = None):
    from gateway.app import create_app

    config = {"GATEWAY_INSTANCE_PATH": instance, "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN,
              "GATEWAY_PLUGINS": "dynatrace", "GATEWAY_ALLOW_PRIVATE_TARGETS": "1", "GATEWAY_WORKERS": "0"}
    if database_url:  # a fixed secret key: the database outlives the instance folder, and the next run opens it
        config.update(GATEWAY_DATABASE_URL=database_url, GATEWAY_SECRET_KEY=SECRET_KEY)
    return create_app(config)


def build(instance: str, integrations: int, count: int, database_url: str | None = None) -> None:
    """Write ``integrations`` integrations and ``count`` events with their decisions, in bulk."""
    from sqlalchemy import select

    from gateway.host.builtin.launchdarkly import normalize_audit_entry
    from gateway.host.state import get_state
    from gateway.store import tables
    from gateway.store.base import dumps, new_id
    from gateway.store.skips import POLICY_DENIAL, IntegrationSet, revision_id, write_sets

    app = _app(instance, database_url)
    state = get_state(app)
    client = app.test_client()
    created = client.post("/api/v1/integrations", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, json={
        "plugin": "dynatrace", "name": "team 0", "policy": team_policy(0),
        "config": {"url": "https://env0000.live.dynatrace.com", "api_token": "dt0c01.bench.0000"}})
    assert created.status_code == 201, created.get_json()
    engine = state.db.engine
    with engine.begin() as connection:
        first = connection.execute(select(tables.integrations)).first()._asdict()
        rows = [{**first, "id": new_id(), "name": f"team {i}", "policy": dumps(team_policy(i)),
                 "config": first["config"].replace("env0000", f"env{i:04d}")} for i in range(1, integrations)]
        if rows:
            connection.execute(tables.integrations.insert(), rows)
        ids = [first["id"]] + [r["id"] for r in rows]
        policies = {i: dumps(team_policy(i)) for i in range(integrations)}
        # a canonical JSON, as the index writes it
        from gateway.host.policy_cache import policy_key
        canonical = {i: policy_key(team_policy(i)) for i in range(integrations)}
        revisions = {i: revision_id(canonical[i]) for i in range(integrations)}
        sets = []
        for k in range(integrations):  # the denials of team k's events: every other team
            sets.append(IntegrationSet.denied(
                ((ids[i], "dynatrace", revisions[i]) for i in range(integrations) if i != k),
                {revisions[i]: canonical[i] for i in range(integrations) if i != k}))
        write_sets(connection, [s for s in sets if s.members], time.time() - 40 * 86400)
        plain = [IntegrationSet.of([(ids[k], "dynatrace")]) for k in range(integrations)]
        write_sets(connection, plain, time.time() - 40 * 86400)
    del policies
    template = json.loads(PAYLOAD.read_text())
    event = normalize_audit_entry(template)
    body = event.to_dict(include_raw=False)
    raw = PAYLOAD.read_text()
    mix = [status for status, share in STATUS_MIX for _ in range(share)]
    start = time.time() - 30 * 86400
    step = 30 * 86400 / max(1, count)
    chunk = 5000
    began = time.monotonic()
    for offset in range(0, count, chunk):
        events, deliveries, attempts, skips = [], [], [], []
        for n in range(offset, min(count, offset + chunk)):
            k = (n * 7919) % integrations
            event_id = new_id()
            stamp = start + n * step
            resource = f"proj/team-{k}:env/staging:flag/search-v{n % 50}"
            body["id"] = event_id
            body["accesses"] = [{"action": "updateRules", "resource": resource}]
            body["source_id"] = f"bench-{n}"
            events.append(dict(id=event_id, source="launchdarkly", source_id=f"bench-{n}", integration_id=None,
                               dedupe_key=f"launchdarkly||bench-{n}", kind="flag" if n % 10 else "project",
                               title=f"updated the targeting rules of search v{n % 50} in team {k}",
                               occurred_at=stamp, received_at=stamp, body=dumps(body),
                               raw=raw.replace("proj/shop", f"proj/team-{k}")))
            if sets[k].members:
                skips.append(dict(event_id=event_id, set_id=sets[k].id, reason=POLICY_DENIAL, created_at=stamp))
            status = mix[n % len(mix)]
            if status == "plugin-skip":
                skips.append(dict(event_id=event_id, set_id=plain[k].id, created_at=stamp,
                                  reason="plugin 'dynatrace': the flag has no Dynatrace tags"))
                continue
            delivery_id = new_id()
            tried = status in ("delivered", "dead", "retrying")
            deliveries.append(dict(
                id=delivery_id, event_id=event_id, integration_id=ids[k], plugin="dynatrace", status=status,
                reason="delivered" if status == "delivered" else "HTTP 503" if tried else "queued",
                attempts=1 if tried else 0, schedule_start=0,
                next_attempt_at=stamp + 60 if status in ("pending", "retrying") else None,
                lease_owner=None, lease_expires_at=None, summary=None, details=None, batch_id=None,
                created_at=stamp, updated_at=stamp + 1))
            if tried:
                attempts.append(dict(delivery_id=delivery_id, number=1, worker="bench", started_at=stamp + 0.5,
                                     duration_ms=120.0, outcome="delivered" if status == "delivered" else "failed",
                                     reason="HTTP 200" if status == "delivered" else "HTTP 503", http="[]"))
        with engine.begin() as connection:
            connection.execute(tables.events.insert(), events)
            connection.execute(tables.deliveries.insert(), deliveries)
            if attempts:
                connection.execute(tables.attempts.insert(), attempts)
            connection.execute(tables.skips.insert(), skips)
        done = min(count, offset + chunk)
        if done % 50000 == 0 or done == count:
            print(f"  {done:,} events written ({time.monotonic() - began:.0f}s)", flush=True)
    state.db.dispose()


def _has_events(url: str) -> bool:
    """Whether the database at ``url`` holds events already (built by an earlier run)."""
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table("events"):
                return False
            return connection.execute(text("SELECT EXISTS (SELECT 1 FROM events)")).scalar()
    finally:
        engine.dispose()


def _analyze(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.commit()
    engine.dispose()


def pages_bench(args) -> None:
    import re

    from sqlalchemy import func, select

    from gateway.host.state import get_state
    from gateway.store import tables

    instance = args.database or tempfile.mkdtemp(prefix="bench-pages-")
    path = os.path.join(instance, "gateway.db")
    url = args.database_url
    if not (_has_events(url) if url else os.path.exists(path)):
        os.makedirs(instance, exist_ok=True)
        print(f"building {args.events:,} events for {args.integrations:,} integrations in {url or instance} ...",
              flush=True)
        started = time.monotonic()
        build(instance, args.integrations, args.events, url)
        print(f"built in {time.monotonic() - started:.0f}s", flush=True)
    if url:  # the planner's statistics, as autovacuum would have them after a bulk load
        _analyze(url)
    app = _app(instance, url)
    state = get_state(app)
    with state.db.engine.connect() as connection:
        counts = {t.name: connection.execute(select(func.count()).select_from(t)).scalar()
                  for t in (tables.integrations, tables.events, tables.deliveries, tables.skips,
                            tables.attempts, tables.integration_set_members)}
        denied_event = connection.execute(select(tables.skips.c.event_id).order_by(tables.skips.c.id.desc())
                                          .limit(1)).scalar()
        some = connection.execute(select(tables.integrations.c.id).order_by(tables.integrations.c.name)
                                  .limit(1).offset(counts["integrations"] // 2)).scalar()
        if url:
            size = connection.execute(select(func.pg_database_size(func.current_database()))).scalar()
        else:
            size = os.path.getsize(path)
    decisions = counts["deliveries"] + counts["events"] * (counts["integrations"] - 1)
    print(f"database: {'PostgreSQL' if url else 'SQLite'}, {counts['integrations']:,} integrations, "
          f"{counts['events']:,} events, {decisions:,} decisions ({counts['deliveries']:,} delivery rows, "
          f"{counts['skips']:,} skip rows), {counts['attempts']:,} attempts; {size / 1e9:.2f} GB")
    client = app.test_client()
    page = client.get("/ui/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    signed = client.post("/ui/sign-in", data={"csrf_token": token, "token": ADMIN_TOKEN})
    assert signed.status_code == 302, signed.text
    urls = [
        ("/healthz", 50), ("/metrics", 200), ("/ui/", 300),
        ("/ui/events", 300), ("/ui/events?status=dead", 300), ("/ui/events?status=skipped", 300),
        ("/ui/events?status=delivered", 300), (f"/ui/events?integration={some}", 300),
        (f"/ui/events?integration={some}&status=skipped", 300),
        ("/ui/events?source=launchdarkly", 300), ("/ui/events?kind=project", 300), ("/ui/events?q=search", 300),
        (f"/ui/events/{denied_event}", 300), (f"/ui/integrations/{some}", 300),
        ("/ui/deliveries", 300), ("/ui/deliveries?status=dead", 300), ("/ui/deliveries?status=skipped", 300),
        (f"/ui/deliveries?integration={some}", 300),
    ]
    urls = [(url, goal) for url, goal in urls if args.only in url]
    print(f"\n{'page':<64}{'first ms':>9}{'median ms':>10}{'max ms':>9}{'bytes':>10}   goal")
    missed = 0
    for url, goal in urls:
        times, size = [], 0
        for _ in range(args.repeat):
            began = time.perf_counter()
            response = client.get(url)
            times.append(1000 * (time.perf_counter() - began))
            size = len(response.data)
            assert response.status_code in (200, 503), (url, response.status_code)
        middle = statistics.median(times)
        missed += middle >= goal
        print(f"{url[:63]:<64}{times[0]:>9.0f}{middle:>10.0f}{max(times):>9.0f}{size:>10,}   < {goal} ms "
              f"{'met' if middle < goal else 'MISSED'}", flush=True)
    print(f"\n{len(urls) - missed} of {len(urls)} within their goal")
    if not args.database:
        shutil.rmtree(instance, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    load = commands.add_parser("intake", help="intake rate and bytes per event, 10 against --many integrations")
    load.add_argument("--seconds", type=float, default=5.0, help="length of one round")
    load.add_argument("--rounds", type=int, default=3, help="rounds per server, alternating")
    load.add_argument("--connections", type=int, default=16, help="wrk connections")
    load.add_argument("--threads", type=int, default=8, help="server threads per process, the same for both")
    load.add_argument("--processes", type=int, default=os.cpu_count() or 1, help="server processes, both")
    load.add_argument("--many", type=int, default=1000, help="integrations of the second gateway")
    pages = commands.add_parser("pages", help="build a big database and time /healthz, /metrics and the UI pages")
    pages.add_argument("--integrations", type=int, default=1000)
    pages.add_argument("--events", type=int, default=1_000_000)
    pages.add_argument("--database", help="instance folder whose SQLite file to build (or reuse, when it is there)")
    pages.add_argument("--database-url", help="a PostgreSQL database to build in instead (or reuse, when it holds "
                                              "events); it must exist and should be empty")
    pages.add_argument("--repeat", type=int, default=5, help="timings per page (the median is reported)")
    pages.add_argument("--only", default="", help="time only the pages whose path contains this")
    args = parser.parse_args()
    if args.command == "intake":
        intake(args)
    else:
        pages_bench(args)


if __name__ == "__main__":
    main()
