"""Time autolabel + build on the shared smile/neutral photos and print a Markdown table.

    python tools/bench_dataset.py                 # all 9,841 photos, YuNet, 2 workers
    python tools/bench_dataset.py --limit 500     # a quick look

The outputs go to a temporary folder (deleted afterwards unless ``--keep``), so the benchmark
never replaces ``datasets/expressions``. There is no ``exprdet`` command for it: it times two
commands' library calls stage by stage, which a thin command wrapper could not.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import cv2

from detector.autolabel import autolabel, items_from_csv
from detector.build import build_dataset
from detector.errors import DetectorError
from detector.paths import shared_dir

SMILE_DIR = Path("data/smile-neutral-faces")


def machine() -> str:
    """CPU model, core count and current load, e.g. ``AMD EPYC, 2 cores, load 1.9``.

    Example:
        >>> "cores" in machine()
        True
    """
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = f", load {os.getloadavg()[0]:.1f} at start" if hasattr(os, "getloadavg") else ""
    return f"{cpu}, {os.cpu_count()} cores{load}"


def _limited_csv(src: Path, dst: Path, limit: int | None) -> Path:
    if limit is None:
        return src
    with src.open(newline="") as fh:
        rows = list(csv.reader(fh))
    with dst.open("w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows[:limit + 1])
    return dst


def bench(shared: Path, work: Path, workers: int,
          limit: int | None) -> list[tuple[str, float, str]]:
    """Run the stages, return ``(stage, seconds, note)`` rows.

    Example:
        >>> # bench(shared_dir(), Path("/tmp/bench"), workers=2, limit=200)
    """
    root = shared / SMILE_DIR
    model = shared / "models" / "face_detection_yunet.onnx"
    table = _limited_csv(root / "labels.csv", work / "labels.csv", limit)
    rows: list[tuple[str, float, str]] = []

    t = time.perf_counter()
    items = items_from_csv(table, root / "images", group_col="person")
    rows.append(("read labels.csv, check every image exists", time.perf_counter() - t,
                 f"{len(items)} photos"))

    t = time.perf_counter()
    result = autolabel(items, work / "pool", face_model=model, workers=workers, progress=True)
    c = result.counts
    rows.append(("autolabel (YuNet, copy, labels, contact sheets)", time.perf_counter() - t,
                 f"{c['labelled']} boxed, {c['no_face']} no face, {c['multi_face']} several"))

    t = time.perf_counter()
    built = build_dataset([work / "pool"], "expressions", work / "datasets",
                          merge_near_duplicates=True, workers=workers, progress=True)
    total_build = time.perf_counter() - t
    tim = built.report["timings_s"]
    st = built.stats["splits"]
    rows += [
        ("build: read and validate pool", tim["read_pools_s"], ""),
        ("build: decode + dHash every photo", tim["hash_s"], ""),
        ("build: merge near-duplicate groups + split", tim["split_s"],
         f"{len(built.report['merged_groups'])} group sets merged"),
        ("build: near-duplicate check across splits", tim["near_duplicates_s"],
         f"{built.report['near_duplicates_across_splits']} pairs left"),
        ("build: letterbox 450x650, JPEG, flips (train)", tim["write_s"],
         " / ".join(f"{s} {st[s]['images']}" for s in ("train", "val", "test")) + " files"),
        ("build: stats, chart, reports", total_build - sum(
            tim[k] for k in ("read_pools_s", "hash_s", "split_s", "near_duplicates_s", "write_s")),
         ""),
        ("build total", total_build, ""),
    ]
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run the benchmark, print the table.

    Example:
        >>> main(["--limit", "100"])  # doctest: +SKIP
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=shared_dir(),
                        help="shared data folder (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="processes (default: 2)")
    parser.add_argument("--limit", type=int, help="only the first N photos of labels.csv")
    parser.add_argument("--work", type=Path, help="output folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the outputs")
    args = parser.parse_args(argv)
    if not (args.shared / SMILE_DIR / "labels.csv").is_file():
        print(f"error: {args.shared / SMILE_DIR / 'labels.csv'} not found (--shared)",
              file=sys.stderr)
        return 2
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_dataset_"))
    work.mkdir(parents=True, exist_ok=True)
    where = machine()
    try:
        started = time.perf_counter()
        rows = bench(args.shared, work, args.workers, args.limit)
        total = time.perf_counter() - started  # before the clean-up, which is not a stage
    except DetectorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    cmd = " ".join(["python tools/bench_dataset.py", *(argv if argv is not None else sys.argv[1:])])
    print(f"\nMachine: {where}; Python {platform.python_version()}, OpenCV {cv2.__version__}, "
          f"{args.workers} worker processes.  Command: `{cmd.strip()}`\n")
    print("| stage | seconds | notes |")
    print("|---|---:|---|")
    for stage, seconds, note in rows:
        print(f"| {stage} | {seconds:.1f} | {note} |")
    print(f"| **total (autolabel + build)** | **{total:.1f}** | target < 300 s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
