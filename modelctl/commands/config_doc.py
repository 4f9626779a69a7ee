"""``modelctl config-doc``: every config key with its type, default and meaning, from the schema."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config-doc", help="print the stack config reference (Markdown) generated from the schema")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from modelctl.config_doc import render_config_doc

    print(render_config_doc(), end="")
    return 0
