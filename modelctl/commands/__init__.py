"""One module per ``modelctl`` sub-command; each exposes ``register(subparsers)``."""

from modelctl.commands import check, config_doc, diff, plan, promote, release, render, stack_info

COMMAND_MODULES = (plan, diff, render, check, release, promote, stack_info, config_doc)
