"""Build a leakage-free YOLO dataset from one or more pools.

Order of work, and why:

1. Read and validate every pool (``pool.yaml``, ``manifest.csv``, every label row).
2. Decode every source image once to hash it (64- and 256-bit dHash) and get its size.
3. Split by group, stratified by class (:func:`detector.split.split_groups`); optionally keep
   a source's own splits, optionally merge groups that share near-duplicate images first.
4. Refuse near-duplicates across splits *before* writing anything.
5. Resize (letterbox or stretch), write images and labels, add flip copies: augmentation
   only after the split, so no augmented copy of a test image can end up in train.
6. ``data.yaml``, ``manifest.csv``, ``stats.json``/``stats.png``, ``build_report.json``.

Everything is written into a temporary folder and renamed into place (``atomic_dir``).
"""

from __future__ import annotations

import csv
import shutil
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml
from tqdm import tqdm

from detector.autolabel import POOL_MANIFEST_COLUMNS, check_replaceable, worker_context
from detector.dedupe import (
    DEFAULT_CONFIRM_BITS,
    DEFAULT_DUP_BITS,
    NearDuplicate,
    dhash64,
    dhash256,
    near_duplicate_pairs,
)
from detector.errors import DatasetError
from detector.fer import BALANCE_MODES, balanced_train_list, balanced_yaml_text
from detector.fileio import atomic_dir, atomic_write_json, atomic_write_text, list_images
from detector.labels import (
    LabelRow,
    flip_xywhn,
    format_yolo_line,
    letterbox_params,
    read_label_file,
    resize_xywhn,
)
from detector.paths import DATASETS_DIR
from detector.split import SPLITS, SplitItem, parse_ratios, split_groups
from detector.stats import ImageRecord, dataset_stats, plot_stats

# "crops": whole-image face crops such as FER2013 (detector.fer.import_fer2013).
POOL_KINDS = ("roboflow", "autolabel", "frames", "crops")
RESIZE_MODES = ("letterbox", "stretch")
FLIP_MODES = ("train", "all", "none")
PAD_VALUE = 114  # Ultralytics' own letterbox grey, so padding looks like what training sees
SOURCE_SPLIT_ALIASES = {"train": "train", "val": "val", "valid": "val", "validation": "val",
                        "test": "test", "": ""}
# Below this many images, starting worker processes costs more than it saves.
MIN_IMAGES_FOR_WORKERS = 200


@dataclass(frozen=True)
class PoolEntry:
    """One image of a pool, validated.

    Attributes:
        image: File name in ``<pool>/images``.
        group: Leakage group id.
        source_split: ``train``/``val``/``test`` from the source, or ``""``.
        class_names: Classes present (from the manifest, checked against the labels).
        rows: Parsed label rows with the pool's class ids.
    """

    image: str
    group: str
    source_split: str
    class_names: tuple[str, ...]
    rows: tuple[LabelRow, ...]


@dataclass
class Pool:
    """A validated pool folder (see the pool format in docs/autolabel_build.md)."""

    root: Path
    names: list[str]
    kind: str
    source: str
    entries: list[PoolEntry] = field(default_factory=list)
    polygon_rows: int = 0


@dataclass
class BuildResult:
    """Where the dataset went and what it holds."""

    dataset: Path
    data_yaml: Path
    names: list[str]
    stats: dict[str, Any]
    report: dict[str, Any]


# --------------------------------------------------------------------------- pools


def load_pool(path: str | Path) -> Pool:
    """Read and validate a pool folder strictly.

    Checks ``pool.yaml`` (``names``, ``kind``), ``manifest.csv`` (columns, one row per image,
    no duplicates), that every listed image and label file exists, every label row parses
    with the pool's class count, the manifest's ``class_names`` match the label rows, and
    that ``images/`` holds no unlisted image.

    Raises:
        DatasetError: Naming the offending file (and line) for any of the above.

    Example:
        >>> # pool = load_pool("pools/smile-neutral"); pool.names
        >>> # ['neutral', 'smile']
    """
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(root, "pool folder not found")
    meta_path = root / "pool.yaml"
    if not meta_path.is_file():
        raise DatasetError(meta_path, "missing: every pool needs pool.yaml (names, source, kind)")
    try:
        meta = yaml.safe_load(meta_path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise DatasetError(meta_path, f"not valid YAML ({exc})") from None
    names = meta.get("names") if isinstance(meta, dict) else None
    if isinstance(names, dict):  # tolerate Ultralytics-style {0: a, 1: b}
        names = [names[k] for k in sorted(names)]
    if (not isinstance(names, list) or not names
            or not all(isinstance(n, str) and n.strip() for n in names)):
        raise DatasetError(meta_path, "'names' must be a non-empty list of class names")
    if len(set(names)) != len(names):
        raise DatasetError(meta_path, f"duplicate class names in {names}")
    kind = str(meta.get("kind", ""))
    if kind not in POOL_KINDS:
        raise DatasetError(meta_path,
                           f"'kind' must be one of {', '.join(POOL_KINDS)}, got {kind!r}")

    manifest = root / "manifest.csv"
    if not manifest.is_file():
        raise DatasetError(manifest, "missing: every pool needs manifest.csv "
                                     f"({','.join(POOL_MANIFEST_COLUMNS)})")
    with manifest.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = reader.fieldnames or []
        missing = [c for c in POOL_MANIFEST_COLUMNS if c not in columns]
        if missing:
            raise DatasetError(manifest, f"missing column(s) {', '.join(missing)}; "
                                         f"the header has {', '.join(columns) or 'nothing'}")
        rows = list(reader)
    if not rows:
        raise DatasetError(manifest, "lists no images")

    pool = Pool(root, list(names), kind, str(meta.get("source", "")))
    seen: set[str] = set()
    stems: set[str] = set()
    for line, row in enumerate(rows, start=2):
        image = (row["image"] or "").strip()
        where = f"line {line}"
        if not image or "/" in image or "\\" in image:
            raise DatasetError(manifest, f"{where}: 'image' must be a file name in images/")
        if image in seen:
            raise DatasetError(manifest, f"{where}: image {image} listed twice")
        stem = Path(image).stem
        if stem in stems:  # a.jpg and a.png would share labels/a.txt
            raise DatasetError(manifest, f"{where}: two images share the stem {stem!r}")
        seen.add(image)
        stems.add(stem)
        img_path = root / "images" / image
        if not img_path.is_file():
            raise DatasetError(img_path, f"listed in {manifest} {where} but missing")
        label_path = root / "labels" / f"{stem}.txt"
        if not label_path.is_file():
            raise DatasetError(label_path, "label file missing (an empty file marks a background "
                                           "image)")
        label_rows = tuple(read_label_file(label_path, len(names)))
        pool.polygon_rows += sum(r.polygon for r in label_rows)
        listed = tuple(sorted({c for c in (row["class_names"] or "").split(";") if c}))
        present = tuple(sorted({names[r.class_id] for r in label_rows}))
        if listed != present:
            said, has = ";".join(listed) or "(empty)", ";".join(present) or "no boxes"
            raise DatasetError(manifest, f"{where}: class_names {said} but {label_path.name} "
                                         f"has {has}")
        split = (row["source_split"] or "").strip().lower()
        if split not in SOURCE_SPLIT_ALIASES:
            raise DatasetError(manifest, f"{where}: source_split {split!r} is not train/val/test")
        pool.entries.append(PoolEntry(image, (row["group"] or "").strip(),
                                      SOURCE_SPLIT_ALIASES[split], present, label_rows))
    unlisted = [p.name for p in list_images(root / "images") if p.name not in seen]
    if unlisted:
        raise DatasetError(root / "images", f"{len(unlisted)} image(s) not in manifest.csv, "
                                            f"e.g. {unlisted[0]}")
    return pool


def merge_names(pools: Sequence[Pool], classes: Sequence[str] | None = None) -> list[str]:
    """Class names of the merged dataset: ``classes`` if given, the common list if all pools
    agree, else the sorted union. Classes are matched by name across pools.

    Raises:
        DatasetError: A pool has a class that ``classes`` does not list.

    Example:
        >>> a = Pool(Path("a"), ["neutral", "smile"], "autolabel", "")
        >>> b = Pool(Path("b"), ["smile", "angry"], "roboflow", "")
        >>> merge_names([a, b]), merge_names([a, a])
        (['angry', 'neutral', 'smile'], ['neutral', 'smile'])
    """
    if classes:
        names = list(classes)
        if len(set(names)) != len(names):
            raise DatasetError(None, f"duplicate class names in --classes {names}")
        for pool in pools:
            extra = [n for n in pool.names if n not in names]
            if extra:
                raise DatasetError(pool.root / "pool.yaml",
                                   f"classes {extra} are not in --classes {names}")
        return names
    if all(p.names == pools[0].names for p in pools):
        return list(pools[0].names)
    return sorted({n for p in pools for n in p.names})


# --------------------------------------------------------------------------- image workers


def parse_size(text: str) -> tuple[int, int] | None:
    """``"450x650"`` -> ``(450, 650)`` (width, height); ``"keep"`` -> ``None``.

    Example:
        >>> parse_size("450x650"), parse_size("keep")
        ((450, 650), None)
    """
    if text.strip().lower() == "keep":
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        msg = f"size must be WIDTHxHEIGHT like 450x650 (or keep), got {text!r}"
        raise ValueError(msg) from None
    if w < 8 or h < 8:
        raise ValueError(f"size {w}x{h} is too small")
    return w, h


def resize_image(image: np.ndarray, size_wh: tuple[int, int], mode: str = "letterbox",
                 pad_value: int = PAD_VALUE) -> np.ndarray:
    """Resize to exactly ``size_wh`` so :func:`detector.labels.resize_xywhn` maps boxes onto it.

    ``letterbox`` scales by :func:`detector.labels.letterbox_params` and pads with
    ``pad_value``; ``stretch`` ignores the aspect ratio.

    Example:
        >>> resize_image(np.zeros((256, 256, 3), np.uint8), (450, 650)).shape
        (650, 450, 3)
    """
    dw, dh = size_wh
    sh, sw = image.shape[:2]
    if mode == "stretch":
        interp = cv2.INTER_AREA if dw * dh < sw * sh else cv2.INTER_LINEAR
        return cv2.resize(image, (dw, dh), interpolation=interp)
    if mode != "letterbox":
        raise ValueError(f"unknown resize mode {mode!r} (letterbox or stretch)")
    scale, px, py = letterbox_params((sw, sh), (dw, dh))
    nw, nh = round(sw * scale), round(sh * scale)
    # AREA when shrinking avoids aliasing; LINEAR when enlarging is sharper and as fast.
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    scaled = image if (nw, nh) == (sw, sh) else cv2.resize(image, (nw, nh), interpolation=interp)
    value = (pad_value,) * (1 if image.ndim == 2 else image.shape[2])
    return cv2.copyMakeBorder(scaled, py, dh - nh - py, px, dw - nw - px, cv2.BORDER_CONSTANT,
                              value=value)


def _hash_one(path: str) -> tuple[tuple[int, int], int, int] | None:
    image = cv2.imread(path, cv2.IMREAD_GRAYSCALE)  # grey is all the hash needs, and cheaper
    if image is None:
        return None
    return (image.shape[1], image.shape[0]), dhash64(image), dhash256(image)


@dataclass(frozen=True)
class _WriteTask:
    src: str
    split_dir: str
    stem: str
    class_ids: tuple[int, ...]
    xywhn: tuple[tuple[float, float, float, float], ...]
    size_wh: tuple[int, int] | None
    mode: str
    flip: bool
    quality: int


def _label_text(class_ids: Sequence[int], boxes: np.ndarray) -> str:
    return "".join(format_yolo_line(c, b) + "\n" for c, b in zip(class_ids, boxes, strict=True))


def _write_one(task: _WriteTask) -> list[tuple[str, tuple[int, int], tuple[int, int], np.ndarray]]:
    """Write one image (and its flip copy); return ``(file, image_wh, source_wh, xywhn)`` each."""
    image = cv2.imread(task.src, cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(task.src, "cannot decode image")
    sh, sw = image.shape[:2]
    boxes = np.array(task.xywhn, np.float64).reshape(-1, 4)
    out_dir = Path(task.split_dir)
    if task.size_wh is None:  # keep: the exact source bytes, boxes unchanged
        suffix = Path(task.src).suffix.lower()
        shutil.copyfile(task.src, out_dir / "images" / f"{task.stem}{suffix}")
        resized = image
    else:
        suffix = ".jpg"
        resized = resize_image(image, task.size_wh, task.mode)
        boxes = resize_xywhn(boxes, (sw, sh), task.size_wh, task.mode)
        _imwrite(out_dir / "images" / f"{task.stem}{suffix}", resized, task.quality)
    (out_dir / "labels" / f"{task.stem}.txt").write_text(_label_text(task.class_ids, boxes))
    wh = (resized.shape[1], resized.shape[0])
    written = [(f"{task.stem}{suffix}", wh, (sw, sh), boxes)]
    if task.flip:
        flipped = flip_xywhn(boxes)
        _imwrite(out_dir / "images" / f"{task.stem}_flip{suffix}", cv2.flip(resized, 1),
                 task.quality)
        (out_dir / "labels" / f"{task.stem}_flip.txt").write_text(
            _label_text(task.class_ids, flipped))
        written.append((f"{task.stem}_flip{suffix}", wh, (sw, sh), flipped))
    return written


def _imwrite(path: Path, image: np.ndarray, quality: int) -> None:
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.suffix in (".jpg", ".jpeg") else []
    if not cv2.imwrite(str(path), image, params):
        raise DatasetError(path, "could not write image")


def _init_worker() -> None:
    # Single-threaded OpenCV per process: two processes use both cores without oversubscribing.
    cv2.setNumThreads(1)


def _run(func: Any, tasks: list[Any], workers: int, desc: str, progress: bool) -> Iterator[Any]:
    """``map(func, tasks)`` in order, in a process pool when it is worth it, with a progress bar."""
    bar = dict(total=len(tasks), desc=desc, unit="img", disable=not progress or None,
               file=sys.stderr)
    if workers <= 1 or len(tasks) < MIN_IMAGES_FOR_WORKERS:
        threads = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            yield from tqdm(map(func, tasks), **bar)
        finally:
            cv2.setNumThreads(threads)
        return
    with ProcessPoolExecutor(workers, worker_context(), initializer=_init_worker) as ex:
        yield from tqdm(ex.map(func, tasks, chunksize=16), **bar)


# --------------------------------------------------------------------------- build


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:  # smaller name wins: the representative does not depend on pair order
            self.parent[max(ra, rb)] = min(ra, rb)


def _pool_labels(pools: Sequence[Pool]) -> list[str]:
    """Short unique prefixes for output file names: the pool folder name, numbered on clashes."""
    counts = Counter(p.root.name for p in pools)
    seen: Counter[str] = Counter()
    out = []
    for p in pools:
        seen[p.root.name] += 1
        name = p.root.name
        out.append(name if counts[name] == 1 else f"{name}-{seen[name]}")
    return out


def build_dataset(pools: Sequence[str | Path], name: str = "expressions",
                  out: str | Path = DATASETS_DIR, *,
                  ratios: Sequence[float] | str = (0.6, 0.2, 0.2),
                  seed: int = 0, size: tuple[int, int] | str | None = (450, 650),
                  resize: str = "letterbox", flip: str = "train",
                  dup_bits: int = DEFAULT_DUP_BITS, dup_confirm_bits: int = DEFAULT_CONFIRM_BITS,
                  allow_near_duplicates: bool = False, merge_near_duplicates: bool = False,
                  respect_source_splits: bool = False, classes: Sequence[str] | None = None,
                  workers: int = 2, jpeg_quality: int = 95, progress: bool = True,
                  command: str = "", frame_level_split: bool = False,
                  balance: str = "none") -> BuildResult:
    """Build ``<out>/<name>/{train,val,test}/{images,labels}`` plus data.yaml and reports.

    Args:
        pools: Pool folders (same-named classes merge across pools).
        name: Dataset folder name under ``out``.
        out: Root folder of datasets.
        ratios: train/val/test fractions (``"0.6,0.2,0.2"`` or a sequence).
        seed: Seed of the split.
        size: Output ``(width, height)``, ``"450x650"``, or ``None``/``"keep"`` to copy as is.
        resize: ``letterbox`` (pad 114, aspect kept) or ``stretch``.
        flip: Which splits get ``_flip`` mirror copies: ``train`` | ``all`` | ``none``.
        dup_bits: 64-bit dHash distance of a near-duplicate candidate.
        dup_confirm_bits: 256-bit dHash distance that confirms a candidate (256 = no check).
        allow_near_duplicates: Build even with near-duplicates across splits (they are listed).
        merge_near_duplicates: Put groups sharing a near-duplicate in one group before splitting.
        respect_source_splits: Keep the ``source_split`` a pool gives (e.g. Roboflow's).
        classes: Fixed class order; default see :func:`merge_names`.
        workers: Processes for hashing and resizing.
        jpeg_quality: Quality of written JPEGs.
        progress: Show progress bars.
        command: Command line to record in ``build_report.json``.
        frame_level_split: Deliberately *leaky*: ignore the groups and split image by image
            (frames of one video, photos of one person land in several splits), to measure how
            much such a split inflates the metrics. Near-duplicates across splits are then
            expected: they are allowed and counted, not refused. Not with
            ``merge_near_duplicates``.
        balance: ``none`` | ``sqrt`` | ``full``: also write ``train_balanced.txt`` (train images
            with minority-class images repeated, see :func:`detector.fer.balanced_train_list`)
            and ``data_balanced.yaml`` that trains on it. ``data.yaml`` is unchanged.

    Returns:
        :class:`BuildResult` with the dataset folder, data.yaml, stats and report.

    Raises:
        DatasetError: Bad pool, unreadable image, empty train or val split, output folder
            that is not a previous dataset, or near-duplicates across splits (the pairs are
            written to ``<out>/<name>.near_duplicates.json``).

    Example:
        >>> # build_dataset(["pools/smile-neutral"], "expressions", seed=0)
        >>> # -> datasets/expressions/{train,val,test}/{images,labels}, data.yaml, stats.json
    """
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    ratio_t = parse_ratios(ratios)
    size_wh = parse_size(size) if isinstance(size, str) else (tuple(size) if size else None)
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
    if flip not in FLIP_MODES:
        raise ValueError(f"flip must be one of {FLIP_MODES}, got {flip!r}")
    if not pools:
        raise DatasetError(None, "no pool given")
    if frame_level_split and merge_near_duplicates:
        raise ValueError("frame_level_split ignores groups; merge_near_duplicates would rebuild "
                         "them: use one or the other")
    if balance not in BALANCE_MODES:
        raise ValueError(f"balance must be one of {tuple(BALANCE_MODES)}, got {balance!r}")
    # A leaky split is the point of frame_level_split: its near-duplicates are counted, not refused.
    allow_near_duplicates = allow_near_duplicates or frame_level_split
    out = Path(out)
    final = out / name
    check_replaceable(final, "build_report.json")
    dup_report_path = out / f"{name}.near_duplicates.json"

    # 1. pools
    loaded = [load_pool(p) for p in pools]
    roots = [p.root.resolve() for p in loaded]
    if len(set(roots)) != len(roots):
        raise DatasetError(None, "the same pool is given twice")
    names = merge_names(loaded, classes)
    prefixes = _pool_labels(loaded)
    entries: list[tuple[int, PoolEntry]] = [(k, e) for k, p in enumerate(loaded) for e in p.entries]
    keys = [f"{prefixes[k]}/{e.image}" for k, e in entries]
    groups = [e.group or key for (_, e), key in zip(entries, keys, strict=True)]
    sources = [str(loaded[k].root / "images" / e.image) for k, e in entries]
    timings["read_pools_s"] = time.perf_counter() - t0

    # 2. hashes and sizes (one decode per image)
    t = time.perf_counter()
    hashed = list(_run(_hash_one, sources, workers, "hash", progress))
    for src, h in zip(sources, hashed, strict=True):
        if h is None:
            raise DatasetError(src, "cannot decode image")
    h64 = [h[1] for h in hashed if h is not None]
    h256 = [h[2] for h in hashed if h is not None]
    timings["hash_s"] = time.perf_counter() - t

    # 3. split
    t = time.perf_counter()
    merged: list[list[str]] = []
    # frame_level_split: every image its own group, so the split ignores videos and people.
    split_groups_of = list(keys) if frame_level_split else list(groups)
    if merge_near_duplicates:
        uf = _UnionFind()
        for pair in near_duplicate_pairs(h64, groups, dup_bits, h256, dup_confirm_bits):
            uf.union(groups[pair.i], groups[pair.j])
        split_groups_of = [uf.find(g) for g in groups]
        members: dict[str, set[str]] = defaultdict(set)
        for g, rep in zip(groups, split_groups_of, strict=True):
            members[rep].add(g)
        merged = sorted(sorted(m) for m in members.values() if len(m) > 1)

    fixed: dict[str, str] = {}
    straddling: list[str] = []
    if respect_source_splits:
        by_group: dict[str, set[str]] = defaultdict(set)
        for (_, e), g in zip(entries, split_groups_of, strict=True):
            if e.source_split:
                by_group[g].add(e.source_split)
        straddling = sorted(g for g, s in by_group.items() if len(s) > 1)
        for (_, e), g, key in zip(entries, split_groups_of, keys, strict=True):
            if by_group.get(g):
                # the group follows its source split; unlabelled members join it (first in order)
                fixed[key] = e.source_split or sorted(by_group[g], key=SPLITS.index)[0]
    # Classes are matched by name across pools, so a pool's names stratify directly.
    items = [SplitItem(key, g, e.class_names)
             for (_, e), key, g in zip(entries, keys, split_groups_of, strict=True)
             if key not in fixed]
    assignment = dict(fixed)
    if items:
        assignment.update(split_groups(items, ratio_t, seed))
    split_of = [assignment[k] for k in keys]
    counts = Counter(split_of)
    splits_of_group: dict[str, set[str]] = defaultdict(set)
    for g, s in zip(groups, split_of, strict=True):
        splits_of_group[g].add(s)
    # The leakage a frame-level split creates (0 for a grouped split).
    groups_across_splits = sum(len(s) > 1 for s in splits_of_group.values())
    for must in ("train", "val"):
        if not counts[must]:
            raise DatasetError(None, f"the {must} split would be empty ({len(keys)} images in "
                                     f"{len(set(split_groups_of))} groups); add data or change "
                                     "--split")
    timings["split_s"] = time.perf_counter() - t

    # 4. near-duplicates across splits, before any output is written
    t = time.perf_counter()
    pairs = near_duplicate_pairs(h64, split_of, dup_bits, h256, dup_confirm_bits)
    pair_rows = [_pair_row(p, keys, split_of, groups) for p in pairs]
    timings["near_duplicates_s"] = time.perf_counter() - t
    if pairs and not allow_near_duplicates:
        atomic_write_json(dup_report_path, {
            "dup_bits": dup_bits, "dup_confirm_bits": dup_confirm_bits, "pairs": pair_rows})
        first = pair_rows[0]
        raise DatasetError(dup_report_path, (
            f"{len(pairs)} near-duplicate image pair(s) in different splits, e.g. "
            f"{first['a']} ({first['split_a']}) ~ {first['b']} ({first['split_b']}), "
            f"{first['bits64']}/64 bits apart. The pairs are listed in this file. Fix the groups "
            "in the pools, or pass --merge-near-duplicates (keep each pair in one split) or "
            "--allow-near-duplicates"))

    # 5. write
    t = time.perf_counter()
    flip_splits = {"train": {"train"}, "all": set(SPLITS), "none": set()}[flip]
    tasks: list[_WriteTask] = []
    with atomic_dir(final) as tmp:
        for split in SPLITS:
            (tmp / split / "images").mkdir(parents=True)
            (tmp / split / "labels").mkdir(parents=True)
        for (k, e), split, src in zip(entries, split_of, sources, strict=True):
            pool = loaded[k]
            class_ids = tuple(names.index(pool.names[r.class_id]) for r in e.rows)
            tasks.append(_WriteTask(src, str(tmp / split), f"{prefixes[k]}__{Path(e.image).stem}",
                                    class_ids, tuple(r.xywhn for r in e.rows), size_wh, resize,
                                    split in flip_splits, jpeg_quality))
        records: list[ImageRecord] = []
        manifest_rows: list[list[str]] = []
        written_all = _run(_write_one, tasks, workers, "build", progress)
        for task, (k, e), split, group, written in zip(
                tasks, entries, split_of, groups, written_all, strict=True):
            for n, (file, wh, src_wh, boxes) in enumerate(written):
                flipped = n > 0
                records.append(ImageRecord(
                    split, group, task.class_ids,
                    tuple((float(b[2]), float(b[3])) for b in boxes), wh, src_wh, flipped))
                manifest_rows.append([split, file, group, prefixes[k], e.image,
                                      ";".join(e.class_names), str(int(flipped))])
        timings["write_s"] = time.perf_counter() - t

        # 6. metadata
        manifest_rows.sort(key=lambda r: (SPLITS.index(r[0]), r[1]))
        with (tmp / "manifest.csv").open("w", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["split", "image", "group", "pool", "source_image", "class_names",
                             "flip"])
            writer.writerows(manifest_rows)
        atomic_write_text(tmp / "data.yaml", data_yaml_text(names, has_test=counts["test"] > 0))
        stats = dataset_stats(records, names)
        atomic_write_json(tmp / "stats.json", stats)
        plot_stats(stats, tmp / "stats.png")
        balance_info: dict[str, Any] | None = None
        if balance != "none":
            train_items = [(f"./train/images/{r[1]}", tuple(c for c in r[5].split(";") if c))
                           for r in manifest_rows if r[0] == "train"]
            listed, balance_info = balanced_train_list(train_items, BALANCE_MODES[balance], seed)
            balance_info = {"mode": balance, "list": "train_balanced.txt",
                            "data_yaml": "data_balanced.yaml", **balance_info}
            atomic_write_text(tmp / "train_balanced.txt", "\n".join(listed) + "\n")
            atomic_write_text(tmp / "data_balanced.yaml",
                              balanced_yaml_text(names, has_test=counts["test"] > 0))
        if pairs:
            atomic_write_json(tmp / "near_duplicates.json", {
                "dup_bits": dup_bits, "dup_confirm_bits": dup_confirm_bits, "pairs": pair_rows})
        timings["total_s"] = time.perf_counter() - t0
        report = {
            "command": command,
            "arguments": {
                "pools": [str(p) for p in pools], "name": name, "out": str(out),
                "split": list(ratio_t), "seed": seed,
                "size": f"{size_wh[0]}x{size_wh[1]}" if size_wh else "keep", "resize": resize,
                "flip": flip, "dup_bits": dup_bits, "dup_confirm_bits": dup_confirm_bits,
                "allow_near_duplicates": allow_near_duplicates,
                "merge_near_duplicates": merge_near_duplicates,
                "respect_source_splits": respect_source_splits, "classes": list(names),
                "workers": workers, "jpeg_quality": jpeg_quality,
                "frame_level_split": frame_level_split, "balance": balance,
            },
            "sources": [{"pool": str(p.root.resolve()), "prefix": pre, "kind": p.kind,
                         "source": p.source, "names": p.names, "images": len(p.entries),
                         "polygon_rows_as_boxes": p.polygon_rows}
                        for p, pre in zip(loaded, prefixes, strict=True)],
            "names": names,
            "counts": {s: {"images": stats["splits"][s]["images"],
                           "source_images": stats["splits"][s]["source_images"],
                           "boxes": stats["splits"][s]["boxes"],
                           "groups": stats["splits"][s]["groups"],
                           "per_class": stats["splits"][s]["per_class"]} for s in SPLITS},
            "near_duplicates_across_splits": len(pairs),
            "merged_groups": merged,
            "groups_straddling_source_splits": straddling,
            "groups_across_splits": groups_across_splits,
            "balance": balance_info,
            "timings_s": {k: round(v, 2) for k, v in timings.items()},
        }
        atomic_write_json(tmp / "build_report.json", report)
    if dup_report_path.exists():  # a stale failure report would contradict the new dataset
        dup_report_path.unlink()
    return BuildResult(final, final / "data.yaml", names, stats, report)


def _pair_row(p: NearDuplicate, keys: list[str], split_of: list[str],
              groups: list[str]) -> dict[str, Any]:
    return {"a": keys[p.i], "split_a": split_of[p.i], "group_a": groups[p.i],
            "b": keys[p.j], "split_b": split_of[p.j], "group_b": groups[p.j],
            "bits64": p.bits64, "bits256": p.bits256}


def data_yaml_text(names: Sequence[str], has_test: bool = True, prefix: str = "") -> str:
    """The data.yaml of a built dataset, with paths relative to the yaml's own folder.

    There is deliberately no ``path:`` key: Ultralytics (checked with 8.4.190) then resolves
    ``train``/``val``/``test`` against the folder holding the yaml, so the file works from any
    working directory and after the dataset folder is moved. A relative ``path:`` would
    instead be resolved against the working directory or Ultralytics' ``datasets_dir``.

    Example:
        >>> print(data_yaml_text(["neutral", "smile"]))  # doctest: +NORMALIZE_WHITESPACE
        # Written by `exprdet build`. No `path:` key on purpose: Ultralytics resolves
        # train/val/test against the folder of this file.
        train: train/images
        val: val/images
        test: test/images
        nc: 2
        names:
          0: neutral
          1: smile
        <BLANKLINE>
    """
    lines = ["# Written by `exprdet build`. No `path:` key on purpose: Ultralytics resolves",
             "# train/val/test against the folder of this file.",
             f"train: {prefix}train/images", f"val: {prefix}val/images"]
    if has_test:
        lines.append(f"test: {prefix}test/images")
    body = yaml.safe_dump({"nc": len(names), "names": dict(enumerate(names))}, sort_keys=False,
                          allow_unicode=True)
    return "\n".join(lines) + "\n" + body
