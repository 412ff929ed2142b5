"""What checking a named token on every request costs, beside the admin token's check.

Run from the repository root::

    .venv/bin/python bench/bench_token_check.py

A named token is looked up in the database on every request (``api_tokens`` by its SHA-256, one
indexed read), so that a revoked token is refused at once by every node; the admin token is compared
with a hash the process holds. Both are timed through the admin API (``GET /api/v1/plugins`` with
Flask's test client, on SQLite in a temporary folder), side by side with the same request with the
admin token: the ratio is what the look-up adds to a whole request. The look-up alone
(``gateway.admin.tokens.identify``) is timed too.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway import create_app  # noqa: E402
from gateway.host.state import get_state  # noqa: E402
from gateway.admin.tokens import identify  # noqa: E402

ADMIN = "bench-admin-token-0123456789-AbC"
ROUNDS = 2000


def per_call(call, rounds: int = ROUNDS) -> float:
    for _ in range(50):
        call()
    started = time.perf_counter()
    for _ in range(rounds):
        call()
    return (time.perf_counter() - started) / rounds * 1e6  # microseconds


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"GATEWAY_INSTANCE_PATH": folder, "GATEWAY_ADMIN_TOKEN": ADMIN},
                         entry_points=False, log_warnings=False)
        client = app.test_client()
        made = client.post("/api/v1/tokens", json={"name": "bench", "role": "viewer"},
                           headers={"Authorization": f"Bearer {ADMIN}"}).get_json()
        named = made["token"]
        state = get_state(app)

        def request(token):
            return lambda: client.get("/api/v1/plugins", headers={"Authorization": f"Bearer {token}"})

        assert request(named)().status_code == 200
        admin_request = per_call(request(ADMIN))
        named_request = per_call(request(named))
        admin_check = per_call(lambda: identify(state, ADMIN, "api"), 20000)
        named_check = per_call(lambda: identify(state, named, "api"), 20000)
        state.db.dispose()
    print(f"GET /api/v1/plugins, admin token:  {admin_request:8.1f} us")
    print(f"GET /api/v1/plugins, named token:  {named_request:8.1f} us  (ratio {named_request / admin_request:.2f})")
    print(f"identify(), admin token:           {admin_check:8.1f} us")
    print(f"identify(), named token (look-up): {named_check:8.1f} us")


if __name__ == "__main__":
    main()
