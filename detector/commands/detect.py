"""``exprdet detect``: live detection on a webcam, video, image, folder or stream."""

from __future__ import annotations

import argparse

from detector.commands import fraction, non_negative_int, positive_int
from detector.paths import DEFAULT_WEIGHTS

HELP = "detect expressions on a webcam, video, image, folder or rtsp/http stream"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the detect options (also used by ``tools/webcam_detect.py``)."""
    parser.add_argument("--source", default="0",
                        help="camera index (0), video file, image, folder of images or "
                             "rtsp/http URL (default 0)")
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS),
                        help="local .pt/.onnx weights (default %(default)s)")
    parser.add_argument("--pipeline", choices=("one-stage", "two-stage"), default="one-stage",
                        help="one-stage: the YOLO expression detector (default); two-stage: a face "
                             "finder + a 48x48 CNN per face (the baseline, see docs/twostage.md)")
    parser.add_argument("--face-model", default=None, metavar="YUNET.onnx|haar",
                        help="two-stage face finder: a YuNet .onnx, or 'haar' (default: the shared "
                             "YuNet model when present, else Haar)")
    parser.add_argument("--cnn-weights", default=None, metavar="CNN.pt",
                        help="two-stage CNN checkpoint (default weights/fer-cnn-7.pt; "
                             "weights/smile-neutral-cnn.pt for neutral/smile)")
    parser.add_argument("--conf", type=fraction, default=0.25, help="confidence threshold (0.25)")
    parser.add_argument("--iou", type=fraction, default=None,
                        help="NMS IoU: boxes overlapping a more confident one this much are dropped "
                             "(default 0.5, see detector.inference.LIVE_NMS_IOU)")
    parser.add_argument("--imgsz", type=positive_int, default=None,
                        help="inference size in pixels (default: the size the model was trained at)")
    parser.add_argument("--classifier", default=None, metavar="CLS.pt",
                        help="face-crop -cls model that re-classifies every box, e.g. "
                             "weights/smile-neutral-cls.pt (see weights/README.md)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu)")
    parser.add_argument("--threads", type=positive_int, default=None, help="CPU threads for inference")
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
    parser.add_argument("--smooth", type=non_negative_int, default=5, metavar="N",
                        help="label smoothing window in frames per tracked face; 0 = off (5)")
    parser.add_argument("--report", metavar="DIR",
                        help="write the session report (JSON, Markdown, timeline PNG) here; "
                             "default next to --save")
    parser.add_argument("--no-report", action="store_true", help="write no session report")
    parser.add_argument("--max-frames", type=positive_int, default=None, help="stop after N frames")
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
    if args.pipeline == "two-stage":
        # Tracks come from the two-stage pipeline's own IoU tracker (--tracker is YOLO-only);
        # every face the finder boxes is reported (--conf is the YOLO model's threshold).
        from detector.twostage import build_two_stage

        detector = build_two_stage(args.face_model, args.cnn_weights, threads=args.threads)
    else:
        from detector.inference import LIVE_NMS_IOU

        iou = LIVE_NMS_IOU if args.iou is None else args.iou
        detector = ExpressionDetector(args.weights, conf=args.conf, imgsz=args.imgsz, iou=iou,
                                      device=args.device, threads=args.threads, tracker=args.tracker,
                                      classifier=args.classifier)
    summary = run_detection(
        detector, source, show=args.show, save_video=args.save, log_path=args.log,
        mirror=args.mirror, smooth=args.smooth, track=args.track, max_frames=args.max_frames,
        report_dir=args.report, report=not args.no_report, progress=not args.quiet)
    print("\n".join(summary.lines()))
    return 0
