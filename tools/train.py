"""Train a YOLO detector offline: ``python tools/train.py --data D [--model M] [KEY=VALUE ...]``.

Same as ``exprdet train``; see ``--help`` and docs/train_eval.md.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from detector.cli import tool_main


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``exprdet train`` with ``argv`` (default: the command line).

    Example:
        >>> main(["--help"])  # doctest: +SKIP
    """
    return tool_main("train", argv)


if __name__ == "__main__":
    sys.exit(main())
