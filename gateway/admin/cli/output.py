"""How the commands print: JSON on stdout, errors on stderr with a non-zero exit."""

from __future__ import annotations

import functools
import json
from typing import Any, Callable, TypeVar

import click

from gateway import strict_json
from gateway.responses import ApiError

T = TypeVar("T")


def emit(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def run_operation(call: Callable[[], T]) -> T:
    """Run one of the admin actions shared with the API and the UI (:mod:`gateway.admin.operations`,
    :mod:`gateway.admin.connection_actions`; each records itself in the audit log with origin ``cli``) and
    turn its refusal into the command's error: the same message the API answers, and the fields
    at fault."""
    try:
        return call()
    except ApiError as exc:
        if exc.errors:
            fail_with_errors(f"{exc.message}:", exc.errors)
        raise click.ClickException(exc.message) from None


def parse_json_option(value: str | None, name: str) -> Any:
    """A JSON option value, or ``@path`` to read it from a file."""
    if value is None:
        return None
    text = value
    if value.startswith("@"):
        try:
            with open(value[1:], encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise click.BadParameter(f"cannot read {value[1:]}: {exc.strerror}", param_hint=name) from None
    try:
        return strict_json.loads(text)
    except strict_json.InvalidJson as exc:
        raise click.BadParameter("not valid JSON: " + exc.message.removeprefix("malformed JSON: "),
                                 param_hint=name) from None


def json_option(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """A click callback: the option's JSON (or ``@path``) read while the command line is parsed, so
    that a bad value stops the command before the app (instance folder, database, admin token) is
    built."""
    return parse_json_option(value, param.opts[0])


def json_object_option(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """:func:`json_option` for an option that must hold a JSON object."""
    data = json_option(ctx, param, value)
    if data is not None and not isinstance(data, dict):
        raise click.BadParameter("must be a JSON object", param_hint=param.opts[0])
    return data


def before_app(check: Callable[..., None]) -> Callable:
    """Run ``check`` with the command's parsed arguments before the command (and its
    ``with_appcontext``, which builds the app) runs: put it above ``with_appcontext``. ``check``
    raises a click error for arguments that do not go together."""

    def decorate(command: Callable) -> Callable:
        @functools.wraps(command)
        def checked(*args: Any, **kwargs: Any) -> Any:
            check(**kwargs)
            return command(*args, **kwargs)

        return checked

    return decorate


def fail_with_errors(message: str, errors: dict[str, list[str]]) -> None:
    lines = [message] + [f"  {path}: {' '.join(msgs)}" for path, msgs in errors.items()]
    raise click.ClickException("\n".join(lines))
