"""Session 28: a model's faces right per person on the person-disjoint real-scene split.

Run from the project root after ``exprdet eval --data datasets/real-scenes-by-person/data.yaml
--split test --out runs/val/<tag>-persontest`` (and ``--split val`` for the val split):

    python docs/experiments/person_test_people.py test runs/val/b29-persontest runs/val/v9-persontest

Counts each person's labelled faces in ``datasets/real-scenes-by-person/<split>/labels`` (file names
are ``<export folder>_<export stem>``, the person from ``detector/assets/scene_identities.csv``) and the
report's wrong and missed faces (``mistakes.csv``) among them, per class.
"""

from __future__ import annotations

import collections
import csv
import sys
from pathlib import Path

from detector.labels import read_label_file
from detector.recipes import SCENE_IDENTITIES_CSV, read_identities

DATA = Path("datasets/real-scenes-by-person")
CLASSES = ("neutral", "smile")


def main(argv: list[str] | None = None) -> int:
    split, *folders = sys.argv[1:] if argv is None else argv
    # Identities are keyed by export folder and image name; the split's stems are "<folder>_<stem>".
    by_stem = {f"{folder}_{Path(image).stem}": person for (folder, image), person in read_identities(
        SCENE_IDENTITIES_CSV).items()}
    faces: collections.Counter = collections.Counter()
    for label in sorted((DATA / split / "labels").glob("*.txt")):
        for row in read_label_file(label, num_classes=len(CLASSES)):
            faces[(by_stem.get(label.stem, "no usable face"), CLASSES[row.class_id])] += 1
    people = sorted({p for p, _ in faces}, key=lambda p: -(faces[(p, "neutral")] + faces[(p, "smile")]))
    bad = {}
    for folder in folders:
        counts: collections.Counter = collections.Counter()
        with (Path(folder) / "mistakes.csv").open() as fh:
            for row in csv.DictReader(fh):
                if row["kind"] in ("wrong", "missed"):
                    counts[(by_stem.get(Path(row["image"]).stem, "no usable face"), row["true"])] += 1
        bad[folder] = counts
    print("| person | class | faces | " + " | ".join(f"right: {Path(f).name}" for f in folders) + " |")
    print("|---|---|---:|" + "---:|" * len(folders))
    for person in people:
        for cls in CLASSES:
            if faces[(person, cls)]:
                cells = [str(faces[(person, cls)] - bad[f][(person, cls)]) for f in folders]
                print(f"| {person} | {cls} | {faces[(person, cls)]} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
