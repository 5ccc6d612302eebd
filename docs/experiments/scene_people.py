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
    SCENE_IDENTITIES_CSV,
    SCENE_REVIEWS,
    read_identities,
    read_review,
    scene_source_video,
    usable_scene_faces,
)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    ids = read_identities(SCENE_IDENTITIES_CSV)
    usable = usable_scene_faces({folder: read_review(path) for folder, path in SCENE_REVIEWS.items()})
    table: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for (folder, image), labels in usable.items():
        table[ids[(folder, image)]].update(f"{folder} {label}" for label in labels)
    columns = [f"{f} {c}" for f in SCENE_REVIEWS for c in ("neutral", "smile")]
    print("| person | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for person, counts in sorted(table.items(), key=lambda kv: -sum(kv[1].values())):
        print(f"| {person} | " + " | ".join(str(counts[c]) for c in columns) + " |")
    trained = {person for (folder, _), person in ids.items() if folder == "train"} - {"one-off"}
    videos = {scene_source_video(image) for folder, image in ids if folder == "train"} - {None}

    def seen(image: str) -> str:
        known = ids[("test", image)] in trained or scene_source_video(image) in videos
        return "seen" if known else "unseen"

    faces = collections.Counter(seen(image) for (folder, image), labels in usable.items() if folder == "test"
                                for _ in labels)
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
