"""Session 27: who the faces-in-scenes real-scene faces are, split by split, and a model's score on the
test faces of people it was or was not trained on.

Run from the project root:

    python docs/experiments/scene_people.py                       # faces per person and export split
    python docs/experiments/scene_people.py runs/ship21/eval-v9/eval_test_real_scenes

Reads the by-eye reviews and identities in ``detector/assets``. With an ``exprdet eval`` folder of the
real-scene test set (``datasets/scene-test``), it counts the test faces whose person (or video) has
frames in the export's train/ ("seen") or not, and the report's wrong and missed faces (``mistakes.csv``) among each.
"""

from __future__ import annotations

import collections
import csv
import sys
from pathlib import Path

from detector.recipes import (
    REVIEW_CSV,
    SCENE_IDENTITIES_CSV,
    SCENE_TRAIN_REVIEW_CSV,
    SCENE_VAL_REVIEW_CSV,
    read_identities,
    read_review,
    scene_source_video,
)

REVIEWS = {"train": SCENE_TRAIN_REVIEW_CSV, "valid": SCENE_VAL_REVIEW_CSV, "test": REVIEW_CSV}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    ids = read_identities(SCENE_IDENTITIES_CSV)
    usable = {folder: {key: label for key, label in read_review(path).items() if label != "unusable"}
              for folder, path in REVIEWS.items()}
    table: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for folder, faces in usable.items():
        for (image, _), label in faces.items():
            table[ids[(folder, image)]][f"{folder} {label}"] += 1
    print("| person | " + " | ".join(f"{f} {c}" for f in REVIEWS for c in ("neutral", "smile")) + " |")
    print("|---|" + "---:|" * 6)
    for person, counts in sorted(table.items(), key=lambda kv: -sum(kv[1].values())):
        print(f"| {person} | " + " | ".join(str(counts[f"{f} {c}"]) for f in REVIEWS for c in ("neutral", "smile"))
              + " |")
    trained = {person for (folder, _), person in ids.items() if folder == "train"} - {"one-off"}
    videos = {scene_source_video(image) for folder, image in ids if folder == "train"} - {None}

    def seen(image: str) -> str:
        known = ids[("test", image)] in trained or scene_source_video(image) in videos
        return "seen" if known else "unseen"

    faces = collections.Counter(seen(image) for image, _ in usable["test"])
    print(f"\ntest faces of people with frames in train/: {faces['seen']}, of other people: {faces['unseen']}")
    for folder in args:
        bad: collections.Counter = collections.Counter()
        with (Path(folder) / "mistakes.csv").open() as fh:
            for row in csv.DictReader(fh):
                if row["kind"] in ("wrong", "missed"):
                    bad[(seen(Path(row["image"]).name), row["kind"])] += 1
        for group in ("seen", "unseen"):
            right = faces[group] - bad[(group, "wrong")] - bad[(group, "missed")]
            print(f"{folder}: {group} {right} of {faces[group]} right, {bad[(group, 'wrong')]} wrong class, "
                  f"{bad[(group, 'missed')]} missed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
