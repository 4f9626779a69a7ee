"""``modelctl stack-info STACK [--github-output]``: the stack's typed facts CI needs, as ``key=value`` lines.

The workflows need a stack's AWS region, account, EKS cluster and kube context
before they can assume a role or write a kubeconfig. Reading them here, through
the same parser ``pulumi up`` uses, validates the whole stack file first: a
broken or incomplete one stops CI with the usual config errors (exit 2), naming
the file and key path, instead of a ``KeyError`` from hand-written YAML reading.
Unset optional values print as empty (``kube_context=``).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from modelctl.errors import UsageError

if TYPE_CHECKING:
    from infra.config import StackConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stack-info",
        help="print the stack's environment, AWS region and account, EKS cluster, kube context and bundle bucket "
        "(key=value lines, for CI)",
    )
    p.add_argument("stack", help="stack name (stacks/Pulumi.<stack>.yaml) or a stack file path")
    p.add_argument(
        "--github-output",
        action="store_true",
        help="also append the lines to the file named by $GITHUB_OUTPUT (a GitHub Actions step's outputs)",
    )
    p.set_defaults(handler=run)


def stack_facts(cfg: StackConfig) -> dict[str, str]:
    """What CI reads from a stack, by output name; unset optional values are ''."""
    return {
        "environment": cfg.environment.value,
        "aws_region": cfg.aws.region,
        "aws_account_id": cfg.aws.account_id or "",
        "cluster_name": cfg.kubernetes.cluster_name,
        "kube_context": cfg.kubernetes.context or "",
        "bucket_name": cfg.bucket_name,
    }


def format_facts(facts: dict[str, str], label: str) -> str:
    """``key=value`` lines; a value with a line break would forge further GitHub outputs, so it is refused."""
    for key, value in facts.items():
        if "\n" in value or "\r" in value:
            raise UsageError(f"{label}: {key} contains a line break")
    return "".join(f"{key}={value}\n" for key, value in facts.items())


def github_output_file() -> Path:
    """The step-outputs file GitHub Actions names in $GITHUB_OUTPUT."""
    path = os.environ.get("GITHUB_OUTPUT")
    if not path:
        raise UsageError("--github-output: $GITHUB_OUTPUT is not set (it is, inside a GitHub Actions step)")
    return Path(path)


def run(args: argparse.Namespace) -> int:
    from modelctl.stacks import resolve_stack

    ref = resolve_stack(args.stack)
    text = format_facts(stack_facts(ref.load().stack_config()), ref.label)
    if args.github_output:
        with github_output_file().open("a") as out:
            out.write(text)
    print(text, end="")
    return 0
