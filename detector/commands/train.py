"""`exprdet train`: train a YOLO detector (or a crop classifier) offline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from detector.commands import fraction, non_negative_int

if TYPE_CHECKING:  # the library (and torch) load only when the command runs
    from detector.train import TrainResult

HELP = ("train a YOLO detector from a .yaml config or a local .pt, on a YOLO data.yaml, without "
        "downloading anything; extra Ultralytics options as key=value (e.g. mosaic=0.5)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``exprdet train``."""
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="other Ultralytics training options, e.g. mosaic=0.5 fliplr=0.5 "
                             "hsv_h=0.0 erasing=0 patience=20 plots=false")
    parser.add_argument("--data", type=Path,
                        help="YOLO data.yaml (with --classify: an ImageFolder with train/ and "
                             "val/ or test/); optional with --resume")
    parser.add_argument("--model", default=None,
                        help="yolo11n.yaml (default), yolov8n.yaml, yolov5n.yaml (random init) "
                             "or a local .pt to fine-tune; bare weight names are refused")
    parser.add_argument("--backbone", type=Path, metavar="CLS_PT",
                        help="classification checkpoint whose matching layers start the detector")
    parser.add_argument("--epochs", type=int, default=50, help="epochs (default: 50)")
    parser.add_argument("--batch", type=int, default=16, help="batch size (default: 16)")
    parser.add_argument("--imgsz", type=int, default=640, help="image size (default: 640)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads, kept for the whole run (default: unchanged)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--name", help="run name (default: the model's stem, e.g. yolo11n)")
    parser.add_argument("--project", type=Path,
                        help="folder of runs (default: the repository's runs/)")
    parser.add_argument("--resume", action="store_true",
                        help="continue <project>/<name>/weights/last.pt after an interruption")
    parser.add_argument("--unfreeze-after", type=fraction, metavar="F",
                        help="with freeze=N: train the frozen backbone end to end after this "
                             "fraction of the run (e.g. 0.5); default: frozen throughout")
    parser.add_argument("--keep-frozen", type=non_negative_int, default=None, metavar="N",
                        help="with --unfreeze-after: layers 0..N-1 stay frozen (default: 0)")
    parser.add_argument("--classify", action="store_true",
                        help="train a crop classifier (default model yolo11n-cls.yaml, gentle "
                             "augmentation) instead of a detector")


def run(args: argparse.Namespace) -> int:
    """Parse overrides, train, print where the weights are."""
    from detector.train import (
        DEFAULT_CLASSIFIER,
        DEFAULT_MODEL,
        parse_overrides,
        train,
        train_classifier,
        unfreeze_callback,
    )

    overrides = parse_overrides(args.overrides)
    if args.classify:
        if args.data is None:
            print("error: --classify needs --data FOLDER", file=sys.stderr)
            return 2
        result = train_classifier(args.data, args.model or DEFAULT_CLASSIFIER, epochs=args.epochs,
                                  batch=args.batch, imgsz=args.imgsz, threads=args.threads,
                                  seed=args.seed, name=args.name, project=args.project,
                                  resume=args.resume, overrides=overrides)
        return _print_result(result, args.resume)
    callbacks = None
    if args.keep_frozen is not None and args.unfreeze_after is None:
        # Alone it would do nothing: freeze=N already keeps layers frozen for the whole run.
        print("error: --keep-frozen only applies with --unfreeze-after F", file=sys.stderr)
        return 2
    if args.unfreeze_after is not None:
        freeze = overrides.get("freeze")
        if not freeze and not args.resume:  # a resumed run keeps its freeze=N
            print("error: --unfreeze-after needs a frozen backbone (freeze=N)", file=sys.stderr)
            return 2
        keep = args.keep_frozen or 0
        if isinstance(freeze, int) and keep >= freeze:
            print(f"error: --keep-frozen {keep} leaves nothing to unfreeze with freeze={freeze}",
                  file=sys.stderr)
            return 2
        callbacks = {"on_train_epoch_start": unfreeze_callback(args.unfreeze_after, keep)}
    result = train(args.data, args.model or DEFAULT_MODEL, epochs=args.epochs, batch=args.batch,
                   imgsz=args.imgsz, threads=args.threads, seed=args.seed, name=args.name,
                   project=args.project, resume=args.resume, backbone=args.backbone,
                   overrides=overrides, callbacks=callbacks)
    return _print_result(result, args.resume)


def _print_result(result: TrainResult, resumed: bool) -> int:
    if resumed and result.seconds == 0.0:
        print(f"{result.run_dir}: training already finished; nothing to resume")
    else:
        print(f"trained in {result.seconds:.0f} s with {result.threads} torch thread(s)")
    print(f"run:  {result.run_dir}")
    print(f"last: {result.last}")
    print(f"best: {result.best}")
    return 0
