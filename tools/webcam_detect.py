"""Webcam detection: ``python tools/webcam_detect.py [options]`` = ``exprdet detect --source 0``.

Any option of ``exprdet detect`` works (``--mirror``, ``--save out.mp4``, ``--source 1`` ...).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

# Runnable as a plain script from a checkout without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.cli import tool_main  # noqa: E402


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``exprdet detect --source 0`` plus ``argv`` (a later ``--source`` wins).

    Example:
        >>> main(["--no-show", "--max-frames", "1"])  # doctest: +SKIP
    """
    args = list(sys.argv[1:] if argv is None else argv)
    return tool_main("detect", ["--source", "0", *args])


if __name__ == "__main__":
    sys.exit(main())
