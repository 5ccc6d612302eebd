"""Build a leakage-free YOLO dataset from pools: ``python tools/build_dataset.py POOL... --name N``.

Same as ``exprdet build``; see ``--help`` and docs/autolabel_build.md.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from detector.cli import tool_main


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``exprdet build`` with ``argv`` (default: the command line).

    Example:
        >>> main(["datasets/pools/smile-neutral", "--name", "expressions"])  # doctest: +SKIP
        0
    """
    return tool_main("build", argv)


if __name__ == "__main__":
    sys.exit(main())
