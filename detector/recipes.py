"""The recipe for the shipped smile/neutral detector's data, from the shared real data.

Sources (all under ``../shared/data``):

* ``smile-neutral-faces``: 9,841 tight face photos with person ids, boxed by YuNet,
  split 60/20/20 by person (no person in two splits).
* ``faces-in-scenes``: real rooms and streets. Each scene's boxed faces are covered by
  a labelled face of the right split, and a few more are added at 6-40 % of the width.
  Train scenes only feed train, ``valid/`` feeds val, ``test/`` feeds test.
* ``roboflow-facial-emotion-7``: colour single-face pictures, happy -> smile and
  neutral -> neutral, kept in the export's own splits (grouped by source picture).

Box convention: the people's photos are boxed by YuNet, the scenes by people, and the two
differ (a human box is taller: on ``faces-in-scenes/train`` it reaches 15.6 % of the YuNet box's
height higher and 13.2 % lower; IoU between the two around 0.6). A detector that learns both
puts two boxes on one face. Since v5 every YuNet box that becomes a detector label is mapped to
the human convention with :func:`to_human_box` (:data:`HUMAN_BOX_OFFSETS`, measured by
:func:`measure_box_offsets`); the crop classifier keeps the YuNet crops.

Outputs a YOLO dataset with ``train``, ``val``, ``test`` (composites of unseen people in
unseen scenes), ``test_crops`` (the test people's photos as they are) and ``val_crops`` (every
validation person's photo, for choosing between models on close-ups).
"""

from __future__ import annotations

import collections
import csv
import hashlib
import json
import random
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import yaml
from PIL import Image
from tqdm import tqdm

from detector.dedupe import dhash64, dhash256, near_duplicate_pairs
from detector.errors import DatasetError, ModelError
from detector.faces import YuNetFaceFinder
from detector.fileio import atomic_copy, atomic_dir, atomic_write_json, atomic_write_text, list_images
from detector.labels import (
    HUMAN_BOX_OFFSETS,
    box_iou_xyxy,
    format_yolo_line,
    read_label_file,
    to_human_box,
    xywhn_to_xyxy,
    xyxy_to_xywhn,
)
from detector.refine import CropClassifier, square_crops
from detector.roboflow import roboflow_group
from detector.scenes import FaceSample, compose_scene, lower_resolution
from detector.split import SplitItem, split_groups

NAMES = ["neutral", "smile"]
# How a by-eye review of the training photos is used (RecipeConfig.review_use, exprdet ship --reviewed-photos).
REVIEW_USES = ("drop", "closeups-first")
SPLITS = ("train", "val", "test")


@dataclass
class RecipeConfig:
    """Knobs of the recipe; the defaults are what the shipped model used."""

    seed: int = 0
    ratios: tuple[float, float, float] = (0.6, 0.2, 0.2)
    scene_variants: dict[str, int] = field(default_factory=lambda: {"train": 3, "val": 1, "test": 2})
    # 2,000 of the ~6,000 training close-ups as they are (the rest only pasted into composites): all
    # of them in the same 2-hour budget scored lower on every validation set (session 19, model card).
    crops_per_split: dict[str, int | None] = field(default_factory=lambda: {"train": 2000, "val": 300})
    roboflow_map: dict[str, str] = field(default_factory=lambda: {"happy": "smile", "neutral": "neutral"})
    max_side: int = 640
    # Detector labels in the human box convention; (0, 0, 0, 0) keeps YuNet's boxes (v1-v4).
    box_offsets: tuple[float, float, float, float] = HUMAN_BOX_OFFSETS
    # Share of the training close-ups replaced by low-resolution copies (shorter side drawn from
    # lowres_sides px, enlarged back), for faces with little detail. Off: 0.3 with (20, 72) lowered
    # the validation photos 93.3 -> 91.6 % and leaned the model to "neutral" (session 23, model card).
    lowres_share: float = 0.0
    lowres_sides: tuple[int, int] = (20, 72)
    # A by-eye review of the training people's photos (image,label CSV, e.g. TRAIN_PHOTO_REVIEW_CSV): their
    # unusable photos leave the close-ups, composites and classifier data; relabelled ones take its label.
    # None: the dataset's own labels (the shipped recipe).
    train_review: Path | None = None
    # How train_review is used: "drop" (above; session 31's b33) or "closeups-first": every training
    # photo keeps the dataset's label and stays in the composites and classifier data, and the training
    # close-ups are drawn first from the photos the review calls unusable, the faces either label fits
    # (session 32's b34: spend the time-capped epochs where the dataset's boundary is, remove nothing).
    review_use: str = "drop"
    # Side (px) of the classifier's face crops: 7/6 of its training size (CLASSIFIER_ARGS' 96 px -> 112), so
    # that its random crops and zoom have pixels to take; see classifier_crop_side (session 33's b35).
    classifier_crop: int = 112

    def __post_init__(self) -> None:
        if self.review_use not in REVIEW_USES:
            raise ValueError(f"review_use must be {' or '.join(map(repr, REVIEW_USES))}, got {self.review_use!r}")
        if self.classifier_crop < 32:
            raise ValueError(f"classifier_crop must be at least 32 px, got {self.classifier_crop}")


def classifier_crop_side(imgsz: int) -> int:
    """Side of the classifier's face crops for a classifier trained at ``imgsz`` (the recipe's 112 for 96).

    Example:
        >>> classifier_crop_side(96), classifier_crop_side(160)
        (112, 187)
    """
    if imgsz < 32:
        raise ValueError(f"classifier imgsz must be at least 32 px, got {imgsz}")
    return round(imgsz * RecipeConfig.classifier_crop / CLASSIFIER_ARGS["imgsz"])


def _read_labels_csv(root: Path) -> list[dict[str, str]]:
    csv_path = root / "labels.csv"
    if not csv_path.is_file():
        raise DatasetError(csv_path, "labels.csv not found")
    with csv_path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    missing_cols = {"image", "expression", "person"} - set(rows[0] if rows else {})
    if missing_cols:
        raise DatasetError(csv_path, f"missing columns {sorted(missing_cols)}")
    return rows


def smile_neutral_split(root: Path, ratios: tuple[float, float, float], seed: int) -> tuple[dict[str, str], list]:
    """Split every photo of ``labels.csv`` by person: ``image -> split``, plus merged duplicates.

    The split depends only on labels.csv, the pixels and the seed (not on which faces a detector
    finds), so the classifier backbone and the detector always agree on who is a test person.
    Persons who share a near-identical picture (the same photo filed under two names) are
    merged into one group first, so the copies cannot straddle splits.

    Example:
        >>> # split, merged = smile_neutral_split(Path("../shared/data/smile-neutral-faces"), (0.6, 0.2, 0.2), 0)
    """
    rows = _read_labels_csv(root)
    h64, h256 = [], []
    for r in tqdm(rows, desc="hashing photos", unit="img"):
        img = cv2.imread(str(root / "images" / r["image"]), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise DatasetError(root / "images" / r["image"], "unreadable image")
        h64.append(dhash64(img))
        h256.append(dhash256(img))
    persons = [r["person"] for r in rows]
    parent = {p: p for p in persons}

    def find(p: str) -> str:
        while parent[p] != p:
            parent[p] = parent[parent[p]]
            p = parent[p]
        return p

    merged = []
    for pair in near_duplicate_pairs(h64, persons, fine=h256):
        a, b = find(persons[pair.i]), find(persons[pair.j])
        merged.append((rows[pair.i]["image"], rows[pair.j]["image"], pair.bits64, pair.bits256))
        if a != b:
            parent[max(a, b)] = min(a, b)
    items = [SplitItem(r["image"], find(r["person"]), (r["expression"],)) for r in rows]
    return split_groups(items, ratios, seed), merged


def measure_box_offsets(scene_dir: Path, finder: YuNetFaceFinder, min_iou: float = 0.3) -> dict:
    """Median edge shifts of a folder's human face boxes against YuNet's boxes of the same faces.

    Every labelled face is matched to the YuNet box it overlaps most (IoU > ``min_iou``); the
    shifts are in units of the YuNet box's width/height, as :func:`to_human_box` uses them.

    Example:
        >>> # measure_box_offsets(Path("../shared/data/faces-in-scenes/train"), finder)["median"]
    """
    shifts = []
    for img_path in tqdm(list_images(scene_dir / "images"), desc="box convention", unit="img"):
        img, truth = _scene_faces(scene_dir, img_path)
        found = np.asarray(finder.find(img)[0], np.float64).reshape(-1, 4)
        if len(truth) == 0 or len(found) == 0:
            continue
        iou = box_iou_xyxy(truth, found)
        for i, j in enumerate(iou.argmax(axis=1)):
            if iou[i, j] > min_iou:
                b = found[j]
                bw, bh = b[2] - b[0], b[3] - b[1]
                shifts.append((truth[i] - b) / np.array([bw, bh, bw, bh]))
    if not shifts:
        raise DatasetError(scene_dir, "no labelled face was also found by YuNet; cannot measure the box convention")
    arr = np.asarray(shifts)
    return {"faces": len(arr), "median": np.median(arr, axis=0).round(3).tolist(),
            "iqr": (np.percentile(arr, 75, axis=0) - np.percentile(arr, 25, axis=0)).round(3).tolist()}


def load_smile_neutral(root: Path, finder: YuNetFaceFinder) -> tuple[list[dict[str, str]], list[str]]:
    """Read labels.csv and box each photo's face; returns ``(rows with box, unboxed names)``.

    Example:
        >>> # rows, missed = load_smile_neutral(Path("../shared/data/smile-neutral-faces"), finder)
    """
    rows = _read_labels_csv(root)
    out, missed = [], []
    for r in tqdm(rows, desc="boxing faces (YuNet)", unit="img"):
        img = cv2.imread(str(root / "images" / r["image"]))
        if img is None:
            raise DatasetError(root / "images" / r["image"], "unreadable image")
        xyxy, _ = finder.find(img)
        if len(xyxy) == 0 or r["expression"] not in NAMES:
            missed.append(r["image"])
            continue
        out.append({**r, "box": [float(v) for v in xyxy[0]], "w": img.shape[1], "h": img.shape[0]})
    return out, missed


def _export_names(root: Path) -> list[str]:
    # Roboflow writes names as a list; other exports as an {id: name} mapping.
    data_yaml = root / "data.yaml"
    if not data_yaml.is_file():
        raise DatasetError(data_yaml, "expected the data.yaml of a Roboflow YOLO export")
    names = yaml.safe_load(data_yaml.read_text())["names"]
    return names if isinstance(names, list) else [names[k] for k in sorted(names)]


def roboflow_singles(root: Path, mapping: dict[str, str], finder: YuNetFaceFinder | None = None,
                     unboxed: list[str] | None = None) -> list[FaceSample]:
    """Single-face pictures of the mapped classes from every split of a Roboflow export.

    They all go to training: the export's own splits share source pictures (58 of them) and
    people, so none of it can serve as a person-disjoint test. With ``finder`` each face is
    re-boxed by YuNet (the export's box covers the whole picture on most of them, a third box
    convention); pictures where YuNet finds no face are left out and their names appended to
    ``unboxed``.

    Example:
        >>> # roboflow_singles(Path("../shared/data/roboflow-facial-emotion-7"), {"happy": "smile"})
    """
    names = _export_names(root)
    out: list[FaceSample] = []
    for folder in ("train", "valid", "test"):
        img_dir = root / folder / "images"
        if not img_dir.is_dir():
            continue
        for img in list_images(img_dir):
            rows = read_label_file(root / folder / "labels" / f"{img.stem}.txt", len(names))
            if len(rows) != 1 or names[rows[0].class_id] not in mapping:
                continue
            w, h = _image_wh(img)
            # Rounding in the export's six-decimal rows can put an edge a hair outside the image.
            xyxy = xywhn_to_xyxy(np.array([rows[0].xywhn]), (w, h))[0].clip(0, [w, h, w, h])
            if finder is not None:
                pixels = cv2.imread(str(img))
                if pixels is None:
                    raise DatasetError(img, "unreadable image")
                found = np.asarray(finder.find(pixels)[0], np.float64).reshape(-1, 4)
                if len(found) == 0:
                    if unboxed is not None:
                        unboxed.append(f"{folder}/{img.name}")
                    continue
                xyxy = found[0]
            cls = NAMES.index(mapping[names[rows[0].class_id]])
            out.append(FaceSample(img, tuple(xyxy), cls, roboflow_group(img.name)))
    return out


# By-eye reviews of the grid faces (session 29, one reviewer), one per export label: 466 "happy" faces
# (292 smile, 44 neutral, 130 unusable) and 555 "neutral" ones (374 neutral, 181 unusable, no smile).
GRID_REVIEWS = (Path(__file__).resolve().parent / "assets" / "grid_happy_review.csv",
                Path(__file__).resolve().parent / "assets" / "grid_neutral_review.csv")
# By-eye reviews (session 30, one reviewer, two passes) of all 1,968 validation and all 1,968 test photos'
# labels (val_crops, test_crops): validation 525 smile / 779 neutral / 664 unusable, test 402 / 674 / 892
# (the test review was the stricter one). The counts per dataset label are in each file's header.
VAL_PHOTO_REVIEW_CSV = GRID_REVIEWS[0].with_name("val_photo_review.csv")
TEST_PHOTO_REVIEW_CSV = GRID_REVIEWS[0].with_name("test_photo_review.csv")
# The same reader's one-pass review of the 5,904 training people's photos (labels.csv names; used only by
# `exprdet ship --reviewed-photos`): 1,074 smile / 1,563 neutral / 3,267 unusable, blurred faces unusable.
TRAIN_PHOTO_REVIEW_CSV = GRID_REVIEWS[0].with_name("train_photo_review.csv")


def read_image_review(path: Path) -> dict[str, str]:
    """``image -> label`` of a per-image review CSV (``image,label``; ``#`` lines are comments): the grid
    faces (:data:`GRID_REVIEWS`) and the photos (:data:`VAL_PHOTO_REVIEW_CSV` and its test and train twins).

    Example:
        >>> # read_image_review(GRID_REVIEWS[0])["10_jpg_07.jpg"]
        >>> # 'unusable'
    """
    return {row["image"]: row["label"] for row in _review_rows(path, ["image", "label"])}


def grid_cell_xyxy(xyxy: np.ndarray, resolution_wh: tuple[int, int], cells: int = 4,
                   slack: float = 0.02) -> np.ndarray | None:
    """The cell of a ``cells`` x ``cells`` picture grid that holds a face box, or None if it crosses cells.

    Roboflow's facial-emotion export tiles 16 face crops into a 640x640 picture; a box whose
    edges leave its centre's cell by more than ``slack`` of the picture is not a grid face.

    Example:
        >>> grid_cell_xyxy(np.array([20.0, 15, 140, 150]), (640, 640))
        array([  0.,   0., 160., 160.])
        >>> grid_cell_xyxy(np.array([100.0, 15, 220, 150]), (640, 640)) is None
        True
    """
    w, h = resolution_wh
    cw, ch = w / cells, h / cells
    col = min(int((xyxy[0] + xyxy[2]) / 2 // cw), cells - 1)
    row = min(int((xyxy[1] + xyxy[3]) / 2 // ch), cells - 1)
    cell = np.array([col * cw, row * ch, (col + 1) * cw, (row + 1) * ch])
    tol = np.array([-w, -h, w, h]) * slack
    inside = (xyxy[:2] >= cell[:2] + tol[:2]).all() and (xyxy[2:] <= cell[2:] + tol[2:]).all()
    return cell if inside else None


def build_grid_faces(root: Path, out: Path, mapping: dict[str, str] | None = None, *, cells: int = 4,
                     min_boxes: int = 4, duplicate_mad: float = 10.0,
                     reviews: tuple[Path, ...] | None = GRID_REVIEWS) -> dict:
    """The faces of a Roboflow export's picture grids, one image per face, as a validation set.

    The shared facial-emotion export holds 133 4x4 grids of sharp grayscale web faces (many
    ages and skin tones) that the recipe does not train on: it takes only the export's
    single-face pictures (:func:`roboflow_singles`; session 29 found at most 2 of the 1,021
    grid faces close to one of its 135 happy/neutral singles). Each
    grid source is read once (its first copy, ``valid/`` and ``test/`` before the augmented
    ``train/``); each box of a mapped class becomes its grid cell with the export's own
    (human-drawn) box; a cell that is the same picture as an earlier one (mean absolute
    difference of 64x64 grey thumbnails below ``duplicate_mad``; the same face appears in
    several grids) is left out, as is a box that crosses cells. With ``reviews`` (by default the
    shipped by-eye reviews, :data:`GRID_REVIEWS`) every face takes its reviewed label and
    ``unusable`` ones are left out; a face no review names is an error. ``reviews=None`` keeps the
    export's labels (about a third of its "happy" faces are not smiles). Writes ``out/val`` and a
    ``data.yaml`` whose val and test are that folder, plus ``grid_faces_report.json``.

    Example:
        >>> # build_grid_faces(Path("../shared/data/roboflow-facial-emotion-7"), Path("datasets/grid-faces"))
    """
    mapping = mapping or {"happy": "smile", "neutral": "neutral"}
    names = _export_names(root)
    unknown = sorted(set(mapping) - set(names))
    if unknown:
        raise DatasetError(root / "data.yaml", f"classes {unknown} not in the export's names {names}")
    reviewed: dict[str, str] = {}
    for review in reviews or ():
        reviewed.update(read_image_review(review))
    first: dict[str, tuple[str, Path]] = {}
    for folder in ("valid", "test", "train"):
        img_dir = root / folder / "images"
        for img in list_images(img_dir) if img_dir.is_dir() else []:
            first.setdefault(roboflow_group(img.name), (folder, img))
    report: dict = {"source": str(root), "mapping": mapping, "reviews": [str(r) for r in reviews or ()],
                    "grids": 0, "faces": collections.Counter(), "crossing_cells": 0, "duplicates": 0,
                    "unusable": 0, "relabelled": 0}
    kept: list[np.ndarray] = []
    with atomic_dir(out) as tmp:
        writer = _SplitWriter(tmp / "val")
        for group, (folder, img_path) in tqdm(sorted(first.items()), desc="grid faces", unit="picture"):
            rows = read_label_file(root / folder / "labels" / f"{img_path.stem}.txt", len(names))
            if len(rows) < min_boxes:
                continue
            img = cv2.imread(str(img_path))
            if img is None:
                raise DatasetError(img_path, "unreadable image")
            report["grids"] += 1
            wh = (img.shape[1], img.shape[0])
            for k, row in enumerate(rows):
                if names[row.class_id] not in mapping:
                    continue
                xyxy = xywhn_to_xyxy(np.array([row.xywhn]), wh)[0].clip(0, [wh[0], wh[1]] * 2)
                cell = grid_cell_xyxy(xyxy, wh, cells)
                if cell is None:
                    report["crossing_cells"] += 1
                    continue
                x1, y1, x2, y2 = cell.round().astype(int)
                crop = img[y1:y2, x1:x2]
                # Pixels, not a difference hash: different faces in one pose lie within a few bits of
                # a 64-bit dhash (checked by eye), so a hash threshold would drop real faces.
                thumb = cv2.resize(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), (64, 64), interpolation=cv2.INTER_AREA)
                thumb = thumb.astype(np.float32)
                if any(float(np.abs(thumb - other).mean()) < duplicate_mad for other in kept):
                    report["duplicates"] += 1
                    continue
                kept.append(thumb)
                stem = f"{group}_{k:02d}"
                label = mapping[names[row.class_id]]
                if reviews:
                    name = f"{stem}.jpg"              # the name _SplitWriter gives the picture
                    if name not in reviewed:
                        raise DatasetError(reviews[0], f"no review of grid face {name} "
                                                       f"({folder}/{img_path.name}, box {k + 1})")
                    report["relabelled"] += reviewed[name] not in (label, "unusable")
                    label = reviewed[name]
                    if label == "unusable":
                        report["unusable"] += 1
                        continue
                cls = NAMES.index(label)
                box = (xyxy - np.array([x1, y1, x1, y1])).clip(0, [x2 - x1, y2 - y1] * 2)
                writer.write(stem, crop, box[None], np.array([cls]), group)
                report["faces"][NAMES[cls]] += 1
        report["faces"] = dict(report["faces"])
        report["val"] = writer.summary()
        atomic_write_json(tmp / "grid_faces_report.json", report)
        _write_scene_yaml(tmp, out, train="val", val="val", test="val")
    return report


def build_reviewed_photos(src: Path, out: Path, review: Path = VAL_PHOTO_REVIEW_CSV) -> dict:
    """A one-face-per-image YOLO folder with its labels replaced by a by-eye review.

    Every image of ``src`` (``images/`` and ``labels/``, one box each, such as the recipe's
    ``val_crops``) must be named in ``review`` (``image,label``; smile, neutral or unusable), and
    every reviewed image must be in ``src``: a review of another build is an error, not a silent
    subset. Usable images are copied unchanged with their box and the reviewed class; unusable ones
    are left out. Writes ``out/val``, a ``data.yaml`` whose splits are that folder and
    ``reviewed_photos_report.json``, atomically.

    Example:
        >>> # build_reviewed_photos(Path("datasets/smile-neutral-scenes/val_crops"),
        >>> #                       Path("datasets/photos-reviewed"))["kept"]
        >>> # {'neutral': 779, 'smile': 525}
    """
    reviewed = read_image_review(review)
    images = list_images(src / "images") if (src / "images").is_dir() else []
    if not images:
        raise DatasetError(src / "images", "no images to review")
    stale = sorted(set(reviewed) - {img.name for img in images})
    if stale:
        raise DatasetError(review, f"{len(stale)} reviewed images are not in {src / 'images'}, e.g. {stale[0]}")
    report: dict = {"source": str(src), "review": str(review), "kept": collections.Counter(),
                    "unusable": 0, "relabelled": 0}
    with atomic_dir(out) as tmp:
        for sub in ("images", "labels"):
            (tmp / "val" / sub).mkdir(parents=True)
        for img in images:
            if img.name not in reviewed:
                raise DatasetError(review, f"no review of {img.name} ({src / 'images'})")
            label_path = src / "labels" / f"{img.stem}.txt"
            rows = read_label_file(label_path, len(NAMES))
            if len(rows) != 1:
                raise DatasetError(label_path, f"expected one face per image, got {len(rows)} boxes")
            label = reviewed[img.name]
            if label == "unusable":
                report["unusable"] += 1
                continue
            report["relabelled"] += label != NAMES[rows[0].class_id]
            shutil.copyfile(img, tmp / "val" / "images" / img.name)
            (tmp / "val" / "labels" / label_path.name).write_text(
                format_yolo_line(NAMES.index(label), rows[0].xywhn) + "\n")
            report["kept"][label] += 1
        report["kept"] = dict(report["kept"])
        atomic_write_json(tmp / "reviewed_photos_report.json", report)
        _write_scene_yaml(tmp, out, train="val", val="val", test="val")
    return report


def build_smile_neutral_dataset(shared: Path, out: Path, config: RecipeConfig | None = None,
                                face_model: Path | None = None) -> dict:
    """Write the shipped model's dataset to ``out`` (atomically) and return its report.

    Example:
        >>> # build_smile_neutral_dataset(Path("../shared"), Path("datasets/smile-neutral-scenes"))
    """
    cfg = config or RecipeConfig()
    data = shared / "data"
    finder = YuNetFaceFinder(face_model or shared / "models" / "face_detection_yunet.onnx")
    photos, merged, missed, review_counts = _person_photos(data / "smile-neutral-faces", finder, cfg)
    # The classifier backbone learns from the person-split photos only.
    person_photos = {split: list(faces) for split, faces in photos.items()}
    unboxed_roboflow: list[str] = []
    photos["train"] += roboflow_singles(data / "roboflow-facial-emotion-7", cfg.roboflow_map, finder,
                                        unboxed_roboflow)
    rng = np.random.default_rng(cfg.seed)
    report: dict = {"seed": cfg.seed, "unboxed_photos": missed, "unboxed_roboflow": unboxed_roboflow,
                    "merged_near_duplicates": merged, "box_offsets": list(cfg.box_offsets),
                    "train_review": None if cfg.train_review is None else cfg.train_review.name,
                    "train_review_use": None if cfg.train_review is None else cfg.review_use,
                    "train_review_counts": review_counts, "classifier_crop": cfg.classifier_crop, "splits": {}}

    cache: dict[Path, np.ndarray] = {}

    def load(path: Path) -> np.ndarray:
        if path not in cache:
            img = cv2.imread(str(path))
            if img is None:
                raise DatasetError(path, "unreadable image")
            cache[path] = img
        return cache[path]

    with atomic_dir(out) as tmp:
        for split in SPLITS:
            faces = photos[split]
            scene_dir = data / "faces-in-scenes" / {"train": "train", "val": "valid", "test": "test"}[split]
            scenes = list_images(scene_dir / "images")
            writer = _SplitWriter(tmp / split)
            # 1. composites: every scene, `variants` times, faces drawn from this split only.
            order = list(range(len(faces)))
            random.Random(cfg.seed).shuffle(order)
            cursor = 0
            for v in range(cfg.scene_variants[split]):
                for scene in tqdm(scenes, desc=f"{split} scenes v{v}", unit="img"):
                    bg = load(scene)
                    h, w = bg.shape[:2]
                    rows_ = read_label_file(scene_dir / "labels" / f"{scene.stem}.txt")
                    boxes = xywhn_to_xyxy(np.array([r.xywhn for r in rows_]).reshape(-1, 4), (w, h))
                    take = len(boxes) + 2
                    chosen = [faces[order[(cursor + i) % len(order)]] for i in range(take)]
                    cursor += take
                    img, xyxy, cls = compose_scene(bg, boxes, chosen, load, rng)
                    writer.write(f"scene_{scene.stem}_v{v}", img, _label_boxes(xyxy, img, cfg), cls, group=scene.stem)
            # 2. the photos as they are (face fills the frame), as users' head shots look.
            limit = cfg.crops_per_split.get(split)
            if split == "train" and cfg.train_review is not None and cfg.review_use == "closeups-first":
                unusable = {n for n, label in read_image_review(cfg.train_review).items() if label == "unusable"}
                pool = closeup_pool(faces, order, limit, unusable)
                report["closeups_from_review_unusable"] = sum(f.image_path.name in unusable for f in pool)
            else:
                pool = faces if limit is None else [faces[i] for i in order[:limit]]
            target = writer if split != "test" else _SplitWriter(tmp / "test_crops")
            _write_photos(pool, target, cfg, desc=f"{split} photos")
            if split == "train" and cfg.lowres_share > 0:
                report["lowres_photos"] = lower_photo_resolution(tmp / split, cfg.lowres_share,
                                                                 cfg.lowres_sides, cfg.seed)
            if split == "val":
                # Every validation person's photo, to choose between models on close-ups: the 300
                # in val/ give a 95 % interval of about +-3.5 points, too wide for recipe changes.
                report["splits"]["val_crops"] = _write_photos(faces, _SplitWriter(tmp / "val_crops"), cfg,
                                                              desc="val photos (all)")
            cache.clear()
            report["splits"][split] = writer.summary()
            if split == "test":
                report["splits"]["test_crops"] = target.summary()
        for split in SPLITS:
            write_classifier_crops(person_photos[split], tmp / "classify" / split, size=cfg.classifier_crop)
        yaml_text = yaml.safe_dump({"path": str(out.resolve()), "train": "train/images", "val": "val/images",
                                    "test": "test/images", "names": dict(enumerate(NAMES))}, sort_keys=False)
        (tmp / "data.yaml").write_text(yaml_text)
        (tmp / "data_crops.yaml").write_text(_crops_yaml(yaml_text))
        atomic_write_json(tmp / "recipe_report.json", report)
    return report


def closeup_pool(faces: list[FaceSample], order: list[int], limit: int | None,
                 first: set[str]) -> list[FaceSample]:
    """The training close-ups: ``limit`` faces in ``order``, those whose picture is in ``first`` before the rest.

    Within each group the seeded ``order`` is kept, so the pick is deterministic; ``limit=None``
    takes every face. The caller's lists are not changed.

    Example:
        >>> faces = [FaceSample(Path(f"{c}.jpg"), (0, 0, 9, 9), 0, c) for c in "abcd"]
        >>> [f.image_path.stem for f in closeup_pool(faces, [3, 0, 2, 1], 3, {"a.jpg", "b.jpg"})]
        ['a', 'b', 'd']
    """
    ranked = [i for i in order if faces[i].image_path.name in first] + \
             [i for i in order if faces[i].image_path.name not in first]
    return [faces[i] for i in (ranked if limit is None else ranked[:limit])]


def reviewed_faces(faces: list[FaceSample], review: dict[str, str]) -> tuple[list[FaceSample], dict[str, int]]:
    """The faces a by-eye review keeps, with its labels, and how many were kept, relabelled and left out.

    ``review`` maps picture names (``image_path.name``) to smile, neutral or unusable; a face
    whose picture it does not name raises ``KeyError`` with that name (the caller says which
    review file). The caller's list is not changed.

    Example:
        >>> faces = [FaceSample(Path("a.jpg"), (0, 0, 9, 9), 0, "A"), FaceSample(Path("b.jpg"), (0, 0, 9, 9), 1, "B")]
        >>> kept, counts = reviewed_faces(faces, {"a.jpg": "smile", "b.jpg": "unusable"})
        >>> [(f.image_path.name, f.class_id) for f in kept], counts
        ([('a.jpg', 1)], {'kept': 1, 'relabelled': 1, 'unusable': 1})
    """
    kept: list[FaceSample] = []
    counts = {"kept": 0, "relabelled": 0, "unusable": 0}
    for face in faces:
        label = review[face.image_path.name]
        if label == "unusable":
            counts["unusable"] += 1
            continue
        cls = NAMES.index(label)
        counts["relabelled"] += cls != face.class_id
        kept.append(FaceSample(face.image_path, face.box_xyxy, cls, face.group))
        counts["kept"] += 1
    return kept, counts


def _person_photos(root: Path, finder: YuNetFaceFinder,
                   cfg: RecipeConfig) -> tuple[dict[str, list[FaceSample]], list, list[str], dict | None]:
    split_of, merged = smile_neutral_split(root, cfg.ratios, cfg.seed)
    rows, missed = load_smile_neutral(root, finder)
    photos: dict[str, list[FaceSample]] = {s: [] for s in SPLITS}
    for r in rows:
        photos[split_of[r["image"]]].append(FaceSample(
            root / "images" / r["image"], tuple(r["box"]), NAMES.index(r["expression"]), r["person"]))
    counts = None
    if cfg.train_review is not None:
        review = read_image_review(cfg.train_review)
        # Training people only: validation and test keep the dataset's labels, so scores stay comparable.
        try:
            if cfg.review_use == "drop":
                photos["train"], counts = reviewed_faces(photos["train"], review)
            else:
                counts = dict(collections.Counter(review[f.image_path.name] for f in photos["train"]))
        except KeyError as exc:
            raise DatasetError(cfg.train_review, f"no review of training photo {exc.args[0]}") from None
    return photos, merged, missed, counts


def _write_photos(faces: list[FaceSample], target: _SplitWriter, cfg: RecipeConfig, desc: str) -> dict:
    for f in tqdm(faces, desc=desc, unit="img"):
        img = cv2.imread(str(f.image_path))
        if img is None:
            raise DatasetError(f.image_path, "unreadable image")
        target.write(f"photo_{f.image_path.stem}", img, _label_boxes(np.array([f.box_xyxy]), img, cfg),
                     np.array([f.class_id]), group=f.group)
    return target.summary()


def lower_photo_resolution(split_dir: Path, share: float, sides: tuple[int, int], seed: int) -> int:
    """Replace a seeded share of a split's close-ups (``photo_*``) by low-resolution copies; how many.

    Each chosen picture is shrunk to a shorter side drawn from ``sides`` and enlarged back
    (:func:`detector.scenes.lower_resolution`), written as ``lowres_<stem>.png`` with its label
    file renamed to match; the original goes, so the split keeps its size and a time-capped
    training its number of epochs. Boxes are normalised, so labels are unchanged. It works in
    place, so call it on a folder being built (the recipe's temporary one, or a hard-linked copy
    as in ``docs/experiments/lowres_photos.py``), never on source pictures.

    Example:
        >>> # lower_photo_resolution(Path("datasets/x/train"), 0.3, (20, 72), seed=0)
        >>> # 600
    """
    if not 0 <= share <= 1:
        raise ValueError(f"share must be between 0 and 1, got {share}")
    images = sorted((split_dir / "images").iterdir())
    photos = [p for p in images if p.name.startswith("photo_")]
    rng = random.Random(seed)
    chosen = sorted(rng.sample(photos, round(share * len(photos))))
    for path in tqdm(chosen, desc="low-resolution photos", unit="img"):
        img = cv2.imread(str(path))
        if img is None:
            raise DatasetError(path, "unreadable image")
        label = split_dir / "labels" / f"{path.stem}.txt"
        if not label.is_file():
            raise DatasetError(label, "label file missing for a written photo")
        cv2.imwrite(str(split_dir / "images" / f"lowres_{path.stem}.png"), lower_resolution(img, rng.randint(*sides)))
        label.rename(split_dir / "labels" / f"lowres_{path.stem}.txt")
        path.unlink()
    return len(chosen)


def _label_boxes(xyxy: np.ndarray, img: np.ndarray, cfg: RecipeConfig) -> np.ndarray:
    return to_human_box(xyxy, (img.shape[1], img.shape[0]), cfg.box_offsets)


def _crops_yaml(yaml_text: str) -> str:
    return yaml_text.replace("val: val/images", "val: val_crops/images").replace("test: test/images",
                                                                                 "test: test_crops/images")


def add_val_crops(shared: Path, dataset: Path, config: RecipeConfig | None = None,
                  face_model: Path | None = None) -> dict:
    """Add ``val_crops`` (every validation person's photo) to a dataset built before it existed.

    Writes exactly what :func:`build_smile_neutral_dataset` now writes there (same split, boxes
    and files), points ``data_crops.yaml``'s ``val`` at it and records it in
    ``recipe_report.json``; nothing else in the dataset changes. Re-running replaces it.

    Example:
        >>> # add_val_crops(Path("../shared"), Path("datasets/smile-neutral-scenes"))
    """
    cfg = config or RecipeConfig()
    report_path = dataset / "recipe_report.json"
    report = _read_recipe_report(dataset)
    if [float(v) for v in report.get("box_offsets") or [0, 0, 0, 0]] != [float(v) for v in cfg.box_offsets]:
        raise DatasetError(report_path, "built with other box offsets than this recipe's; rebuild it instead")
    finder = YuNetFaceFinder(face_model or shared / "models" / "face_detection_yunet.onnx")
    photos, _, _, _ = _person_photos(shared / "data" / "smile-neutral-faces", finder, cfg)
    with atomic_dir(dataset / "val_crops") as tmp:
        summary = _write_photos(photos["val"], _SplitWriter(tmp), cfg, desc="val photos (all)")
    yaml_path = dataset / "data_crops.yaml"
    atomic_write_text(yaml_path, _crops_yaml(yaml_path.read_text()))
    report["splits"]["val_crops"] = summary
    atomic_write_json(report_path, report)
    return summary


def write_classifier_crops(faces: list[FaceSample], out: Path, size: int = 112, grow: float = 1.05) -> int:
    """Write square face crops into ``out/<class>/`` (an ImageFolder split for a ``-cls`` model).

    Example:
        >>> # write_classifier_crops(train_faces, Path("classify/train"))
    """
    for name in NAMES:
        (out / name).mkdir(parents=True, exist_ok=True)
    for f in faces:
        img = cv2.imread(str(f.image_path))
        if img is None:
            raise DatasetError(f.image_path, "unreadable image")
        crop = square_crops(img, np.array([f.box_xyxy]), grow=grow, gray=False)[0]
        cv2.imwrite(str(out / NAMES[f.class_id] / f"{f.image_path.stem}.jpg"),
                    cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA))
    return len(faces)


FER_TO_SMILE_NEUTRAL = {"happy": "smile", "neutral": "neutral"}


def build_classify_mix(classify: Path, fer_root: Path, out: Path,
                       fer_classes: dict[str, str] | None = None) -> dict[str, dict[str, int]]:
    """A crop-classifier ImageFolder: ``classify`` plus FER2013 train faces in its train split.

    ``classify`` is the recipe's ``<dataset>/classify`` (train/val/test of the photo people);
    ``fer_root`` a FER2013 folder with ``train/<class>/``. FER2013's ``happy`` and ``neutral``
    train faces (48x48 grayscale; other people, other cameras) join the train split as
    ``smile`` and ``neutral``; val and test stay the photo people's alone, so validation
    accuracy compares with a classifier trained without FER2013. Files are symbolic links
    (nothing is copied or changed); the folder is replaced atomically.

    Returns:
        Image counts per split and class.

    Example:
        >>> # build_classify_mix(Path("datasets/smile-neutral-scenes/classify"),
        >>> #                    Path("../shared/data/fer2013"), Path("datasets/classify-fer"))
        >>> # {'train': {'neutral': 7852, 'smile': 10140}, 'val': {...}, 'test': {...}}
    """
    fer_classes = fer_classes or FER_TO_SMILE_NEUTRAL
    for split in ("train", "val"):
        for name in NAMES:
            if not (classify / split / name).is_dir():
                raise DatasetError(classify / split / name, "missing: expected <classify>/<split>/<class>/")
    for fer_name, name in fer_classes.items():
        if name not in NAMES:
            raise DatasetError(fer_root, f"FER class {fer_name!r} maps to {name!r}, not one of {NAMES}")
        if not (fer_root / "train" / fer_name).is_dir():
            raise DatasetError(fer_root / "train" / fer_name, "missing: expected FER2013 train/<class>/")
    counts: dict[str, dict[str, int]] = {}
    with atomic_dir(out) as tmp:
        for split in SPLITS:
            if not (classify / split).is_dir():
                continue
            counts[split] = {}
            for name in NAMES:
                (tmp / split / name).mkdir(parents=True)
                files = list_images(classify / split / name)
                for f in files:
                    (tmp / split / name / f.name).symlink_to(f.resolve())
                counts[split][name] = len(files)
        for fer_name, name in fer_classes.items():
            files = list_images(fer_root / "train" / fer_name)
            for f in files:
                (tmp / "train" / name / f"fer_{fer_name}_{f.name}").symlink_to(f.resolve())
            counts["train"][name] += len(files)
        atomic_write_json(tmp / "counts.json", counts)
    return counts


class _SplitWriter:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "images").mkdir(parents=True, exist_ok=True)
        (root / "labels").mkdir(parents=True, exist_ok=True)
        self.counts: collections.Counter = collections.Counter()
        self.groups: set[str] = set()
        self.images = 0

    def write(self, stem: str, img: np.ndarray, xyxy: np.ndarray, cls: np.ndarray, group: str) -> None:
        h, w = img.shape[:2]
        cv2.imwrite(str(self.root / "images" / f"{stem}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
        lines = [format_yolo_line(c, b) for c, b in zip(cls, xyxy_to_xywhn(xyxy, (w, h)), strict=True)]
        (self.root / "labels" / f"{stem}.txt").write_text("".join(f"{ln}\n" for ln in lines))
        self.counts.update(NAMES[int(c)] for c in cls)
        self.groups.add(group)
        self.images += 1

    def summary(self) -> dict:
        return {"images": self.images, "boxes": dict(self.counts), "groups": len(self.groups)}


def _scene_faces(scene_dir: Path, img_path: Path) -> tuple[np.ndarray, np.ndarray]:
    img, xyxy, _ = _scene_faces_with_classes(scene_dir, img_path)
    return img, xyxy


def _scene_faces_with_classes(scene_dir: Path, img_path: Path,
                              num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    img = cv2.imread(str(img_path))
    if img is None:
        raise DatasetError(img_path, "unreadable image")
    h, w = img.shape[:2]
    rows = read_label_file(scene_dir / "labels" / f"{img_path.stem}.txt", num_classes=num_classes)
    xyxy = xywhn_to_xyxy(np.array([r.xywhn for r in rows]).reshape(-1, 4), (w, h))
    return img, xyxy, np.array([r.class_id for r in rows], dtype=int)


def _image_wh(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as im:
            return im.size
    except OSError as exc:
        raise DatasetError(path, f"unreadable image ({exc})") from None


def write_review_sheets(scene_dir: Path, cls_weights: Path, out: Path, per_sheet: int = 40) -> Path:
    """Numbered contact sheets of every boxed face with the classifier's smile probability.

    A reviewer reads them and writes the review CSV (``image,face,label``) that
    :func:`build_scene_test` applies; ``review_faces.csv`` lists the numbering.

    Example:
        >>> # write_review_sheets(Path("../shared/data/faces-in-scenes/test"), Path("cls.pt"), Path("review"))
    """
    classifier = CropClassifier(cls_weights, dict(enumerate(NAMES)), flip=False)  # as the labels were made
    tiles, rows_out = [], ["n,image,face,width_px,p_smile"]
    for img_path in tqdm(list_images(scene_dir / "images"), desc="review sheets", unit="img"):
        img, xyxy = _scene_faces(scene_dir, img_path)
        probs = classifier.probs(img, xyxy)
        for i, (box, p) in enumerate(zip(xyxy, probs, strict=True)):
            n = len(tiles)
            tiles.append(_face_tile(img, box, f"{n} {int(box[2] - box[0])}px s{p[1]:.2f}", side=128, context=1.4))
            rows_out.append(f"{n},{img_path.name},{i},{int(box[2] - box[0])},{p[1]:.2f}")
    with atomic_dir(out) as tmp:
        _write_sheets(tiles, tmp, prefix="review", cols=10, rows=per_sheet // 10)
        (tmp / "review_faces.csv").write_text("\n".join(rows_out) + "\n")
    return out


def paint_box(img: np.ndarray, xyxy: np.ndarray) -> None:
    """Fill a box of a BGR image, in place, with the box's median colour.

    A face that cannot be labelled is painted rather than left in: left in without a box it
    would teach (or score) the detector that a face is background.

    Example:
        >>> img = np.zeros((4, 4, 3), np.uint8); img[1:3, 1:3] = 9
        >>> paint_box(img, np.array([1, 1, 3, 3])); int(img[1, 1, 0])
        9
    """
    x1, y1, x2, y2 = (int(round(v)) for v in xyxy)
    patch = img[max(0, y1):max(0, y2), max(0, x1):max(0, x2)]
    if patch.size:
        patch[:] = np.median(patch.reshape(-1, 3), axis=0).astype(np.uint8)


@dataclass(frozen=True)
class AutoLabelRule:
    """When a classifier's smile probability is trusted as a label for a real scene face.

    Attributes:
        neutral_below: ``p_smile <= neutral_below`` labels the face neutral.
        smile_above: ``p_smile >= smile_above`` labels it smile.
        min_width_px: Narrower faces are painted: the mouth is a few pixels, no label is
            reliable.

    Checked on the by-eye reviewed ``faces-in-scenes/test`` (45 usable faces): at 0.15/0.85 the
    classifier labels 24 of them and 20 of those (83 %) agree with the reviewer. Masked faces
    are the weak spot: the classifier never saw one and calls some of them confidently (a
    white mask can pass for teeth), which is why smile needs 0.9.
    """

    neutral_below: float = 0.15
    smile_above: float = 0.9
    min_width_px: float = 20.0

    def label(self, p_smile: float, width_px: float) -> int | None:
        """Class id (0 neutral, 1 smile) or ``None`` (paint the face).

        Example:
            >>> rule = AutoLabelRule()
            >>> [rule.label(p, 50) for p in (0.1, 0.5, 0.95)], rule.label(0.95, 10)
            ([0, None, 1], None)
        """
        if width_px < self.min_width_px:
            return None
        if p_smile <= self.neutral_below:
            return 0
        if p_smile >= self.smile_above:
            return 1
        return None


def _as_classifier(classifier: Path | CropClassifier) -> CropClassifier:
    if not isinstance(classifier, Path):
        return classifier
    if not classifier.is_file():
        raise ModelError(classifier, "no such crop classifier file")
    # Single crops, as when the shipped real-scene labels and their agreement figures were measured.
    return CropClassifier(classifier, dict(enumerate(NAMES)), flip=False)


def build_real_scenes(scene_root: Path, classifier: Path | CropClassifier, out: Path,
                      rule: AutoLabelRule | None = None, mirror_train: bool = True,
                      reviews: dict[str, Path] | None = None) -> dict:
    """Real scene pictures with their real faces labelled by a smile/neutral crop classifier or by eye.

    ``scene_root`` is a one-class ``face`` export (``train/``, ``valid/``): train pictures go
    to ``out/train`` (plus a mirrored copy, which doubles their weight beside the composites),
    valid ones to ``out/val``. Confident faces keep their box with the classifier's class,
    the others are painted (:func:`paint_box`). ``reviews`` maps a split folder (``"train"``,
    ``"valid"``) to a by-eye review (:func:`read_review`, e.g. :data:`SCENE_TRAIN_REVIEW_CSV`)
    that labels that split instead of the classifier: every face must be in it, ``unusable``
    ones are painted. The test split is not touched: it is scored with by-eye labels
    (:func:`build_scene_test`). Contact sheets of every labelled face (``review/``) let a
    person check the labels.

    Example:
        >>> # build_real_scenes(Path("../shared/data/faces-in-scenes"), Path("weights/smile-neutral-cls.pt"),
        >>> #                   Path("datasets/real-scenes"))
    """
    rule = rule or AutoLabelRule()
    source = str(classifier) if isinstance(classifier, Path) else type(classifier).__name__
    classifier = _as_classifier(classifier)
    reviews = reviews or {}
    report: dict = {"source": str(scene_root), "classifier": source, "rule": asdict(rule),
                    "reviews": {k: str(v) for k, v in reviews.items()}, "splits": {}}
    with atomic_dir(out) as tmp:
        for split, folder in (("train", "train"), ("val", "valid")):
            scene_dir = _export_folder(scene_root, folder)
            review = read_review(reviews[folder]) if folder in reviews else None
            writer = _SplitWriter(tmp / split)
            painted, tiles = 0, []
            for img_path in tqdm(list_images(scene_dir / "images"), desc=f"real scenes {split}", unit="img"):
                img, xyxy = _scene_faces(scene_dir, img_path)
                probs = classifier.probs(img, xyxy) if len(xyxy) else np.zeros((0, 2))
                classes: list[int | None] = []
                for i, (box, p) in enumerate(zip(xyxy, probs, strict=True)):
                    if review is None:
                        classes.append(rule.label(float(p[1]), float(box[2] - box[0])))
                    else:
                        classes.append(_reviewed_class(review, reviews[folder], img_path.name, i))
                    if classes[-1] is not None:
                        tiles.append(_face_tile(img, box, f"{NAMES[classes[-1]][0]} {p[1]:.2f}"))
                painted += _write_scene(writer, img_path.stem, img, xyxy, classes,
                                        mirror=split == "train" and mirror_train)
            _write_sheets(tiles, tmp / "review", prefix=split)
            report["splits"][split] = {**writer.summary(), "painted_faces": painted}
        atomic_write_json(tmp / "real_scenes_report.json", report)
        _write_scene_yaml(tmp, out, train="train", val="val", test="val")
    return report


def _export_folder(scene_root: Path, folder: str) -> Path:
    scene_dir = scene_root / folder
    if not (scene_dir / "images").is_dir():
        raise DatasetError(scene_dir, "expected an images/ folder of a one-class face export")
    return scene_dir


def _inputs_sha256(files: list[Path], folders: list[Path], params: dict) -> str:
    # File contents for the small label files; names and sizes for the image folders, since
    # hashing a thousand pictures on every scoring run costs more than the rebuild it saves.
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode())
    for path in files:
        digest.update(path.name.encode() + hashlib.sha256(path.read_bytes()).digest())
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            digest.update(f"{path.relative_to(folder)}:{path.stat().st_size}".encode())
    return digest.hexdigest()


def _write_scene_yaml(tmp: Path, out: Path, *, train: str, val: str, test: str) -> None:
    # Written inside atomic_dir's temporary folder, but pointing at where ``out`` will be.
    (tmp / "data.yaml").write_text(yaml.safe_dump(
        {"path": str(out.resolve()), "train": f"{train}/images", "val": f"{val}/images", "test": f"{test}/images",
         "names": dict(enumerate(NAMES))}, sort_keys=False))


def _write_scene(writer: _SplitWriter, stem: str, img: np.ndarray, xyxy: np.ndarray,
                 classes: list[int | None], *, mirror: bool) -> int:
    # Faces without a class are painted (in place), the others written; returns how many were painted.
    keep = np.array([c is not None for c in classes], dtype=bool)
    for box in xyxy[~keep] if len(xyxy) else []:
        paint_box(img, box)
    boxes = xyxy[keep].reshape(-1, 4) if len(xyxy) else np.zeros((0, 4))
    cls_arr = np.array([c for c in classes if c is not None], dtype=int)
    writer.write(stem, img, boxes, cls_arr, group=stem)
    if mirror:
        flipped = boxes.copy()
        flipped[:, [0, 2]] = img.shape[1] - boxes[:, [2, 0]]
        writer.write(f"{stem}_mirror", img[:, ::-1].copy(), flipped, cls_arr, group=stem)
    return int((~keep).sum())


def read_identities(path: Path) -> dict[tuple[str, str], str]:
    """Read who is in each scene picture: ``(export folder, image) -> identity`` (``one-off`` = nobody else).

    Example:
        >>> ids = read_identities(SCENE_IDENTITIES_CSV)
        >>> ids[("test", "IMG_4921-2_mp4-103_jpg.rf.a9b7f68eb84f0ffee9bdc886e5557cd1.jpg")]
        'mohamed'
    """
    if not path.is_file():
        raise DatasetError(path, "identity file not found")
    lines = [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]
    out = {}
    for lineno, row in enumerate(csv.DictReader(lines), start=2):
        if not row.get("split") or not row.get("image") or not row.get("identity"):
            raise DatasetError(path, f"row {lineno}: expected split,image,identity")
        out[(row["split"], row["image"])] = row["identity"]
    return out


def usable_scene_faces(reviews: dict[str, dict[tuple[str, int], str]]) -> dict[tuple[str, str], list[str]]:
    """The labels of the usable faces per picture, ``(export folder, image) -> [label, ...]``, from read reviews.

    Pictures whose faces are all ``unusable`` are left out; labels are in face order.

    Example:
        >>> usable_scene_faces({"test": {("a.jpg", 1): "smile", ("a.jpg", 0): "neutral", ("b.jpg", 0): "unusable"}})
        {('test', 'a.jpg'): ['neutral', 'smile']}
    """
    faces: dict[tuple[str, str], list[str]] = {}
    for folder, review in reviews.items():
        for (image, _), label in sorted(review.items()):
            if label != "unusable":
                faces.setdefault((folder, image), []).append(label)
    return faces


def scene_source_video(image: str) -> str | None:
    """The video an exported frame was cut from (``<video>_mp4-<frame>...``), or None for a photo.

    Roboflow names a video's frames ``<video>_<ext>-<frame index>`` before its own ``_jpg.rf.<hash>``.

    Example:
        >>> scene_source_video("gravitate-faces_mp4-143_jpg.rf.2fb8124dad3e2f6c4dc6ef7788c481a5.jpg")
        'gravitate-faces'
        >>> scene_source_video("Mohamed-Image-from-iOS_MOV-8_jpg.jpg")
        'Mohamed-Image-from-iOS'
        >>> scene_source_video("istockphoto-1270066655-612x612_jpg.rf.5998.jpg") is None
        True
    """
    match = re.match(r"(.+?)_(?:mp4|mov|avi|webm)-\d+_", image, flags=re.IGNORECASE)
    return match.group(1) if match else None


def person_disjoint_scene_split(faces: dict[tuple[str, str], list[str]], identities: dict[tuple[str, str], str],
                                seed: int = 0, ratios: tuple[float, float, float] = (0.6, 0.2, 0.2)
                                ) -> dict[tuple[str, str], str]:
    """Assign scene pictures with usable faces to train/val/test so that no person or video straddles two.

    ``faces`` maps ``(export folder, image)`` to its usable faces' labels. Pictures are one group
    when they share an identity (``one-off`` shares with nobody) or a source video
    (:func:`scene_source_video`), transitively; groups are split by
    :func:`detector.split.split_groups` (stratified by class, largest first, deterministic for a seed).

    Raises:
        KeyError: A picture with usable faces has no identity.

    Example:
        >>> faces = {("train", f"{p}{i}.jpg"): ["smile" if p in "bd" else "neutral"] for p in "abcde" for i in range(3)}
        >>> out = person_disjoint_scene_split(faces, {key: key[1][0] for key in faces})
        >>> len({out[("train", f"a{i}.jpg")] for i in range(3)})
        1
    """
    keys = sorted(faces)
    parent = {key: key for key in keys}

    def root(key: tuple[str, str]) -> tuple[str, str]:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    first: dict[tuple[str, str], tuple[str, str]] = {}
    for key in keys:
        identity = identities[key]
        links = [("video", video)] if (video := scene_source_video(key[1])) else []
        if identity != "one-off":
            links.append(("identity", identity))
        for link in links:
            if link in first:
                parent[root(key)] = root(first[link])
            else:
                first[link] = key
    items = [SplitItem(f"{key[0]}/{key[1]}", "/".join(root(key)), tuple(faces[key])) for key in keys]
    assignment = split_groups(items, ratios, seed=seed)
    return {key: assignment[f"{key[0]}/{key[1]}"] for key in keys}


def build_person_disjoint_scenes(scene_root: Path, out: Path, *, reviews: dict[str, Path] | None = None,
                                 identities: Path | None = None, seed: int = 0,
                                 ratios: tuple[float, float, float] = (0.6, 0.2, 0.2),
                                 mirror_train: bool = True, reuse: bool = False) -> dict:
    """Real scenes with by-eye labels, re-split so that no person is in two of train, val and test.

    The export's own splits share people (session 27), so a model trained on its ``train/`` is
    scored on the same people in ``valid/`` and ``test/``. Here every face of ``train/``,
    ``valid/`` and ``test/`` takes its label from the by-eye reviews (``unusable`` faces are
    painted) and every picture with a usable face goes where :func:`person_disjoint_scene_split`
    puts its identity; pictures without one stay in their export split. Train pictures get a
    mirrored copy, as in :func:`build_real_scenes`. Writes ``out/{train,val,test}`` and a
    ``data.yaml`` whose ``test`` is the person-disjoint real-scene test set.

    With ``reuse``, an ``out`` built from the same inputs (the report's ``inputs_sha256``: the
    reviews, the identities, the export's file names and sizes, seed, ratios, mirroring) is
    left as it is and its report returned, so scoring does not swap the folder under a
    training that reads it.

    Example:
        >>> # build_person_disjoint_scenes(Path("../shared/data/faces-in-scenes"),
        >>> #                              Path("datasets/real-scenes-by-person"))
    """
    reviews = reviews or SCENE_REVIEWS
    identities = identities or SCENE_IDENTITIES_CSV
    export_split = {"train": "train", "valid": "val", "test": "test"}
    read = {folder: read_review(path) for folder, path in reviews.items()}
    if set(read) != set(export_split):
        raise DatasetError(scene_root, f"expected reviews of train, valid and test, got {sorted(read)}")
    faces = usable_scene_faces(read)
    ids = read_identities(identities)
    missing = sorted(key for key in faces if key not in ids)
    if missing:
        raise DatasetError(identities, f"no identity for {len(missing)} pictures with usable faces, "
                                       f"e.g. {missing[0][0]}/{missing[0][1]}")
    fingerprint = _inputs_sha256([*reviews.values(), identities],
                                 [_export_folder(scene_root, folder) for folder in export_split],
                                 # "format": raise it when this function's output changes.
                                 {"seed": seed, "ratios": list(ratios), "mirror_train": mirror_train, "format": 1})
    if reuse and (out / "real_scenes_report.json").is_file():
        old = json.loads((out / "real_scenes_report.json").read_text())
        if old.get("inputs_sha256") == fingerprint:
            return old
    where = person_disjoint_scene_split(faces, ids, seed=seed, ratios=ratios)
    report: dict = {"source": str(scene_root), "reviews": {k: str(v) for k, v in reviews.items()},
                    "identities": str(identities), "seed": seed, "ratios": list(ratios),
                    "inputs_sha256": fingerprint, "splits": {}, "identities_per_split": {}}
    with atomic_dir(out) as tmp:
        writers = {split: _SplitWriter(tmp / split) for split in ("train", "val", "test")}
        painted: collections.Counter = collections.Counter()
        people: dict[str, set[str]] = collections.defaultdict(set)
        for folder, split in export_split.items():
            scene_dir = _export_folder(scene_root, folder)
            for img_path in tqdm(list_images(scene_dir / "images"), desc=f"scenes {folder}", unit="img"):
                img, xyxy = _scene_faces(scene_dir, img_path)
                classes = [_reviewed_class(read[folder], reviews[folder], img_path.name, i) for i in range(len(xyxy))]
                target = where.get((folder, img_path.name), split)
                if (folder, img_path.name) in where:
                    people[target].add(ids[(folder, img_path.name)])
                # Export names repeat across folders only by accident; the folder keeps stems unique.
                painted[target] += _write_scene(writers[target], f"{folder}_{img_path.stem}", img, xyxy, classes,
                                                mirror=target == "train" and mirror_train)
        for split, writer in writers.items():
            report["splits"][split] = {**writer.summary(), "painted_faces": painted[split]}
            report["identities_per_split"][split] = sorted(people[split] - {"one-off"})
        atomic_write_json(tmp / "real_scenes_report.json", report)
        _write_scene_yaml(tmp, out, train="train", val="val", test="test")
    return report


def write_mixed_yaml(out: Path, train: list[Path], val: list[Path], test: Path) -> Path:
    """A ``data.yaml`` whose train and val are several image folders (Ultralytics reads lists).

    Example:
        >>> # write_mixed_yaml(Path("datasets/mixed.yaml"), [Path("a/train/images")], [Path("a/val/images")],
        >>> #                  Path("a/test/images"))
    """
    text = yaml.safe_dump({"train": [str(p.resolve()) for p in train], "val": [str(p.resolve()) for p in val],
                           "test": str(test.resolve()), "names": dict(enumerate(NAMES))}, sort_keys=False)
    atomic_write_text(out, text)
    return out


def _face_tile(img: np.ndarray, box: np.ndarray, text: str, side: int = 96, context: float = 1.3) -> np.ndarray:
    # Some context around the box helps a reviewer judge masks, hands and blur.
    h, w = img.shape[:2]
    cx, cy, s = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, max(box[2] - box[0], box[3] - box[1]) * context
    crop = img[int(max(0, cy - s / 2)):int(min(h, cy + s / 2)), int(max(0, cx - s / 2)):int(min(w, cx + s / 2))]
    if crop.size == 0:
        crop = np.zeros((side, side, 3), np.uint8)
    tile = cv2.copyMakeBorder(cv2.resize(crop, (side, side)), 14, 0, 0, 0, cv2.BORDER_CONSTANT, value=0)
    cv2.putText(tile, text, (2, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1)
    return tile


def _write_sheets(tiles: list[np.ndarray], out: Path, prefix: str, cols: int = 12, rows: int = 8) -> None:
    out.mkdir(parents=True, exist_ok=True)
    per = max(cols * rows, cols)
    for k in range(0, len(tiles), per):
        chunk = tiles[k:k + per] + [np.zeros_like(tiles[0])] * (per - len(tiles[k:k + per]))
        grid = np.vstack([np.hstack(chunk[r:r + cols]) for r in range(0, per, cols)])
        cv2.imwrite(str(out / f"{prefix}_{k // per:02d}.png"), grid)


REVIEW_CSV = Path(__file__).resolve().parent / "assets" / "scene_test_review.csv"
# By-eye reviews of faces-in-scenes train/ and valid/ (session 27): of the faces the classifier
# rule labelled, 74 % were masked, blurred, tiny or turned away, and of the rest 74 % agreed.
SCENE_TRAIN_REVIEW_CSV = REVIEW_CSV.with_name("scene_train_review.csv")
SCENE_VAL_REVIEW_CSV = REVIEW_CSV.with_name("scene_val_review.csv")
# Who is in which scene picture (by eye, session 27), for splits that keep each person on one side.
SCENE_IDENTITIES_CSV = REVIEW_CSV.with_name("scene_identities.csv")
# The by-eye review of each faces-in-scenes export folder.
SCENE_REVIEWS = {"train": SCENE_TRAIN_REVIEW_CSV, "valid": SCENE_VAL_REVIEW_CSV, "test": REVIEW_CSV}


def _reviewed_class(review: dict[tuple[str, int], str], path: Path, image: str, face: int) -> int | None:
    label = review.get((image, face))
    if label is None:
        raise DatasetError(path, f"no review for face {face} of {image}")
    return None if label == "unusable" else NAMES.index(label)


def read_review(path: Path) -> dict[tuple[str, int], str]:
    """Read a by-eye review: ``(image, face row) -> smile | neutral | unusable``.

    Example:
        >>> review = read_review(REVIEW_CSV)
        >>> sorted(set(review.values()))
        ['neutral', 'smile', 'unusable']
    """
    return {(row["image"], int(row["face"])): row["label"] for row in _review_rows(path)}


def _review_rows(path: Path, columns: list[str] | None = None) -> list[dict[str, str]]:
    # The by-eye review files share one format: '#' comment lines, then a CSV with a label column.
    if not path.is_file():
        raise DatasetError(path, "review file not found")
    lines = [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]
    reader = csv.DictReader(lines)
    if columns is not None and reader.fieldnames != columns:
        raise DatasetError(path, f"expected the columns {','.join(columns)}, got {reader.fieldnames}")
    rows = list(reader)
    for lineno, row in enumerate(rows, start=2):
        if row.get("label") not in (*NAMES, "unusable"):
            raise DatasetError(path, f"row {lineno}: label must be smile, neutral or unusable, "
                                     f"got {row.get('label')!r}")
    return rows


def autolabel_agreement(labelled_dir: Path, classifier: Path | CropClassifier,
                        rule: AutoLabelRule | None = None) -> dict:
    """How far :class:`AutoLabelRule` labels from a crop classifier agree with human labels.

    ``labelled_dir`` holds ``images/`` and ``labels/`` with human class labels (for example the
    ``test`` folder :func:`build_scene_test` writes from the by-eye review). Every labelled face
    is classified on its box; the rule either labels it (and it agrees with the human or not) or
    leaves it out, as :func:`build_real_scenes` would paint it.

    Example:
        >>> # autolabel_agreement(Path("datasets/scene-test/test"), Path("weights/smile-neutral-cls.pt"))
        >>> # {'faces': 45, 'argmax_right': 31, 'labelled': 33, 'agree': 29, ...}
    """
    if not (labelled_dir / "images").is_dir():
        raise DatasetError(labelled_dir, "expected images/ and labels/ with human class labels")
    rule = rule or AutoLabelRule()
    classifier = _as_classifier(classifier)
    faces = argmax_right = labelled = agree = 0
    for img_path in list_images(labelled_dir / "images"):
        img, xyxy, human = _scene_faces_with_classes(labelled_dir, img_path, num_classes=len(NAMES))
        if not len(xyxy):
            continue
        for truth, box, p in zip(human, xyxy, classifier.probs(img, xyxy), strict=True):
            faces += 1
            argmax_right += int(int(p[1] >= 0.5) == truth)
            cls = rule.label(float(p[1]), float(box[2] - box[0]))
            if cls is not None:
                labelled += 1
                agree += int(cls == truth)
    return {"faces": faces, "argmax_right": argmax_right, "labelled": labelled, "agree": agree,
            "agree_share": agree / labelled if labelled else None, "rule": asdict(rule)}


def build_scene_test(scene_dir: Path, out: Path, review_csv: Path = REVIEW_CSV) -> dict:
    """A scene test set from a one-class ``face`` split and a by-eye review of its faces.

    Faces reviewed as smile/neutral keep their box with that class. Faces marked unusable
    (masks, blur, profiles) cannot be scored, so they are painted over with their median
    colour: left in, any detection of them would count as a false positive. Every face of
    the split must be in the review; a missing one is an error.

    Example:
        >>> # build_scene_test(Path("../shared/data/faces-in-scenes/test"), Path("datasets/scene-test"))
    """
    review = read_review(review_csv)
    painted = 0
    with atomic_dir(out) as tmp:
        writer = _SplitWriter(tmp / "test")
        for img_path in tqdm(list_images(scene_dir / "images"), desc="scene test", unit="img"):
            img, xyxy = _scene_faces(scene_dir, img_path)
            classes = [_reviewed_class(review, review_csv, img_path.name, i) for i in range(len(xyxy))]
            painted += _write_scene(writer, img_path.stem, img, xyxy, classes, mirror=False)
        report = {"source": str(scene_dir), "review": str(review_csv), "painted_unusable_faces": painted,
                  **writer.summary()}
        atomic_write_json(tmp / "scene_test_report.json", report)
        # train/val point at the test images only because Ultralytics' checks require the keys.
        _write_scene_yaml(tmp, out, train="test", val="test", test="test")
    return report


# The shipped model's training arguments, in one place: `exprdet ship` uses them and the
# model card quotes them.
# imgsz 96: 160 px for 14 epochs (session 33's b35, `exprdet ship --classifier-imgsz 160`) sat at chance for 10
# epochs, ended at 89.3 % on its validation crops against 93.1 %, and its detector lost on small faces.
CLASSIFIER_ARGS: dict = {
    "model": "yolo11n-cls.yaml", "imgsz": 96, "epochs": 24, "batch": 64, "seed": 0, "threads": 2,
    "overrides": {"auto_augment": None, "erasing": 0.0, "scale": 0.1, "fliplr": 0.5,
                  "hsv_h": 0.0, "hsv_s": 0.3, "hsv_v": 0.3, "cos_lr": True, "warmup_epochs": 1,
                  "deterministic": False},
}
DETECTOR_ARGS: dict = {
    # threads=2: on an idle 2-core machine a detector batch takes 1.06 s instead of 1.70 s
    # (`exprdet bench-train`, docs/train_eval.md), so the time cap buys ~1.6x the epochs.
    "model": "yolo11n.yaml", "imgsz": 320, "epochs": 20, "batch": 16, "seed": 0, "threads": 2,
    # freeze=9 keeps the classifier's backbone (layers 0-8) as it is: trained end to end, the
    # detector stayed at chance between smile and neutral after 4 epochs (0.48 on test photos);
    # frozen, it was at 0.61 after 2. cls=2.0 weights the class loss, mosaic=0.5 keeps faces larger.
    # time (hours) caps the stage; with `epochs` Ultralytics re-plans the run to fill it after the
    # first epoch. v9 (session 18) ran time=1.2 here and 0.6 in FINETUNE_ARGS: 4,399 + 2,230 s, with
    # the classifier's 625 s 2 h 1 min, the overshoot being the final validation after each cap.
    # The caps below are that run's minus 2.4 minutes so that a rerun ends inside the issue's
    # 2 hours (~0.6 of an epoch fewer here, ~0.3 in stage two). v8 ran time=1.5 (2 h 25 min total).
    # val=False: no validation after each epoch (~23 s of ~225 s at 320 px) buys ~1.5 more epochs;
    # Ultralytics still validates at the end, and stage two validates every epoch to pick best.pt.
    # v9's stage one ended at validation mAP50 0.803 after 21 epochs in 73 minutes, as high as
    # v7's whole 90-minute run (0.801).
    # unfreeze: after 30 % of the run layers 3-8 train too (detector.train.unfreeze_callback); a
    # frozen 96 px backbone left v5 underfit on close-ups (88 % on its own training photos), and
    # unfrozen epochs gained most per second in sessions 8-9. v6 unfroze after 50 % (9 unfrozen
    # epochs of 21); v7's 30 % (16 of 24) reached val mAP50 0.801 against 0.784.
    # 20 % (session 13, 18 of 23) tied: val mAP50 0.802, photos +0.2 points, composites -2.5.
    # cache="ram" is what v6-v9 ran with; `exprdet bench-train` measured no speed-up from it
    # (0.63 s/batch either way at 2 threads).
    "overrides": {"close_mosaic": 2, "warmup_epochs": 1, "cls": 2.0, "freeze": 9, "mosaic": 0.5, "time": 1.18,
                  "val": False, "cache": "ram"},
    "unfreeze": {"after": 0.3, "keep_frozen": 3},
}

# Stage two (v8, session 15): a warm restart of the trained detector on the same data. The first
# run ends with its learning rate decayed to ~1 % of the start; ten more epochs from a third of
# the first run's AdamW rate (0.0005 against 0.00167) and a short warm-up took validation mAP50
# from 0.801 to 0.815 and nudged every validation set up (photos 92.6 -> 92.9 % right, composites
# 70.4 -> 70.6 %, real-scene val 48.0 -> 49.7 %). freeze=3: layers 0-2 stay as the first run left
# them (frozen there too). 10 epochs take ~45 minutes on an idle 2-core machine.
# v8's recipe (stage one capped at 1.5 h, this stage 10 full epochs) trained for ~2 h 25 min. Capping
# both to fit 2 hours (time=1.0 and 0.5, session 16) ended lower on validation, mAP50 0.794 against
# 0.815; a first stage at 256 px before the restart at 320 px reached 0.801 but lost 1.4 points on the
# validation photos (session 17). v9 (session 18) spends the unused minutes (time=1.2 and 0.6) and
# drops stage one's per-epoch validation: validation mAP50 0.809, photos 93.3 % right against v8's
# 92.9 %, composites 70.3 % (70.6 %), real-scene val 51.7 % (49.7 %). Cap trimmed as explained above.
FINETUNE_ARGS: dict = {
    "imgsz": 320, "epochs": 10, "batch": 16, "seed": 0, "threads": 2,
    "overrides": {"optimizer": "AdamW", "lr0": 0.0005, "warmup_epochs": 0.5, "close_mosaic": 2, "cls": 2.0,
                  "mosaic": 0.5, "freeze": 3, "cache": "ram", "time": 0.58},
}


# What the two final validations (detector and warm restart) add to their time caps, in seconds:
# Ultralytics checks a cap after each epoch and validates after stopping; b26 (session 26) overshot
# its caps by 210 s.
FINAL_VALIDATION_S = 240.0

# Training precisions of the detector stages (`exprdet ship --precision`): float32 is the recipe's.
# bf16 (session 34): `exprdet bench-train ... amp=bf16` on this machine's AVX512-BF16 CPU, 2 threads,
# 0.48 s per batch of 16 at 320 px against 0.70 in float32 (1.46x). Run b36 (`ship --precision bf16`) trained
# 31 + 12 epochs instead of 21 + 9 in 2 h and ended at validation photos 92.9 % (v9 93.3), not past its rule.
# Its seed-1 rerun b37 (session 35) scored 91.6 %: the same spread as float32, so the recipe stays float32.
PRECISIONS = ("bf16",)


def yolo11_yamls(width: float, out_dir: Path, *, depth: float = 0.5) -> tuple[Path, Path]:
    """Write YOLO11 detector and classifier yamls with two classes at one width; return their paths.

    The same width for both, so the classifier's backbone loads into the detector. YOLO11n is
    ``depth=0.5, width=0.25``; session 26 tried 0.3125 (session 27 started 0.1875, then stopped it).

    Example:
        >>> import tempfile
        >>> det, cls = yolo11_yamls(0.1875, Path(tempfile.mkdtemp()))
        >>> det.name, cls.name
        ('yolo11n.yaml', 'yolo11n-cls.yaml')
    """
    import ultralytics

    if not 0 < width <= 1 or not 0 < depth <= 1:
        raise ValueError(f"width and depth must be in (0, 1], got width={width}, depth={depth}")
    root = Path(ultralytics.__file__).parent / "cfg" / "models" / "11"
    paths = []
    for src, dst in (("yolo11.yaml", "yolo11n.yaml"), ("yolo11-cls.yaml", "yolo11n-cls.yaml")):
        cfg = yaml.safe_load((root / src).read_text())
        # One scale named n, so Ultralytics takes it for a file called yolo11n*.yaml.
        cfg = {**cfg, "nc": len(NAMES), "scales": {"n": [depth, width, 1024]}}
        atomic_write_text(out_dir / dst, yaml.safe_dump(cfg, sort_keys=False))
        paths.append(out_dir / dst)
    return paths[0], paths[1]


def split_budget(budget_s: float, classifier_s: float, *, final_validation_s: float = FINAL_VALIDATION_S,
                 detector_share: float = 2 / 3) -> tuple[float, float]:
    """Time caps (hours) of the detector and its warm restart that keep the recipe inside a budget.

    What the classifier left of ``budget_s``, less the final validations' overshoot, split
    ``detector_share`` to stage one and the rest to stage two (v9 ran 1.2 h and 0.6 h, 2:1).

    Example:
        >>> split_budget(7200, 900)
        (1.122, 0.561)
    """
    left = budget_s - classifier_s - final_validation_s
    if left <= 0 or not 0 < detector_share < 1:
        raise ValueError(f"nothing left for the detector: budget {budget_s:.0f} s, classifier {classifier_s:.0f} s, "
                         f"final validations {final_validation_s:.0f} s")
    return round(left * detector_share / 3600, 3), round(left * (1 - detector_share) / 3600, 3)


def _trained_seconds(run_dir: Path) -> float | None:
    from detector.train import seconds_at_epoch

    try:
        text = (run_dir / "results.csv").read_text(encoding="utf-8")
    except OSError:
        return None
    epochs = [row.split(",", 1)[0].strip() for row in text.splitlines()[1:] if row.strip()]
    try:
        return seconds_at_epoch(text, int(float(epochs[-1]))) if epochs else None
    except ValueError:
        return None


def dataset_box_convention(dataset: Path) -> str:
    """``"human"`` if the recipe's ``recipe_report.json`` mapped YuNet boxes to human ones, else ``"yunet"``.

    Example:
        >>> # dataset_box_convention(Path("datasets/smile-neutral-scenes"))  # 'human'
    """
    offsets = _read_recipe_report(dataset).get("box_offsets") or [0, 0, 0, 0]
    return "human" if any(float(v) for v in offsets) else "yunet"


def _read_recipe_report(dataset: Path) -> dict:
    path = dataset / "recipe_report.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DatasetError(path, f"cannot read the recipe report ({exc})") from None


def _has_checkpoint(runs: Path, name: str) -> bool:
    return (runs / name / "weights" / "last.pt").is_file()


def photo_review_config(reviewed_photos: str | None, classifier_imgsz: int | None = None) -> RecipeConfig:
    """The data config of ``exprdet ship --reviewed-photos [drop|closeups-first] --classifier-imgsz N``.

    ``reviewed_photos`` None: the dataset's labels; ``classifier_imgsz`` None: the recipe's 112 px crops.

    Example:
        >>> photo_review_config("closeups-first").review_use
        'closeups-first'
        >>> photo_review_config(None).train_review is None, photo_review_config(None, 160).classifier_crop
        (True, 187)
    """
    crop = RecipeConfig.classifier_crop if classifier_imgsz is None else classifier_crop_side(classifier_imgsz)
    if reviewed_photos is None:
        return RecipeConfig(classifier_crop=crop)
    return RecipeConfig(train_review=TRAIN_PHOTO_REVIEW_CSV, review_use=reviewed_photos, classifier_crop=crop)


def train_shipped_model(shared: Path, out_weights: Path, *, dataset: Path, runs: Path,
                        epochs: int | None = None, threads: int | None = None, width: float | None = None,
                        budget_hours: float | None = None, reviewed_scenes: bool = False,
                        person_disjoint_scenes: bool = False, evaluate: bool = True,
                        seed: int | None = None, extra_train: tuple[Path, ...] = (),
                        reviewed_photos: str | None = None, classifier_imgsz: int | None = None,
                        classifier_epochs: int | None = None, precision: str | None = None) -> dict:
    """Rebuild the shipped detector end to end: data recipe, crop classifier, detector, evaluation.

    1. :func:`build_smile_neutral_dataset` into ``dataset`` (skipped when it already exists);
    2. a ``yolo11n-cls`` smile/neutral classifier on ``dataset/classify`` (train people only);
    3. :func:`build_real_scenes`: the real faces of ``faces-in-scenes`` train/valid labelled by
       that classifier, into ``<dataset parent>/real-scenes``, and ``mixed.yaml`` beside it;
    4. ``yolo11n`` from its yaml with the classifier's backbone loaded, on composites, photos
       and real scenes (:data:`DETECTOR_ARGS`), then a warm restart of it on the same data
       (:data:`FINETUNE_ARGS`);
    5. evaluation (with and without the classifier re-classifying boxes) on the test sets of
       :func:`evaluate_shipped_model`;
    6. ``best.pt`` copied to ``out_weights`` and the classifier beside it as ``smile-neutral-cls.pt``.

    Re-running with the same ``runs`` continues where a previous run stopped: a finished classifier
    or detector is reused, an interrupted one resumes from its ``last.pt`` with what is left of
    its time cap (:func:`detector.train.keep_time_budget`). ``threads`` (torch
    threads for every training) defaults to the recipe's 2; ``seed`` replaces the recipe's 0 in every
    training (the dataset build keeps its own seed, so two seeds train on the same data). ``width``
    trains YOLO11 at that width (classifier and detector, :func:`yolo11_yamls`, written to
    ``runs/cfg``) instead of yolo11n's 0.25. ``budget_hours`` replaces the two detector caps by
    :func:`split_budget` of what the classifier's measured time left (its ``results.csv`` when an
    earlier call trained it).
    ``reviewed_scenes`` labels the real scenes by the by-eye reviews (:data:`SCENE_TRAIN_REVIEW_CSV`,
    :data:`SCENE_VAL_REVIEW_CSV`) instead of the classifier, into ``real-scenes-reviewed`` and
    ``mixed-reviewed.yaml``. ``person_disjoint_scenes`` goes further: by-eye labels and a split by
    person (:func:`build_person_disjoint_scenes`, into ``real-scenes-by-person`` and
    ``mixed-by-person.yaml``), so no real-scene person is both trained on and validated on.
    ``extra_train`` adds image folders (with ``labels/`` beside them) to both detector stages'
    training data, in a ``mixed...-extra.yaml`` of its own, for experiments such as session
    22's small colour crops.
    ``reviewed_photos`` builds ``dataset`` with the by-eye review of the training people's photos
    (:data:`TRAIN_PHOTO_REVIEW_CSV`, ``RecipeConfig.train_review``), used as ``RecipeConfig.review_use``
    says: ``"drop"``: their unusable photos leave its close-ups, composites and classifier data;
    ``"closeups-first"``: the training close-ups are drawn first from them. A ``dataset`` already
    built another way is an error, not reused. ``classifier_imgsz`` trains the classifier at that size
    instead of 96 px, on crops of :func:`classifier_crop_side` (a ``dataset`` with other crops is an error
    too); ``classifier_epochs`` replaces its 24 epochs. ``precision="bf16"`` trains both detector stages under
    bfloat16 autocast (:func:`detector.train.cpu_bf16_autocast`; a CPU without native bfloat16 is an error),
    so their time caps fit more epochs; the classifier stays float32. ``evaluate=False`` skips step 5 (for a
    candidate judged on validation before any test set is scored). The
    summary's ``seconds`` gives each stage's training wall time and their ``total`` (what this
    call ran: a stage finished by an earlier call counts 0, a resumed one only its rest).

    Example:
        >>> # train_shipped_model(Path("../shared"), Path("weights/smile-neutral-yolo11n.pt"),
        >>> #                     dataset=Path("datasets/smile-neutral-scenes"), runs=Path("runs/ship"))
    """
    from detector.train import cpu_supports_bf16, tag_box_convention, train, train_classifier, unfreeze_callback

    # ``threads`` and ``seed`` replace the recipe's in every stage.
    given = {k: v for k, v in (("threads", threads), ("seed", seed)) if v is not None}
    cls_args = {**CLASSIFIER_ARGS, **given}
    if classifier_imgsz is not None:
        cls_args["imgsz"] = classifier_imgsz
    if classifier_epochs is not None:
        cls_args["epochs"] = classifier_epochs
    det_args = {**DETECTOR_ARGS, **given}
    fin_args = {**FINETUNE_ARGS, **given}
    if precision is not None:
        if precision not in PRECISIONS:
            raise ModelError(runs, f"precision must be one of {PRECISIONS}, got {precision!r}")
        if precision == "bf16" and not cpu_supports_bf16():
            raise ModelError(runs, "precision bf16 needs a CPU with native bfloat16 (AVX512-BF16 or AMX); "
                                   "this one has none, so train without --precision")
        for stage in (det_args, fin_args):
            stage["overrides"] = {**stage["overrides"], "amp": precision}
    # Bad options fail here, before the dataset build and the classifier's ten minutes.
    try:
        if width is not None:
            det_args["model"], cls_args["model"] = yolo11_yamls(width, runs / "cfg")
        if budget_hours is not None:
            split_budget(budget_hours * 3600, 0.0)
    except ValueError as exc:
        raise ModelError(runs, str(exc)) from None
    config = photo_review_config(reviewed_photos, cls_args["imgsz"])
    for folder in extra_train:
        if not folder.is_dir():
            raise DatasetError(folder, "expected an image folder to add to the detector's training data")
    if not (dataset / "data.yaml").is_file():
        build_smile_neutral_dataset(shared, dataset, config)
    else:
        report = _read_recipe_report(dataset)
        # Reports from before session 32 have no train_review_use: their reviewed builds dropped.
        built = (report.get("train_review"), report.get("train_review_use", report.get("train_review") and "drop"))
        wanted = (config.train_review and config.train_review.name, config.train_review and config.review_use)
        if built != wanted:
            raise DatasetError(dataset / "recipe_report.json",
                               f"built with training-photo review {built[1] or 'none'}, this run needs "
                               f"{wanted[1] or 'none'}; give another --dataset folder")
        # Reports from before session 33 have no classifier_crop: their builds wrote the default's 112 px.
        built_crop = report.get("classifier_crop", RecipeConfig.classifier_crop)
        if built_crop != config.classifier_crop:
            raise DatasetError(dataset / "recipe_report.json",
                               f"classifier crops of {built_crop} px, this run needs "
                               f"{config.classifier_crop} px (classifier imgsz {cls_args['imgsz']}); "
                               "give another --dataset folder")
    classifier = train_classifier(dataset / "classify", cls_args.pop("model"), project=runs, name="classifier",
                                  resume=_has_checkpoint(runs, "classifier"), **cls_args)
    cls_best = classifier.best
    # Per stage, because the budget is on the whole recipe, not on its last stage.
    seconds = {"classifier": classifier.seconds}
    if budget_hours is not None:
        cls_s = classifier.seconds or _trained_seconds(classifier.run_dir) or 0.0
        try:
            cap1, cap2 = split_budget(budget_hours * 3600, cls_s)
        except ValueError as exc:
            raise ModelError(classifier.run_dir, str(exc)) from None
        det_args["overrides"] = {**det_args["overrides"], "time": cap1}
        fin_args["overrides"] = {**fin_args["overrides"], "time": cap2}
    scene_root = shared / "data" / "faces-in-scenes"
    suffix = "-by-person" if person_disjoint_scenes else "-reviewed" if reviewed_scenes else ""
    real = dataset.parent / f"real-scenes{suffix}"
    if person_disjoint_scenes:
        build_person_disjoint_scenes(scene_root, real)
    else:
        reviews = {"train": SCENE_TRAIN_REVIEW_CSV, "valid": SCENE_VAL_REVIEW_CSV} if reviewed_scenes else None
        build_real_scenes(scene_root, cls_best, real, reviews=reviews)
    # Its own yaml name, so an experiment never rewrites the mixed.yaml another run trains on.
    mixed = write_mixed_yaml(dataset.parent / f"mixed{suffix}{'-extra' if extra_train else ''}.yaml",
                             [dataset / "train" / "images", real / "train" / "images", *extra_train],
                             [dataset / "val" / "images", real / "val" / "images"], dataset / "test" / "images")
    unfreeze = det_args.pop("unfreeze", None)
    callbacks = {"on_train_epoch_start": unfreeze_callback(**unfreeze)} if unfreeze else None
    if epochs is not None:
        det_args["epochs"] = epochs
    result = train(mixed, det_args.pop("model"), project=runs, name="detector", backbone=cls_best,
                   resume=_has_checkpoint(runs, "detector"), callbacks=callbacks, **det_args)
    seconds["detector"] = result.seconds
    result = train(mixed, result.best, project=runs, name="finetune", resume=_has_checkpoint(runs, "finetune"),
                   **fin_args)
    seconds["finetune"] = result.seconds
    seconds["total"] = sum(seconds.values())
    # Record the box conventions so the classifier crops the detector's boxes as it learned them.
    tag_box_convention(cls_best, "yunet")
    tag_box_convention(result.best, dataset_box_convention(dataset))
    reports = evaluate_shipped_model(shared, result.best, cls_best, dataset=dataset, runs=runs) if evaluate else {}
    for src, dst in ((result.best, out_weights), (cls_best, out_weights.parent / "smile-neutral-cls.pt")):
        atomic_copy(src, dst)
    return {"classifier": str(cls_best), "detector": str(result.best),
            "seconds": {stage: round(value, 1) for stage, value in seconds.items()},
            "weights": str(out_weights), "reports": reports}


def build_other_people_test(fer_root: Path, out: Path, *, split: str = "test",
                            per_class: int | None = None) -> Path:
    """FER2013's test happy (as ``smile``) and neutral faces as a detection test set; its data.yaml.

    People in none of the shared smile/neutral photos, from another source (48x48 grayscale,
    box = the whole picture), never used for training or for choosing a model: the nearest
    stand-in here for the hidden benchmark's unseen people. FER2013's labels are noisy and its
    box is larger than the human convention the detector draws, so read face accuracy first.
    ``split="train"`` with a ``per_class`` cap (seeded sample) gives a validation set of the same
    kind; the shared copy's train split is strongly blurred, so it reads as "blurred faces".

    Example:
        >>> # build_other_people_test(Path("../shared/data/fer2013"), Path("datasets/other-people-test"))
        >>> # PosixPath('datasets/other-people-test/data.yaml')
    """
    from detector.fer import import_fer2013

    import_fer2013(fer_root, out, splits=(split,), classes=("neutral", "happy"), per_class=per_class,
                   progress=False)
    # happy keeps index 1, so the detector's smile is scored against FER2013's happy.
    data = out / "data.yaml"
    # train/val point at the test images only because Ultralytics' own checks require the keys
    # (as in scene-test); nothing trains on this set.
    atomic_write_text(data, yaml.safe_dump({"path": str(out.resolve()), "train": "images", "val": "images",
                                            "test": "images", "names": dict(enumerate(NAMES))},
                                           sort_keys=False))
    return data


def shipped_test_sets(shared: Path, dataset: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """The recipe's test sets as ``(label, data.yaml)`` pairs, building the ones made from ``shared``.

    Returns the sets and, for each set that cannot be built here, a sentence saying which and why
    (FER2013 is optional in ``shared``; without it the "other people" set is left out and said so;
    so is the person-disjoint real-scene set without ``faces-in-scenes/train`` and ``valid``, and the
    test photos with by-eye labels (:data:`TEST_PHOTO_REVIEW_CSV`) when ``dataset`` is not the
    default build the review names).

    Example:
        >>> # sets, skipped = shipped_test_sets(Path("../shared"), Path("datasets/smile-neutral-scenes"))
        >>> # [label for label, _ in sets]
        >>> # ['test_photos', 'test_photos_reviewed', 'test_composites', 'test_real_scenes',
        >>> #  'test_real_scenes_by_person', 'test_other_people']
    """
    scene_root = shared / "data" / "faces-in-scenes"
    scene_test = dataset.parent / "scene-test"
    build_scene_test(scene_root / "test", scene_test)
    sets = [("test_photos", dataset / "data_crops.yaml")]
    skipped: list[str] = []
    # The by-eye review names the images of the default build (seed 0); another build's test people differ.
    try:
        build_reviewed_photos(dataset / "test_crops", dataset.parent / "photos-reviewed-test", TEST_PHOTO_REVIEW_CSV)
        sets.append(("test_photos_reviewed", dataset.parent / "photos-reviewed-test" / "data.yaml"))
    except DatasetError as err:
        skipped.append(f"test photos with by-eye labels: {err}")
    sets += [("test_composites", dataset / "data.yaml"), ("test_real_scenes", scene_test / "data.yaml")]
    # The export's test/ shares its people with train/ (session 27); the person-disjoint re-split
    # needs all three folders, since its test people come from each of them.
    absent = [folder for folder in ("train", "valid") if not (scene_root / folder / "images").is_dir()]
    if absent:
        skipped.append(f"real scenes, person-disjoint split: {scene_root / absent[0] / 'images'} not found")
    else:
        by_person = dataset.parent / "real-scenes-by-person"
        # reuse: a --person-disjoint-scenes training may be reading this folder while a model is scored.
        build_person_disjoint_scenes(scene_root, by_person, reuse=True)
        sets.append(("test_real_scenes_by_person", by_person / "data.yaml"))
    fer = shared / "data" / "fer2013"
    if fer.is_dir():
        sets.append(("test_other_people", build_other_people_test(fer, dataset.parent / "other-people-test")))
    else:
        skipped.append(f"other people (FER2013 test happy/neutral): {fer} not found")
    return sets, skipped


def evaluate_shipped_model(shared: Path, weights: Path, classifier: Path, *, dataset: Path, runs: Path,
                           imgsz: int | None = None) -> dict[str, dict]:
    """Score a detector (alone and with the crop classifier) on the test sets of the recipe.

    The composites of test people in unseen scenes (``dataset/data.yaml``), the test people's
    photos (``dataset/data_crops.yaml``), the real scenes of ``faces-in-scenes/test`` with
    by-eye labels (rebuilt into ``<dataset parent>/scene-test``), the test split of the
    person-disjoint real scenes (:func:`build_person_disjoint_scenes`, ``<dataset
    parent>/real-scenes-by-person``; fair only for a model trained on that split's train) and, when
    ``shared`` has FER2013, other people's faces (:func:`build_other_people_test`, ``<dataset
    parent>/other-people-test``). Each report folder is
    ``runs/eval_<set>[_classifier]``; ``runs/eval_summary.md`` is the table of them all.

    Example:
        >>> # evaluate_shipped_model(Path("../shared"), Path("weights/smile-neutral-yolo11n.pt"),
        >>> #     Path("weights/smile-neutral-cls.pt"), dataset=Path("datasets/smile-neutral-scenes"),
        >>> #     runs=Path("runs/ship"))
    """
    from detector.evaluate import evaluate_weights

    for name in ("data.yaml", "data_crops.yaml"):
        if not (dataset / name).is_file():
            raise DatasetError(dataset / name, "not found: build the dataset first (exprdet ship --data-only)")
    sets, skipped = shipped_test_sets(shared, dataset)
    reports: dict[str, dict] = {}
    lines = ["| test set | pipeline | images | faces | mAP50 | mAP50-95 | right | wrong class | missed |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for label, data in sets:
        for suffix, clf in (("", None), ("+classifier", classifier)):
            rep = evaluate_weights(weights, data, "test", imgsz=imgsz, classifier=clf,
                                   out=runs / f"eval_{label}{suffix.replace('+', '_')}")
            reports[label + suffix] = rep.to_dict()
            sh = rep.face.shares()
            pct = {k: "-" if v is None else f"{100 * v:.1f} %" for k, v in sh.items()}
            ci = {k: f" ({lo:.3f}-{hi:.3f})" if k != "face_accuracy" else f" ({100 * lo:.1f}-{100 * hi:.1f})"
                  for k, (lo, hi) in rep.intervals.items()}
            lines.append(f"| {label.removeprefix('test_').replace('_', ' ')} | "
                         f"{'one-stage + classifier' if clf else 'one-stage'} | {rep.images} | {rep.instances} | "
                         f"{rep.map50:.3f}{ci.get('map50', '')} | {rep.map50_95:.3f} | "
                         f"{pct['right']}{ci.get('face_accuracy', '')} | {pct['wrong']} | {pct['missed']} |")
    lines.append("\nIn brackets: 95 % bootstrap intervals over images (photos of one person counted as "
                 "independent, so if anything too narrow).")
    lines.extend(f"\nNot scored: {note}" for note in skipped)
    runs.mkdir(parents=True, exist_ok=True)
    atomic_write_text(runs / "eval_summary.md", "\n".join(lines) + "\n")
    atomic_write_json(runs / "eval_summary.json", reports)
    return reports
