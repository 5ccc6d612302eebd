"""``exprdet demo``: the shipped model on a generated clip; writes video, log and report."""

from __future__ import annotations

import argparse

from detector.commands import fraction, non_negative_int, positive_float, positive_int
from detector.paths import DEFAULT_WEIGHTS

HELP = ("run the shipped model (or --weights) on a built-in clip made from scikit-image's "
        "public-domain pictures; no camera or display needed")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the demo options."""
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS),
                        help="local .pt/.onnx weights (default %(default)s)")
    parser.add_argument("--out", default="demo_output", help="output folder (demo_output)")
    parser.add_argument("--seconds", type=positive_float, default=4.0,
                        help="length of the generated clip (4)")
    parser.add_argument("--fps", type=positive_float, default=15.0,
                        help="frame rate of the generated clip (15)")
    parser.add_argument("--imgsz", type=positive_int, default=None,
                        help="inference size (default: the size the model was trained at)")
    parser.add_argument("--conf", type=fraction, default=0.25, help="confidence threshold (0.25)")
    parser.add_argument("--smooth", type=non_negative_int, default=5, help="label smoothing window, 0 = off (5)")
    parser.add_argument("--max-frames", type=positive_int, default=None, help="process only N frames")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--classifier", default=None, metavar="CLS.pt",
                        help="face-crop -cls model that re-classifies every box (see weights/README.md)")


def run(args: argparse.Namespace) -> int:
    """Generate the clip, run detection, print where everything is."""
    from detector.demo import run_demo

    result = run_demo(args.weights, args.out, seconds=args.seconds, fps=args.fps,
                      max_frames=args.max_frames, imgsz=args.imgsz, conf=args.conf,
                      smooth=args.smooth, progress=not args.quiet, classifier=args.classifier)
    print("\n".join(result.lines()))
    return 0
