"""``modelctl verify-pins STACK [--base REV]``: each changed pin's digest against the bundle store.

A pin (``models.<m>`` and its ``canary``) is only right when the bundle store
holds that version, sealed, with that digest: ``modelctl.bundles.verify_bundle``,
the check ``release --from-s3`` runs. With ``--base`` only pins that differ from
REV's stack file are checked (a pull request's changes; every pin of a stack
file that REV does not have), and a version changed
without its digest (or the reverse) fails first. Without read access to the
store (no AWS credentials and no ``AWS_ENDPOINT_URL``) the digests are not
checked: the command says so and exits 0, so a fork's pull request, which has
no secrets, still runs it (``--require-access`` makes that exit 1 instead).

Exit codes: 0 every changed pin checks out (or nothing to check), 1 a pin does
not, 2 bad input.
"""

from __future__ import annotations

import argparse
import os
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify-pins",
        help="check each (changed) model pin's bundleSha256 against <model>/<version>/bundle.zip.sha256 in the "
        "stack's bucket",
    )
    p.add_argument("stack", help="stack name (stacks/Pulumi.<stack>.yaml) or a stack file path")
    p.add_argument("--base", metavar="GIT_REV", help="check only the pins that differ from the stack file at GIT_REV")
    p.add_argument(
        "--require-access", action="store_true", help="exit 1 when there is no read access to the bundle store"
    )
    p.set_defaults(handler=run)


def has_store_access() -> bool:
    """AWS credentials (any source boto3 reads) or an explicit S3 endpoint (a local S3 such as moto)."""
    if os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_S3"):
        return True
    import boto3

    return boto3.session.Session().get_credentials() is not None


def run(args: argparse.Namespace) -> int:
    from infra.stack_source import StackFile
    from modelctl.bundles import BundleCheckError, s3_client, verify_bundle
    from modelctl.pin_pairing import changed_pins, unpaired_changes
    from modelctl.stacks import base_stack_text, resolve_stack

    ref = resolve_stack(args.stack)
    head = ref.load()
    cfg = head.stack_config()  # a stack that does not validate has no pins to trust
    base_text = base_stack_text(ref, args.base, missing_ok=True) if args.base else None
    base = StackFile.from_text(base_text, f"{ref.label}@{args.base}") if base_text is not None else None
    problems = unpaired_changes(base, head) if base is not None else []
    for problem in problems:
        print(f"modelctl: {problem}", file=sys.stderr)
    pins = changed_pins(base, head)
    if not pins:
        print(f"{ref.label}: no pin changed" + (f" since {args.base}" if base is not None else ""))
        return 1 if problems else 0
    if not has_store_access():
        print(
            f"{ref.label}: {len(pins)} pin(s) not verified: no read access to the bundle store "
            "(no AWS credentials, no AWS_ENDPOINT_URL)",
            file=sys.stderr,
        )
        return 1 if (problems or args.require_access) else 0
    client, failed = s3_client(cfg.aws.region), bool(problems)
    for pin in pins:
        try:
            bundle = verify_bundle(client, cfg.bucket_name, pin.model, str(pin.version), expected_sha256=pin.bundle_sha256)
            print(f"{ref.label}: {pin.key}: verified {bundle.uri}: sha256 {bundle.sha256} ({bundle.checked_by})")
        except (BundleCheckError, ValueError) as exc:
            print(f"modelctl: {ref.label}: {pin.key}: {exc}", file=sys.stderr)
            failed = True
    return 1 if failed else 0
