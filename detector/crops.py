"""Cut the labelled faces of a built detection dataset into an ImageFolder for a crop classifier.

A ``-cls`` model trained on these crops is the backbone that lets a detector learn the
expression classes on a CPU budget (see ``exprdet train --backbone``): every face of
``train``/``val``/``test`` becomes ``out/<split>/<class>/<image stem>_<k>.jpg``. Splits stay as
the dataset made them, so a backbone trained on ``train`` has never seen a val or test person.

``python -m detector.crops datasets/fer7-capped/data.yaml --out datasets/fer7-capped-crops``
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from detector.errors import DatasetError
from detector.evaluate import load_truth
from detector.fileio import atomic_write_json
from detector.refine import square_crops
from detector.train import load_data_yaml

HELP = "cut the labelled faces of a dataset's splits into class folders for a crop classifier"
REPORT_NAME = "crops_report.json"
FLIP_SUFFIX = "_flip"


@dataclass
class CropReport:
    """What :func:`export_crops` wrote: crops per split and class, and the faces it left out."""

    out: Path
    names: list[str]
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    too_small: dict[str, int] = field(default_factory=dict)
    flips_skipped: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"out": str(self.out), "names": self.names, "counts": self.counts,
                "too_small": self.too_small, "flips_skipped": self.flips_skipped}


def keep_box(xyxy: np.ndarray, min_px: float) -> bool:
    """True when both sides of a pixel box are at least ``min_px``.

    Example:
        >>> keep_box(np.array([0, 0, 20, 11]), 12), keep_box(np.array([5, 5, 30, 40]), 12)
        (False, True)
    """
    return bool(xyxy[2] - xyxy[0] >= min_px and xyxy[3] - xyxy[1] >= min_px)


def export_crops(data: str | Path, out: str | Path, *, splits: Sequence[str] = ("train", "val", "test"),
                 size: int = 96, grow: float = 1.05, min_px: float = 12.0, skip_flips: bool = True,
                 progress: bool = True) -> CropReport:
    """Write every labelled face of ``splits`` as a ``size`` x ``size`` colour crop in a class folder.

    Args:
        data: The dataset's ``data.yaml``.
        out: Folder to write (replaced if it holds an earlier export; any other existing
            folder is refused).
        splits: Splits to export; each must exist in ``data``.
        size: Side of the square crops in pixels.
        grow: Side of the square around a box, as a multiple of its longer side.
        min_px: Faces narrower or lower than this (in the image's pixels) are counted, not written.
        skip_flips: Leave out ``<stem>_flip`` images, the mirrored copies ``exprdet build`` adds to
            train (a classifier flips at random anyway).
        progress: Show a progress bar.

    Returns:
        Counts per split and class; also written to ``out/crops_report.json``.

    Raises:
        DatasetError: ``out`` exists and is not an earlier export, a split is missing, or an
            image cannot be read.

    Example:
        >>> # export_crops("datasets/fer7-capped/data.yaml", "datasets/fer7-capped-crops", size=96)
    """
    from tqdm import tqdm

    out = Path(out)
    if out.exists() and not (out / REPORT_NAME).is_file():
        raise DatasetError(out, f"exists and is not a crop export (no {REPORT_NAME}); choose another --out")
    spec = load_data_yaml(data, require=tuple(splits))
    names = [spec.names[i] for i in sorted(spec.names)]
    report = CropReport(out, names)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for split in splits:
        counts: Counter = Counter()
        small = flips = 0
        for name in names:
            (tmp / split / name).mkdir(parents=True, exist_ok=True)
        for path in tqdm(spec.images(split), desc=f"crops {split}", unit="img", disable=not progress):
            if skip_flips and path.stem.endswith(FLIP_SUFFIX):
                flips += 1
                continue
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise DatasetError(path, "cannot be read as an image")
            h, w = image.shape[:2]
            truth = load_truth(path, (w, h), spec.names)
            keep = [k for k in range(len(truth)) if keep_box(truth.xyxy[k], min_px)]
            small += len(truth) - len(keep)
            if not keep:
                continue
            crops = square_crops(image, truth.xyxy[keep], grow=grow, gray=False)
            for k, crop in zip(keep, crops, strict=True):
                name = spec.names[int(truth.class_id[k])]
                interp = cv2.INTER_AREA if crop.shape[0] >= size else cv2.INTER_CUBIC
                cv2.imwrite(str(tmp / split / name / f"{path.stem}_{k}.jpg"),
                            cv2.resize(crop, (size, size), interpolation=interp))
                counts[name] += 1
        report.counts[split] = {n: counts[n] for n in names}
        report.too_small[split] = small
        report.flips_skipped[split] = flips
    atomic_write_json(tmp / REPORT_NAME, report.to_dict())
    if out.exists():
        shutil.rmtree(out)
    tmp.replace(out)
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m detector.crops``."""
    parser.add_argument("data", type=Path, help="a built dataset's data.yaml")
    parser.add_argument("--out", type=Path, required=True, help="ImageFolder to write (<split>/<class>/)")
    parser.add_argument("--splits", default="train,val,test", help="splits to export (train,val,test)")
    parser.add_argument("--size", type=int, default=96, help="crop side in pixels (96)")
    parser.add_argument("--grow", type=float, default=1.05, help="crop side / longer box side (1.05)")
    parser.add_argument("--min-px", type=float, default=12.0, help="skip faces smaller than this (12 px)")
    parser.add_argument("--keep-flips", action="store_true", help="also crop build's mirrored train copies")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Export and print the counts per split."""
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    report = export_crops(args.data, args.out, splits=splits, size=args.size, grow=args.grow,
                          min_px=args.min_px, skip_flips=not args.keep_flips, progress=not args.no_progress)
    for split, counts in report.counts.items():
        print(f"{split}: {sum(counts.values())} crops ({json.dumps(counts)[1:-1]}); "
              f"{report.too_small[split]} faces under {args.min_px:g} px, "
              f"{report.flips_skipped[split]} flip copies skipped")
    print(f"classifier data: {report.out} (exprdet train --classify --data {report.out})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m detector.crops``: the same as ``exprdet crops`` (errors as one line, exit 2).

    Example:
        >>> main(["--help"])  # doctest: +SKIP
    """
    import sys

    from detector.cli import main as cli_main

    return cli_main(["crops", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
