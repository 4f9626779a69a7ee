"""How a planned value reads in ``modelctl plan`` and ``modelctl diff`` text.

Values are spelled as in the JSON plan and the stack file (``null``,
``true``, ``{"a": 1}``), never as Python reprs. One-line values are shown
whole: an ARN, an image digest or a URI cut short is a value a reviewer
cannot check. Only a document is cut, one line long, with a marker saying
how much is left out and where to read it whole: a JSON document (an IAM
policy, a cluster policy definition, a kubeconfig) longer than
:data:`DOCUMENT_LIMIT`, or a text of several lines (a file's content).
"""

from __future__ import annotations

import json
from typing import Any, Optional

from infra.stack_source import SECRET_PLACEHOLDER
from modelctl.engine import UNKNOWN_PLACEHOLDER, Secret, to_plain

#: Characters of a document shown before it is cut.
DOCUMENT_LIMIT = 80
#: A document at most this much longer than the limit is shown whole: a marker would hide less than it takes.
_SLACK = 30
#: What follows a cut document: how many characters are left out, and where to see them.
CUT_MARKER = "… [{hidden} more chars: see plan --json]"
_CONTROL = str.maketrans({"\n": "\\n", "\r": "\\r", "\t": "\\t"})


def json_document(value: Any) -> Optional[Any]:
    """The non-empty object or array a string holds as JSON text (IAM policies, cluster policies), else None."""
    if not isinstance(value, str) or value[:1] not in ("{", "["):
        return None
    try:
        document = json.loads(value)
    except ValueError:
        return None
    return document if isinstance(document, (dict, list)) and document else None


def show_value(value: Any, *, quote_strings: bool = False, limit: int = DOCUMENT_LIMIT) -> str:
    """One line for ``value``; ``quote_strings`` quotes plain strings (a diff tells ``''`` from absent)."""
    if isinstance(value, Secret) or value == SECRET_PLACEHOLDER:
        return SECRET_PLACEHOLDER
    if value == UNKNOWN_PLACEHOLDER:
        return UNKNOWN_PLACEHOLDER
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list, tuple)):
        return cut_document(json.dumps(to_plain(value), ensure_ascii=False), limit=limit)
    if isinstance(value, str):
        document = json_document(value)
        if document is not None:
            return cut_document(json.dumps(document, ensure_ascii=False), limit=limit)
        if "\n" in value.strip("\n"):
            first_line = value.strip("\n").split("\n", 1)[0]
            return cut_document(value.translate(_CONTROL), limit=min(limit, len(first_line)), slack=0)
        return repr(value) if quote_strings else value.translate(_CONTROL)
    return str(value)


def cut_document(text: str, *, limit: int = DOCUMENT_LIMIT, slack: int = _SLACK) -> str:
    """``text`` (a document on one line), cut after ``limit`` characters with :data:`CUT_MARKER`."""
    if len(text) <= limit + slack:
        return text
    return text[:limit] + CUT_MARKER.format(hidden=len(text) - limit)
