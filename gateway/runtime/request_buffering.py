"""Reading whole requests before a thread takes them (``serve`` under gunicorn).

Gunicorn's threaded worker hands a connection to a thread as soon as its first byte arrives, and
the thread then reads the request with blocking calls: a client sending one byte a second holds a
thread for as long as it likes, and as many such clients as threads stall every webhook. Here the
worker's event loop reads each request itself, without blocking, until it holds the whole of it
(request line, headers, and the body by its ``Content-Length`` or its chunks); only then does a
thread parse and answer it, from memory. A request whose head does not arrive within
``GATEWAY_HEADER_READ_SECONDS``, or whose body does not arrive within ``GATEWAY_BODY_READ_SECONDS``
after its head, is answered 408 and closed; one whose head passes 64 KiB is answered 431, and one
whose body passes the larger body limit 413, without reading the rest. What this reader cannot
frame (a malformed length, an unknown transfer coding) goes to the thread at once, whose parser
answers the error from what is held.

:class:`RequestBuffer` is the framing, kept apart from sockets; :class:`BufferingMixin` puts it in
gunicorn's worker (:class:`gateway.runtime.prefork.GatewayWorker`).
"""

from __future__ import annotations

import errno
import selectors
import time
from dataclasses import dataclass
from functools import partial

from gateway.runtime.server_errors import MAX_HEADER_BYTES, json_error

MAX_CHUNK_LINE = 4096
"""Longest chunk-size line (size and extensions) read before giving the request to the parser."""


@dataclass(frozen=True)
class ReadLimits:
    """How long a request may take to arrive, and how large its body may be."""

    head_seconds: float
    body_seconds: float
    max_body: int


READY = "ready"  # the whole request is held: a thread may answer it
MORE = "more"  # wait for more bytes
PASS = "pass"  # cannot be framed here: the thread's parser answers the error from what is held


class RequestBuffer:
    """One request being read: the bytes so far, how far they are framed, and the deadline."""

    def __init__(self, data: bytes, now: float, limits: ReadLimits):
        self.data = bytearray(data)
        self.limits = limits
        self.deadline = now + limits.head_seconds
        self.head_end: int | None = None  # where the body starts
        self.end: int | None = None  # where the request ends, once known
        self.chunked = False
        self.chunk_at = 0  # start of the next chunk's size line
        self.payload = 0  # chunk bytes so far
        self.wants_continue = False
        self.error: tuple[int, str] | None = None

    def feed(self, chunk: bytes, now: float) -> str:
        self.data += chunk
        return self.check(now)

    def check(self, now: float) -> str:
        """READY, MORE or PASS for what is held; an error to answer sets :attr:`error` (and PASS)."""
        if self.head_end is None:
            found = self.data.find(b"\r\n\r\n", 0, MAX_HEADER_BYTES + 4)
            if found < 0:
                if len(self.data) > MAX_HEADER_BYTES:
                    return self._fail(431, f"the request line and headers are larger than {MAX_HEADER_BYTES} bytes")
                return MORE
            self.head_end = found + 4
            framing = self._read_head(bytes(self.data[:found]))
            if framing != MORE:
                return framing
            self.deadline = now + self.limits.body_seconds
        if self.chunked:
            return self._scan_chunks()
        return READY if len(self.data) >= self.end else MORE  # type: ignore[operator]

    def _fail(self, status: int, message: str) -> str:
        self.error = (status, message)
        return PASS

    def _read_head(self, head: bytes) -> str:
        lines = head.split(b"\r\n")
        lengths, codings = [], []
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                return PASS
            name = name.strip().lower()
            if name == b"content-length":
                lengths.append(value.strip())
            elif name == b"transfer-encoding":
                codings += [c.strip().lower() for c in value.split(b",")]
            elif name == b"expect" and value.strip().lower() == b"100-continue":
                self.wants_continue = lines[0].rstrip().endswith(b"HTTP/1.1")
        if codings:
            if lengths or codings[-1] != b"chunked":
                return PASS  # the parser refuses these (400 or 501)
            self.chunked, self.chunk_at = True, self.head_end  # type: ignore[assignment]
            return MORE
        if not lengths:
            self.end = self.head_end
            return READY
        if len(set(lengths)) > 1 or not lengths[0].isdigit() or len(lengths[0]) > 18:
            return PASS
        length = int(lengths[0])
        if length > self.limits.max_body:
            return self._fail(413, f"the body is {length} bytes; the limit is {self.limits.max_body} bytes "
                                   "(GATEWAY_MAX_BODY_BYTES, GATEWAY_MAX_API_BODY_BYTES)")
        self.end = self.head_end + length  # type: ignore[operator]
        return MORE if length else READY

    def _scan_chunks(self) -> str:
        data = self.data
        while True:
            line_end = data.find(b"\r\n", self.chunk_at, self.chunk_at + MAX_CHUNK_LINE)
            if line_end < 0:
                return PASS if len(data) - self.chunk_at > MAX_CHUNK_LINE else MORE
            size_text = bytes(data[self.chunk_at:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16) if size_text and len(size_text) <= 16 else -1
            except ValueError:
                size = -1
            if size < 0 or not all(c in b"0123456789abcdefABCDEF" for c in size_text):
                return PASS
            if size == 0:  # the last chunk, then trailers up to an empty line
                if data[line_end + 2:line_end + 4] == b"\r\n":
                    self.end = line_end + 4
                    return READY
                trailers = data.find(b"\r\n\r\n", line_end + 2, line_end + 2 + MAX_HEADER_BYTES)
                if trailers < 0:
                    return PASS if len(data) - line_end > MAX_HEADER_BYTES else MORE
                self.end = trailers + 4
                return READY
            self.payload += size
            if self.payload > self.limits.max_body:
                return self._fail(413, f"the body is larger than the limit of {self.limits.max_body} bytes "
                                       "(GATEWAY_MAX_BODY_BYTES, GATEWAY_MAX_API_BODY_BYTES)")
            after = line_end + 2 + size + 2
            if len(data) < after:
                self.payload -= size  # counted again when the chunk is whole
                return MORE
            self.chunk_at = after

    def expired(self, now: float) -> bool:
        return now >= self.deadline

    def late_message(self) -> str:
        if self.head_end is None:
            return "the request line and headers did not arrive in time (GATEWAY_HEADER_READ_SECONDS)"
        return "the request body did not arrive in time (GATEWAY_BODY_READ_SECONDS)"


class BufferingMixin:
    """For gunicorn's ``ThreadWorker``: every request, new or on a kept-alive connection, is read in
    the event loop (:class:`RequestBuffer`) before :meth:`enqueue_req` gives it to a thread."""

    read_limits: ReadLimits = ReadLimits(10.0, 30.0, 1 << 20)
    reading: dict

    def enqueue_req(self, conn) -> None:
        if getattr(conn, "gateway_ready", None) is not None:
            super().enqueue_req(conn)  # type: ignore[misc]
            return
        held = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        self._start_reading(conn, held)

    def handle(self, conn):
        held = getattr(conn, "gateway_ready", None)
        if held is not None:
            conn.gateway_ready = None
            conn.data_ready = True  # no waiting for a first byte: the whole request is here
            conn.sock.setblocking(True)
            conn.init()
            conn.parser.unreader.unread(held)
        return super().handle(conn)  # type: ignore[misc]

    def _start_reading(self, conn, held: bytes) -> None:
        if not hasattr(self, "reading"):
            self.reading = {}
        conn.sock.setblocking(False)
        buffer = RequestBuffer(held, time.monotonic(), self.read_limits)
        outcome = buffer.check(time.monotonic()) if held else MORE
        if outcome != MORE:
            self._settle(conn, buffer, outcome, registered=False)
            return
        self.reading[conn] = buffer
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))  # type: ignore[attr-defined]

    def _on_readable(self, conn, _sock) -> None:
        buffer = self.reading.get(conn)
        if buffer is None:
            return
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(conn, registered=True)
            return
        outcome = buffer.feed(data, time.monotonic())
        if outcome == MORE:
            if buffer.wants_continue and buffer.head_end is not None:
                buffer.wants_continue = False
                self._send(conn, b"HTTP/1.1 100 Continue\r\n\r\n")
            return
        self._settle(conn, buffer, outcome, registered=True)

    def _settle(self, conn, buffer: RequestBuffer, outcome: str, registered: bool) -> None:
        if registered:
            self._unregister(conn)
        self.reading.pop(conn, None)
        if buffer.error is not None:
            self._answer_and_close(conn, *buffer.error)
            return
        conn.gateway_ready = bytes(buffer.data)
        self.enqueue_req(conn)

    def murder_pending(self) -> None:
        super().murder_pending()  # type: ignore[misc]
        now = time.monotonic()
        stopping = not self.alive  # type: ignore[attr-defined]
        for conn, buffer in list(getattr(self, "reading", {}).items()):
            if stopping and not buffer.data:
                self.reading.pop(conn, None)
                self._close(conn, registered=True)
            elif buffer.expired(now):
                self.reading.pop(conn, None)
                self._unregister(conn)
                if buffer.data:
                    self._answer_and_close(conn, 408, buffer.late_message())
                else:
                    self._close(conn, registered=False)

    def _unregister(self, conn) -> None:
        try:
            self.poller.unregister(conn.sock)  # type: ignore[attr-defined]
        except (KeyError, ValueError, OSError):
            pass

    def _send(self, conn, data: bytes) -> None:
        try:
            conn.sock.send(data)  # non-blocking: what does not fit is dropped
        except OSError:
            pass

    def _answer_and_close(self, conn, status: int, message: str) -> None:
        self._send(conn, json_error(status, message))
        self._close(conn, registered=False)

    def _close(self, conn, registered: bool) -> None:
        if registered:
            self._unregister(conn)
        self.reading.pop(conn, None)
        self.nr_conns -= 1  # type: ignore[attr-defined]
        try:
            conn.close()
        except OSError as exc:
            if exc.errno != errno.EBADF:
                raise
