"""The recipe for the shipped smile/neutral detector's data, from the shared real data.

Sources (all under ``../shared/data``):

* ``smile-neutral-faces``: 9,841 tight face photos with person ids, boxed by YuNet,
  split 60/20/20 by person (no person in two splits).
* ``faces-in-scenes``: real rooms and streets. Each scene's boxed faces are covered by
  a labelled face of the right split, and a few more are added at 6-40 % of the width.
  Train scenes only feed train, ``valid/`` feeds val, ``test/`` feeds test.
* ``roboflow-facial-emotion-7``: colour single-face pictures, happy -> smile and
  neutral -> neutral, kept in the export's own splits (grouped by source picture).

Outputs a YOLO dataset with ``train``, ``val``, ``test`` (composites of unseen people in
unseen scenes) and ``test_crops`` (the test people's photos as they are).
"""

from __future__ import annotations

import collections
import csv
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import yaml
from PIL import Image
from tqdm import tqdm

from detector.errors import DatasetError
from detector.faces import YuNetFaceFinder
from detector.fileio import atomic_dir, atomic_write_json, list_images
from detector.labels import format_yolo_line, read_label_file, xywhn_to_xyxy, xyxy_to_xywhn
from detector.scenes import FaceSample, compose_scene

NAMES = ["neutral", "smile"]
SPLITS = ("train", "val", "test")


@dataclass
class RecipeConfig:
    """Knobs of the recipe; the defaults are what the shipped model used."""

    seed: int = 0
    ratios: tuple[float, float, float] = (0.6, 0.2, 0.2)
    scene_variants: dict[str, int] = field(default_factory=lambda: {"train": 3, "val": 1, "test": 2})
    crops_per_split: dict[str, int | None] = field(default_factory=lambda: {"train": None, "val": 300})
    roboflow_map: dict[str, str] = field(default_factory=lambda: {"happy": "smile", "neutral": "neutral"})
    max_side: int = 640


def person_split(rows: list[dict[str, str]], ratios: tuple[float, float, float], seed: int,
                 group_key: str = "person", class_key: str = "expression") -> dict[str, str]:
    """Assign every group to one split, balancing each class towards ``ratios``.

    Groups are visited largest first (ties in seeded random order) and each goes to the
    split whose class counts lag their targets most. Returns ``group -> split``.

    Example:
        >>> rows = [{"person": f"p{i}", "expression": "smile" if i % 2 else "neutral"} for i in range(10)]
        >>> sorted(collections.Counter(person_split(rows, (0.6, 0.2, 0.2), 0).values()).items())
        [('test', 2), ('train', 6), ('val', 2)]
    """
    by_group: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in rows:
        by_group[r[group_key]][r[class_key]] += 1
    groups = sorted(by_group)
    random.Random(seed).shuffle(groups)
    groups.sort(key=lambda g: -sum(by_group[g].values()))
    total: collections.Counter = collections.Counter()
    for c in by_group.values():
        total.update(c)
    target = dict(zip(SPLITS, ratios, strict=True))
    current = {s: collections.Counter() for s in SPLITS}
    assign = {}
    for g in groups:
        counts = by_group[g]
        split = max(SPLITS, key=lambda s: sum(n * (target[s] * total[k] - current[s][k])
                                              for k, n in counts.items()))
        assign[g] = split
        current[split].update(counts)
    return assign


def load_smile_neutral(root: Path, finder: YuNetFaceFinder) -> tuple[list[dict[str, str]], list[str]]:
    """Read labels.csv and box each photo's face; returns ``(rows with box, unboxed names)``.

    Example:
        >>> # rows, missed = load_smile_neutral(Path("../shared/data/smile-neutral-faces"), finder)
    """
    csv_path = root / "labels.csv"
    if not csv_path.is_file():
        raise DatasetError(csv_path, "labels.csv not found")
    with csv_path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    missing_cols = {"image", "expression", "person"} - set(rows[0] if rows else {})
    if missing_cols:
        raise DatasetError(csv_path, f"missing columns {sorted(missing_cols)}")
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


def roboflow_singles(root: Path, mapping: dict[str, str]) -> dict[str, list[FaceSample]]:
    """Single-face pictures of the mapped classes from a Roboflow export, per split.

    Example:
        >>> # roboflow_singles(Path("../shared/data/roboflow-facial-emotion-7"), {"happy": "smile"})
    """
    data = yaml.safe_load((root / "data.yaml").read_text())
    names = data["names"] if isinstance(data["names"], list) else [data["names"][k] for k in sorted(data["names"])]
    out: dict[str, list[FaceSample]] = {s: [] for s in SPLITS}
    for split, folder in (("train", "train"), ("val", "valid"), ("test", "test")):
        img_dir = root / folder / "images"
        if not img_dir.is_dir():
            continue
        for img in list_images(img_dir):
            rows = read_label_file(root / folder / "labels" / f"{img.stem}.txt", len(names))
            if len(rows) != 1 or names[rows[0].class_id] not in mapping:
                continue
            w, h = _image_wh(img)
            xyxy = xywhn_to_xyxy(np.array([rows[0].xywhn]), (w, h))[0]
            group = re.sub(r"\.rf\.[0-9a-f]+$", "", img.stem)
            out[split].append(FaceSample(img, tuple(xyxy), NAMES.index(mapping[names[rows[0].class_id]]), group))
    return out


def build_smile_neutral_dataset(shared: Path, out: Path, config: RecipeConfig | None = None,
                                face_model: Path | None = None) -> dict:
    """Write the shipped model's dataset to ``out`` (atomically) and return its report.

    Example:
        >>> # build_smile_neutral_dataset(Path("../shared"), Path("datasets/smile-neutral-scenes"))
    """
    cfg = config or RecipeConfig()
    data = shared / "data"
    finder = YuNetFaceFinder(face_model or shared / "models" / "face_detection_yunet.onnx")
    rows, missed = load_smile_neutral(data / "smile-neutral-faces", finder)
    assign = person_split(rows, cfg.ratios, cfg.seed)
    photos: dict[str, list[FaceSample]] = {s: [] for s in SPLITS}
    for r in rows:
        photos[assign[r["person"]]].append(FaceSample(
            data / "smile-neutral-faces" / "images" / r["image"], tuple(r["box"]),
            NAMES.index(r["expression"]), r["person"]))
    rf = roboflow_singles(data / "roboflow-facial-emotion-7", cfg.roboflow_map)
    rng = np.random.default_rng(cfg.seed)
    report: dict = {"seed": cfg.seed, "unboxed_photos": missed, "splits": {}}
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
            faces = photos[split] + rf[split]
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
                    writer.write(f"scene_{scene.stem}_v{v}", img, xyxy, cls, group=scene.stem)
            # 2. the photos as they are (face fills the frame), as users' head shots look.
            limit = cfg.crops_per_split.get(split)
            pool = faces if limit is None else [faces[i] for i in order[:limit]]
            target = writer if split != "test" else _SplitWriter(tmp / "test_crops")
            for f in tqdm(pool, desc=f"{split} photos", unit="img"):
                img = load(f.image_path)
                target.write(f"photo_{f.image_path.stem}", img, np.array([f.box_xyxy]),
                             np.array([f.class_id]), group=f.group)
            cache.clear()
            report["splits"][split] = writer.summary()
            if split == "test":
                report["splits"]["test_crops"] = target.summary()
        yaml_text = yaml.safe_dump({"path": str(out.resolve()), "train": "train/images", "val": "val/images",
                                    "test": "test/images", "names": dict(enumerate(NAMES))}, sort_keys=False)
        (tmp / "data.yaml").write_text(yaml_text)
        (tmp / "data_crops.yaml").write_text(yaml_text.replace("test: test/images", "test: test_crops/images"))
        atomic_write_json(tmp / "recipe_report.json", report)
    return report


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


def _image_wh(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as im:
            return im.size
    except OSError as exc:
        raise DatasetError(path, f"unreadable image ({exc})") from None


def save_report(report: dict, path: Path) -> None:
    """Write the recipe report as JSON."""
    path.write_text(json.dumps(report, indent=2))


def classify_face_crops(model: object, image: np.ndarray, xyxy: np.ndarray, grow: float = 1.05,
                        gray: bool = True) -> np.ndarray:
    """Smile/neutral probabilities ``(n, 2)`` for face boxes, from an Ultralytics ``-cls`` model.

    Crops are squared and grown by ``grow``; ``gray`` converts them to grayscale because the
    classifier learned from mostly grayscale photos.

    Example:
        >>> # probs = classify_face_crops(YOLO("cls.pt"), frame, boxes)
    """
    h, w = image.shape[:2]
    crops = []
    for x1, y1, x2, y2 in np.asarray(xyxy, np.float64).reshape(-1, 4):
        cx, cy, side = (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1) * grow
        a, b = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
        c, d = int(min(w, cx + side / 2)), int(min(h, cy + side / 2))
        crop = image[b:max(d, b + 1), a:max(c, a + 1)]
        if gray:
            crop = cv2.cvtColor(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        crops.append(crop)
    if not crops:
        return np.zeros((0, len(NAMES)), np.float32)
    results = model.predict(crops, verbose=False)  # type: ignore[attr-defined]
    names = results[0].names
    order = [next(k for k, v in names.items() if v == n) for n in NAMES]
    return np.stack([r.probs.data.cpu().numpy()[order] for r in results]).astype(np.float32)


def label_scenes(scene_dir: Path, cls_weights: Path, out: Path, min_conf: float = 0.8,
                 min_face_px: int = 24) -> dict:
    """Give each boxed face of a one-class ``face`` split a smile/neutral label by a crop classifier.

    Only images whose every face is labelled confidently (``>= min_conf``) and is at least
    ``min_face_px`` wide are kept, so no unlabelled face remains to count as a false
    positive; the rest are listed in the report. Writes ``out/{images,labels}``, a
    ``contact_<class>.png`` sheet per class for review by eye and ``label_report.json``.

    Example:
        >>> # label_scenes(Path("../shared/data/faces-in-scenes/test"), Path("cls.pt"), Path("scene_test"))
    """
    from ultralytics import YOLO

    model = YOLO(str(cls_weights))
    kept, dropped = [], []
    thumbs: dict[int, list[np.ndarray]] = {0: [], 1: []}
    with atomic_dir(out) as tmp:
        writer = _SplitWriter(tmp)
        for img_path in tqdm(list_images(scene_dir / "images"), desc="labelling scenes", unit="img"):
            img = cv2.imread(str(img_path))
            if img is None:
                raise DatasetError(img_path, "unreadable image")
            h, w = img.shape[:2]
            rows = read_label_file(scene_dir / "labels" / f"{img_path.stem}.txt")
            xyxy = xywhn_to_xyxy(np.array([r.xywhn for r in rows]).reshape(-1, 4), (w, h))
            probs = classify_face_crops(model, img, xyxy)
            conf, cls = probs.max(axis=1) if len(probs) else np.zeros(0), probs.argmax(axis=1)
            small = (xyxy[:, 2] - xyxy[:, 0]) < min_face_px
            if np.any(conf < min_conf) or np.any(small):
                dropped.append({"image": img_path.name, "faces": len(xyxy),
                                "unsure": int(np.sum(conf < min_conf)), "small": int(np.sum(small))})
                continue
            writer.write(img_path.stem, img, xyxy, cls, group=img_path.stem)
            kept.append(img_path.name)
            for b, c in zip(xyxy.astype(int), cls, strict=True):
                crop = img[max(0, b[1]):b[3], max(0, b[0]):b[2]]
                if crop.size:
                    thumbs[int(c)].append(cv2.resize(crop, (96, 96)))
        for c, ims in thumbs.items():
            if ims:
                cv2.imwrite(str(tmp / f"contact_{NAMES[c]}.png"), _grid(ims))
        report = {"kept": len(kept), "dropped": dropped, "min_conf": min_conf,
                  "boxes": writer.summary()["boxes"], "classifier": str(cls_weights)}
        atomic_write_json(tmp / "label_report.json", report)
        (tmp / "data.yaml").write_text(yaml.safe_dump(
            {"path": str(out.resolve()), "train": "images", "val": "images", "test": "images",
             "names": dict(enumerate(NAMES))}, sort_keys=False))
    return report


def _grid(images: list[np.ndarray], cols: int = 10) -> np.ndarray:
    rows = []
    for i in range(0, len(images), cols):
        row = images[i:i + cols]
        row += [np.zeros_like(images[0])] * (cols - len(row))
        rows.append(np.hstack(row))
    return np.vstack(rows)
