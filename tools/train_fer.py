"""Train the two-stage baseline's CNN: ``python tools/train_fer.py --task fer7 [--max-minutes M] ...``.

Same as ``exprdet twostage train``; see ``--help`` and docs/twostage.md.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from detector.cli import tool_main


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``exprdet twostage train`` with ``argv`` (default: the command line).

    Example:
        >>> main(["--help"])  # doctest: +SKIP
    """
    return tool_main("twostage", ["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
