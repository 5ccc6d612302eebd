"""Extract JPEG frames from videos: ``python tools/video_to_frames.py VIDEO... --fps 2 --out DIR``.

Same as ``exprdet frames``; see ``--help`` and docs/frames_and_import.md.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from detector.cli import tool_main


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``exprdet frames`` with ``argv`` (default: the command line).

    Example:
        >>> main(["clip.mp4", "--fps", "2", "--out", "/tmp/frames"])  # doctest: +SKIP
        0
    """
    return tool_main("frames", argv)


if __name__ == "__main__":
    sys.exit(main())
