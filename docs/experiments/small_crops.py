"""Session 22 experiment (not shipped): more small colour crops in training, and a shrunk validation set.

Run from the project root after `exprdet ship --data-only` and the real scenes (weights/README.md):

    python docs/experiments/small_crops.py crops     # datasets/small-crops + runs/sel/mixed-small.yaml
    python docs/experiments/small_crops.py shrunk    # runs/sel/val_shrunk64 + .yaml

`crops` writes every training person's photo that is not 256x256 (the 169 small colour video
grabs of four actors, 18-321 px) twice, boxed and labelled as the recipe boxes close-ups; the two
detector stages are then v9's commands with `--data runs/sel/mixed-small.yaml` (model card,
section "Session 22"). `shrunk` writes the validation photos other than the 64 small colour ones,
shrunk to a shorter side of 64 px, to see whether a model leans to one class on small pictures.
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

import cv2

from detector.faces import YuNetFaceFinder
from detector.labels import format_yolo_line, to_human_box, xyxy_to_xywhn
from detector.recipes import NAMES, smile_neutral_split, write_mixed_yaml
from detector.scenes import shrink_to_short_side

SHARED = Path("../shared")
DATASET = Path("datasets/smile-neutral-scenes")


def small_crops(out: Path = Path("datasets/small-crops"), copies: int = 2) -> int:
    root = SHARED / "data/smile-neutral-faces"
    offsets = tuple(json.loads((DATASET / "recipe_report.json").read_text())["box_offsets"])
    split_of, _ = smile_neutral_split(root, (0.6, 0.2, 0.2), 0)
    finder = YuNetFaceFinder(SHARED / "models/face_detection_yunet.onnx")
    (out / "train/images").mkdir(parents=True, exist_ok=True)
    (out / "train/labels").mkdir(exist_ok=True)
    n = 0
    with (root / "labels.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            if split_of[row["image"]] != "train":
                continue
            img = cv2.imread(str(root / "images" / row["image"]))
            if img is None or img.shape[:2] == (256, 256):  # the grayscale close-ups are all 256x256
                continue
            xyxy, _ = finder.find(img)
            if not len(xyxy):
                continue
            wh = (img.shape[1], img.shape[0])
            xywhn = xyxy_to_xywhn(to_human_box(xyxy[:1], wh, offsets), wh)[0]
            line = format_yolo_line(NAMES.index(row["expression"]), xywhn) + "\n"
            for k in range(copies):
                stem = f"small{k}_{Path(row['image']).stem}"
                cv2.imwrite(str(out / "train/images" / f"{stem}.png"), img)
                (out / "train/labels" / f"{stem}.txt").write_text(line)
            n += 1
    real = Path("datasets/real-scenes")
    write_mixed_yaml(Path("runs/sel/mixed-small.yaml"), [out / "train/images", DATASET / "train/images",
                     real / "train/images"], [DATASET / "val/images", real / "val/images"], DATASET / "test/images")
    return n


def shrunk_val(out: Path = Path("runs/sel/val_shrunk64"), side: int = 64) -> int:
    src = DATASET / "val_crops"
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(exist_ok=True)
    n = 0
    for path in sorted((src / "images").iterdir()):
        if "SharmilaTagore" in path.name:  # the 64 small colour crops, already small
            continue
        img = shrink_to_short_side(cv2.imread(str(path)), side)
        cv2.imwrite(str(out / "images" / f"{path.stem}.png"), img)
        shutil.copy(src / "labels" / f"{path.stem}.txt", out / "labels" / f"{path.stem}.txt")
        n += 1
    # Normalised YOLO labels stay valid after a uniform resize.
    Path(f"{out}.yaml").write_text(f"path: {Path.cwd() / out}\ntrain: images\nval: images\n"
                                   "names: {0: neutral, 1: smile}\n")
    return n


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["crops"]:
        print(small_crops(), "small training photos written twice")
    elif args == ["shrunk"]:
        print(shrunk_val(), "validation photos shrunk")
    else:
        print("usage: python docs/experiments/small_crops.py crops|shrunk", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
