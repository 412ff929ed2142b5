"""Where a delivery worker's time goes on PostgreSQL: the delivery run of ``bench_postgres.py``
(``--deliveries`` queued, ``--processes`` ``event-gateway worker`` processes of ``--threads``
threads, timed from when they fall due) with, for each run:

- the SQL statements the workers sent, counted by kind, per delivery (an SQLAlchemy
  ``before_cursor_execute`` hook in each worker process), and their commits and rollbacks;
- the database's own count of transactions (``pg_stat_database``) per delivery;
- what the workers' database sessions were doing, sampled every 20 ms (``pg_stat_activity``:
  active, idle in transaction, waiting on a lock, idle);
- with ``--py-spy`` (``pip install py-spy``), the on-CPU profile of the first worker process, its
  functions by own time and by time under them.

    .venv/bin/python bench/profile_postgres_delivery.py [--deliveries 3000] [--processes 2] [--threads 4] [--py-spy]

No ``pg_stat_statements`` needed (it must be in ``shared_preload_libraries``, which a shared server
may not have). A profiling run is slower than a bench run; its rate is shown only to compare runs.
"""

from __future__ import annotations

import argparse
import atexit
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def statement_kind(sql: str) -> str:
    """A short name for a statement: its verb and main table (and FOR UPDATE / NOTIFY when there)."""
    flat = " ".join(sql.split())
    verb = flat.split(" ", 1)[0].upper()
    table = ""
    if verb == "SELECT":
        match = re.search(r"\bFROM\s+([a-z_\"]+)", flat, re.I)
        table = match[1] if match else ""
        if "pg_notify" in flat:
            return "SELECT pg_notify"
    elif verb == "UPDATE":
        table = flat.split(" ", 2)[1]
    elif verb == "INSERT":
        table = flat.split(" ", 3)[2]
    elif verb == "WITH":
        match = re.search(r"\bUPDATE\s+([a-z_\"]+)\s+SET\b", flat, re.I)
        verb, table = ("WITH ... UPDATE", match[1]) if match else ("WITH", "")
    suffix = " FOR UPDATE SKIP LOCKED" if "SKIP LOCKED" in flat.upper() else ""
    if verb == "UPDATE" and "unnest" in flat:
        suffix = " FROM unnest"
    return f"{verb} {table}{suffix}".strip()


def child(instance: str, threads: str, counts_path: str) -> None:
    """A worker process that counts the statements it sends (written to ``counts_path`` at exit)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    import bench_delivery as bd

    counts: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    @event.listens_for(Engine, "before_cursor_execute")
    def count(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        kind = statement_kind(statement) + (" (executemany)" if executemany else "")
        with lock:
            counts[kind] += 1

    @event.listens_for(Engine, "commit")
    def commit(conn):  # noqa: ARG001
        with lock:
            counts["COMMIT"] += 1

    @event.listens_for(Engine, "rollback")
    def rollback(conn):  # noqa: ARG001
        with lock:
            counts["ROLLBACK"] += 1

    def dump() -> None:
        with open(counts_path, "w", encoding="utf-8") as handle:
            json.dump(dict(counts), handle)

    atexit.register(dump)
    bd.run_command(instance, ["worker", "--threads", threads])


def sample_activity(url: str, database: str, stop: threading.Event, out: collections.Counter) -> None:
    """Every 20 ms, what each client session on ``database`` (but this one) is doing."""
    import psycopg

    import bare_durable_queue as bq

    with psycopg.connect(bq.conninfo(url), autocommit=True) as connection:
        while not stop.wait(0.02):
            for state, wait_type, wait_event, query in connection.execute(
                    "SELECT state, wait_event_type, wait_event, left(query, 40) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
                    "AND query NOT LIKE 'LISTEN%%'", (database,)):
                if state == "active" and wait_type == "Lock":
                    out[f"waiting on a lock ({wait_event}): {query}"] += 1
                elif state == "active":
                    out[f"active{f' ({wait_type}:{wait_event})' if wait_type else ''}"] += 1
                else:
                    out[state or "?"] += 1


def transactions(url: str, database: str) -> int:
    import psycopg

    import bare_durable_queue as bq

    with psycopg.connect(bq.conninfo(url), autocommit=True) as connection:
        connection.execute("SELECT pg_stat_clear_snapshot()")
        return connection.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
                                  (database,)).fetchone()[0]


def summarise_py_spy(path: str, top: int = 25) -> list[str]:
    """Functions by own samples and by samples under them, from py-spy's ``raw`` (collapsed) output."""
    own: collections.Counter[str] = collections.Counter()
    under: collections.Counter[str] = collections.Counter()
    total = 0
    for line in Path(path).read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack:
            continue
        samples = int(number)
        total += samples
        # "function (path/to/file.py:line)" -> "function (file.py)"
        frames = [re.sub(r" \((?:[^()]*/)?([^/()]+?)(?::\d+)?\)$", r" (\1)", f) for f in stack.split(";")]
        own[frames[-1]] += samples
        for frame in set(frames):
            under[frame] += samples
    lines = [f"py-spy: {total} on-CPU samples of the first worker process"]
    lines.append("  by own time:")
    lines += [f"    {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines.append("  by time under (gateway and database driver frames):")
    lines += [f"    {100 * n / total:5.1f}%  {f}" for f, n in under.most_common(400)
              if re.search(r"\((attempt|pool|deliveries|base|batch|outbound|http|psycopg|cursor|"
                           r"connection|wakeups|transient|default)[^)]*\)", f)][:top]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=3000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--py-spy", action="store_true", help="profile the first worker process with py-spy")
    args = parser.parse_args()

    import bench_delivery as bd
    import bench_postgres as bp

    from gateway.host.state import get_state
    from gateway.store.base import now
    from gateway.testing import wait_until

    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if args.py_spy and not os.path.exists(py_spy):
        raise SystemExit("--py-spy needs py-spy: pip install py-spy")
    db = bp.ScratchDatabase(os.environ.get("GATEWAY_BENCH_DATABASE_URL", bp.DEFAULT_URL))
    target = bd.Target()
    try:
        with tempfile.TemporaryDirectory(prefix="profile-postgres-") as workdir:
            url = db.schema("profile")
            env = bp.env_for(url)
            undo = bp.with_env(env)
            try:
                state = get_state(bd.make_bench_app(os.path.join(workdir, "setup")))
                bd.queue_deliveries(state, bd.add_integration(state, target.url + "/events"), args.deliveries,
                                    due=now() + 3600)
                logs = [os.path.join(workdir, f"worker-{n}.log") for n in range(args.processes)]
                counts = [os.path.join(workdir, f"counts-{n}.json") for n in range(args.processes)]
                workers = []
                for log, counted in zip(logs, counts):
                    with open(log, "ab") as handle:
                        workers.append(subprocess.Popen(
                            [sys.executable, __file__, "--child", os.path.join(workdir, "instance"),
                             str(args.threads), counted], env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=handle))
                wait_until(lambda: all("delivery worker(s)" in Path(log).read_text() for log in logs)
                           or any(w.poll() is not None for w in workers), timeout=120, interval=0.1,
                           message="the worker processes")
                time.sleep(1)
                spy = None
                if args.py_spy:
                    spy_out = os.path.join(workdir, "py-spy.txt")
                    spy = subprocess.Popen([py_spy, "record", "--pid", str(workers[0].pid), "--format", "raw",
                                            "--output", spy_out, "--rate", "250", "--threads"],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    time.sleep(1)
                activity: collections.Counter[str] = collections.Counter()
                stop = threading.Event()
                sampler = threading.Thread(target=sample_activity, args=(url, db.name, stop, activity))
                sampler.start()
                xacts = transactions(url, db.name)
                cpu = sum(bd.tree_cpu(w.pid) for w in workers)
                goal = target.count() + args.deliveries
                started = bp.release_and_wait(state, workers, target, goal, args.deliveries, workdir)
                seconds = now() - started
                used = sum(bd.tree_cpu(w.pid) for w in workers) - cpu
                stop.set()
                sampler.join()
                xacts = transactions(url, db.name) - xacts
                if spy is not None:
                    spy.send_signal(signal.SIGINT)
                    spy.wait(60)
                for worker in workers:
                    worker.send_signal(signal.SIGTERM)
                for worker in workers:
                    worker.wait(60)
                state.db.dispose()
            finally:
                undo()
            n = args.deliveries
            print(f"{args.processes} process(es) x {args.threads} threads, {n} deliveries: "
                  f"{n / seconds:,.0f}/s (profiled), CPU {1000 * used / n:.2f} ms/delivery, "
                  f"{xacts / n:.2f} database transactions per delivery (pg_stat_database, whole database)")
            total: collections.Counter[str] = collections.Counter()
            for counted in counts:
                total.update(json.loads(Path(counted).read_text()))
            print("\nstatements sent by the workers (whole run, idle polling included), per delivery:")
            for kind, number in total.most_common():
                print(f"  {number / n:7.3f}  {number:7d}  {kind}")
            sampled = sum(activity.values())
            print(f"\nworker database sessions, {sampled} samples (every 20 ms):")
            for kind, number in activity.most_common(15):
                print(f"  {100 * number / sampled:5.1f}%  {kind}")
            if spy is not None and os.path.exists(spy_out):
                print()
                print("\n".join(summarise_py_spy(spy_out)))
    finally:
        target.stop()
        db.drop()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:5])
    else:
        main()
