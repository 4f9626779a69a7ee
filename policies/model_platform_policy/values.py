"""Reading resource properties as the Analyzer delivers them.

Properties arrive as read-only proxies (``Mapping``/``Sequence``, not
``dict``/``list``) that raise ``UnknownValueError`` when a rule touches a
value not known during preview; numbers arrive as floats (protobuf). These
helpers read optional, nested values without caring about either.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Iterator, Optional, Union

from pulumi_policy.proxy import UnknownValueError

Key = Union[str, int]


class Unknown:
    """A value known only after deployment (``pulumi preview`` of a resource not created yet)."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = Unknown()


def known(read: Callable[[], Any]) -> Any:
    """``read()``, or :data:`UNKNOWN` where it touches a value not known during preview.

    Stack rules that join resources use it, so one value unknown in preview
    does not stop the whole rule for every resource of the stack.
    """
    try:
        return read()
    except UnknownValueError:
        return UNKNOWN


def is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def get(value: Any, *path: Key, default: Any = None) -> Any:
    """``value[path[0]][path[1]]...``, or ``default`` when any step is missing or None."""
    for key in path:
        if isinstance(key, int):
            if not is_list(value) or not -len(value) <= key < len(value):
                return default
            value = value[key]
        elif isinstance(value, Mapping) and key in value:
            value = value[key]
        else:
            return default
    return default if value is None else value


def items(value: Any) -> list[Any]:
    """A list property as a list; missing or not a list: empty."""
    return list(value) if is_list(value) else []


def mapping(value: Any) -> Mapping[str, Any]:
    """A map property; missing or not a map: empty."""
    return value if isinstance(value, Mapping) else {}


def number(value: Any) -> Optional[float]:
    """A number (booleans are not numbers), or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def show(value: Any) -> str:
    """A value for a message: ``2`` rather than ``2.0``, ``unset`` rather than ``None``."""
    if value is None:
        return "unset"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, str) else str(value)


def walk(value: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Every ``(path, key, value)`` below ``value``; list items get ``[i]`` paths and their index as key."""
    if isinstance(value, Mapping):
        for key in value:
            child = value[key]
            child_path = f"{path}.{key}" if path else str(key)
            yield child_path, key, child
            yield from walk(child, child_path)
    elif is_list(value):
        for index, child in enumerate(value):
            child_path = f"{path}[{index}]"
            yield child_path, index, child
            yield from walk(child, child_path)


def json_document(text: Any) -> Optional[Any]:
    """A JSON document given as text (IAM policies, Databricks cluster policies), or None if it is not JSON."""
    if isinstance(text, Mapping):
        return text
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None
