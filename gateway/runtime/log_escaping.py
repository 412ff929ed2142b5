"""One log record, one line: control characters in what the gateway logs are escaped.

Values from outside — a webhook's ``_id``, a remote answer, a user's input — reach log messages as
arguments. A newline among them would let them write a line that looks like another record (a fake
``gateway.audit`` line, say). :func:`install` makes every record of the gateway's loggers (``gateway``,
``gateway.*``, and the plugins' ``gateway_*``) carry its message with CR, LF, NUL, the other C0 and C1
control characters and the Unicode line separators escaped (``\\n``, ``\\x00``, ``\\u2028``), whatever
handler or formatter the application uses. A traceback attached to a record (``exc_info``) is left
as it is: the formatter writes it, not the message.
"""

from __future__ import annotations

import logging
import re
import threading

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` with its control characters escaped, so that it stays on one line."""
    return _CONTROL.sub(_escape, text)


def is_gateway_logger(name: str) -> bool:
    return name == "gateway" or name.startswith(("gateway.", "gateway_"))


def escape_record(record: logging.LogRecord) -> None:
    """Escape the message of ``record`` (its arguments merged in) when it has a control character."""
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: logging reports it when the record is written
        return
    if _CONTROL.search(message):
        record.msg, record.args = escape_controls(message), None


_lock = threading.Lock()
_installed = False


def install() -> None:
    """Escape the records of the gateway's loggers from now on, in this process (once; the record
    factory in place is kept and called first)."""
    global _installed
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args, **kwargs) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if is_gateway_logger(record.name):
                escape_record(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True
