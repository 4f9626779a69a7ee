"""Errors every ``modelctl`` command may raise, in a module that imports nothing heavy.

``modelctl.cli`` reports these without loading the planning machinery first.
"""


class UsageError(Exception):
    """A command-line mistake (exit 2)."""
