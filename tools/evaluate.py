"""Evaluate weights on a split: ``python tools/evaluate.py --weights W --data D [--split test]``.

Same as ``exprdet eval``; see ``--help`` and docs/train_eval.md.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from detector.cli import tool_main


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``exprdet eval`` with ``argv`` (default: the command line).

    Example:
        >>> main(["--help"])  # doctest: +SKIP
    """
    return tool_main("eval", argv)


if __name__ == "__main__":
    sys.exit(main())
