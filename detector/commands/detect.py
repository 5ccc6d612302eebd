"""``exprdet detect``: live detection on a webcam, video, image, folder or stream."""

from __future__ import annotations

import argparse

from detector.paths import DEFAULT_WEIGHTS

HELP = "detect expressions on a webcam, video, image, folder or rtsp/http stream"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the detect options (also used by ``tools/webcam_detect.py``)."""
    parser.add_argument("--source", default="0",
                        help="camera index (0), video file, image, folder of images or "
                             "rtsp/http URL (default 0)")
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS),
                        help="local .pt/.onnx weights (default %(default)s)")
    parser.add_argument("--conf", type=float, default=0.25, help="confidence threshold (0.25)")
    parser.add_argument("--imgsz", type=int, default=640, help="inference size in pixels (640)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for inference")
    parser.add_argument("--mirror", action="store_true",
                        help="flip frames left-right (webcam selfie view)")
    parser.add_argument("--show", action=argparse.BooleanOptionalAction, default=None,
                        help="show a window (default: when a display is available); "
                             "--no-show runs headless; press q or Ctrl-C to stop")
    parser.add_argument("--save", metavar="OUT.mp4", help="write the annotated video here")
    parser.add_argument("--log", metavar="OUT.jsonl|OUT.csv", help="per-detection log")
    parser.add_argument("--track", action=argparse.BooleanOptionalAction, default=True,
                        help="track faces across frames (default on)")
    parser.add_argument("--tracker", choices=("bytetrack", "botsort"), default="bytetrack",
                        help="tracker (bytetrack)")
    parser.add_argument("--smooth", type=int, default=5, metavar="N",
                        help="label smoothing window in frames per tracked face; 0 = off (5)")
    parser.add_argument("--report", metavar="DIR",
                        help="write the session report (JSON, Markdown, timeline PNG) here; "
                             "default next to --save")
    parser.add_argument("--no-report", action="store_true", help="write no session report")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after N frames")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Load the model once, run the loop, print where the outputs are."""
    from detector.inference import ExpressionDetector
    from detector.live import check_log_path, run_detection
    from detector.sources import open_source

    # Cheap checks first, so a typo does not cost a model load.
    if args.log:
        check_log_path(args.log)
    source = open_source(args.source)
    detector = ExpressionDetector(args.weights, conf=args.conf, imgsz=args.imgsz,
                                  device=args.device, threads=args.threads, tracker=args.tracker)
    summary = run_detection(
        detector, source, show=args.show, save_video=args.save, log_path=args.log,
        mirror=args.mirror, smooth=args.smooth, track=args.track, max_frames=args.max_frames,
        report_dir=args.report, report=not args.no_report, progress=not args.quiet)
    print("\n".join(summary.lines()))
    return 0
