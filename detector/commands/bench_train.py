"""``exprdet bench-train``: training seconds per batch at each torch thread count."""

from __future__ import annotations

import argparse

from detector.commands import non_negative_int, positive_int

HELP = "training-throughput benchmark: s/batch at each torch thread count"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the bench-train options."""
    parser.add_argument("--data", required=True, help="YOLO data.yaml to train on")
    parser.add_argument("--model", default="yolo11n.yaml", help="model yaml or local .pt (yolo11n.yaml)")
    parser.add_argument("--backbone", help="classifier .pt loaded into the backbone (as `exprdet ship` does)")
    parser.add_argument("--threads", type=positive_int, nargs="+", default=[1, 2], help="thread counts (1 2)")
    parser.add_argument("--batches", type=positive_int, default=30, help="timed batches per setting (30)")
    parser.add_argument("--warmup", type=non_negative_int, default=3, help="untimed batches first (3)")
    parser.add_argument("--batch", type=positive_int, default=16, help="batch size (16)")
    parser.add_argument("--imgsz", type=positive_int, default=320, help="training image size (320)")
    parser.add_argument("--out", metavar="bench.json", help="also write the rows and machine as JSON")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="Ultralytics options, e.g. freeze=9 mosaic=0.5")


def run(args: argparse.Namespace) -> int:
    """Time the training at each thread count and print a Markdown table."""
    from dataclasses import asdict

    from detector.bench import machine_info
    from detector.fileio import atomic_write_json
    from detector.train import parse_overrides
    from detector.train_bench import bench_training, format_train_bench_table

    overrides = parse_overrides(args.overrides)
    machine = machine_info()  # before the runs: the load average says whether the machine was idle
    rows = bench_training(args.data, args.model, threads=args.threads, batches=args.batches,
                          warmup=args.warmup, batch=args.batch, imgsz=args.imgsz,
                          backbone=args.backbone, overrides=overrides)
    print(format_train_bench_table(rows, machine, title=f"Training throughput: {args.model} on "
                                   f"{args.data}, batch {args.batch}, imgsz {args.imgsz}"))
    if args.out:
        atomic_write_json(args.out, {"machine": machine, "data": args.data, "model": args.model,
                                     "backbone": args.backbone, "overrides": overrides,
                                     "rows": [asdict(r) for r in rows]})
    return 0
