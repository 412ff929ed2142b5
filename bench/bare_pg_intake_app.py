"""The baseline of bench_postgres.py's intake run: a bare Flask app on the same server (waitress)
that parses the JSON body and commits one row per request to PostgreSQL, then answers 202.
Run as: python bare_pg_intake_app.py PORT THREADS DATABASE_URL."""

from __future__ import annotations

import json
import sys
import uuid

from flask import Flask, jsonify, request
from sqlalchemy import Column, MetaData, String, Table, Text, create_engine, insert
from waitress import serve

app = Flask(__name__)
metadata = MetaData()
rows = Table("bare_intake", metadata, Column("id", String(36), primary_key=True),
             Column("source_id", String(200), nullable=False), Column("body", Text, nullable=False))
engine = None


@app.post("/webhooks/launchdarkly")
def webhook():
    body = request.get_data()
    payload = json.loads(body)
    with engine.begin() as connection:
        connection.execute(insert(rows).values(id=str(uuid.uuid4()), source_id=payload["_id"], body=body.decode()))
    return jsonify(event_id=payload["_id"]), 202


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")


if __name__ == "__main__":
    port, threads, url = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    engine = create_engine(url, pool_size=threads, max_overflow=0)
    metadata.create_all(engine)
    serve(app, host="127.0.0.1", port=port, threads=threads, ident="bare")
