"""Dataset-size ablation: ``python tools/ablate.py --data D --sizes 569,899 [--seeds N] [KEY=VALUE ...]``.

Same as ``exprdet ablate``; see ``--help`` and docs/ablation.md.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from detector.cli import tool_main


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``exprdet ablate`` with ``argv`` (default: the command line).

    Example:
        >>> main(["--help"])  # doctest: +SKIP
    """
    return tool_main("ablate", argv)


if __name__ == "__main__":
    sys.exit(main())
