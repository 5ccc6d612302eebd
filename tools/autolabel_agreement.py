"""Agreement of classifier-made labels with human ones: ``python tools/autolabel_agreement.py CLS.pt [...]``.

Same as ``exprdet autolabel-agreement``: for each crop classifier, how many faces of a
human-labelled folder the ``AutoLabelRule`` of ``build_real_scenes`` would label, and how many of
those agree with the human.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from detector.cli import tool_main


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``exprdet autolabel-agreement`` with ``argv`` (default: the command line).

    Example:
        >>> main(["weights/smile-neutral-cls.pt"])  # doctest: +SKIP
    """
    return tool_main("autolabel-agreement", argv)


if __name__ == "__main__":
    sys.exit(main())
