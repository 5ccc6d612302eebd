"""Autolabel: box the one face in photos or frames whose expression is already known.

Inputs are a CSV (``image,expression,person``), class folders (``root/<class>/*.jpg``) or
frames folders written by ``exprdet frames`` (``manifest.csv`` with ``file,video,...[,label]``).
The output is a *pool* (see CONTRIBUTING / docs/autolabel_build.md)::

    <pool>/images/<name>.<ext>    copied byte for byte, never re-encoded
    <pool>/labels/<name>.txt      one YOLO row per image
    <pool>/pool.yaml              names, source, kind: autolabel
    <pool>/manifest.csv           image,group,source_split,class_names
    <pool>/autolabel_report.json  counts and the list of every skipped image
    <pool>/contact_<class>.png    thumbnails with the box drawn, for a quick human review
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import json
import multiprocessing
import random
import re
import shutil
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml
from tqdm import tqdm

from detector.errors import DatasetError
from detector.faces import FACE_POLICIES, FaceFinder, choose_face, make_face_finder
from detector.fileio import IMAGE_SUFFIXES, atomic_dir, atomic_write_json, list_images
from detector.labels import LabelRowError, format_yolo_line, parse_yolo_line, to_human_box, xyxy_to_xywhn

POOL_MANIFEST_COLUMNS = ("image", "group", "source_split", "class_names")
# Below this many images, starting worker processes costs more than it saves.
MIN_IMAGES_FOR_WORKERS = 200


@dataclass(frozen=True)
class LabelledImage:
    """A source image with its known expression and leakage group.

    Attributes:
        path: The image file (read, never modified).
        label: Class name, e.g. ``"smile"``.
        group: Leakage group: person, video, or the image itself.
        source_split: ``train``/``val``/``test`` when the source fixes it, else ``""``.
    """

    path: Path
    label: str
    group: str
    source_split: str = ""


@dataclass
class AutolabelResult:
    """What :func:`autolabel` wrote and counted."""

    pool: Path
    names: list[str]
    counts: dict[str, Any]
    report: Path
    contact_sheets: list[Path] = field(default_factory=list)


# --------------------------------------------------------------------------- inputs


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    if not path.is_file():
        raise DatasetError(path, "CSV file not found")
    with path.open(newline="", encoding="utf-8-sig") as fh:  # -sig: Excel writes a BOM
        reader = csv.DictReader(fh)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        if not columns:
            raise DatasetError(path, "empty CSV (no header row)")
        rows = [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]
    return columns, rows


def _require_columns(path: Path, columns: Sequence[str], wanted: Sequence[str]) -> None:
    missing = [c for c in wanted if c not in columns]
    if missing:
        raise DatasetError(path, f"missing column(s) {', '.join(map(repr, missing))}; "
                                 f"the header has {', '.join(columns)}")


def _check_exist(items: list[LabelledImage], listed_in: Path, lines: list[int]) -> None:
    missing = [(item, line) for item, line in zip(items, lines, strict=True)
               if not item.path.is_file()]
    if missing:
        item, line = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DatasetError(item.path,
                           f"image listed in {listed_in} line {line} does not exist{more}")


def _check_unique(items: list[LabelledImage], listed_in: Path) -> None:
    seen: dict[Path, str] = {}
    for item in items:
        key = item.path.resolve()
        if key in seen:
            raise DatasetError(listed_in, f"image {item.path} is listed twice "
                                          f"(labels {seen[key]!r} and {item.label!r})")
        seen[key] = item.label


def items_from_csv(csv_path: str | Path, images_dir: str | Path | None = None,
                   image_col: str = "image", label_col: str = "expression",
                   group_col: str | None = None) -> list[LabelledImage]:
    """Images and their expressions from a CSV such as the shared ``labels.csv``.

    Args:
        csv_path: CSV with a header row.
        images_dir: Folder the image column is relative to (default: the CSV's folder).
        image_col: Column with the image file name or relative path.
        label_col: Column with the class name.
        group_col: Column with the leakage group (e.g. ``person``); without it every image
            is its own group, which leaks when one person has several photos.

    Raises:
        DatasetError: Missing file or column, empty label, duplicate row, or a listed image
            that does not exist (naming it and the CSV line).

    Example:
        >>> # items_from_csv("../shared/data/smile-neutral-faces/labels.csv",
        >>> #                "../shared/data/smile-neutral-faces/images", group_col="person")[0]
        >>> # LabelledImage(path=.../Aaron_Eckhart_0001.jpg, label='neutral', group='Aaron_Eckhart')
    """
    csv_path = Path(csv_path)
    base = Path(images_dir) if images_dir is not None else csv_path.parent
    if not base.is_dir():
        raise DatasetError(base, "images folder not found")
    columns, rows = _read_csv(csv_path)
    _require_columns(csv_path, columns, [image_col, label_col] + ([group_col] if group_col else []))
    if not rows:
        raise DatasetError(csv_path, "the CSV has a header but no rows")
    items: list[LabelledImage] = []
    lines: list[int] = []
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        name, label = row[image_col], row[label_col]
        if not name or not label:
            empty = image_col if not name else label_col
            raise DatasetError(csv_path, f"line {line}: empty {empty!r}")
        path = Path(name) if Path(name).is_absolute() else base / name
        group = row[group_col] if group_col else ""
        if group_col and not group:
            raise DatasetError(csv_path, f"line {line}: empty {group_col!r}")
        items.append(LabelledImage(path, label, group or Path(name).stem))
        lines.append(line)
    _check_exist(items, csv_path, lines)
    _check_unique(items, csv_path)
    return items


def items_from_folders(root: str | Path) -> list[LabelledImage]:
    """Images from ``root/<class>/*``: the folder name is the class, each image its own group.

    Raises:
        DatasetError: ``root`` missing, no class folders, or a class folder without images.

    Example:
        >>> # items_from_folders("photos/")  # photos/smile/a.jpg -> label 'smile', group 'smile/a'
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(root, "folder not found")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        loose = len(list_images(root))
        hint = f" ({loose} images lie directly in it)" if loose else ""
        raise DatasetError(root, f"no class subfolders{hint}; expected root/<class>/<image>")
    items: list[LabelledImage] = []
    for folder in folders:
        images = list_images(folder)
        if not images:
            raise DatasetError(folder, "class folder has no images "
                                       f"({', '.join(IMAGE_SUFFIXES)}); remove it or add images")
        items.extend(LabelledImage(p, folder.name, f"{folder.name}/{p.stem}") for p in images)
    return items


def items_from_frames(frames_dirs: Sequence[str | Path],
                      label: str | None = None) -> list[LabelledImage]:
    """Frames written by ``exprdet frames``; the group is the source video.

    Each folder needs a ``manifest.csv`` with ``file`` and ``video`` columns. The label is
    ``label`` when given (one expression per clip), otherwise the manifest's ``label`` column.

    Raises:
        DatasetError: Missing folder or manifest, missing columns, no label, missing frame.

    Example:
        >>> # items_from_frames(["frames/smile_clip"], label="smile")
    """
    if not frames_dirs:
        raise DatasetError(None, "no frames folder given")
    items: list[LabelledImage] = []
    for folder in map(Path, frames_dirs):
        manifest = folder / "manifest.csv"
        if not folder.is_dir():
            raise DatasetError(folder, "frames folder not found")
        if not manifest.is_file():
            raise DatasetError(manifest, "missing: a frames folder needs the manifest.csv "
                                         "written by `exprdet frames`")
        columns, rows = _read_csv(manifest)
        _require_columns(manifest, columns, ["file", "video"])
        if label is None and "label" not in columns:
            raise DatasetError(manifest, "no 'label' column: pass --label CLASS for this clip")
        if not rows:
            raise DatasetError(manifest, "no frames listed")
        mine: list[LabelledImage] = []
        for line, row in enumerate(rows, start=2):
            row_label = label if label is not None else row["label"]
            if not row_label:
                raise DatasetError(manifest, f"line {line}: empty 'label'")
            split = row.get("split", "")
            mine.append(LabelledImage(folder / row["file"], row_label, row["video"] or folder.name,
                                      split))
        _check_exist(mine, manifest, list(range(2, len(rows) + 2)))
        items.extend(mine)
    return items


# --------------------------------------------------------------------------- detection

_FINDER: FaceFinder | None = None


def _init_worker(face_model: str | None) -> None:
    global _FINDER
    # One OpenCV thread per process: two single-threaded workers beat one two-threaded one
    # (measured: YuNet 5.0 ms/img with 1 thread vs 6.1 ms with 2 on 256x256 photos).
    cv2.setNumThreads(1)
    _FINDER = make_face_finder(face_model)


def _detect_one(path: str) -> tuple[tuple[int, int] | None, np.ndarray]:
    """Read one image and find faces: ``((w, h), xyxy)`` or ``(None, empty)`` if unreadable."""
    assert _FINDER is not None
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        return None, np.zeros((0, 4), np.float32)
    h, w = image.shape[:2]
    # Tiny crops (the shared photos include some 21x27 px ones) are enlarged by the finders
    # themselves (detector.faces.upscale_small); boxes come back in this image's pixels.
    xyxy, _ = _FINDER.find(image)
    return (w, h), xyxy.astype(np.float32)


def worker_context() -> multiprocessing.context.BaseContext:
    """Process start method for the image workers: ``fork`` where it exists, else ``spawn``.

    fork starts in milliseconds and works when the caller's main module cannot be re-imported
    (``python -`` or a notebook), which spawn needs. The one fork hazard, OpenCV's inherited
    thread pool, is avoided because workers switch OpenCV to a single thread first thing.

    Example:
        >>> worker_context().get_start_method() in {"fork", "spawn"}
        True
    """
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _detect_all(paths: list[str], face_model: str | None, workers: int,
                progress: bool) -> Iterator[tuple[tuple[int, int] | None, np.ndarray]]:
    bar = dict(total=len(paths), desc="autolabel", unit="img", disable=not progress or None)
    if workers <= 1 or len(paths) < MIN_IMAGES_FOR_WORKERS:
        threads = cv2.getNumThreads()
        _init_worker(face_model)
        try:
            yield from tqdm((_detect_one(p) for p in paths), **bar)
        finally:
            cv2.setNumThreads(threads)
        return
    ctx = worker_context()
    with ProcessPoolExecutor(workers, ctx, initializer=_init_worker, initargs=(face_model,)) as ex:
        yield from tqdm(ex.map(_detect_one, paths, chunksize=32), **bar)


# --------------------------------------------------------------------------- output


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"


def _unique_names(items: Sequence[LabelledImage]) -> list[str]:
    """Pool file names: the source name, prefixed with the group where stems collide.

    Stems must be unique (not just names): ``a.jpg`` and ``a.png`` would share ``a.txt``.
    """
    counts = Counter(i.path.stem.lower() for i in items)
    names = [i.path.name if counts[i.path.stem.lower()] == 1 else f"{_safe(i.group)}__{i.path.name}"
             for i in items]
    seen: Counter[str] = Counter()
    out = []
    for name in names:  # still colliding (same group and stem): number them
        stem, suffix = Path(name).stem, Path(name).suffix
        seen[stem.lower()] += 1
        if seen[stem.lower()] > 1:
            name = f"{stem}-{seen[stem.lower()]}{suffix}"
        out.append(name)
    return out


def _fit_tile(image: np.ndarray, tile: int) -> tuple[np.ndarray, float, int, int]:
    h, w = image.shape[:2]
    scale = tile / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    canvas = np.full((tile, tile, 3), 40, np.uint8)
    ox, oy = (tile - nw) // 2, (tile - nh) // 2
    canvas[oy:oy + nh, ox:ox + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    return canvas, scale, ox, oy


def contact_sheet(samples: Sequence[tuple[Path, np.ndarray | None, str]], title: str,
                  tile: int = 160, cols: int = 8,
                  box_colors: Sequence[tuple[int, int, int]] = ((0, 255, 0), (0, 0, 255)),
                  zoom: float | None = None) -> np.ndarray:
    """A grid of thumbnails with pixel ``xyxy`` boxes (or none) drawn, under a title bar.

    Args:
        samples: ``(image path, boxes or None, caption)`` per thumbnail. Boxes are one ``xyxy``
            or an ``(n, 4)`` array drawn in ``box_colors`` order; a row of NaN is skipped, so a
            missing box keeps the others' colours.
        title: Text of the title bar.
        tile: Thumbnail side in pixels.
        cols: Thumbnails per row.
        box_colors: BGR colour of the first, second, ... box of a thumbnail (cycled).
        zoom: Show only the boxes and a margin of ``zoom`` times their size around them (a
            small face in a big picture stays visible); ``None`` shows the whole picture.

    Example:
        >>> contact_sheet([], "smile: 0 images").shape
        (28, 1280, 3)
    """
    rows = (len(samples) + cols - 1) // cols
    sheet = np.full((28 + rows * tile, cols * tile, 3), 255, np.uint8)
    # Hershey fonts are compiled into OpenCV: nothing to download or install.
    cv2.putText(sheet, title, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    for k, (path, box, caption) in enumerate(samples):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            continue
        boxes = np.zeros((0, 4)) if box is None else np.atleast_2d(np.asarray(box, np.float64))
        if zoom is not None:
            image, boxes = _zoom_to_boxes(image, boxes, zoom)
        canvas, scale, ox, oy = _fit_tile(image, tile)
        for row, color in zip(boxes, itertools.cycle(box_colors)):
            if not np.isfinite(row).all():
                continue
            x1, y1, x2, y2 = (row * scale).round().astype(int)
            cv2.rectangle(canvas, (x1 + ox, y1 + oy), (x2 + ox, y2 + oy), color, 2)
        canvas[tile - 14:] //= 3  # darken a strip so the caption reads on light photos
        # the end of a name is what differs (frame numbers), so cut from the left
        text = caption if len(caption) <= 26 else ".." + caption[-24:]
        cv2.putText(canvas, text, (3, tile - 4), cv2.FONT_HERSHEY_PLAIN, 0.8,
                    (0, 255, 255), 1, cv2.LINE_AA)
        r, c = divmod(k, cols)
        sheet[28 + r * tile:28 + (r + 1) * tile, c * tile:(c + 1) * tile] = canvas
    return sheet


def _zoom_to_boxes(image: np.ndarray, boxes: np.ndarray, zoom: float) -> tuple[np.ndarray, np.ndarray]:
    drawn = boxes[np.isfinite(boxes).all(axis=1)]
    if not len(drawn):
        return image, boxes
    h, w = image.shape[:2]
    x1, y1 = drawn[:, 0].min(), drawn[:, 1].min()
    x2, y2 = drawn[:, 2].max(), drawn[:, 3].max()
    margin = zoom * max(x2 - x1, y2 - y1, 1.0)
    cx1, cy1 = int(max(0, x1 - margin)), int(max(0, y1 - margin))
    cx2, cy2 = int(min(w, np.ceil(x2 + margin))), int(min(h, np.ceil(y2 + margin)))
    if cx2 <= cx1 or cy2 <= cy1:  # boxes entirely outside the picture: show all of it
        return image, boxes
    return image[cy1:cy2, cx1:cx2], boxes - np.array([cx1, cy1, cx1, cy1], np.float64)


def check_replaceable(out: Path, marker: str) -> None:
    """Refuse to replace an existing non-empty folder that is not a previous output.

    ``atomic_dir`` replaces the whole folder; without this check a mistyped ``--out .``
    would delete the user's files.

    Example:
        >>> import tempfile
        >>> check_replaceable(Path(tempfile.mkdtemp()), "pool.yaml")  # empty folder: fine
    """
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / marker).exists())):
        raise DatasetError(out, f"exists and is not a previous output (no {marker}); "
                                "refusing to replace it, choose another --out")


def autolabel(items: Sequence[LabelledImage], out: str | Path, *,
              face_model: str | Path | None = None,
              multi_face: str = "skip", classes: Sequence[str] | None = None, source: str = "",
              sheet_samples: int = 64, seed: int = 0, workers: int = 2,
              progress: bool = True, human_boxes: bool = False) -> AutolabelResult:
    """Box the face in every image and write a pool, atomically.

    Images with no face, with several faces under ``multi_face="skip"``, or that cannot be
    decoded are left out of the pool and listed in ``autolabel_report.json``.

    Args:
        items: Images with known labels (see ``items_from_*``).
        out: Pool folder to write (replaced atomically if it is a previous pool).
        face_model: YuNet ONNX path; ``None`` uses the built-in Haar cascade.
        multi_face: ``skip`` | ``largest`` | ``central`` when several faces are found.
        classes: Fixed class order (ids); default: sorted label names (neutral=0, smile=1).
        source: Free text stored in ``pool.yaml``.
        sheet_samples: Thumbnails per class on the contact sheets (0: no sheets).
        seed: Seed of the contact-sheet sampling.
        workers: Detection processes (1 = in this process).
        progress: Show a progress bar.
        human_boxes: Grow each YuNet box to the human-drawn convention
            (:func:`~detector.labels.to_human_box`), for pools that will be mixed with
            hand-labelled data such as Roboflow exports; needs ``face_model``.

    Returns:
        Paths and counts, see :class:`AutolabelResult`.

    Raises:
        DatasetError: No input, a label outside ``classes``, output folder not replaceable,
            or no face found in any image.

    Example:
        >>> # items = items_from_csv("labels.csv", "images", group_col="person")
        >>> # autolabel(items, "pools/smile-neutral", face_model="face_detection_yunet.onnx")
    """
    started = time.perf_counter()
    out = Path(out)
    items = list(items)  # a copy: the caller's sequence is never touched
    if multi_face not in FACE_POLICIES:
        raise ValueError(f"multi_face must be one of {FACE_POLICIES}, got {multi_face!r}")
    if not items:
        raise DatasetError(None, "no images to autolabel")
    labels_seen = sorted({i.label for i in items})
    names = list(classes) if classes else labels_seen
    if len(set(names)) != len(names):
        raise DatasetError(None, f"duplicate class names in {names}")
    unknown = [lab for lab in labels_seen if lab not in names]
    if unknown:
        raise DatasetError(None, f"labels {unknown} are not in --classes {names}")
    if human_boxes and not face_model:
        raise DatasetError(None, "human boxes are measured against YuNet's boxes: give a YuNet face model")
    check_replaceable(out, "pool.yaml")
    finder_name = "yunet" if face_model else "haar"
    source = source or f"autolabel ({finder_name})"
    face_model_str = str(face_model) if face_model else None
    if face_model_str:
        make_face_finder(face_model_str)  # fail fast (ModelError) before starting workers

    file_names = _unique_names(items)
    kept: list[tuple[LabelledImage, str, np.ndarray]] = []
    no_face: list[str] = []
    multi: list[dict[str, Any]] = []
    unreadable: list[str] = []
    bad_box: list[dict[str, str]] = []
    per_class: dict[str, Counter[str]] = {n: Counter() for n in names}

    with atomic_dir(out) as tmp:
        (tmp / "images").mkdir()
        (tmp / "labels").mkdir()
        manifest_rows: list[list[str]] = []
        results = contextlib.closing(
            _detect_all([str(i.path) for i in items], face_model_str, workers, progress))
        with results as detections:  # closing: stop the workers even when a step below raises
            for item, name, (wh, xyxy) in zip(items, file_names, detections, strict=True):
                per_class[item.label]["input"] += 1
                if wh is None:
                    unreadable.append(str(item.path))
                    per_class[item.label]["unreadable"] += 1
                    continue
                pick = choose_face(xyxy, wh, multi_face)
                if pick is None:
                    if len(xyxy) == 0:
                        no_face.append(str(item.path))
                        per_class[item.label]["no_face"] += 1
                    else:
                        multi.append({"image": str(item.path), "faces": len(xyxy)})
                        per_class[item.label]["multi_face"] += 1
                    continue
                box = to_human_box(xyxy[pick], wh) if human_boxes else xyxy[pick]
                row = format_yolo_line(names.index(item.label), xyxy_to_xywhn(box, wh)[0])
                try:  # guards the contract with `build`: every written row must parse
                    parse_yolo_line(row, len(names))
                except LabelRowError as exc:
                    bad_box.append({"image": str(item.path), "problem": str(exc)})
                    continue
                # Copy, never re-encode: the pool holds the exact source bytes.
                shutil.copyfile(item.path, tmp / "images" / name)
                (tmp / "labels" / f"{Path(name).stem}.txt").write_text(row + "\n")
                manifest_rows.append([name, item.group, item.source_split, item.label])
                kept.append((item, name, box))
                per_class[item.label]["labelled"] += 1

        if not kept:
            raise DatasetError(items[0].path.parent,
                               f"no usable face in any of the {len(items)} images "
                               f"({len(no_face)} without a face, {len(multi)} with several, "
                               f"{len(unreadable)} unreadable)")
        with (tmp / "manifest.csv").open("w", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(POOL_MANIFEST_COLUMNS)
            writer.writerows(manifest_rows)
        (tmp / "pool.yaml").write_text(yaml.safe_dump(
            {"names": names, "source": source, "kind": "autolabel"},
            sort_keys=False, allow_unicode=True))

        sheets = _write_sheets(tmp, kept, names, no_face, sheet_samples, seed)
        counts = {
            "input": len(items), "labelled": len(kept), "no_face": len(no_face),
            "multi_face": len(multi), "unreadable": len(unreadable), "invalid_box": len(bad_box),
            "per_class": {n: {k: per_class[n][k] for k in
                              ("input", "labelled", "no_face", "multi_face", "unreadable")}
                          for n in names},
            "groups": len({item.group for item, _, _ in kept}),
        }
        report = {
            "source": source, "face_finder": finder_name, "face_model": face_model_str,
            "box_convention": "human" if human_boxes else finder_name,
            "multi_face": multi_face, "names": names, "counts": counts,
            "elapsed_s": round(time.perf_counter() - started, 2),
            "contact_sheets": [p.name for p in sheets],
            "no_face": no_face, "multi_face_images": multi, "unreadable": unreadable,
            "invalid_box": bad_box,
        }
        atomic_write_json(tmp / "autolabel_report.json", report)
    return AutolabelResult(out, names, counts, out / "autolabel_report.json",
                           [out / p.name for p in sheets])


def _write_sheets(tmp: Path, kept: list[tuple[LabelledImage, str, np.ndarray]],
                  names: list[str], no_face: list[str], samples: int, seed: int) -> list[Path]:
    if samples <= 0:
        return []
    rng = random.Random(seed)
    written = []
    for cls in names:
        mine = [(tmp / "images" / name, box, name) for item, name, box in kept if item.label == cls]
        if not mine:
            continue
        chosen = sorted(rng.sample(mine, min(samples, len(mine))), key=lambda s: s[2])
        sheet = contact_sheet(chosen, f"{cls}: {len(chosen)} of {len(mine)} labelled images "
                                      f"(seed {seed}) - check every green box sits on the face")
        path = tmp / f"contact_{_safe(cls)}.png"
        cv2.imwrite(str(path), sheet)
        written.append(path)
    if no_face:
        chosen_paths = sorted(rng.sample(no_face, min(samples, len(no_face))))
        sheet = contact_sheet([(Path(p), None, Path(p).name) for p in chosen_paths],
                              f"no face found: {len(chosen_paths)} of {len(no_face)} "
                              "skipped images")
        path = tmp / "contact_skipped_no_face.png"
        cv2.imwrite(str(path), sheet)
        written.append(path)
    return written


def load_report(pool: str | Path) -> dict[str, Any]:
    """Read a pool's ``autolabel_report.json``.

    Example:
        >>> # load_report("pools/smile-neutral")["counts"]["labelled"]
    """
    path = Path(pool) / "autolabel_report.json"
    if not path.is_file():
        raise DatasetError(path, "missing: not an autolabel pool")
    return json.loads(path.read_text())
