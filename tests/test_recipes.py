"""The shipped model's data recipe: person-disjoint splits that the classifier and detector share."""

from __future__ import annotations

import collections
import csv
from pathlib import Path

import pytest

from detector.errors import DatasetError
from detector.recipes import NAMES, roboflow_singles, smile_neutral_split


def test_split_requires_labels_csv(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="labels.csv"):
        smile_neutral_split(tmp_path, (0.6, 0.2, 0.2), 0)


def test_split_names_missing_columns(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text("image,expression\na.jpg,smile\n")
    with pytest.raises(DatasetError, match="person"):
        smile_neutral_split(tmp_path, (0.6, 0.2, 0.2), 0)


@pytest.mark.slow
def test_real_split_is_person_disjoint_deterministic_and_merges_duplicates(shared: Path) -> None:
    root = shared / "data" / "smile-neutral-faces"
    split, merged = smile_neutral_split(root, (0.6, 0.2, 0.2), 0)
    with (root / "labels.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert set(split) == {r["image"] for r in rows}
    person_splits = collections.defaultdict(set)
    for r in rows:
        person_splits[r["person"]].add(split[r["image"]])
    assert all(len(s) == 1 for s in person_splits.values())
    # the same picture filed under two names must land in one split
    assert merged, "the shared photos are known to hold duplicate pictures under two names"
    for a, b, _, _ in merged:
        assert split[a] == split[b]
    shares = collections.Counter(split.values())
    assert abs(shares["train"] / len(rows) - 0.6) < 0.02
    assert abs(shares["test"] / len(rows) - 0.2) < 0.02
    assert smile_neutral_split(root, (0.6, 0.2, 0.2), 0)[0] == split


def test_roboflow_singles_maps_classes_and_groups_copies(shared: Path) -> None:
    faces = roboflow_singles(shared / "data" / "roboflow-facial-emotion-7", {"happy": "smile", "neutral": "neutral"})
    assert faces
    assert {NAMES[f.class_id] for f in faces} == {"smile", "neutral"}
    assert all(".rf." not in f.group for f in faces)
    for f in faces:
        x1, y1, x2, y2 = f.box_xyxy
        assert 0 <= x1 < x2 and 0 <= y1 < y2


def test_scene_test_keeps_reviewed_faces_and_paints_the_rest(shared: Path, tmp_path: Path) -> None:
    from detector.labels import read_label_file
    from detector.recipes import REVIEW_CSV, build_scene_test, read_review

    review = read_review(REVIEW_CSV)
    report = build_scene_test(shared / "data" / "faces-in-scenes" / "test", tmp_path / "scene")
    usable = collections.Counter(v for v in review.values() if v != "unusable")
    assert report["boxes"] == {k: usable[k] for k in ("neutral", "smile") if usable[k]}
    assert report["painted_unusable_faces"] == sum(v == "unusable" for v in review.values())
    rows = [r for p in (tmp_path / "scene" / "test" / "labels").glob("*.txt") for r in read_label_file(p, 2)]
    assert len(rows) == sum(usable.values())


def test_scene_test_refuses_an_incomplete_review(shared: Path, tmp_path: Path) -> None:
    from detector.recipes import REVIEW_CSV, build_scene_test

    lines = REVIEW_CSV.read_text().splitlines()
    partial = tmp_path / "review.csv"
    partial.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(DatasetError, match="no review for face"):
        build_scene_test(shared / "data" / "faces-in-scenes" / "test", tmp_path / "scene", partial)
    assert not (tmp_path / "scene").exists()


def test_review_rejects_unknown_labels(tmp_path: Path) -> None:
    from detector.recipes import read_review

    bad = tmp_path / "review.csv"
    bad.write_text("image,face,label\na.jpg,0,happy\n")
    with pytest.raises(DatasetError, match="label must be"):
        read_review(bad)
