"""Rebuild weights/smile-neutral-yolo11n.pt from ../shared: `python tools/train_shipped_model.py`."""

import sys
from collections.abc import Sequence

from detector.cli import tool_main


def main(argv: Sequence[str] | None = None) -> int:
    return tool_main("ship", argv)


if __name__ == "__main__":
    sys.exit(main())
