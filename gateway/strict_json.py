"""Reading JSON from outside the gateway, strictly.

Every request body the gateway reads as JSON goes through :func:`loads`. Besides what the JSON
grammar refuses, it refuses what Python's ``json`` module would accept but the gateway cannot use
safely or store faithfully:

* nesting deeper than :data:`MAX_DEPTH` (Python's parser would recurse until ``RecursionError``);
* an integer of more than :data:`MAX_INTEGER_DIGITS` digits (slow to convert, and past 4,300
  digits Python refuses it with an error of its own);
* ``NaN``, ``Infinity``, ``-Infinity`` and numbers too large for a float (not JSON, and a stored
  ``NaN`` is served back as invalid JSON);
* a lone UTF-16 surrogate such as ``"\\ud800"`` (cannot be encoded as UTF-8, so neither stored
  nor sent on);
* a NUL character (``"\\u0000"``) in any string, key or value (PostgreSQL cannot store it in text,
  and it would cut a log line short);
* a body that is not UTF-8.

:class:`InvalidJson` carries a message meant for the sender.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 100
"""Deepest nesting of arrays and objects accepted."""
MAX_INTEGER_DIGITS = 100
"""Most digits an integer may have."""

_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NUL_ESCAPE = re.compile(r"\\u0000")
_NUL = re.compile("\x00")


class InvalidJson(ValueError):
    """A body that is not acceptable JSON; ``message`` says why, for the sender."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _outside_strings(text: str) -> str:
    """``text`` without its string literals: escaped backslashes and quotes are dropped first, then
    every other piece between quotes is a string (all done by C-level string methods)."""
    return "".join(text.replace("\\\\", "").replace('\\"', "").split('"')[0::2])


def _too_deep(text: str) -> bool:
    """Whether ``text`` nests deeper than :data:`MAX_DEPTH`, counted outside strings."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False  # not enough brackets to get there, wherever they are
    brackets = _NOT_BRACKET.sub("", _outside_strings(text))
    depth = 0
    for bracket in brackets:
        if bracket in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        else:
            depth -= 1
    return False


def _refuse_constant(name: str) -> Any:
    raise InvalidJson(f"malformed JSON: {name} is not a JSON number")


def _integer(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INTEGER_DIGITS:
        raise InvalidJson(f"malformed JSON: an integer of {digits} digits; at most {MAX_INTEGER_DIGITS} are accepted")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidJson(f"malformed JSON: the number {text[:40]} is too large")
    return value


def _find_string(value: Any, wanted: re.Pattern[str]) -> bool:
    """Whether any string in ``value`` (keys included) matches ``wanted``."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if wanted.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def loads(body: bytes | str) -> Any:
    """``body`` parsed as JSON, or :class:`InvalidJson` saying what is wrong with it."""
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidJson("malformed JSON: the body is not UTF-8") from None
    else:
        text = body
    if text.startswith("\ufeff"):
        raise InvalidJson("malformed JSON: the body starts with a byte order mark")
    if _too_deep(text):
        raise InvalidJson(f"malformed JSON: nested deeper than {MAX_DEPTH} levels")
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_int=_integer, parse_float=_float)
    except json.JSONDecodeError as exc:
        raise InvalidJson(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:  # not reached after the depth check; kept as a guard
        raise InvalidJson(f"malformed JSON: nested deeper than {MAX_DEPTH} levels") from None
    if _SURROGATE_ESCAPE.search(text) and _find_string(value, _SURROGATE):
        raise InvalidJson("malformed JSON: a string holds a lone UTF-16 surrogate (\\ud800-\\udfff not in a pair)")
    if _NUL_ESCAPE.search(text) and _find_string(value, _NUL):
        raise InvalidJson("refused JSON: a string holds a NUL character (\\u0000)")
    return value
