"""The seven-class FER mode: FER2013 class folders to a pool, and class balancing by repetition.

FER2013 (``<root>/<split>/<class>/*.jpg``, 48x48 grayscale) has no boxes: every picture *is* a
face crop, so :func:`import_fer2013` boxes the whole image (or a fixed inset of it) and writes a
pool (see docs/autolabel_build.md for the format) that ``exprdet build`` merges by class name
with the Roboflow seven-class pool (``angry, disgust, fear, happy, neutral, sad, surprise``).

FER2013 is very unbalanced (train: happy 7,215, disgust 436), so :func:`balanced_train_list`
writes a *repeated* list of train images (minority images listed several times) instead of
capping the majority classes: capping down to disgust would throw away 90 % of the data, while
repetition keeps every image and Ultralytics' augmentation makes each repeat look different.
``exprdet build --balance sqrt|full`` writes that list as ``train_balanced.txt`` plus a
``data_balanced.yaml`` next to the dataset's own ``data.yaml``; training on one or the other is
the choice. ``--per-class N`` at import caps the majority classes instead, when that is wanted.

Run as ``python -m detector.fer FER_ROOT --out POOL`` (same options as :func:`import_fer2013`).

Example:
    >>> # import_fer2013("../shared/data/fer2013", "datasets/pools/fer2013", per_class=500)
    >>> # exprdet build datasets/pools/rf7 datasets/pools/fer2013 --name fer7 --size 160x160 \\
    >>> #     --merge-near-duplicates --balance sqrt
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import shutil
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml
from tqdm import tqdm

from detector.errors import DatasetError, DetectorError
from detector.fileio import IMAGE_SUFFIXES, atomic_dir, atomic_write_json

FER_CLASSES = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
FER_SPLITS = ("train", "val", "test")
# FER2013 ships train/ and test/; some copies also have val/ (or valid/, PublicTest/...).
_SPLIT_FOLDERS = {"train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",)}
POOL_KIND = "crops"
REPORT_NAME = "fer_import_report.json"
POOL_COLUMNS = ("image", "group", "source_split", "class_names")
BALANCE_MODES = {"none": 0.0, "sqrt": 0.5, "full": 1.0}


# --------------------------------------------------------------------------- import


@dataclass
class FerImportReport:
    """What :func:`import_fer2013` did; written to ``<pool>/fer_import_report.json``.

    Attributes:
        source: The FER2013 folder.
        pool: The pool folder written.
        names: Pool classes (ids in this order).
        per_split: ``{split: {class: images imported}}``.
        available: ``{split: {class: images in the source}}`` (before ``per_class`` capping).
        unreadable: Files that do not decode as images (left out, listed).
        sizes: ``{"48x48": n, ...}`` source image sizes seen.
        settings: The options used (box inset, upscale size, cap, seed).
        sharpness: ``{split: median Laplacian variance}`` of the source pictures (see
            :func:`laplacian_variance`); FER2013's own pictures are around 2,000.
        warnings: Plain-language problems found (e.g. a blurred split), also printed by the CLI.

    Example:
        >>> r = FerImportReport("fer", "pool", ["happy"], {"train": {"happy": 3}})
        >>> r.total
        3
    """

    source: str
    pool: str
    names: list[str]
    per_split: dict[str, dict[str, int]] = field(default_factory=dict)
    available: dict[str, dict[str, int]] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    sharpness: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Images imported over all splits and classes."""
        return sum(sum(c.values()) for c in self.per_split.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (with ``total``).

        Example:
            >>> FerImportReport("fer", "pool", ["happy"]).to_dict()["total"]
            0
        """
        return {"source": self.source, "pool": self.pool, "names": self.names,
                "total": self.total, "per_split": self.per_split, "available": self.available,
                "unreadable": self.unreadable, "sizes": self.sizes, "settings": self.settings,
                "sharpness": self.sharpness, "warnings": self.warnings}


# Median Laplacian variance below which a split of 48x48 faces counts as blurred: the shared
# copy's train split has 6 (every picture), its test split 2,150; Gaussian blurs of the test
# pictures give 150 (sigma 1), 20 (sigma 2) and 6.4 (sigma 3).
BLURRED_BELOW = 30.0


def laplacian_variance(image: np.ndarray) -> float:
    """Variance of the Laplacian of a grayscale version of ``image``: low means blurred.

    Example:
        >>> flat = np.full((48, 48), 128, np.uint8)
        >>> laplacian_variance(flat)
        0.0
    """
    if image.ndim == 2:
        gray = image
    else:
        code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        gray = cv2.cvtColor(image, code)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def blur_warnings(sharpness: Mapping[str, float], threshold: float = BLURRED_BELOW) -> list[str]:
    """One warning per split whose median sharpness says its pictures are blurred.

    Example:
        >>> blur_warnings({"train": 6.1, "test": 2122.0})[0][:40]
        'split train looks blurred (median Lapla'
    """
    return [f"split {split} looks blurred (median Laplacian variance {value:.1f}, below {threshold:g}): "
            "a model trained on it has seen no sharp face; compare it with a sharp split before mixing"
            for split, value in sharpness.items() if value < threshold]


def whole_face_box(inset: float = 0.0) -> tuple[float, float, float, float]:
    """The YOLO ``xywhn`` box of a face crop: the whole image, shrunk by ``inset`` on every side.

    Args:
        inset: Fraction of the side removed on each edge, in ``[0, 0.5)``.

    Example:
        >>> whole_face_box(), whole_face_box(0.1)
        ((0.5, 0.5, 1.0, 1.0), (0.5, 0.5, 0.8, 0.8))
    """
    if not 0.0 <= inset < 0.5:
        raise ValueError(f"inset must be in [0, 0.5), got {inset}")
    side = round(1.0 - 2.0 * inset, 6)
    return (0.5, 0.5, side, side)


def _split_dirs(root: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for split, names in _SPLIT_FOLDERS.items():
        for name in names:
            if (root / name).is_dir():
                found[split] = root / name
                break
    return found


def list_fer_images(root: str | Path, splits: Sequence[str] = ("train", "test"),
                    classes: Sequence[str] | None = None) -> dict[str, dict[str, list[Path]]]:
    """The images of a FER2013-style folder: ``{split: {class: sorted files}}``.

    Args:
        root: Folder holding ``train/<class>/``, ``test/<class>/`` (``val/`` or ``valid/`` too).
        splits: Splits to read; each must exist.
        classes: Class folders to read (each must exist in every split read); default every
            class folder of the first split, sorted.

    Raises:
        DatasetError: Missing root, split or class folder, or a split with no images.

    Example:
        >>> # list_fer_images("../shared/data/fer2013")["train"]["disgust"][:1]
        >>> # [PosixPath('../shared/data/fer2013/train/disgust/Training_10371709.jpg')]
    """
    base = Path(root)
    if not base.is_dir():
        raise DatasetError(base, "FER2013 folder not found (expected <root>/train/<class>/*.jpg)")
    dirs = _split_dirs(base)
    unknown = [s for s in splits if s not in FER_SPLITS]
    if unknown:
        raise DatasetError(None, f"unknown split(s) {unknown}; use {', '.join(FER_SPLITS)}")
    if not splits:
        raise DatasetError(None, "no split to import")
    out: dict[str, dict[str, list[Path]]] = {}
    for split in splits:
        if split not in dirs:
            raise DatasetError(base, f"has no {split}/ folder (found: "
                                     f"{', '.join(p.name for p in dirs.values()) or 'none'})")
        folder = dirs[split]
        present = sorted(p.name for p in folder.iterdir() if p.is_dir())
        wanted = list(classes) if classes else (present if not out else list(next(iter(
            out.values()))))
        missing = [c for c in wanted if c not in present]
        if missing:
            raise DatasetError(folder, f"no class folder(s) {', '.join(missing)} "
                                       f"(has {', '.join(present) or 'none'})")
        out[split] = {c: sorted(p for p in (folder / c).iterdir()
                                if p.suffix.lower() in IMAGE_SUFFIXES) for c in wanted}
        if not any(out[split].values()):
            raise DatasetError(folder, "holds no images in its class folders")
    return out


def cap_per_class(files: Sequence[Path], limit: int | None, seed: int) -> list[Path]:
    """A seeded random ``limit`` of ``files`` (all when ``limit`` is None or not smaller), sorted.

    Example:
        >>> cap_per_class([Path("b"), Path("a"), Path("c")], 2, seed=0)
        [PosixPath('b'), PosixPath('c')]
    """
    files = sorted(files)
    if limit is None or limit >= len(files):
        return files
    if limit < 0:
        raise ValueError(f"per-class limit must be >= 0, got {limit}")
    return sorted(random.Random(seed).sample(files, limit))


def import_fer2013(root: str | Path, out: str | Path, *, splits: Sequence[str] = ("train", "test"),
                   classes: Sequence[str] | None = None,
                   per_class: int | Mapping[str, int] | None = None,
                   seed: int = 0, inset: float = 0.0, upscale: int | None = None,
                   keep_source_splits: bool = True, jpeg_quality: int = 95,
                   progress: bool = True) -> FerImportReport:
    """Write a pool from FER2013 class folders: one whole-face box per image, group = the file.

    Every 48x48 picture is a face crop, so its box is the whole image (or ``inset`` less on each
    side). FER2013 has no person ids, so each file is its own leakage group; its known exact
    and near duplicates are caught by ``exprdet build``'s near-duplicate check (use
    ``--merge-near-duplicates``). Pool file names are ``<class>__<name>``, because two FER2013
    train names occur in two class folders with different pictures.

    Args:
        root: The FER2013 folder (``<root>/<split>/<class>/*.jpg``).
        out: Pool folder; replaced atomically if it is a previous pool, refused if it is any
            other non-empty folder.
        splits: Source splits to import.
        classes: Class folders (default: all, sorted; the seven FER classes in FER2013).
        per_class: Cap per class and split (seeded random sample): one number for every class
            (small test pools), or ``{class: cap}`` for the listed classes only (e.g. cap the
            majority class ``{"happy": 4000}``).
        seed: Seed of the ``per_class`` sample.
        inset: Box inset fraction per side (0 = the whole image).
        upscale: Write images resized to ``upscale x upscale`` (bicubic, JPEG); ``None`` copies
            the source bytes (``exprdet build --size`` resizes anyway).
        keep_source_splits: Record FER2013's split as ``source_split`` (used only by
            ``exprdet build --respect-source-splits``).
        jpeg_quality: JPEG quality of upscaled images.
        progress: Show a progress bar.

    Returns:
        The :class:`FerImportReport` (also in ``<pool>/fer_import_report.json``).

    Raises:
        DatasetError: Missing folders, no images, an output folder that is not a pool.

    Example:
        >>> r = import_fer2013("../shared/data/fer2013", "/tmp/fer-pool",
        ...                    per_class=10)  # doctest: +SKIP
        >>> r.per_split["train"]["disgust"]  # doctest: +SKIP
        10
    """
    from detector.autolabel import check_replaceable
    from detector.labels import format_yolo_line

    src = Path(root)
    out = Path(out)
    if upscale is not None and upscale < 8:
        raise ValueError(f"upscale must be at least 8 pixels, got {upscale}")
    box = whole_face_box(inset)
    listing = list_fer_images(src, splits, classes)
    names = list(next(iter(listing.values())))
    check_replaceable(out, "pool.yaml")
    if isinstance(per_class, Mapping):
        unknown = [c for c in per_class if c not in names]
        if unknown:
            raise DatasetError(src, f"per-class cap for unknown class(es) {unknown}; classes: {names}")
    report = FerImportReport(str(src), str(out), names, settings={
        "splits": list(splits),
        "per_class": dict(per_class) if isinstance(per_class, Mapping) else per_class, "seed": seed, "inset": inset,
        "box_xywhn": list(box), "upscale": upscale, "keep_source_splits": keep_source_splits})
    jobs: list[tuple[str, str, Path]] = []
    for split, per in listing.items():
        report.available[split] = {c: len(f) for c, f in per.items()}
        for cls, files in per.items():
            cap = per_class.get(cls) if isinstance(per_class, Mapping) else per_class
            jobs += [(split, cls, f) for f in cap_per_class(files, cap, seed)]
    rows: list[list[str]] = []
    counts: dict[str, Counter[str]] = {s: Counter() for s in listing}
    sizes: Counter[str] = Counter()
    sharp: dict[str, list[float]] = {s: [] for s in listing}
    with atomic_dir(out) as tmp:
        (tmp / "images").mkdir()
        (tmp / "labels").mkdir()
        for split, cls, path in tqdm(jobs, desc="import FER2013", unit="img",
                                     disable=not progress or None, file=sys.stderr):
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if image is None:
                report.unreadable.append(str(path))
                continue
            sizes[f"{image.shape[1]}x{image.shape[0]}"] += 1
            sharp[split].append(laplacian_variance(image))
            name = f"{cls}__{path.name}"
            if upscale is None:
                shutil.copyfile(path, tmp / "images" / name)
            else:
                name = f"{Path(name).stem}.jpg"
                big = cv2.resize(image, (upscale, upscale), interpolation=cv2.INTER_CUBIC)
                if not cv2.imwrite(str(tmp / "images" / name), big,
                                   [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]):
                    raise DatasetError(tmp / "images" / name, "could not write image")
            (tmp / "labels" / f"{Path(name).stem}.txt").write_text(
                format_yolo_line(names.index(cls), box) + "\n")
            rows.append([name, f"{split}/{cls}/{path.stem}",
                         split if keep_source_splits else "", cls])
            counts[split][cls] += 1
        if not rows:
            raise DatasetError(src, "no readable image to import")
        with (tmp / "manifest.csv").open("w", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(POOL_COLUMNS)
            writer.writerows(rows)
        (tmp / "pool.yaml").write_text(yaml.safe_dump(
            {"names": names, "source": f"FER2013 class folders {src.resolve()} (whole-image "
                                       f"face boxes, inset {inset})", "kind": POOL_KIND},
            sort_keys=False))
        report.per_split = {s: {c: counts[s][c] for c in names} for s in listing}
        report.sizes = dict(sizes)
        report.sharpness = {s: round(float(np.median(v)), 1) for s, v in sharp.items() if v}
        report.warnings = blur_warnings(report.sharpness)
        atomic_write_json(tmp / REPORT_NAME, report.to_dict())
    return report


# --------------------------------------------------------------------------- balancing


def repeat_factors(class_counts: Mapping[str, int], power: float = 0.5) -> dict[str, float]:
    """How often to list images of each class so the classes come closer to balance.

    ``r(c) = (n_max / n_c) ** power``: ``power=1`` equalises the classes (every class as
    frequent as the largest), ``power=0.5`` is the square-root compromise of repeat-factor
    sampling (LVIS, Gupta et al. 2019): a class 16x rarer is seen 4x more often, so a tiny
    class is boosted without 16 identical copies of each of its images. ``power=0`` is no
    balancing. Classes with no images get 1.

    Example:
        >>> repeat_factors({"happy": 400, "disgust": 25})
        {'happy': 1.0, 'disgust': 4.0}
        >>> repeat_factors({"happy": 400, "disgust": 25}, power=1.0)["disgust"]
        16.0
    """
    if power < 0:
        raise ValueError(f"power must be >= 0, got {power}")
    top = max(class_counts.values(), default=0)
    return {c: (top / n) ** power if n > 0 else 1.0 for c, n in class_counts.items()}


def balanced_train_list(items: Sequence[tuple[str, Sequence[str]]], power: float = 0.5,
                        seed: int = 0) -> tuple[list[str], dict[str, Any]]:
    """Repeat train images so rare classes are seen more often; return the list and counts.

    Each image is listed ``r`` times, ``r`` = the largest :func:`repeat_factors` value of its
    classes (an image with a rare class is worth repeating even if it also shows a common one;
    background images stay at 1). A fractional ``r`` is rounded up or down at random (seeded)
    so the expected count is exact: ``r = 2.3`` lists 30 % of such images three times.

    Args:
        items: ``(image, classes present)`` per train image (flip copies included).
        power: See :func:`repeat_factors` (0.5 = ``sqrt``, 1 = ``full``).
        seed: Seed of the rounding.

    Returns:
        ``(images with repeats, sorted; summary)``; the summary has ``power``, ``repeat``
        (factor per class), ``images_before/after`` and ``per_class_before/after`` (images
        listing the class).

    Example:
        >>> items = [(f"h{i}.jpg", ("happy",)) for i in range(8)] + [("d0.jpg", ("disgust",))]
        >>> listed, info = balanced_train_list(items, power=1.0)
        >>> listed.count("d0.jpg"), info["per_class_after"]
        (8, {'disgust': 8, 'happy': 8})
    """
    before: Counter[str] = Counter()
    for _, classes in items:
        before.update(set(classes))
    factors = repeat_factors(before, power)
    rng = random.Random(seed)
    listed: list[str] = []
    after: Counter[str] = Counter()
    for image, classes in sorted(items, key=lambda x: x[0]):  # input order must not matter
        r = max((factors[c] for c in set(classes)), default=1.0)
        whole = math.floor(r + 1e-9)
        copies = whole + (1 if rng.random() < r - whole - 1e-9 else 0)
        listed += [image] * copies
        for c in set(classes):
            after[c] += copies
    summary = {"power": power, "seed": seed,
               "repeat": {c: round(v, 4) for c, v in sorted(factors.items())},
               "images_before": len(items), "images_after": len(listed),
               "per_class_before": dict(sorted(before.items())),
               "per_class_after": dict(sorted(after.items()))}
    return sorted(listed), summary


def balanced_yaml_text(names: Sequence[str], has_test: bool = True,
                       train_list: str = "train_balanced.txt") -> str:
    """``data_balanced.yaml``: like ``data.yaml`` but ``train:`` is the repeated image list.

    Example:
        >>> print(balanced_yaml_text(["a"]).splitlines()[2])
        train: train_balanced.txt
    """
    lines = ["# Written by `exprdet build --balance`: train lists minority-class images several",
             "# times (see build_report.json 'balance'); val/test are the dataset's own.",
             f"train: {train_list}", "val: val/images"]
    if has_test:
        lines.append("test: test/images")
    body = yaml.safe_dump({"nc": len(names), "names": dict(enumerate(names))}, sort_keys=False,
                          allow_unicode=True)
    return "\n".join(lines) + "\n" + body


# --------------------------------------------------------------------------- command line

HELP = ("import FER2013 class folders (48x48 face crops) as a pool: whole-image boxes, one group "
        "per file, optional per-class cap and upscaling")


def parse_caps(text: str) -> int | dict[str, int]:
    """``"500"`` -> 500 (every class); ``"happy=4000,neutral=4000"`` -> a per-class mapping.

    Example:
        >>> parse_caps("500"), parse_caps("happy=4000, sad=10")
        (500, {'happy': 4000, 'sad': 10})
    """
    try:
        if "=" not in text:
            value = int(text)
            if value < 0:
                raise ValueError
            return value
        caps = {}
        for part in text.split(","):
            name, _, number = part.partition("=")
            caps[name.strip()] = int(number)
            if caps[name.strip()] < 0 or not name.strip():
                raise ValueError
        return caps
    except ValueError:
        raise ValueError(f"per-class cap must be N or CLASS=N,... with N >= 0, got {text!r}") from None


def _caps(text: str) -> int | dict[str, int]:
    try:
        return parse_caps(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the FER2013 importer (``python -m detector.fer``)."""
    parser.add_argument("root", type=Path, help="FER2013 folder with train/<class>/ and test/<class>/")
    parser.add_argument("--out", type=Path, required=True, help="pool folder to write")
    parser.add_argument("--splits", default="train,test",
                        help="source splits to import (default: train,test)")
    parser.add_argument("--classes", default=None,
                        help="class folders, comma-separated (default: all, sorted)")
    parser.add_argument("--per-class", type=_caps, default=None, metavar="N|CLASS=N,...",
                        help="at most N images per class and split (seeded sample), or caps for "
                             "some classes only, e.g. happy=4000 (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the per-class sample (0)")
    parser.add_argument("--inset", type=float, default=0.0,
                        help="box inset per side as a fraction (default 0: the whole image)")
    parser.add_argument("--upscale", type=int, default=None,
                        help="write images resized to NxN (default: copy the 48x48 bytes; "
                             "exprdet build --size resizes anyway)")
    parser.add_argument("--no-source-splits", action="store_true",
                        help="leave source_split empty instead of FER2013's train/test")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Import and print the counts per split and class."""
    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    try:
        report = import_fer2013(args.root, args.out, splits=splits, classes=classes,
                                per_class=args.per_class, seed=args.seed, inset=args.inset,
                                upscale=args.upscale, keep_source_splits=not args.no_source_splits,
                                progress=not args.no_progress)
    except ValueError as exc:  # bad option values: a message, not a traceback
        raise DetectorError(None, str(exc)) from None
    print(f"pool {report.pool}: classes {report.names}, {report.total} images")
    for split, per in report.per_split.items():
        print(f"  {split}: " + ", ".join(f"{c} {n}" for c, n in per.items()))
    if report.unreadable:
        print(f"  {len(report.unreadable)} unreadable images left out (listed in {REPORT_NAME})")
    for warning in report.warnings:
        print(f"  warning: {warning}")
    print(f"report: {Path(report.pool) / REPORT_NAME}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m detector.fer``: parse, run, turn library errors into a message and exit 2.

    Mirrors ``detector.cli.main`` for this one command until it is registered there.

    Example:
        >>> main(["--help"])  # doctest: +SKIP
    """
    parser = argparse.ArgumentParser(prog="python -m detector.fer", description=HELP)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except DetectorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
