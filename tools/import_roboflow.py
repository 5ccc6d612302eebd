"""Import a Roboflow YOLO export into a pool: ``python tools/import_roboflow.py EXPORT --out POOL``.

Same as ``exprdet import-roboflow``; see ``--help`` and docs/frames_and_import.md.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from detector.cli import tool_main


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``exprdet import-roboflow`` with ``argv`` (default: the command line).

    Example:
        >>> main(["export.zip", "--map", "happy=smile", "--drop-others"])  # doctest: +SKIP
        0
    """
    return tool_main("import-roboflow", argv)


if __name__ == "__main__":
    sys.exit(main())
