"""``modelctl promote MODEL --from staging --to prod``: move a validated version between stacks.

Copies exactly the model's ``version`` and ``bundleSha256``; the target's own
settings (serving, training, canary) are the target's business and stay as
they are. A model must be added to the target stack deliberately, by hand.

With ``--copy`` the version's objects are first copied from the source stack's
bundle store to the target's, verified at both ends and written once
(``modelctl.bundle_copy``): the path a bundle takes from staging's bucket to
prod's. The target stack file is locked from read to write
(``modelctl.stack_lock``), so concurrent releases and promotions all land.
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
        "promote",
        help="copy a model's version and bundle digest from one stack file to another",
        description="Copies only model-platform:models.MODEL.version and .bundleSha256; comments and layout are kept. "
        "Prints the file change and what it does to the target stack. Exit 1 when a check fails, 2 on bad input.",
    )
    p.add_argument("model", help="model name (a key of model-platform:models in both stacks)")
    p.add_argument("--from", dest="source", required=True, metavar="STACK", help="stack the version was validated in")
    p.add_argument("--to", dest="target", required=True, metavar="STACK", help="stack to promote the version to")
    p.add_argument(
        "--verify",
        action="store_true",
        help="first check the version in the target stack's bucket: its digest file (the seal), samples and bundle bytes",
    )
    p.add_argument(
        "--copy",
        action="store_true",
        help="first copy the version's objects from the source stack's bucket to the target's (write-once, the seal "
        "last), checking the bundle's sha256 against the seal and the pinned digest, then verify the target as --verify "
        "does (with --dry-run: check the source, copy nothing)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the change, write nothing (and copy nothing)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from modelctl.stack_lock import stack_file_lock
    from modelctl.stacks import UsageError, resolve_stack

    source, target = resolve_stack(args.source), resolve_stack(args.target)
    if source.path.resolve() == target.path.resolve():
        raise UsageError(f"--from and --to are the same stack file ({target.label})")
    with stack_file_lock(target.path, label=target.label):
        return _promote(args, source, target)


def _promote(args: argparse.Namespace, source: StackRef, target: StackRef) -> int:
    from modelctl.bundles import BundleCheckError, s3_client, verify_bundle
    from modelctl.stack_edit import MODELS_KEY, PinConflict, StackDocument, plan_pin_change
    from modelctl.stacks import UsageError

    source_document = StackDocument(source)
    pin = source_document.pin(args.model)
    document = StackDocument(target)
    if not document.has_model(args.model):
        raise UsageError(
            f"{target.label}: {MODELS_KEY}.{args.model}: no such model; promotion only moves versions: "
            f"add the model to {target.name} deliberately (its training and serving settings) first"
        )
    try:
        change = plan_pin_change(document, args.model, pin)
        if change.is_noop:
            print(f"{target.label}: {change.key} is already {pin}: nothing to promote")
            return EXIT_OK
        cfg = document.stack_file().stack_config()
        if args.copy:
            from modelctl.bundle_copy import BundleStore, copy_version

            source_cfg = source_document.stack_file().stack_config()
            if source_cfg.bucket_name == cfg.bucket_name:
                raise UsageError(f"--copy: {source.label} and {target.label} share the bucket {cfg.bucket_name}")
            origin = BundleStore(s3_client(source_cfg.aws.region), source_cfg.bucket_name)
            if args.dry_run:  # check what would be copied; copy nothing
                bundle = verify_bundle(origin.client, origin.bucket, args.model, pin.version, expected_sha256=pin.bundle_sha256)
                print(f"verified {bundle.uri}: sha256 {bundle.sha256} ({bundle.checked_by})")
                print(f"(dry run: {bundle.keys.prefix} not copied to s3://{cfg.bucket_name})")
            else:
                report = copy_version(
                    source=origin,
                    target=BundleStore(s3_client(cfg.aws.region), cfg.bucket_name),
                    model=args.model,
                    version=pin.version,
                    sha256=pin.bundle_sha256,
                )
                print("\n".join(report.lines(source_cfg.bucket_name)))
        elif args.verify:
            bundle = verify_bundle(
                s3_client(cfg.aws.region), cfg.bucket_name, args.model, pin.version, expected_sha256=pin.bundle_sha256
            )
            print(f"verified {bundle.uri}: sha256 {bundle.sha256} ({bundle.checked_by})")
    except (PinConflict, BundleCheckError) as exc:
        print(f"modelctl: promote refused: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(change.apply(dry_run=args.dry_run))
    return EXIT_OK
