"""`exprdet eval`: score weights on a data.yaml split and write a report folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from detector.commands import fraction, positive_int

HELP = ("evaluate weights on a data.yaml split: mAP50, mAP50-95, precision/recall/F1, face "
        "accuracy, calibration (ECE), confusion matrix and curves -> report.json/report.md")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``exprdet eval``."""
    parser.add_argument("--weights", type=Path, default=None,
                        help="local detector .pt (one-stage; default: the shipped weights)")
    parser.add_argument("--pipeline", choices=("one-stage", "two-stage"), default="one-stage",
                        help="one-stage: a YOLO detector; two-stage: face finder + expression CNN")
    parser.add_argument("--cnn", type=Path, default=None,
                        help="two-stage: CNN checkpoint (default weights/smile-neutral-cnn.pt)")
    parser.add_argument("--face-model", default=None,
                        help="two-stage: YuNet .onnx or 'haar' (default: the shared YuNet model, else Haar)")
    parser.add_argument("--data", type=Path, required=True, help="YOLO data.yaml")
    parser.add_argument("--split", default="test", help="split to score (default: test)")
    parser.add_argument("--conf", type=fraction, default=0.001,
                        help="lowest confidence kept for AP (default: 0.001)")
    parser.add_argument("--iou", type=fraction, default=0.7, help="NMS IoU (default: 0.7)")
    parser.add_argument("--imgsz", type=positive_int, default=None,
                        help="inference size (default: the size the weights were trained at)")
    parser.add_argument("--batch", type=positive_int, default=16, help="images per predict call")
    parser.add_argument("--face-conf", type=fraction, default=0.25,
                        help="confidence shown to users, for face accuracy, confusion matrix and "
                             "ECE (default: 0.25)")
    parser.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    parser.add_argument("--out", type=Path,
                        help="report folder (default: runs/eval/<run>-<split>)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--compare-ultralytics", action="store_true",
                        help="also run Ultralytics' own model.val() and record its mAP")
    parser.add_argument("--classifier", type=Path, default=None,
                        help="face-crop -cls model that re-classifies every box (detector.refine)")
    parser.add_argument("--augment", action="store_true",
                        help="Ultralytics test-time augmentation (mirrored and smaller copies "
                             "merged; about 3x slower)")


def run(args: argparse.Namespace) -> int:
    """Evaluate and print the headline numbers and where the report is."""
    from detector.evaluate import evaluate_predictor, evaluate_weights
    from detector.paths import DEFAULT_WEIGHTS

    if args.pipeline == "two-stage":
        from detector.twostage import SMILE_NEUTRAL_WEIGHTS, build_two_stage

        cnn = args.cnn or SMILE_NEUTRAL_WEIGHTS
        predictor = build_two_stage(args.face_model, cnn, threads=args.threads)
        r = evaluate_predictor(predictor, args.data, args.split, face_conf=args.face_conf, out=args.out,
                               plots=not args.no_plots,
                               meta={"cnn": str(Path(cnn).resolve()), "face_finder": predictor.finder.name})
    else:
        r = evaluate_weights(args.weights or DEFAULT_WEIGHTS, args.data, args.split, conf=args.conf,
                             iou=args.iou, imgsz=args.imgsz, batch=args.batch, face_conf=args.face_conf,
                             threads=args.threads, out=args.out, plots=not args.no_plots,
                             compare_ultralytics=args.compare_ultralytics, classifier=args.classifier,
                             augment=args.augment)
    s = r.face.shares()
    pct = {k: "-" if v is None else f"{100 * v:.1f}%" for k, v in s.items()}
    print(f"{r.images} images, {r.instances} labelled faces ({r.meta['seconds']:.1f} s)")
    print(f"mAP50 {r.map50:.3f}  mAP50-95 {r.map50_95:.3f}  P {r.precision:.3f}  "
          f"R {r.recall:.3f}  F1 {r.f1:.3f}")
    print(f"faces: right {pct['right']}, wrong class {pct['wrong']}, missed {pct['missed']}, "
          f"{r.face.false_boxes} false boxes (conf >= {r.face.conf})")
    if r.intervals:
        (a_lo, a_hi), (m_lo, m_hi) = r.intervals["face_accuracy"], r.intervals["map50"]
        print(f"95 % intervals (bootstrap over images): right {100 * a_lo:.1f}-{100 * a_hi:.1f}%, "
              f"mAP50 {m_lo:.3f}-{m_hi:.3f}")
    sized = [b for b in r.face_by_size if b["faces"]]
    if len(sized) > 1:
        print("right by face width: " + ", ".join(
            f"{b['lo']:.2f}-{b['hi']:.2f} {100 * b['right'] / b['faces']:.0f}% of {b['faces']}" for b in sized))
    print(f"ECE {'-' if r.ece is None else f'{r.ece:.3f}'}")
    if "ultralytics_val" in r.meta:
        u = r.meta["ultralytics_val"]
        print(f"Ultralytics model.val(): mAP50 {u['map50']:.3f}  mAP50-95 {u['map50_95']:.3f}")
    if r.mistakes:
        sheet = "" if args.no_plots else ", the most confident on mistakes.png"
        print(f"mistakes: {len(r.mistakes)} in mistakes.csv{sheet}")
    for note in r.meta.get("notes", []):
        print(f"note: {note}")
    print(f"report: {Path(r.meta['out']) / 'report.md'}")
    return 0
