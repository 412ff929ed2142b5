"""Reading a request body under a size limit: a 413 that names the limit and the setting raising it."""

from __future__ import annotations

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from .responses import ApiError


def read_body(limit: int, setting: str) -> bytes:
    """The request body (cached on the request), or :class:`ApiError` 413 when it is larger than
    ``limit`` bytes: by its ``Content-Length``, or, for a body without one, while it is read."""
    length = request.content_length
    if length is not None and length > limit:
        raise ApiError(413, f"the body is {length} bytes; the limit is {limit} bytes ({setting})")
    request.max_content_length = limit
    try:
        return request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise ApiError(413, f"the body is larger than the limit of {limit} bytes ({setting})") from None
