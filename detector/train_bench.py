"""Training-throughput benchmark: seconds per batch at each torch thread count.

The 2-hour training budget buys epochs, so how fast one batch trains decides how good the shipped
model can be. Ultralytics pins torch to ``cpu_count - 1`` threads (1 on a 2-core machine) and
loads data in the main process on CPU; :func:`bench_training` measures whether more threads pay
off on the real data and recipe, by timing a few dozen batches of a real training per setting.

Example:
    >>> # rows = bench_training("datasets/mixed.yaml", threads=(1, 2), batches=30)
    >>> # print(format_train_bench_table(rows, machine_info()))
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detector.errors import DetectorError
from detector.train import train


@dataclass(frozen=True)
class TrainBenchRow:
    """One thread setting's timing.

    Attributes:
        threads: torch intra-op threads.
        batches: Timed batches (after the warm-up ones).
        seconds_per_batch: Median wall time of one optimiser step including data loading.
        images_per_second: ``batch / seconds_per_batch``.
        batches_per_epoch: Batches in one epoch of this dataset at this batch size.
        epoch_minutes: ``batches_per_epoch * seconds_per_batch / 60`` (training only, no val).
    """

    threads: int
    batches: int
    seconds_per_batch: float
    images_per_second: float
    batches_per_epoch: int
    epoch_minutes: float


class _Enough(Exception):
    """Raised from a callback to stop the timed training once enough batches ran."""


def batch_seconds(stamps: Sequence[float], warmup: int) -> list[float]:
    """Durations between consecutive batch-end time stamps, skipping the first ``warmup``.

    The first batches include model fusing, allocator growth and the first mosaic loads, so
    they are not representative of an epoch.

    Example:
        >>> batch_seconds([0.0, 5.0, 6.0, 7.5, 8.5], warmup=1)
        [1.0, 1.5, 1.0]
    """
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    return gaps[warmup:]


def bench_training(
    data: str | Path,
    model: str | Path = "yolo11n.yaml",
    *,
    threads: Sequence[int] = (1, 2),
    batches: int = 30,
    warmup: int = 3,
    batch: int = 16,
    imgsz: int = 320,
    backbone: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> list[TrainBenchRow]:
    """Time ``batches`` training steps of a real training run at each thread count.

    Each setting starts a fresh training (in a temporary folder, deleted afterwards) with the
    same data, model and options, and stops it after ``warmup + batches`` steps; nothing is
    validated or kept.

    Args:
        data: A YOLO data.yaml.
        model: Model yaml or local .pt, as for :func:`detector.train.train`.
        threads: torch thread counts to compare.
        batches: Timed batches per setting.
        warmup: Untimed batches first.
        batch: Batch size.
        imgsz: Training image size.
        backbone: Optional classifier ``.pt`` loaded into the backbone (as the ship recipe does).
        overrides: Other Ultralytics options (``freeze``, ``mosaic``, ...).

    Returns:
        One :class:`TrainBenchRow` per thread count, in the given order.

    Example:
        >>> # rows = bench_training("datasets/mixed.yaml", backbone="weights/smile-neutral-cls.pt",
        >>> #                       overrides={"freeze": 9, "mosaic": 0.5})
        >>> # [r.threads for r in rows]
        >>> # [1, 2]
    """
    if batches < 2:
        raise DetectorError(None, f"--batches must be at least 2, got {batches}")
    rows = []
    for n in threads:
        stamps: list[float] = []
        per_epoch: list[int] = []

        def tick(trainer: Any, stamps: list[float] = stamps, per_epoch: list[int] = per_epoch) -> None:
            if not per_epoch:
                per_epoch.append(len(trainer.train_loader))
            stamps.append(time.perf_counter())
            if len(stamps) > warmup + batches:
                raise _Enough

        with tempfile.TemporaryDirectory(prefix="exprdet-train-bench-") as tmp, contextlib.suppress(_Enough):
            train(data, model, epochs=1, batch=batch, imgsz=imgsz, threads=n, project=tmp,
                  name=f"t{n}", backbone=backbone,
                  overrides={"plots": False, "val": False, **dict(overrides or {})},
                  callbacks={"on_train_batch_end": tick})
        gaps = batch_seconds(stamps, warmup)
        if len(gaps) < batches:
            raise DetectorError(data, f"an epoch has only {len(stamps)} batches; lower --batches "
                                      f"(asked {warmup} + {batches})")
        spb = statistics.median(gaps)
        rows.append(TrainBenchRow(n, len(gaps), spb, batch / spb, per_epoch[0],
                                  per_epoch[0] * spb / 60))
    return rows


def format_train_bench_table(rows: Sequence[TrainBenchRow], machine: Mapping[str, Any],
                             *, title: str = "") -> str:
    """Markdown table of the rows, with the machine and the speed-up over the first row.

    Example:
        >>> row = TrainBenchRow(1, 30, 2.0, 8.0, 600, 20.0)
        >>> print(format_train_bench_table([row], {"cpu": "X", "logical_cores": 2,
        ...                                        "load_avg_1m": 0.1}).splitlines()[-1])
        | 1 | 2.00 | 8.0 | 20.0 | 1.00x |
    """
    head = [title] if title else []
    head += [f"Machine: {machine.get('cpu')}, {machine.get('logical_cores')} logical cores, "
             f"load average {machine.get('load_avg_1m')} before the run.", "",
             "| torch threads | s / batch | images / s | min / epoch (train only) | speed-up |",
             "|---:|---:|---:|---:|---:|"]
    base = rows[0].seconds_per_batch if rows else 1.0
    for r in rows:
        head.append(f"| {r.threads} | {r.seconds_per_batch:.2f} | {r.images_per_second:.1f} | "
                    f"{r.epoch_minutes:.1f} | {base / r.seconds_per_batch:.2f}x |")
    return "\n".join(head)
