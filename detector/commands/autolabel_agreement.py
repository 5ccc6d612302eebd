"""``exprdet autolabel-agreement``: how far classifier-made labels agree with human ones."""

from __future__ import annotations

import argparse
from pathlib import Path

from detector.paths import DATASETS_DIR

HELP = "agreement of a crop classifier's auto-labels with human labels (one JSON line per classifier)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options."""
    parser.add_argument("classifiers", nargs="+", type=Path, help="crop classifier weights (.pt)")
    parser.add_argument("--labelled", type=Path, default=DATASETS_DIR / "scene-test" / "test",
                        help="folder with images/ and labels/ carrying human class labels (default: the "
                             "by-eye reviewed real-scene test set that `exprdet ship --eval-only` builds)")


def run(args: argparse.Namespace) -> int:
    """Print one JSON line per classifier: faces, labelled by the rule, agreeing with the human."""
    import json

    from detector.recipes import autolabel_agreement

    for weights in args.classifiers:
        result = autolabel_agreement(args.labelled, weights)
        print(json.dumps({"classifier": str(weights), **result}))
    return 0
