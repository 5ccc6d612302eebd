"""`exprdet ablate`: dataset-size ablation on nested subsets of a train split, resumable."""

from __future__ import annotations

import argparse
from pathlib import Path

from detector.commands import positive_int

HELP = ("dataset-size ablation: train the same model on nested random subsets of a dataset's train "
        "split (sizes count source images before flip copies), score every run on the same "
        "test split, write a table (Markdown, CSV) and a plot; finished runs are never retrained")


def _sizes(text: str) -> list[int | str]:
    from detector.ablation import parse_sizes

    try:
        return parse_sizes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``exprdet ablate``."""
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="other Ultralytics training options, identical for every run "
                             "(e.g. mosaic=0.5 patience=0 plots=false)")
    parser.add_argument("--data", action="append", required=True, metavar="[NAME=]DATA.yaml",
                        help="dataset to ablate (repeatable; NAME labels it in the table, default "
                             "its folder name), e.g. --data grouped=datasets/x/data.yaml "
                             "--data leaky=datasets/x-leaky/data.yaml")
    parser.add_argument("--sizes", type=_sizes, required=True, metavar="N,N,...",
                        help="train source images per run, before flip copies (e.g. 569,899; "
                             "'all' = the whole train split)")
    parser.add_argument("--seeds", type=positive_int, default=1,
                        help="number of seeds: each gives one nested permutation and one training "
                             "seed (default: 1; raise it later to add runs)")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="seeds are FIRST..FIRST+SEEDS-1 (default: 0)")
    parser.add_argument("--model", default="yolo11n.yaml",
                        help="yolo11n.yaml (default), yolov5n.yaml, ... or a local .pt")
    parser.add_argument("--backbone", type=Path, default=None,
                        help="local -cls .pt whose matching layers start every run (as exprdet train "
                             "--backbone); it must not have seen the test people")
    parser.add_argument("--epochs", type=positive_int, default=50, help="epochs (default: 50)")
    parser.add_argument("--batch", type=positive_int, default=16, help="batch size (default: 16)")
    parser.add_argument("--imgsz", type=positive_int, default=640,
                        help="train and eval image size (default: 640)")
    parser.add_argument("--split", default="test",
                        help="split every run is scored on (default: test)")
    parser.add_argument("--grouped", action="store_true",
                        help="subsets of whole groups (videos, people; from the dataset's "
                             "manifest.csv), at most one partial group per subset")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="torch CPU threads for training and eval (default: unchanged)")
    parser.add_argument("--out", type=Path, default=None,
                        help="ablation folder (default: runs/ablate/<first dataset name>)")
    parser.add_argument("--dry-run", action="store_true",
                        help="write the subset lists and per-run data.yaml files and the table of "
                             "finished runs; train nothing")
    parser.add_argument("--no-plots", action="store_true", help="no PNG plots")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Check everything, run (or resume) the ablation, print the table and where it is."""
    from detector.ablation import AblationSettings, dataset_label, run_ablation
    from detector.errors import DetectorError
    from detector.train import check_model_source, parse_overrides

    overrides = parse_overrides(args.overrides)
    check_model_source(args.model)  # a typo should fail before any dataset is read
    if args.backbone is not None:
        check_model_source(args.backbone)
    datasets: dict[str, Path] = {}
    for spec in args.data:
        label, path = dataset_label(spec)
        if label in datasets:
            raise DetectorError(None, f"two datasets are named {label!r}; name them NAME=PATH")
        datasets[label] = path
    settings = AblationSettings(model=args.model, epochs=args.epochs, batch=args.batch,
                                imgsz=args.imgsz, overrides=overrides, grouped=args.grouped,
                                split=args.split,
                                backbone=str(args.backbone.resolve()) if args.backbone else None)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    result = run_ablation(datasets, args.sizes, seeds=seeds, out=args.out, settings=settings,
                          threads=args.threads, dry_run=args.dry_run, plots=not args.no_plots,
                          progress=not args.no_progress)
    print(f"{result.out}: {len(result.records)} finished run(s); this call trained "
          f"{len(result.trained)} and evaluated {len(result.evaluated)}")
    if result.pending:
        print(f"dry run: {len(result.pending)} run(s) to do: {', '.join(result.pending)}")
    print(result.table_md.read_text().split("\n", 2)[2].rstrip())
    print(f"table: {result.table_md}, {result.table_csv}")
    if result.plot:
        print(f"plot: {result.plot}")
    return 0
