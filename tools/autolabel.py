"""Box faces in photos of known expression: ``python tools/autolabel.py --csv F --out POOL``.

Same as ``exprdet autolabel``; see ``--help`` and docs/autolabel_build.md.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from detector.cli import tool_main


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``exprdet autolabel`` with ``argv`` (default: the command line).

    Example:
        >>> main(["--csv", "labels.csv", "--group-col", "person", "-o", "pool"])  # doctest: +SKIP
        0
    """
    return tool_main("autolabel", argv)


if __name__ == "__main__":
    sys.exit(main())
