"""`exprdet build`: pools -> leakage-free YOLO dataset with data.yaml, stats and report."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from detector.build import FLIP_MODES, RESIZE_MODES, build_dataset, parse_size
from detector.commands import positive_int
from detector.dedupe import DEFAULT_CONFIRM_BITS, DEFAULT_DUP_BITS
from detector.errors import DatasetError
from detector.fer import BALANCE_MODES
from detector.paths import DATASETS_DIR
from detector.split import parse_ratios

HELP = ("build a YOLO dataset from pools: grouped stratified split, near-duplicate check, "
        "resize, flip copies for train, data.yaml and stats")


def _ratios(text: str) -> tuple[float, ...]:
    try:
        return parse_ratios(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _size(text: str) -> tuple[int, int] | None:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``exprdet build``."""
    parser.add_argument("pools", nargs="+", type=Path, metavar="POOL",
                        help="pool folders (from autolabel or import-roboflow)")
    parser.add_argument("--name", default="expressions",
                        help="dataset name: writes OUT/NAME (default: expressions)")
    parser.add_argument("--out", type=Path, default=DATASETS_DIR,
                        help="root folder of datasets (default: %(default)s)")
    parser.add_argument("--split", type=_ratios, default=(0.6, 0.2, 0.2), metavar="TR,VA,TE",
                        help="train,val,test fractions (default: 0.6,0.2,0.2)")
    parser.add_argument("--seed", type=int, default=0, help="split seed (default: 0)")
    parser.add_argument("--respect-source-splits", action="store_true",
                        help="keep the train/val/test a pool's source gives (e.g. Roboflow)")
    parser.add_argument("--size", type=_size, default=(450, 650), metavar="WxH",
                        help="output size, width x height (default: 450x650; keep: copy as is)")
    parser.add_argument("--resize", choices=RESIZE_MODES, default="letterbox",
                        help="letterbox (keep aspect, pad 114; default) or stretch")
    parser.add_argument("--flip", choices=FLIP_MODES, default="train",
                        help="splits that get horizontal-flip copies (default: train)")
    parser.add_argument("--dup-bits", type=int, default=DEFAULT_DUP_BITS,
                        help="64-bit dHash distance of a near-duplicate candidate "
                             "(default: %(default)s)")
    parser.add_argument("--dup-confirm-bits", type=int, default=DEFAULT_CONFIRM_BITS,
                        help="256-bit dHash distance that confirms a candidate; 256 trusts the "
                             "64-bit hash alone (default: %(default)s)")
    dup = parser.add_mutually_exclusive_group()
    dup.add_argument("--allow-near-duplicates", action="store_true",
                     help="build even with near-duplicates across splits (listed in the dataset)")
    dup.add_argument("--merge-near-duplicates", action="store_true",
                     help="put groups that share a near-duplicate image into one group first")
    parser.add_argument("--classes", metavar="A,B", help="class order (ids) of the dataset")
    parser.add_argument("--frame-level-split", action="store_true",
                        help="LEAKY on purpose: ignore groups and split image by image (frames of "
                             "one video in several splits), to measure the inflation; "
                             "near-duplicates across splits are allowed and counted")
    parser.add_argument("--balance", choices=tuple(BALANCE_MODES), default="none",
                        help="also write train_balanced.txt + data_balanced.yaml listing "
                             "minority-class train images repeatedly: sqrt (repeat (max/n)^0.5) or "
                             "full (max/n); data.yaml is unchanged (default: none)")
    parser.add_argument("--workers", type=positive_int, default=2,
                        help="processes for hashing and resizing (default: 2)")
    parser.add_argument("--jpeg-quality", type=int, default=95, help="JPEG quality (default: 95)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def command_line(args: argparse.Namespace) -> str:
    """The canonical command that rebuilds this dataset, every default spelled out.

    Example:
        >>> ns = argparse.Namespace(pools=[Path("p")], name="x", out=Path("datasets"),
        ...     split=(0.6, 0.2, 0.2), seed=0, size=(450, 650), resize="letterbox", flip="train",
        ...     dup_bits=6, dup_confirm_bits=28, respect_source_splits=False,
        ...     allow_near_duplicates=False, merge_near_duplicates=True, classes=None)
        >>> command_line(ns)  # doctest: +NORMALIZE_WHITESPACE
        'exprdet build p --name x --out datasets --split 0.6,0.2,0.2 --seed 0 --size 450x650
         --resize letterbox --flip train --dup-bits 6 --dup-confirm-bits 28
         --merge-near-duplicates'
    """
    size = f"{args.size[0]}x{args.size[1]}" if args.size else "keep"
    parts = ["exprdet", "build", *map(str, args.pools), "--name", args.name, "--out", str(args.out),
             "--split", ",".join(f"{r:g}" for r in args.split), "--seed", str(args.seed),
             "--size", size, "--resize", args.resize, "--flip", args.flip,
             "--dup-bits", str(args.dup_bits), "--dup-confirm-bits", str(args.dup_confirm_bits)]
    for flag in ("respect_source_splits", "allow_near_duplicates", "merge_near_duplicates",
                 "frame_level_split"):
        if getattr(args, flag, False):  # getattr: namespaces from older callers lack new flags
            parts.append("--" + flag.replace("_", "-"))
    if args.classes:
        parts += ["--classes", args.classes]
    if getattr(args, "balance", "none") != "none":
        parts += ["--balance", args.balance]
    return shlex.join(parts)


def run(args: argparse.Namespace) -> int:
    """Build the dataset and print the counts per split."""
    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    if args.frame_level_split and args.merge_near_duplicates:
        raise DatasetError(None, "--frame-level-split ignores groups and --merge-near-duplicates "
                                 "builds them: use one or the other")
    result = build_dataset(
        args.pools, args.name, args.out, ratios=args.split, seed=args.seed, size=args.size,
        resize=args.resize, flip=args.flip, dup_bits=args.dup_bits,
        dup_confirm_bits=args.dup_confirm_bits, allow_near_duplicates=args.allow_near_duplicates,
        merge_near_duplicates=args.merge_near_duplicates,
        respect_source_splits=args.respect_source_splits, classes=classes, workers=args.workers,
        jpeg_quality=args.jpeg_quality, progress=not args.no_progress,
        command=command_line(args), frame_level_split=args.frame_level_split,
        balance=args.balance)
    names = result.names
    print(f"{result.dataset}: classes {', '.join(f'{i}={n}' for i, n in enumerate(names))}")
    for split, row in result.stats["splits"].items():
        per = ", ".join(f"{n} {row['per_class'][n]['source_images']}" for n in names)
        flips = f" + {row['flipped']} flip copies" if row["flipped"] else ""
        print(f"  {split:5s}: {row['source_images']:6d} images{flips} ({per}), "
              f"{row['boxes']} boxes, {row['groups']} groups")
    report = result.report
    if report["merged_groups"]:
        print(f"  merged {len(report['merged_groups'])} sets of groups sharing near-duplicates")
    if report["near_duplicates_across_splits"]:
        print(f"  warning: {report['near_duplicates_across_splits']} near-duplicate pairs across "
              f"splits allowed, listed in {result.dataset / 'near_duplicates.json'}")
    if report["groups_across_splits"]:
        print(f"  leaky (--frame-level-split): {report['groups_across_splits']} groups have images "
              f"in more than one split")
    if report["balance"]:
        b = report["balance"]
        per = ", ".join(f"{c} {b['per_class_before'][c]}->{b['per_class_after'][c]}"
                        for c in b["per_class_before"])
        print(f"  balanced train list ({b['mode']}): {b['images_before']} -> {b['images_after']} "
              f"images ({per}); train on {result.dataset / b['data_yaml']}")
    print(f"  data.yaml: {result.data_yaml}")
    print(f"  stats: {result.dataset / 'stats.json'}, {result.dataset / 'stats.png'}; "
          f"report: {result.dataset / 'build_report.json'} "
          f"({report['timings_s']['total_s']} s)")
    return 0
