"""``modelctl render STACK --out DIR``: the stack's Kubernetes objects as plain YAML manifests."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "render",
        help="write the stack's Kubernetes objects as YAML manifests, one file per object",
        description="Plans the stack offline and writes every Kubernetes object to DIR/<kind>-<name>.yaml. "
        "Secret values are written as [secret]. Files from an earlier render are replaced; "
        "other files are kept, and a render that would overwrite one is refused.",
    )
    p.add_argument("stack", help="stack name (stacks/Pulumi.<stack>.yaml) or a stack file path")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder to write the manifests to")
    p.add_argument(
        "--validate",
        action="store_true",
        help="also validate the manifests with kubernetes-validate --strict for the stack's kubernetes.version",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from modelctl.engine import plan_stack_file
    from modelctl.render import render_manifests, validate_manifests, write_manifests
    from modelctl.stacks import resolve_stack

    ref = resolve_stack(args.stack)
    stack_file = ref.load()
    manifests = render_manifests(plan_stack_file(stack_file, ref.name))
    for path in write_manifests(manifests, args.out):
        print(path)
    redacted = [m.filename for m in manifests if m.redacted]
    if redacted:
        print(f"secret values written as [secret] in: {', '.join(redacted)}", file=sys.stderr)
    print(f"{len(manifests)} manifests written to {args.out}", file=sys.stderr)
    if args.validate:
        version = stack_file.stack_config().kubernetes.version
        problems = validate_manifests(manifests, version)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            return 1
        print(f"all manifests valid for Kubernetes {version} (strict)", file=sys.stderr)
    return 0
