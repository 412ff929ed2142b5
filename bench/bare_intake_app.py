"""The durable floor of bench_intake.py: a bare Flask app on gunicorn (the same server, processes
and threads as ``event-gateway serve``) that parses the webhook's JSON and commits one row per
request to SQLite (WAL, synchronous=NORMAL, as the gateway), then answers 202.

    python bench/bare_intake_app.py PORT PROCESSES THREADS DATABASE
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
import uuid

from flask import Flask, jsonify, request
from gunicorn.app.base import BaseApplication

app = Flask(__name__)
DATABASE = ""
_local = threading.local()


def connection() -> sqlite3.Connection:
    found = getattr(_local, "connection", None)
    if found is None:
        found = _local.connection = sqlite3.connect(DATABASE, timeout=30, isolation_level=None)
        found.execute("PRAGMA journal_mode=WAL")
        found.execute("PRAGMA synchronous=NORMAL")
    return found


@app.post("/webhooks/launchdarkly")
def webhook():
    body = request.get_data()
    payload = json.loads(body)
    event_id = str(uuid.uuid4())
    db = connection()
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO events (id, source_id, body) VALUES (?, ?, ?)", (event_id, payload["_id"], body))
    db.execute("COMMIT")
    return jsonify(event_id=event_id, queued=0, skipped=0), 202


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")


class Server(BaseApplication):
    def __init__(self, port: int, processes: int, threads: int):
        self.options = {"bind": f"127.0.0.1:{port}", "workers": processes, "threads": threads,
                        "worker_class": "gthread", "keepalive": 5, "loglevel": "warning",
                        "control_socket_disable": True}
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self):
        return app


if __name__ == "__main__":
    port, processes, threads, DATABASE = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    with sqlite3.connect(DATABASE) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, source_id TEXT UNIQUE, body BLOB)")
    Server(port, processes, threads).run()
