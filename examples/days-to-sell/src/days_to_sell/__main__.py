"""``python -m days_to_sell TASK --name=value ...``: run one task without installing the wheel's scripts."""

from __future__ import annotations

import sys

from days_to_sell.tasks import ENTRY_POINTS


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in ENTRY_POINTS:
        print(f"usage: python -m days_to_sell {{{','.join(ENTRY_POINTS)}}} --name=value ...", file=sys.stderr)
        raise SystemExit(2)
    ENTRY_POINTS[argv[0]](argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
