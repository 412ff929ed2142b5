"""End-to-end test helpers on loopback (public through :mod:`gateway.testing`): :class:`FakeService`, a
real HTTP server on 127.0.0.1 that records what it receives and answers as told (:class:`Reply`,
:class:`RecordedRequest`); :class:`GatewayProcess`, ``event-gateway serve`` in a subprocess with its own
instance folder; :func:`free_port` and :func:`wait_until`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02,
               message: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; ``AssertionError`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


@dataclass(frozen=True)
class RecordedRequest:
    """A request the fake service received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)


@dataclass(frozen=True)
class Reply:
    """How the fake service answers: status, JSON (or raw) body, headers, and an optional delay."""

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] | None = None
    delay: float = 0.0


class FakeService:
    """A threaded HTTP server on 127.0.0.1 standing in for a tool's API.

    ``reply`` decides each answer: a :class:`Reply`, or a function of the :class:`RecordedRequest`
    returning one. Queue one-off answers with :meth:`queue`; they are used first, in order. ``port``
    0 (the default) takes a free one.
    """

    def __init__(self, reply: Reply | Callable[[RecordedRequest], Reply] = Reply(200, {}), port: int = 0):
        self.reply = reply
        self.requests: list[RecordedRequest] = []
        self._queued: list[Reply] = []
        self._lock = threading.Lock()
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out without a delayed-ACK stall

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                recorded = RecordedRequest(self.command, self.path, dict(self.headers.items()), body, time.time())
                answer = service._answer(recorded)
                if answer.delay:
                    time.sleep(answer.delay)
                payload = answer.body if isinstance(answer.body, bytes) else (
                    b"" if answer.body is None else json.dumps(answer.body).encode())
                try:
                    self.send_response(answer.status)
                    headers = {"Content-Type": "application/json", **(answer.headers or {})}
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((LOOPBACK, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _answer(self, recorded: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(recorded)
            if self._queued:
                return self._queued.pop(0)
        return self.reply(recorded) if callable(self.reply) else self.reply

    def queue(self, *replies: Reply) -> None:
        with self._lock:
            self._queued.extend(replies)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def received(self, path: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if path is None or r.path.split("?")[0] == path]

    def wait_for(self, count: int, path: str | None = None, timeout: float = 10.0) -> list[RecordedRequest]:
        """Wait until at least ``count`` requests (to ``path``) arrived; returns them."""
        wait_until(lambda: len(self.received(path)) >= count, timeout, message=f"{count} requests to {path or 'any path'}")
        return self.received(path)

    def start(self) -> FakeService:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeService:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class GatewayProcess:
    """``event-gateway serve`` in a subprocess on a free loopback port, with its own instance folder.

    ``env`` adds ``GATEWAY_*`` settings. The admin token is set for you (:attr:`admin_token`).
    """

    def __init__(self, instance_path: str | None = None, env: Mapping[str, str] | None = None,
                 command: tuple[str, ...] = ("serve",), port: int | None = None):
        self.instance_path = instance_path or tempfile.mkdtemp(prefix="gateway-")
        self.admin_token = "test-admin-token-0123456789"
        self.port = port or free_port()
        self.command = command
        self.env = {
            **os.environ,
            "GATEWAY_INSTANCE_PATH": self.instance_path,
            "GATEWAY_ADMIN_TOKEN": self.admin_token,
            **(env or {}),
        }
        self.process: subprocess.Popen | None = None
        self.log_path = os.path.join(self.instance_path, f"{command[0]}-{self.port}.log")

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, timeout: float = 30.0) -> GatewayProcess:
        args = [sys.executable, "-m", "gateway", *self.command]
        if self.command[0] == "serve":
            args += ["--host", LOOPBACK, "--port", str(self.port)]
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(args, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        if self.command[0] == "serve":
            try:
                wait_until(self._healthy, timeout, interval=0.05,
                           message=f"gateway on {self.url} (log: {self.log_path})")
            except AssertionError:
                self.kill()
                raise
        return self

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"gateway exited with {self.process.returncode}; log:\n{self.log()}")
        try:
            return requests.get(self.url + "/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def kill(self) -> None:
        """SIGKILL: the process dies at once, as in a crash."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait for a clean exit; returns the exit status."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def admin(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.admin_token}", **kwargs.pop("headers", {})}
        return requests.request(method, self.url + path, headers=headers, timeout=10, **kwargs)

    def post_webhook(self, body: bytes | Any, path: str = "/webhooks/launchdarkly",
                     headers: Mapping[str, str] | None = None) -> requests.Response:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return requests.post(self.url + path, data=data, timeout=10,
                             headers={"Content-Type": "application/json", **(headers or {})})

    def __enter__(self) -> GatewayProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        try:
            self.terminate()
        except subprocess.TimeoutExpired:
            self.kill()
