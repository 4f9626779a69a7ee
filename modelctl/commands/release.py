"""``modelctl release``: not built yet (see the issue tracker)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("release", help="(not built yet)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    print("modelctl release: not built yet")
    return 2
