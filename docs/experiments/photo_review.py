"""Session 30: contact sheets for reviewing the photos' labels by eye (validation, test, training).

    python docs/experiments/photo_review.py sheets            # runs/photo-review/<label>_NN.png
    python docs/experiments/photo_review.py sheets test       # runs/photo-review-test/...
    python docs/experiments/photo_review.py sheets train      # runs/photo-review-train/... (source photos)
    python docs/experiments/photo_review.py sheets train-unusable  # the training photos reviewed unusable

``sheets`` draws the 1,968 validation photos (``datasets/smile-neutral-scenes/val_crops``, one
face each, labelled by ``muxspace/facial_expressions``; ``test``: ``test_crops``; ``train``: the
training people's source photos) on numbered contact sheets, one series per dataset label, 48 to a
sheet, without any model output. The reviewer lists the faces whose label looks wrong or that
either label fits; ``<label>_index.csv`` maps the numbers to images, from which
``detector/assets/{val,test,train}_photo_review.csv`` (``image,label`` for every photo: smile,
neutral or unusable) were written. ``python docs/experiments/validate.py TAG WEIGHTS photosrev``
scores a model on the reviewed photos (``detector.recipes.build_reviewed_photos``).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import cv2
import numpy as np

from detector.labels import read_label_file
from detector.recipes import NAMES, TRAIN_PHOTO_REVIEW_CSV, read_image_review, smile_neutral_split

DATASET = Path("datasets/smile-neutral-scenes")
SHARED = Path("../shared")
OUT = Path("runs/photo-review")  # val; test and train sheets go to runs/photo-review-{test,train}
COLS, ROWS, TILE = 8, 6, 120


def dataset_labels(folder: Path) -> dict[str, str]:
    labels = {}
    for img in sorted((folder / "images").iterdir()):
        rows = read_label_file(folder / "labels" / f"{img.stem}.txt", len(NAMES))
        labels[img.name] = NAMES[rows[0].class_id]
    return labels


def _photos(split: str) -> dict[str, tuple[Path, str]]:
    # image name -> (picture, dataset label). val/test: the recipe's one-face folders; train: the
    # training people's source photos (the pool the recipe draws its close-ups and composites from).
    if split != "train":
        folder = DATASET / f"{split}_crops"
        return {name: (folder / "images" / name, lab) for name, lab in dataset_labels(folder).items()}
    root = SHARED / "data" / "smile-neutral-faces"
    split_of, _ = smile_neutral_split(root, (0.6, 0.2, 0.2), 0)
    with (root / "labels.csv").open(newline="") as f:
        return {row["image"]: (root / "images" / row["image"], row["expression"]) for row in csv.DictReader(f)
                if split_of[row["image"]] == "train"}


def sheets(split: str = "val") -> int:
    out = OUT if split == "val" else Path(f"{OUT}-{split}")
    out.mkdir(parents=True, exist_ok=True)
    if split == "train-unusable":
        # Session 32: only the training photos the review called unusable, to see how many cannot be read
        # at all (about 5 % on four sampled sheets; model card "Session 32"; no split file was written).
        review = read_image_review(TRAIN_PHOTO_REVIEW_CSV)
        photos = {name: v for name, v in _photos("train").items() if review[name] == "unusable"}
    else:
        photos = _photos(split)
    n = 0
    for label in NAMES:
        names = sorted(name for name, (_, lab) in photos.items() if lab == label)
        index_rows = []
        for start in range(0, len(names), COLS * ROWS):
            sheet = np.full((ROWS * (TILE + 14), COLS * TILE, 3), 255, np.uint8)
            for k, name in enumerate(names[start:start + COLS * ROWS]):
                img = cv2.resize(cv2.imread(str(photos[name][0])), (TILE, TILE), interpolation=cv2.INTER_AREA)
                r, c = divmod(k, COLS)
                y, x = r * (TILE + 14), c * TILE
                sheet[y:y + TILE, x:x + TILE] = img
                cv2.putText(sheet, str(start + k), (x + 2, y + TILE + 11), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                            (0, 0, 200), 1)
                index_rows.append((start + k, name))
            cv2.imwrite(str(out / f"{label}_{start // (COLS * ROWS):02d}.png"), sheet)
            n += 1
        with (out / f"{label}_index.csv").open("w", newline="") as f:
            csv.writer(f).writerows([("number", "image"), *index_rows])
    return n


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args in (["sheets"], ["sheets", "val"], ["sheets", "test"], ["sheets", "train"], ["sheets", "train-unusable"]):
        split = args[1] if len(args) > 1 else "val"
        print(sheets(split), "sheets written for the", split, "photos")
        return 0
    print("usage: python docs/experiments/photo_review.py sheets [val|test|train|train-unusable]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
