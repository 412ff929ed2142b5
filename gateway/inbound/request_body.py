"""Reading a request body under a size limit: a 413 that names the limit and the setting raising it."""

from __future__ import annotations

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from gateway.responses import ApiError


def read_body(limit: int, setting: str) -> bytes:
    """The request body (cached on the request), or :class:`ApiError` 413 when it is larger than
    ``limit`` bytes: by its ``Content-Length``, or, for a body without one (chunked), while it is
    read. A server that ends the input stream itself (gunicorn) has werkzeug stop reading at the
    limit without an error: one more byte read past it tells a body cut there from one that ends
    there."""
    length = request.content_length
    if length is not None and length > limit:
        raise ApiError(413, f"the body is {length} bytes; the limit is {limit} bytes ({setting})")
    request.max_content_length = limit
    too_large = ApiError(413, f"the body is larger than the limit of {limit} bytes ({setting})")
    try:
        body = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise too_large from None
    if length is None and len(body) >= limit and request.environ.get("wsgi.input_terminated"):
        if request.environ["wsgi.input"].read(1):
            raise too_large
    return body
