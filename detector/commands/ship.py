"""`exprdet ship`: rebuild the shipped smile/neutral detector from the shared data."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from detector.commands import fraction, positive_float, positive_int, stride_size
from detector.paths import DATASETS_DIR, DEFAULT_WEIGHTS, RUNS_DIR, shared_dir

HELP = "rebuild the shipped smile/neutral detector end to end (data recipe, classifier, detector, eval)"
# Options that change what is trained: any of them makes the run a candidate (default_out). Every other
# option must be in RUN_OPTIONS; tests/test_commands.py checks that the parser has no third kind.
RECIPE_OPTIONS = ("epochs", "seed", "width", "budget_hours", "reviewed_scenes", "person_disjoint_scenes",
                  "reviewed_photos", "extra_train", "classifier_imgsz", "classifier_epochs",
                  "precision")
# --threads changes the epoch count of a time-capped stage, but a user reproducing the recipe on another
# machine may need it, so it does not make a candidate.
RUN_OPTIONS = ("shared", "dataset", "runs", "out", "threads", "no_eval", "data_only", "eval_only", "imgsz")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shared", type=Path, default=None, help="shared data folder (default ../shared)")
    parser.add_argument("--dataset", type=Path, default=DATASETS_DIR / "smile-neutral-scenes")
    parser.add_argument("--runs", type=Path, default=RUNS_DIR / "ship")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to copy best.pt (default: the shipped weights/ file for the shipped recipe and "
                             "for --eval-only; RUNS/out/ for a candidate, i.e. --no-eval or any recipe option)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="detector epochs of stage one (default: the shipped recipe's 20, re-planned to fill its "
                             "1.18 h cap); stage two, a warm restart capped at 0.58 h (FINETUNE_ARGS), follows")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for every training (default: the recipe's 2; measure with "
                             "`exprdet bench-train`)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of every training (default: the recipe's 0); the dataset build keeps its own")
    parser.add_argument("--width", type=fraction, default=None,
                        help="YOLO11 width for the classifier and the detector (default: yolo11n's 0.25; "
                             "session 26 tried 0.3125; session 27 started 0.1875 and stopped it)")
    parser.add_argument("--classifier-imgsz", type=stride_size, default=None,
                        help="train the crop classifier at this size (default: the recipe's 96; its crops are "
                             "7/6 of it, so use its own --dataset; session 33 tried 160)")
    parser.add_argument("--classifier-epochs", type=positive_int, default=None,
                        help="epochs of the crop classifier (default: the recipe's 24)")
    # detector.recipes.PRECISIONS, spelled out for the same reason as --reviewed-photos' choices below.
    parser.add_argument("--precision", choices=("bf16",), default=None,
                        help="train both detector stages under bfloat16 autocast, ~1.46x the batches per second "
                             "on a CPU with AVX512-BF16 or AMX (default: float32; the classifier stays float32)")
    parser.add_argument("--budget-hours", type=positive_float, default=None,
                        help="fit the two detector stages into this total training time, classifier included "
                             "(caps computed from the classifier's measured time; default: the recipe's fixed caps)")
    scenes = parser.add_mutually_exclusive_group()
    scenes.add_argument("--reviewed-scenes", action="store_true",
                        help="label the real scenes by the by-eye reviews in detector/assets instead of the "
                             "classifier (session 27)")
    scenes.add_argument("--person-disjoint-scenes", action="store_true",
                        help="by-eye labels and the real scenes re-split so that no person is in two splits")
    # detector.recipes.REVIEW_USES, spelled out so that parsing does not import the recipe (a test checks).
    parser.add_argument("--reviewed-photos", nargs="?", const="drop", choices=("drop", "closeups-first"),
                        default=None,
                        help="build --dataset with the by-eye review of the training people's photos "
                             "(detector/assets/train_photo_review.csv): 'drop' (the default) leaves its unusable "
                             "ones out of the close-ups, composites and classifier data (session 31); "
                             "'closeups-first' keeps every photo and draws the training close-ups first from "
                             "the unusable ones (session 32); use its own --dataset")
    parser.add_argument("--extra-train", type=Path, nargs="+", default=(), metavar="IMAGES",
                        help="image folders (labels/ beside them) added to both detector stages' training data, "
                             "e.g. datasets/small-crops/train/images (sessions 22 and 29)")
    parser.add_argument("--no-eval", action="store_true",
                        help="train and copy the weights but score no test set (a candidate is judged on "
                             "validation first; score it later with --eval-only)")
    parser.add_argument("--data-only", action="store_true", help="only build the dataset")
    parser.add_argument("--eval-only", action="store_true",
                        help="only score --out (and the classifier beside it) on the test sets: photos, "
                             "composites, real scenes, other people (FER2013)")
    parser.add_argument("--imgsz", type=int, default=None, help="--eval-only: inference size (default: trained)")


def default_out(args: argparse.Namespace) -> Path:
    """Where ``exprdet ship`` copies its weights when ``--out`` is not given.

    A candidate (``--no-eval`` or any option that changes the recipe) goes to ``RUNS/out/``: it is
    judged on validation before it may replace the shipped file (session 31's b33 overwrote it).

    Example:
        >>> default_out(argparse.Namespace(out=None, runs=Path("runs/b40"), no_eval=True, eval_only=False))
        PosixPath('runs/b40/out/smile-neutral-yolo11n.pt')
    """
    if args.out is not None:
        return args.out
    changed = any(getattr(args, name, None) not in (None, False, ()) for name in RECIPE_OPTIONS)
    if not args.eval_only and (args.no_eval or changed):
        return args.runs / "out" / DEFAULT_WEIGHTS.name
    return DEFAULT_WEIGHTS


def run(args: argparse.Namespace) -> int:
    from detector.recipes import (
        build_smile_neutral_dataset,
        photo_review_config,
        train_shipped_model,
    )

    shared = args.shared or shared_dir()
    args.out = default_out(args)
    if args.data_only:
        config = photo_review_config(args.reviewed_photos, args.classifier_imgsz)
        report = build_smile_neutral_dataset(shared, args.dataset, config)
        print(json.dumps(report["splits"], indent=2))
        print(f"dataset written to {args.dataset}")
        return 0
    if args.eval_only:
        from detector.recipes import evaluate_shipped_model

        evaluate_shipped_model(shared, args.out, args.out.parent / "smile-neutral-cls.pt", dataset=args.dataset,
                               runs=args.runs, imgsz=args.imgsz)
        print((args.runs / "eval_summary.md").read_text(), end="")
        print(f"reports: {args.runs}/eval_*")
        return 0
    summary = train_shipped_model(shared, args.out, dataset=args.dataset, runs=args.runs, epochs=args.epochs,
                                  threads=args.threads, width=args.width, budget_hours=args.budget_hours,
                                  reviewed_scenes=args.reviewed_scenes,
                                  person_disjoint_scenes=args.person_disjoint_scenes, seed=args.seed,
                                  extra_train=tuple(args.extra_train), evaluate=not args.no_eval,
                                  reviewed_photos=args.reviewed_photos, classifier_imgsz=args.classifier_imgsz,
                                  classifier_epochs=args.classifier_epochs, precision=args.precision)
    print(json.dumps({k: v for k, v in summary.items() if k != "reports"}, indent=2))
    print(f"training took {summary['seconds']['total'] / 60:.0f} min in this call "
          f"(classifier, detector, warm restart; per stage in 'seconds' above)")
    kind = "shipped" if args.out == DEFAULT_WEIGHTS else "candidate"
    print(f"{kind} weights: {summary['weights']}")
    return 0
