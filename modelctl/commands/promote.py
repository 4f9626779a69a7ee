"""``modelctl promote MODEL --from staging --to prod``: move a validated version between stacks.

Copies exactly the model's ``version`` and ``bundleSha256``; the target's own
settings (serving, training, canary) are the target's business and stay as
they are. A model must be added to the target stack deliberately, by hand.
"""

from __future__ import annotations

import argparse
import sys

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
    p.add_argument("--dry-run", action="store_true", help="print the change, write nothing")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from modelctl.bundles import BundleCheckError, s3_client, verify_bundle
    from modelctl.stack_edit import MODELS_KEY, PinConflict, StackDocument, plan_pin_change
    from modelctl.stacks import UsageError, resolve_stack

    source, target = resolve_stack(args.source), resolve_stack(args.target)
    if source.path.resolve() == target.path.resolve():
        raise UsageError(f"--from and --to are the same stack file ({target.label})")
    pin = StackDocument(source).pin(args.model)
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
        if args.verify:
            cfg = document.stack_file().stack_config()
            bundle = verify_bundle(
                s3_client(cfg.aws.region), cfg.bucket_name, args.model, pin.version, expected_sha256=pin.bundle_sha256
            )
            print(f"verified {bundle.uri}: sha256 {bundle.sha256} ({bundle.checked_by})")
    except (PinConflict, BundleCheckError) as exc:
        print(f"modelctl: promote refused: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(change.apply(dry_run=args.dry_run))
    return EXIT_OK
