"""``modelctl release MODEL VERSION --stack STACK``: pin a model version (and its digest) in a stack file.

A release is the pair: the version (a training run's, e.g. ``2026-12-02-884422123``,
or any valid version name such as ``1.5.0``) and the sha256 of its bundle. The
training DAG's last task applies the same edit (modelctl/pin_edit.py) with the
version the run wrote, on a branch of the repository; either way the output is
a two-line change to ``stacks/Pulumi.<stack>.yaml`` that a human reviews and CI
deploys. With ``--from-s3`` the digest comes from the version's sealed
``bundle.zip.sha256`` in the bundle store, after checking that the version is
complete (its ``samples.json`` is there) and that the bundle's bytes match it.
The stack file is locked from read to write (``modelctl.stack_lock``): two
releases into one file at once both land, one after the other.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelctl.stacks import StackRef

EXIT_OK, EXIT_FAILED = 0, 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "release",
        help="set a model's version and bundle digest in a stack file",
        description="Edits only model-platform:models.MODEL.version and .bundleSha256; comments and layout are kept. "
        "Prints the file change and what it does to the stack. Exit 1 when an S3 check fails, 2 on bad input.",
    )
    p.add_argument("model", help="model name (a key of model-platform:models)")
    p.add_argument(
        "version",
        help="model version to serve: a training run's (e.g. 2026-12-02-884422123) or another version name (e.g. 1.5.0)",
    )
    p.add_argument("--stack", required=True, help="stack name (stacks/Pulumi.<stack>.yaml) or stack file")
    digest = p.add_mutually_exclusive_group(required=True)
    digest.add_argument("--sha256", metavar="HEX", help="sha256 of the bundle.zip (64 hex digits)")
    digest.add_argument(
        "--from-s3",
        action="store_true",
        help="read <model>/<version>/bundle.zip.sha256 (the seal check_bundle writes last) from the stack's bucket, "
        "check the version is complete (samples.json) and the bundle's bytes match the digest",
    )
    p.add_argument("--dry-run", action="store_true", help="print the change, write nothing")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from modelctl.stack_lock import stack_file_lock
    from modelctl.stacks import resolve_stack

    ref = resolve_stack(args.stack)
    with stack_file_lock(ref.path, label=ref.label):
        return _release(args, ref)


def _release(args: argparse.Namespace, ref: StackRef) -> int:
    from modelctl.bundles import BundleCheckError, s3_client, verify_bundle
    from modelctl.stack_edit import BundlePin, InvalidPin, PinConflict, StackDocument, plan_pin_change
    from modelctl.stacks import UsageError

    document = StackDocument(ref)
    document.pin(args.model)  # refuse an unknown model before any S3 call
    try:
        if args.from_s3:
            BundlePin.check_version(args.version)
            cfg = document.stack_file().stack_config()
            bundle = verify_bundle(s3_client(cfg.aws.region), cfg.bucket_name, args.model, args.version)
            print(f"verified {bundle.uri}: sha256 {bundle.sha256} ({bundle.checked_by})")
            new = BundlePin(args.version, bundle.sha256)
        else:
            new = BundlePin.from_cli(args.version, args.sha256)
    except InvalidPin as exc:
        raise UsageError(str(exc.at(ref.label, args.model))) from None
    except BundleCheckError as exc:
        print(f"modelctl: release refused: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        change = plan_pin_change(document, args.model, new)
    except PinConflict as exc:
        print(f"modelctl: release refused: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if change.is_noop:
        print(f"{ref.label}: {change.key} is already {new}: nothing to do")
        return EXIT_OK
    print(change.apply(dry_run=args.dry_run))
    return EXIT_OK
