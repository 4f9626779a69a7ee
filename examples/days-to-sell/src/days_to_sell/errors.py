"""The two ways a task stops on purpose: a bad parameter (exit 2) or a failed step (exit 1).

Both carry a message meant for the person reading the Databricks run's log; the task runner prints it
to stderr without a traceback. Anything else that goes wrong is a bug and keeps its traceback.
"""

from __future__ import annotations


class ParameterError(ValueError):
    """A ``--name=value`` parameter the task cannot accept (unknown, missing, malformed)."""


class TaskError(RuntimeError):
    """A step that must not go on: failed integrity check, worse model, conflicting published object..."""
