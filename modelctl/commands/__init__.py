"""One module per ``modelctl`` sub-command; each exposes ``register(subparsers)`` and ``run(args)``.

``modelctl`` imports every command module to build its parser, so a command
module imports at its top only what ``register`` needs (argparse, pathlib);
``run`` imports the machinery the command uses. ``modelctl plan`` thus never
loads the policy pack's gRPC client (``modelctl.check``), boto3, ruamel or
kubernetes-validate (tests/test_modelctl_imports.py holds it to that).
"""

from modelctl.commands import check, config_doc, diff, plan, promote, release, render, stack_info, verify_pins

COMMAND_MODULES = (plan, diff, render, check, release, promote, stack_info, verify_pins, config_doc)
