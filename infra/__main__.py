"""Pulumi entry point (Pulumi.yaml: main: infra/). All logic lives in infra.program."""

import sys
from pathlib import Path

# Pulumi runs this directory as a script; make the `infra` package importable
# whether or not the project is pip-installed in the stack's virtualenv.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.program import main  # noqa: E402

main()
