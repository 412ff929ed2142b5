"""Slow clients do not stall intake (``serve`` with gunicorn's processes and with waitress): 200
connections sending one byte of a request head per second hold no request thread, a webhook sent
meanwhile is answered, and each slow connection is answered 408 and closed once its head has taken
longer than GATEWAY_HEADER_READ_SECONDS (a slow body likewise after GATEWAY_BODY_READ_SECONDS).
bench/bench_slow_clients.py measures the probe's latency."""

from __future__ import annotations

import socket
import threading

import pytest

from gateway.testing import GatewayProcess

from .delivery_support import ld_entry

SLOW = 200
HEAD = b"POST /webhooks/launchdarkly HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


@pytest.fixture(params=["2", "1"], ids=["gunicorn", "waitress"])
def served(request, tmp_path):
    process = GatewayProcess(str(tmp_path), env={
        "GATEWAY_PROCESSES": request.param, "GATEWAY_THREADS": "4", "GATEWAY_WORKERS": "0",
        "GATEWAY_PLUGINS": "webhook", "GATEWAY_HEADER_READ_SECONDS": "4", "GATEWAY_BODY_READ_SECONDS": "4"})
    process.start()
    yield process
    try:
        process.terminate(20)
    except Exception:
        process.kill()


class Drip:
    """``sockets`` each sent ``data`` one byte per second, in a thread, until :meth:`stop`."""

    def __init__(self, sockets: list[socket.socket], data: bytes):
        self.sockets, self.data = sockets, data
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        position = 0
        while not self.stopped.is_set() and position < len(self.data):
            for sock in self.sockets:
                try:
                    sock.send(self.data[position:position + 1])
                except OSError:
                    pass
            position += 1
            self.stopped.wait(1)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(5)


def answer_or_close(sock: socket.socket, timeout: float) -> bytes:
    """What the server sends before it closes (b"" for a plain close; a reset, when the server
    closed while bytes were still coming, ends it too); raises on a time-out."""
    sock.settimeout(timeout)
    received = b""
    while True:
        try:
            piece = sock.recv(4096)
        except ConnectionResetError:
            return received
        if not piece:
            return received
        received += piece


@pytest.mark.parametrize("slow_part", ["head", "body"])
def test_slow_clients_hold_no_thread_and_are_closed(served, slow_part):
    sockets = [socket.create_connection(("127.0.0.1", served.port), timeout=10) for _ in range(SLOW)]
    try:
        if slow_part == "body":
            for sock in sockets:
                sock.sendall(HEAD + b"Content-Length: 1000\r\n\r\n")
            drip = Drip(sockets, b"{" * 1000)
        else:
            drip = Drip(sockets, HEAD)
        try:
            probe = served.post_webhook(ld_entry(f"probe-{slow_part}"))  # requests' time-out: 10 s
            assert probe.status_code == 202, probe.text
            answers = [answer_or_close(sock, 15) for sock in sockets]
        finally:
            drip.stop()
    finally:
        for sock in sockets:
            sock.close()
    assert all(a.startswith(b"HTTP/1.1 408") or a == b"" for a in answers), {a[:40] for a in answers}
    assert all(b"application/json" in a for a in answers if a)
