"""HTML forms from a plugin's config JSON Schema, and the submitted form back into a config.

Every input is named by its field path (``config.url``, ``config.environment_mappings.1.ld_project``),
the same paths the validation reports its errors at, so an error lands beside its field. Nothing here
validates: the submitted config goes through the same validation as the API's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ROWS_MARK = "__row"
"""Each row of a list of objects carries a hidden input ``<path>.__row`` whose value is its index."""
GROUPED_ENUM = 15
"""Menus with more choices than this are grouped by the choices' first word."""

_INDEX = re.compile(r"^\d+$")


@dataclass
class FormField:
    """One input (or group of inputs) of a generated form."""

    path: str
    key: str
    label: str
    kind: str  # text, url, secret, integer, number, checkbox, select, lines, json, rows, group
    required: bool = False
    description: str = ""
    default: Any = None
    value: Any = None
    errors: list[str] = field(default_factory=list)
    choices: list[str] = field(default_factory=list)
    groups: list[tuple[str, list[str]]] = field(default_factory=list)
    children: list[FormField] = field(default_factory=list)  # a group's fields
    rows: list[list[FormField]] = field(default_factory=list)  # a list of objects: one list per row
    template: list[FormField] = field(default_factory=list)  # a blank row, for adding rows
    stored_mask: str | None = None  # a secret already stored: how the API shows it
    retype: bool = False  # a secret typed in the form shown again: never sent back, it must be typed again

    @property
    def dom_id(self) -> str:
        return dom_id(self.path)

    @property
    def searchable(self) -> bool:
        return bool(self.groups)


def dom_id(path: str) -> str:
    """The HTML id of the input at ``path``."""
    return "f-" + re.sub(r"[^A-Za-z0-9_-]", "-", path)


def label_for(key: str, node: Mapping[str, Any]) -> str:
    title = node.get("title")
    if isinstance(title, str) and title.strip():
        return title
    words = key.replace("_", " ").replace("-", " ").strip()
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", words)
    text = words[:1].upper() + words[1:]
    return re.sub(r"\b(url|api|id|ld)\b", lambda m: {"ld": "LaunchDarkly"}.get(m.group(1).lower(), m.group(1).upper()), text,
                  flags=re.IGNORECASE)


def _kind(node: Mapping[str, Any]) -> str:
    kind = node.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if node.get("enum"):
        return "select"
    if kind == "boolean":
        return "checkbox"
    if kind in ("integer", "number"):
        return kind
    if kind == "array":
        items = node.get("items") or {}
        if items.get("type") == "object" and items.get("properties"):
            return "rows"
        if items.get("type") in (None, "string", "integer", "number"):
            return "lines"
        return "json"
    if kind == "object":
        return "group" if node.get("properties") else "json"
    if node.get("writeOnly"):
        return "secret"
    if node.get("format") in ("url", "uri"):
        return "url"
    return "text"


def group_choices(choices: list[str]) -> list[tuple[str, list[str]]]:
    """Choices grouped by their first word (``AZURE_VM`` under ``AZURE``); words that start only one
    choice go together under "Other"."""
    by_word: dict[str, list[str]] = {}
    for choice in choices:
        by_word.setdefault(re.split(r"[_\s.-]", str(choice), maxsplit=1)[0], []).append(choice)
    groups = [(word, items) for word, items in by_word.items() if len(items) > 1]
    others = [c for items in by_word.values() if len(items) == 1 for c in items]
    groups.sort(key=lambda g: g[0])
    if others:
        groups.append(("Other", sorted(others)))
    return groups


def build_fields(schema: Mapping[str, Any], values: Mapping[str, Any] | None, errors: Mapping[str, list[str]],
                 prefix: str = "config", masks: Mapping[str, str] | None = None) -> list[FormField]:
    """The fields of an object schema, filled with ``values`` and the ``errors`` at their paths.
    ``masks`` are the stored secrets as the API shows them (edit form)."""
    values = values or {}
    masks = masks or {}
    required = set(schema.get("required") or ())
    fields_: list[FormField] = []
    for key, node in (schema.get("properties") or {}).items():
        path = f"{prefix}.{key}"
        kind = _kind(node)
        item = FormField(
            path=path, key=key, label=label_for(key, node), kind=kind, required=key in required,
            description=str(node.get("description") or ""), default=node.get("default"),
            errors=list(errors.get(path, ())),
        )
        value = values.get(key)
        if kind == "group":
            item.children = build_fields(node, value if isinstance(value, Mapping) else {}, errors, path)
        elif kind == "rows":
            items_schema = node["items"]
            rows = value if isinstance(value, list) else []
            item.rows = [build_fields(items_schema, row if isinstance(row, Mapping) else {}, errors, f"{path}.{i}")
                         for i, row in enumerate(rows)]
            item.template = build_fields(items_schema, {}, {}, f"{path}.__INDEX__")
            for index in range(len(rows)):
                row_errors = errors.get(f"{path}.{index}")
                if row_errors and item.rows[index]:
                    item.rows[index][0].errors = list(row_errors) + item.rows[index][0].errors
        elif kind == "secret":
            item.stored_mask = masks.get(key)
        else:
            if kind == "select":
                item.choices = [str(c) for c in node["enum"]]
                if len(item.choices) > GROUPED_ENUM:
                    item.groups = group_choices(item.choices)
            if kind == "lines" and isinstance(value, list):
                value = "\n".join(str(v) for v in value)
            elif kind == "json" and value is not None and not isinstance(value, str):
                value = json.dumps(value, indent=2)
            item.value = value
        fields_.append(item)
    return fields_


def defaults(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The values a new form starts with: the schema's defaults, and one blank row for each required
    list of objects."""
    out: dict[str, Any] = {}
    for key, node in (schema.get("properties") or {}).items():
        if node.get("default") is not None:
            out[key] = node["default"]
        elif _kind(node) == "rows" and key in (schema.get("required") or ()):
            out[key] = [{}]
    return out


def all_paths(fields_: list[FormField]) -> set[str]:
    """Every path an error can be shown at in these fields (rows and groups included)."""
    paths: set[str] = set()
    for item in fields_:
        paths.add(item.path)
        paths |= all_paths(item.children)
        for index, row in enumerate(item.rows):
            paths.add(f"{item.path}.{index}")
            paths |= all_paths(row)
    return paths


def path_labels(fields_: list[FormField], within: str = "") -> dict[str, str]:
    """What to call each path in messages, as the form shows it: labels, and rows counted from 1
    (``config.targets.1.name`` is "Targets, row 2: Name")."""
    labels: dict[str, str] = {}
    for item in fields_:
        here = f"{within}{item.label}"
        labels[item.path] = here
        labels.update(path_labels(item.children, f"{here}: "))
        for index, row in enumerate(item.rows):
            labels[f"{item.path}.{index}"] = f"{here}, row {index + 1}"
            labels.update(path_labels(row, f"{here}, row {index + 1}: "))
    return labels


# reading a submitted form ----------------------------------------------------------------------

@dataclass
class Submitted:
    """A submitted config form: ``config`` for validation, ``shown`` to fill the form again."""

    config: dict[str, Any]
    shown: dict[str, Any]


def _number(text: str, kind: str) -> Any:
    try:
        return int(text) if kind == "integer" else float(text)
    except ValueError:
        return text  # the validation says what is wrong with it


def _scalar(kind: str, text: str) -> Any:
    if kind in ("integer", "number"):
        return _number(text, kind)
    return text


def read_form(schema: Mapping[str, Any], form: Any, prefix: str = "config", *, editing: bool = False,
              keep_blank_rows: bool = False) -> Submitted:
    """The config in a submitted form (``form`` is a werkzeug ``MultiDict``).

    A blank field is left out, so that the default applies; when ``editing``, a blank non-secret
    field is sent as null (which removes it) and a blank secret is left out (which keeps it). Rows
    are renumbered in the order they came; wholly blank rows are dropped unless ``keep_blank_rows``.
    """
    config: dict[str, Any] = {}
    shown: dict[str, Any] = {}
    for key, node in (schema.get("properties") or {}).items():
        path = f"{prefix}.{key}"
        kind = _kind(node)
        if kind == "checkbox":
            config[key] = shown[key] = form.get(path) is not None
        elif kind == "group":
            sub = read_form(node, form, path, editing=editing, keep_blank_rows=keep_blank_rows)
            if sub.config or not editing:
                config[key] = sub.config
            shown[key] = sub.shown
        elif kind == "rows":
            rows_config, rows_shown = [], []
            for index in form.getlist(f"{path}.{ROWS_MARK}"):
                if not _INDEX.match(index):
                    continue
                sub = read_form(node["items"], form, f"{path}.{index}", keep_blank_rows=keep_blank_rows)
                if not sub.config and not keep_blank_rows:
                    continue
                rows_config.append(sub.config)
                rows_shown.append(sub.shown)
            config[key] = rows_config
            shown[key] = rows_shown
        else:
            text = form.get(path)
            if text is None:
                continue  # not in the form at all: leave it as it is
            text = text.strip() if kind != "secret" else text
            if kind != "secret":
                shown[key] = text
            if text == "":
                if editing and kind != "secret":
                    config[key] = None
                continue
            if kind == "lines":
                item_kind = _kind(node.get("items") or {})
                config[key] = [_scalar(item_kind, line.strip()) for line in text.splitlines() if line.strip()]
            elif kind == "json":
                try:
                    config[key] = json.loads(text)
                except ValueError:
                    config[key] = text
            else:
                config[key] = _scalar(kind, text)
    return Submitted(config=config, shown=shown)


def add_row(shown: dict[str, Any], path: str, prefix: str = "config") -> bool:
    """Add a blank row to the list of objects at ``path`` (no-JavaScript "add row")."""
    target = _list_at(shown, path, prefix)
    if target is None:
        return False
    target.append({})
    return True


def remove_row(shown: dict[str, Any], path: str, prefix: str = "config") -> bool:
    """Remove the row at ``path`` (``config.environment_mappings.1``)."""
    parent, _, index = path.rpartition(".")
    target = _list_at(shown, parent, prefix)
    if target is None or not _INDEX.match(index) or int(index) >= len(target):
        return False
    del target[int(index)]
    return True


def _list_at(shown: dict[str, Any], path: str, prefix: str) -> list | None:
    if not path.startswith(prefix + "."):
        return None
    node: Any = shown
    for part in path[len(prefix) + 1:].split("."):
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and _INDEX.match(part) and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node if isinstance(node, list) else None
