"""Agreement of classifier-made labels with human ones: ``python tools/autolabel_agreement.py CLS.pt [...]``.

For each crop classifier, how many faces of a human-labelled folder (default: the by-eye reviewed
real-scene test set, ``datasets/scene-test/test``, built by ``exprdet ship --eval-only``) the
``AutoLabelRule`` of ``build_real_scenes`` would label, and how many of those agree with the human.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from detector.errors import DatasetError
from detector.paths import DATASETS_DIR


def main(argv: Sequence[str] | None = None) -> int:
    """Print one JSON line per classifier.

    Example:
        >>> main(["weights/smile-neutral-cls.pt"])  # doctest: +SKIP
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("classifiers", nargs="+", type=Path, help="crop classifier weights (.pt)")
    parser.add_argument("--labelled", type=Path, default=DATASETS_DIR / "scene-test" / "test",
                        help="folder with images/ and labels/ carrying human class labels")
    args = parser.parse_args(argv)
    from detector.recipes import autolabel_agreement

    for weights in args.classifiers:
        if not weights.is_file():
            print(f"error: {weights}: no such classifier file", file=sys.stderr)
            return 2
        try:
            result = autolabel_agreement(args.labelled, weights)
        except DatasetError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(json.dumps({"classifier": str(weights), **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
