"""The baseline of bench_intake.py: a bare Flask app on the same server that only verifies the
HMAC and parses the JSON. Run as: python bare_intake_app.py PORT THREADS SECRET."""

from __future__ import annotations

import hashlib
import hmac
import json
import sys

from flask import Flask, jsonify, request
from waitress import serve

app = Flask(__name__)
SECRET = b""


@app.post("/webhooks/launchdarkly")
def webhook():
    body = request.get_data()
    expected = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, request.headers.get("X-LD-Signature", "")):
        return jsonify(error="bad signature"), 401
    payload = json.loads(body)
    return jsonify(event_id=payload["_id"]), 202


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")


if __name__ == "__main__":
    port, threads, SECRET = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode()
    serve(app, host="127.0.0.1", port=port, threads=threads, ident="bare")
