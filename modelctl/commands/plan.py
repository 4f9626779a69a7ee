"""``modelctl plan STACK [--json]``: the resources a stack declares, offline."""

from __future__ import annotations

import argparse
import json

#: The hidden flag ``modelctl diff --base`` passes to the modelctl of another revision.
JSON_FULL_FLAG = "--json-full"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan", help="run the program under Pulumi's mock engine and print the resource tree")
    p.add_argument("stack", help="stack name (stacks/Pulumi.<stack>.yaml) or a stack file path")
    p.add_argument("--json", action="store_true", help="print the plan as a JSON document")
    # Internal (diff --base): the JSON plus options, dependencies and secrets' keyed fingerprints
    # ($MODELCTL_FINGERPRINT_KEY), everything engine.Plan.from_json needs. Not a public contract.
    p.add_argument(JSON_FULL_FLAG, dest="json_full", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from modelctl.engine import plan_stack_file
    from modelctl.stacks import resolve_stack
    from modelctl.tree import format_tree

    ref = resolve_stack(args.stack)
    plan = plan_stack_file(ref.load(), ref.name)
    if args.json or args.json_full:
        print(json.dumps(plan.to_json(full=args.json_full), indent=2, sort_keys=True))
    else:
        print(format_tree(plan))
    return 0
