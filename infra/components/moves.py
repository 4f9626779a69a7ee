"""Logical names that never follow a value a user edits, and the aliases that keep older stacks in place.

A resource whose logical name came from config (a Secret's or a namespace's
name) would be replaced, under a new URN, whenever that value changed. Each
such resource now has a fixed logical name; ``moved_from`` gives it an alias
to the name it had, so a stack created before sees a move (same URN history),
never a replacement. Each fixed name is the default of the value it used to
follow, so a stack on the defaults sees no change at all.
"""

from __future__ import annotations

from typing import Optional

import pulumi


def moved_from(old_name: str, logical_name: str) -> Optional[list[pulumi.Alias]]:
    """``[Alias(name=old_name)]`` when the resource used to be named ``old_name``; None when the names agree."""
    return None if old_name == logical_name else [pulumi.Alias(name=old_name)]
