"""``exprdet bench``: end-to-end speed table; ``--flicker``: label changes per track per minute."""

from __future__ import annotations

import argparse
import shlex
import sys

from detector.commands import fraction, non_negative_int, positive_int
from detector.paths import DEFAULT_WEIGHTS

HELP = "end-to-end speed benchmark (PyTorch, ONNX, OpenVINO, extra pipelines) or --flicker"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the bench options."""
    parser.add_argument("--source", nargs="+", required=True, metavar="VIDEO",
                        help="video to time (one); with --flicker, one or more videos")
    weights = parser.add_mutually_exclusive_group()
    weights.add_argument("--weights", default=str(DEFAULT_WEIGHTS),
                         help="local .pt weights (default %(default)s)")
    weights.add_argument("--untrained", action="store_true",
                         help="use an untrained 2-class yolo11n: pipeline speed before the shipped "
                              "model exists (speed does not depend on training)")
    parser.add_argument("--frames", type=positive_int, default=100, help="timed frames per row (100)")
    parser.add_argument("--imgsz", type=positive_int, nargs="+", default=[320, 480, 640],
                        help="inference sizes (320 480 640)")
    parser.add_argument("--threads", type=positive_int, nargs="+", default=[1, 2],
                        help="CPU thread counts to compare (1 2)")
    parser.add_argument("--resize", metavar="WxH", help="resize decoded frames, e.g. 640x480")
    parser.add_argument("--no-onnx", action="store_true", help="skip the ONNX Runtime rows")
    parser.add_argument("--pipeline", action="append", default=[], metavar="NAME=module:factory",
                        help="extra pipeline row (e.g. the two-stage one); repeatable")
    parser.add_argument("--out", metavar="bench.json", help="also write the results as JSON")
    parser.add_argument("--flicker", action="store_true",
                        help="instead of speed: label changes per track per minute, "
                             "raw vs smoothed")
    parser.add_argument("--smooth", type=non_negative_int, default=5, help="smoothing window for --flicker (5)")
    parser.add_argument("--max-frames", type=positive_int, default=None,
                        help="frames per video for --flicker")
    parser.add_argument("--conf", type=fraction, default=0.25, help="confidence threshold (0.25)")
    parser.add_argument("--imgsz-flicker", type=positive_int, default=640,
                        help="inference size for --flicker (640)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    """Run the speed table or the flicker table and print it as Markdown."""
    from detector import bench
    from detector.errors import SourceError
    from detector.fileio import atomic_write_json

    weights = None if args.untrained else args.weights
    if args.flicker:
        import tempfile

        from detector.inference import ExpressionDetector, build_untrained_weights

        with tempfile.TemporaryDirectory(prefix="exprdet-") as tmp:
            if weights is None:
                weights = build_untrained_weights(f"{tmp}/untrained-smile-neutral-yolo11n.pt")
            det = ExpressionDetector(weights, conf=args.conf, imgsz=args.imgsz_flicker)
        rows = bench.measure_flicker(det, args.source, smooth=args.smooth,
                                     max_frames=args.max_frames, progress=not args.quiet)
        print(bench.format_flicker_table(rows))
        if args.out:
            atomic_write_json(args.out, {"weights": "untrained" if args.untrained else str(weights),
                                         "conf": args.conf, "smooth": args.smooth,
                                         "rows": [vars(r) for r in rows]})
        return 0
    if len(args.source) != 1:
        raise SourceError(None, "the speed benchmark takes one --source video "
                                "(--flicker takes several)")
    resize = None
    if args.resize:
        try:
            resize = bench.parse_size(args.resize)
        except ValueError as exc:
            raise SourceError(None, f"--resize: {exc}") from None
    extra = {**bench.default_pipelines(), **dict(bench.load_pipeline(spec) for spec in args.pipeline)}
    result = bench.run_bench(weights, args.source[0], imgsizes=args.imgsz, threads=args.threads,
                             frames=args.frames, resize_wh=resize, onnx=not args.no_onnx,
                             extra=extra, conf=args.conf, progress=not args.quiet)
    result.command = "exprdet bench " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    print(bench.format_bench_table(result))
    if resize is None and tuple(result.input_wh) != (640, 480):
        w, h = result.input_wh
        print(f"\nnote: the input is {w}x{h}; pass --resize 640x480 to compare on the standard "
              "640x480 input")
    if args.out:
        print(f"\nwrote {bench.write_bench_json(result, args.out)}")
    return 0
