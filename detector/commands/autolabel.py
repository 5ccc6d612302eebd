"""`exprdet autolabel`: box the face in photos or frames of known expression, as a pool."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from detector.autolabel import autolabel, items_from_csv, items_from_folders, items_from_frames
from detector.commands import non_negative_int, positive_int
from detector.faces import FACE_POLICIES

HELP = ("box the one face in photos or frames whose expression is known (per clip, per folder "
        "or from a CSV) and write a pool for `exprdet build`")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``exprdet autolabel``."""
    parser.add_argument("frames", nargs="*", type=Path, metavar="FRAMES_DIR",
                        help="frames folders from `exprdet frames` (each with manifest.csv); "
                             "the label is --label or the manifest's label column")
    parser.add_argument("--label", help="expression of every frame in FRAMES_DIR, e.g. smile")
    parser.add_argument("--from-folders", type=Path, metavar="ROOT",
                        help="photos in ROOT/<class>/ (the folder name is the class)")
    parser.add_argument("--csv", type=Path, help="CSV of images and labels, e.g. labels.csv")
    parser.add_argument("--images", type=Path, metavar="DIR",
                        help="folder the CSV's image column is relative to (default: CSV folder)")
    parser.add_argument("--image-col", default="image", help="CSV image column (default: image)")
    parser.add_argument("--label-col", default="expression",
                        help="CSV label column (default: expression)")
    parser.add_argument("--group-col", metavar="COL",
                        help="CSV leakage-group column, e.g. person (default: each image alone)")
    parser.add_argument("--out", "-o", type=Path, required=True,
                        help="pool folder to write, e.g. datasets/pools/smile-neutral")
    parser.add_argument("--face-model", type=Path, metavar="ONNX",
                        help="YuNet ONNX model (e.g. ../shared/models/face_detection_yunet.onnx); "
                             "default: OpenCV's built-in Haar cascade")
    parser.add_argument("--human-boxes", action="store_true",
                        help="grow YuNet's brow-to-chin boxes to the taller boxes people draw "
                             "(detector.labels.HUMAN_BOX_OFFSETS), for pools mixed with hand-labelled "
                             "exports such as Roboflow's; needs --face-model")
    parser.add_argument("--multi-face", choices=FACE_POLICIES, default="skip",
                        help="image with several faces: skip it (default), or box the largest "
                             "or the most central one")
    parser.add_argument("--classes", metavar="A,B",
                        help="class order (ids), e.g. neutral,smile (default: sorted labels)")
    parser.add_argument("--source", default="", help="free text stored in pool.yaml")
    parser.add_argument("--samples", type=non_negative_int, default=64,
                        help="thumbnails per class on the contact sheets (default: 64, 0: none)")
    parser.add_argument("--seed", type=int, default=0, help="contact-sheet sampling seed")
    parser.add_argument("--workers", type=positive_int, default=2,
                        help="face-detection processes (default: 2)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Collect the inputs, autolabel, print the counts and where to review them."""
    chosen = [bool(args.frames), args.from_folders is not None, args.csv is not None]
    if sum(chosen) != 1:
        print("error: give exactly one input: FRAMES_DIR..., --from-folders ROOT or --csv FILE",
              file=sys.stderr)
        return 2
    if args.label and not args.frames:
        print("error: --label applies to FRAMES_DIR inputs only", file=sys.stderr)
        return 2
    if args.frames:
        items = items_from_frames(args.frames, args.label)
        source = f"frames {', '.join(map(str, args.frames))}"
    elif args.from_folders is not None:
        items = items_from_folders(args.from_folders)
        source = f"class folders {args.from_folders}"
    else:
        items = items_from_csv(args.csv, args.images, args.image_col, args.label_col,
                               args.group_col)
        source = f"csv {args.csv}"
        if not args.group_col:
            print("warning: no --group-col: every image is its own group, so photos of one "
                  "person can land in different splits", file=sys.stderr)
    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    result = autolabel(items, args.out, face_model=args.face_model, multi_face=args.multi_face,
                       classes=classes, source=args.source or source, sheet_samples=args.samples,
                       seed=args.seed, workers=args.workers, progress=not args.no_progress,
                       human_boxes=args.human_boxes)
    c = result.counts
    print(f"{result.pool}: {c['labelled']} of {c['input']} images boxed "
          f"({', '.join(f'{i}={n}' for i, n in enumerate(result.names))}); "
          f"skipped: {c['no_face']} no face, {c['multi_face']} several faces, "
          f"{c['unreadable']} unreadable, {c['invalid_box']} invalid box")
    for name in result.names:
        pc = c["per_class"][name]
        print(f"  {name}: {pc['labelled']}/{pc['input']} boxed")
    print(f"report (lists every skipped image): {result.report}")
    for sheet in result.contact_sheets:
        print(f"review: {sheet}")
    return 0
