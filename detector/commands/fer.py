"""``exprdet twostage {train,eval}``: the two-stage baseline's CNN on 48x48 grayscale faces.

``train --task fer7`` trains the seven-class FER2013 CNN, ``train --task smile-neutral`` the
neutral/smile one (FER2013 happy/neutral + smile-neutral-faces train people); ``eval`` scores a
checkpoint on the test sets matching its classes and writes report.json/report.md/PNGs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from detector.commands import positive_float, positive_int

HELP = ("two-stage baseline CNN (face finder + 48x48 grayscale classifier): "
        "`train --task fer7|smile-neutral`, `eval --weights W`")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``exprdet twostage train`` and ``exprdet twostage eval``."""
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    train = sub.add_parser("train", help="train the CNN (FER2013 or neutral/smile)")
    train.add_argument("--task", choices=("fer7", "smile-neutral"), default="fer7",
                       help="fer7: seven FER2013 classes; smile-neutral: two classes (default fer7)")
    train.add_argument("--out", type=Path, default=None,
                       help="checkpoint path (default runs/twostage/<task>.pt; the shipped ones are "
                            "weights/fer-cnn-7.pt and weights/smile-neutral-cnn.pt)")
    train.add_argument("--epochs", type=positive_int, default=30, help="planned epochs (30)")
    train.add_argument("--max-minutes", type=positive_float, default=None,
                       help="wall-clock budget; the LR schedule is compressed to end inside it")
    train.add_argument("--batch", type=positive_int, default=64, help="batch size (64)")
    train.add_argument("--optimizer", choices=("adamw", "sgd"), default="adamw", help="optimizer (adamw)")
    train.add_argument("--lr", type=positive_float, default=1e-3,
                       help="peak learning rate (1e-3 for adamw; use about 0.02 with sgd)")
    train.add_argument("--weight-decay", type=float, default=0.01,
                       help="weight decay (0.01 for adamw; use about 5e-4 with sgd)")
    train.add_argument("--widths", type=int, nargs="+", default=[24, 48, 96, 192],
                       help="channels of the four conv blocks (24 48 96 192)")
    train.add_argument("--block-dropout", type=float, default=0.1,
                       help="dropout after conv blocks 2-4 (0.1)")
    train.add_argument("--input-blur", type=float, default=0.0,
                       help="Gaussian sigma applied to crops at inference, stored in the checkpoint; 3.0 "
                            "matches the blurred FER2013 train split of ../shared (docs/twostage.md)")
    train.add_argument("--patience", type=int, default=8,
                       help="stop after N epochs without a better val accuracy (8; 0 = never)")
    train.add_argument("--init-from", type=Path, default=None,
                       help="start from this checkpoint (e.g. weights/fer-cnn-7.pt for smile-neutral)")
    train.add_argument("--limit-per-class", type=int, default=None,
                       help="at most N FER2013 images per class (quick runs)")
    train.add_argument("--seed", type=int, default=0, help="seed of split, shuffling, augmentation (0)")
    train.add_argument("--threads", type=int, default=1, help="torch CPU threads (1)")
    train.add_argument("--no-eval", action="store_true", help="skip the test-set report after training")
    _common(train)
    ev = sub.add_parser("eval", help="score a checkpoint on its test sets")
    ev.add_argument("--weights", type=Path, default=None,
                    help="checkpoint (default weights/fer-cnn-7.pt)")
    ev.add_argument("--threads", type=int, default=1, help="torch CPU threads (1)")
    ev.add_argument("--seed", type=int, default=0,
                    help="person-split seed of the smile-neutral-faces test people (0)")
    _common(ev)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shared", type=Path, default=None,
                   help="shared data folder (default $EXPRDET_SHARED or ../shared)")
    p.add_argument("--face-model", type=Path, default=None,
                   help="YuNet .onnx used to crop the smile-neutral-faces photos "
                        "(default <shared>/models/face_detection_yunet.onnx)")
    p.add_argument("--report", type=Path, default=None,
                   help="report folder (default runs/twostage/<weights stem>-eval)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    """Train and/or evaluate, printing the headline numbers and where the files are."""
    import cv2

    from detector import twostage as ts
    from detector.paths import RUNS_DIR

    progress = not args.quiet
    # YuNet (cropping smile-neutral-faces) runs on OpenCV's own thread pool: keep it to --threads too.
    cv2.setNumThreads(args.threads)
    if args.action == "train":
        out = args.out or RUNS_DIR / "twostage" / f"{args.task}.pt"
        cfg = ts.TrainConfig(epochs=args.epochs, max_minutes=args.max_minutes, batch=args.batch,
                             optimizer=args.optimizer, lr=args.lr, weight_decay=args.weight_decay,
                             patience=args.patience or None, seed=args.seed, threads=args.threads,
                             init_from=str(args.init_from) if args.init_from else None,
                             arch=ts.Architecture(widths=tuple(args.widths), block_dropout=args.block_dropout))
        train, val, about = ts.training_data(args.task, args.shared, seed=args.seed, face_model=args.face_model,
                                             limit_per_class=args.limit_per_class, val_frac=cfg.val_frac,
                                             progress=progress)
        print(f"train {len(train)} crops {train.counts()}")
        print(f"val   {len(val)} crops {val.counts()}")
        r = ts.train_cnn(train, out, cfg, val, preprocess=ts.Preprocess(blur_sigma=args.input_blur),
                         meta={"data": about}, progress=progress)
        print(f"best epoch {r.best_epoch}/{r.epochs_run}: val accuracy {100 * r.val_accuracy:.1f} %, "
              f"macro-F1 {r.val_macro_f1:.3f}; {r.minutes:.1f} min, stopped by {r.stopped_by}")
        print(f"checkpoint: {r.weights}")
        if args.no_eval:
            return 0
        weights = r.weights
    else:
        weights = args.weights or ts.FER_WEIGHTS
    cnn = ts.load_cnn(weights)
    sets = ts.test_sets(cnn.classes, args.shared, cnn.preprocess, seed=getattr(args, "seed", 0),
                        face_model=args.face_model, progress=progress)
    report = ts.evaluate_cnn(weights, sets, args.report or ts.default_report_dir(weights), threads=args.threads)
    print(ts.dumps_summary(report))
    print(f"report: {Path(report['out']) / 'report.md'}")
    return 0
