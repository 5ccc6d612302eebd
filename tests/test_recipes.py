"""The shipped model's data recipe: person-disjoint splits that the classifier and detector share."""

from __future__ import annotations

import collections
import csv
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from detector.errors import DatasetError, ModelError
from detector.labels import from_human_box
from detector.recipes import (
    HUMAN_BOX_OFFSETS,
    NAMES,
    add_val_crops,
    dataset_box_convention,
    load_smile_neutral,
    lower_photo_resolution,
    measure_box_offsets,
    roboflow_singles,
    smile_neutral_split,
    to_human_box,
)


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


def test_scene_test_keeps_reviewed_faces_and_paints_the_rest(scene_test: tuple[Path, dict]) -> None:
    from detector.labels import read_label_file
    from detector.recipes import REVIEW_CSV, read_review

    review = read_review(REVIEW_CSV)
    root, report = scene_test
    usable = collections.Counter(v for v in review.values() if v != "unusable")
    assert report["boxes"] == {k: usable[k] for k in ("neutral", "smile") if usable[k]}
    assert report["painted_unusable_faces"] == sum(v == "unusable" for v in review.values())
    rows = [r for p in (root / "test" / "labels").glob("*.txt") for r in read_label_file(p, 2)]
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


# --- real scenes labelled by a classifier ---------------------------------------------------------
class _ScriptedClassifier:
    """p_smile by face width (integer px), so each face's fate is known in advance."""

    def __init__(self, p_by_width: dict[int, float]) -> None:
        self.p_by_width = p_by_width

    def probs(self, image, xyxy):  # noqa: ANN001, ANN201
        import numpy as np

        p = [self.p_by_width[int(round(b[2] - b[0]))] for b in xyxy]
        return np.array([[1 - v, v] for v in p]).reshape(-1, 2)


def _scene_export(root: Path) -> None:
    import cv2
    import numpy as np

    # One picture per split with three faces: 40 px (smile-sure), 60 px (unsure), 30 px (neutral-sure),
    # and a 10 px face that is too small to label.
    for folder in ("train", "valid", "test"):
        (root / folder / "images").mkdir(parents=True)
        (root / folder / "labels").mkdir(parents=True)
        img = np.full((100, 200, 3), 120, np.uint8)
        img[10:50, 10:50] = 255
        cv2.imwrite(str(root / folder / "images" / "a.jpg"), img)
        boxes = [(10, 10, 50, 50), (100, 20, 160, 80), (60, 60, 90, 90), (170, 5, 180, 15)]
        lines = [f"0 {(x1 + x2) / 400} {(y1 + y2) / 200} {(x2 - x1) / 200} {(y2 - y1) / 100}\n"
                 for x1, y1, x2, y2 in boxes]
        (root / folder / "labels" / "a.txt").write_text("".join(lines))


@pytest.mark.parametrize(("p", "width", "expected"), [
    (0.0, 50, 0), (0.15, 50, 0), (0.16, 50, None), (0.5, 50, None), (0.89, 50, None), (0.9, 50, 1),
    (1.0, 50, 1), (1.0, 19.9, None), (0.0, 20, 0),
])
def test_autolabel_rule(p: float, width: float, expected: int | None) -> None:
    from detector.recipes import AutoLabelRule

    assert AutoLabelRule().label(p, width) == expected


def test_real_scenes_keep_confident_faces_paint_the_rest_and_mirror_train(tmp_path: Path) -> None:
    import cv2
    import numpy as np

    from detector.labels import read_label_file
    from detector.recipes import build_real_scenes, paint_box

    _scene_export(tmp_path / "src")
    source_bytes = (tmp_path / "src" / "train" / "images" / "a.jpg").read_bytes()
    clf = _ScriptedClassifier({40: 0.95, 60: 0.5, 30: 0.05, 10: 0.99})
    report = build_real_scenes(tmp_path / "src", clf, tmp_path / "out")
    assert report["splits"]["train"] == {"images": 2, "boxes": {"smile": 2, "neutral": 2}, "groups": 1,
                                         "painted_faces": 2}
    assert report["splits"]["val"]["images"] == 1 and report["splits"]["val"]["painted_faces"] == 2
    assert not (tmp_path / "out" / "test").exists()          # scored with by-eye labels instead
    rows = read_label_file(tmp_path / "out" / "train" / "labels" / "a.txt")
    assert [r.class_id for r in rows] == [1, 0]
    mirrored = read_label_file(tmp_path / "out" / "train" / "labels" / "a_mirror.txt")
    for r, m in zip(rows, mirrored, strict=True):
        assert m.class_id == r.class_id
        assert np.allclose(m.xywhn, (1 - r.xywhn[0], *r.xywhn[1:]), atol=1e-4)
    img = cv2.imread(str(tmp_path / "out" / "train" / "images" / "a.jpg"))
    unsure = img[22:78, 102:158]
    assert unsure.std() < 3                                   # the unsure face is one flat colour
    assert len(list((tmp_path / "out" / "review").glob("train_*.png"))) == 1
    assert (tmp_path / "src" / "train" / "images" / "a.jpg").read_bytes() == source_bytes  # never modified
    src = cv2.imread(str(tmp_path / "src" / "train" / "images" / "a.jpg"))
    src[10:30, 10:50] = 0                                     # half black, half white: median is white
    paint_box(src, np.array([10, 10, 50, 50]))
    assert (src[10:50, 10:50] == src[10, 10]).all()


def test_real_scenes_require_an_images_folder(tmp_path: Path) -> None:
    from detector.recipes import build_real_scenes

    (tmp_path / "src" / "train").mkdir(parents=True)
    with pytest.raises(DatasetError, match="images/"):
        build_real_scenes(tmp_path / "src", _ScriptedClassifier({}), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_real_scenes_take_a_reviewed_splits_labels_from_the_review(tmp_path: Path) -> None:
    from detector.labels import read_label_file
    from detector.recipes import build_real_scenes

    _scene_export(tmp_path / "src")
    review = tmp_path / "train_review.csv"
    # The classifier is sure of faces 0 (smile) and 2 (neutral); the reviewer disagrees on both,
    # labels the unsure face 1, and calls face 3 unusable.
    review.write_text("# by eye\nimage,face,label\na.jpg,0,neutral\na.jpg,1,smile\na.jpg,2,unusable\n"
                      "a.jpg,3,unusable\n")
    clf = _ScriptedClassifier({40: 0.95, 60: 0.5, 30: 0.05, 10: 0.99})
    report = build_real_scenes(tmp_path / "src", clf, tmp_path / "out", reviews={"train": review})
    assert report["splits"]["train"] == {"images": 2, "boxes": {"neutral": 2, "smile": 2}, "groups": 1,
                                         "painted_faces": 2}
    assert report["reviews"] == {"train": str(review)}
    rows = read_label_file(tmp_path / "out" / "train" / "labels" / "a.txt")
    assert [r.class_id for r in rows] == [0, 1]                # the review's classes, not the classifier's
    assert [r.class_id for r in read_label_file(tmp_path / "out" / "val" / "labels" / "a.txt")] == [1, 0]


def test_real_scenes_refuse_a_review_that_misses_a_face(tmp_path: Path) -> None:
    from detector.recipes import build_real_scenes

    _scene_export(tmp_path / "src")
    review = tmp_path / "valid_review.csv"
    review.write_text("image,face,label\na.jpg,0,smile\na.jpg,1,smile\na.jpg,2,neutral\n")
    with pytest.raises(DatasetError, match="no review for face 3 of a.jpg") as err:
        build_real_scenes(tmp_path / "src", _ScriptedClassifier({40: 0.95, 60: 0.5, 30: 0.05, 10: 0.99}),
                          tmp_path / "out", reviews={"valid": review})
    assert str(review) in str(err.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("folder", ["train", "valid"])
def test_shipped_scene_reviews_cover_every_face(shared: Path, folder: str) -> None:
    from detector.recipes import SCENE_TRAIN_REVIEW_CSV, SCENE_VAL_REVIEW_CSV, _scene_faces, read_review

    review = read_review({"train": SCENE_TRAIN_REVIEW_CSV, "valid": SCENE_VAL_REVIEW_CSV}[folder])
    scene_dir = shared / "data" / "faces-in-scenes" / folder
    faces = {(img.name, i) for img in sorted((scene_dir / "images").iterdir())
             for i in range(len(_scene_faces(scene_dir, img)[1]))}
    assert set(review) == faces
    labels = collections.Counter(review.values())
    assert labels["smile"] > 10 and labels["neutral"] > 50 and labels["unusable"] > labels["neutral"]


def test_person_disjoint_scene_split_keeps_each_identity_on_one_side() -> None:
    from detector.recipes import person_disjoint_scene_split

    faces, ids = {}, {}
    for person in "abcdefghij":
        for folder in ("train", "valid", "test"):          # every person in every export folder
            key = (folder, f"{person}.jpg")
            faces[key] = ["neutral", "neutral"]
            ids[key] = person
    for i in range(10):                                     # the smiles: ten one-off people
        faces[("test", f"one{i}.jpg")], ids[("test", f"one{i}.jpg")] = ["smile"], "one-off"
    out = person_disjoint_scene_split(faces, ids, seed=0)
    for person in "abcdefghij":
        assert len({split for key, split in out.items() if ids[key] == person}) == 1
    # One-offs are one group each, so the smiles spread over the splits (6/2/2).
    smiles = collections.Counter(out[("test", f"one{i}.jpg")] for i in range(10))
    assert smiles == {"train": 6, "val": 2, "test": 2}
    assert person_disjoint_scene_split(dict(reversed(list(faces.items()))), ids, seed=0) == out
    with pytest.raises(KeyError):
        person_disjoint_scene_split({**faces, ("train", "stranger.jpg"): ["smile"]}, ids)


@pytest.mark.parametrize(("image", "video"), [
    ("gravitate-faces_mp4-143_jpg.rf.2fb8124dad3e2f6c4dc6ef7788c481a5.jpg", "gravitate-faces"),
    ("Mohamed-Image-from-iOS_MOV-8_jpg.jpg", "Mohamed-Image-from-iOS"),
    ("mo-justin-mask-NoMask_mov-10_jpg.jpg", "mo-justin-mask-NoMask"),
    ("Screen-Recording-2021-12-09-at-1_03_04-PM_mov-3_jpg.rf.835b.jpg", "Screen-Recording-2021-12-09-at-1_03_04-PM"),
    ("istockphoto-1270066655-612x612_jpg.rf.5998.jpg", None),
    ("mask-wearing-1632931935444_png_jpg.jpg", None),
    ("movie_poster_jpg.jpg", None),
])
def test_scene_source_video(image: str, video: str | None) -> None:
    from detector.recipes import scene_source_video

    assert scene_source_video(image) == video


def test_person_disjoint_scene_split_keeps_a_videos_frames_together() -> None:
    from detector.recipes import person_disjoint_scene_split

    # A video whose frames were given two names (one by mistake) and a photo linked to one of them:
    # all of it is one group, whatever the names say.
    faces = {("train", "call_mp4-1_jpg.jpg"): ["smile"], ("test", "call_mp4-2_jpg.rf.x.jpg"): ["neutral"],
             ("valid", "headshot_png.jpg"): ["smile"]}
    ids = {("train", "call_mp4-1_jpg.jpg"): "ann", ("test", "call_mp4-2_jpg.rf.x.jpg"): "bob",
           ("valid", "headshot_png.jpg"): "bob"}
    for i in range(12):                                       # other people, to fill the splits
        faces[("train", f"p{i}.jpg")], ids[("train", f"p{i}.jpg")] = ["smile", "neutral"], "one-off"
    out = person_disjoint_scene_split(faces, ids, seed=0)
    assert len({out[key] for key in list(faces)[:3]}) == 1
    assert set(out.values()) == {"train", "val", "test"}


def _reviewed_export(root: Path) -> dict[str, Path]:
    """The _scene_export pictures, each folder's faces reviewed; plus a picture with no usable face."""
    import cv2
    import numpy as np

    _scene_export(root / "src")
    reviews = {}
    for folder in ("train", "valid", "test"):
        cv2.imwrite(str(root / "src" / folder / "images" / "masks.jpg"), np.full((100, 200, 3), 90, np.uint8))
        (root / "src" / folder / "labels" / "masks.txt").write_text("0 0.5 0.5 0.2 0.4\n")
        reviews[folder] = root / f"{folder}.csv"
        reviews[folder].write_text("image,face,label\na.jpg,0,smile\na.jpg,1,neutral\na.jpg,2,unusable\n"
                                   "a.jpg,3,unusable\nmasks.jpg,0,unusable\n")
    return reviews


def test_person_disjoint_scenes_move_a_persons_pictures_together(tmp_path: Path) -> None:
    from detector.recipes import build_person_disjoint_scenes

    reviews = _reviewed_export(tmp_path)
    ids = tmp_path / "ids.csv"
    # The same person in a.jpg of all three export folders: the three pictures must land in one split.
    ids.write_text("# who\nsplit,image,identity\ntrain,a.jpg,kim\nvalid,a.jpg,kim\ntest,a.jpg,kim\n")
    report = build_person_disjoint_scenes(tmp_path / "src", tmp_path / "out", reviews=reviews, identities=ids)
    out = tmp_path / "out"
    homes = [split for split in ("train", "val", "test")
             if any(p.name.endswith("_a.jpg") for p in (out / split / "images").iterdir())]
    assert len(homes) == 1
    home = homes[0]
    assert report["identities_per_split"][home] == ["kim"]
    copies = 2 if home == "train" else 1                        # train pictures are mirrored
    assert report["splits"][home]["boxes"] == {"smile": 3 * copies, "neutral": 3 * copies}
    # Pictures without a usable face stay in their export split, their faces painted.
    for folder, split in (("train", "train"), ("valid", "val"), ("test", "test")):
        assert (out / split / "images" / f"{folder}_masks.jpg").is_file()
        assert (out / split / "labels" / f"{folder}_masks.txt").read_text() == ""
    assert "test: test/images" in (out / "data.yaml").read_text()


def test_person_disjoint_scenes_reuse_a_build_of_the_same_inputs(tmp_path: Path) -> None:
    from detector.recipes import build_person_disjoint_scenes

    reviews = _reviewed_export(tmp_path)
    ids = tmp_path / "ids.csv"
    ids.write_text("split,image,identity\ntrain,a.jpg,kim\nvalid,a.jpg,kim\ntest,a.jpg,kim\n")
    out = tmp_path / "out"
    first = build_person_disjoint_scenes(tmp_path / "src", out, reviews=reviews, identities=ids)
    marker = out / "marker"                 # vanishes if the folder is rebuilt (atomic swap)
    marker.write_text("")
    assert build_person_disjoint_scenes(tmp_path / "src", out, reviews=reviews, identities=ids, reuse=True) == first
    assert marker.is_file()
    # Without reuse, or with any input changed, the folder is built again.
    reviews["test"].write_text(reviews["test"].read_text().replace("a.jpg,0,smile", "a.jpg,0,neutral"))
    second = build_person_disjoint_scenes(tmp_path / "src", out, reviews=reviews, identities=ids, reuse=True)
    assert not marker.is_file()
    assert second["inputs_sha256"] != first["inputs_sha256"]
    marker.write_text("")
    build_person_disjoint_scenes(tmp_path / "src", out, reviews=reviews, identities=ids, reuse=True, seed=1)
    assert not marker.is_file()
    marker.write_text("")
    build_person_disjoint_scenes(tmp_path / "src", out, reviews=reviews, identities=ids, seed=1)
    assert not marker.is_file()


def test_person_disjoint_scenes_need_every_usable_picture_identified(tmp_path: Path) -> None:
    from detector.recipes import build_person_disjoint_scenes

    reviews = _reviewed_export(tmp_path)
    ids = tmp_path / "ids.csv"
    ids.write_text("split,image,identity\ntrain,a.jpg,kim\nvalid,a.jpg,kim\n")
    with pytest.raises(DatasetError, match="no identity for 1 pictures with usable faces, e.g. test/a.jpg") as err:
        build_person_disjoint_scenes(tmp_path / "src", tmp_path / "out", reviews=reviews, identities=ids)
    assert str(ids) in str(err.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_shipped_identities_cover_every_usable_scene_picture(scenes_by_person: tuple[Path, dict]) -> None:
    import json

    root, report = scenes_by_person
    people = report["identities_per_split"]
    assert not set(people["train"]) & set(people["val"]) and not set(people["train"]) & set(people["test"])
    assert not set(people["val"]) & set(people["test"])
    for split in ("val", "test"):                               # both classes to score in each
        assert set(report["splits"][split]["boxes"]) == {"neutral", "smile"}
    assert json.loads((root / "real_scenes_report.json").read_text())["seed"] == 0


def test_mixed_yaml_lists_folders(tmp_path: Path) -> None:
    import yaml

    from detector.recipes import write_mixed_yaml

    out = write_mixed_yaml(tmp_path / "m.yaml", [tmp_path / "a", tmp_path / "b"], [tmp_path / "v"], tmp_path / "t")
    data = yaml.safe_load(out.read_text())
    assert data["train"] == [str(tmp_path / "a"), str(tmp_path / "b")]
    assert data["names"] == {0: "neutral", 1: "smile"}


def test_other_people_test_scores_happy_as_smile(tmp_path: Path) -> None:
    from detector.recipes import build_other_people_test
    from detector.train import label_path_for, load_data_yaml

    for split, cls, n in (("test", "happy", 3), ("test", "neutral", 2), ("test", "sad", 4), ("train", "happy", 5),
                          ("train", "neutral", 3)):
        folder = tmp_path / "fer" / split / cls
        folder.mkdir(parents=True)
        for k in range(n):
            cv2.imwrite(str(folder / f"{split}{k}.jpg"), np.full((48, 48), 40 * k, np.uint8))
    data = build_other_people_test(tmp_path / "fer", tmp_path / "other")
    spec = load_data_yaml(data, require=("test",))
    assert spec.names == {0: "neutral", 1: "smile"}
    images = spec.images("test")
    assert len(images) == 5  # test split only, no sad faces
    ids = collections.Counter(int(label_path_for(p).read_text().split()[0]) for p in images)
    assert ids == {1: 3, 0: 2}
    assert build_other_people_test(tmp_path / "fer", tmp_path / "other") == data  # re-runs replace it
    # the train split, capped per class (seeded): a validation set of the same kind
    val = build_other_people_test(tmp_path / "fer", tmp_path / "val", split="train", per_class=2)
    val_images = load_data_yaml(val, require=("val",)).images("val")
    assert len(val_images) == 4 and all("__train" in p.name for p in val_images)
    ids = collections.Counter(int(label_path_for(p).read_text().split()[0]) for p in val_images)
    assert ids == {1: 2, 0: 2}


def test_evaluate_shipped_model_needs_the_built_dataset(tmp_path: Path) -> None:
    from detector.recipes import evaluate_shipped_model

    with pytest.raises(DatasetError, match="exprdet ship --data-only"):
        evaluate_shipped_model(tmp_path, tmp_path / "w.pt", tmp_path / "c.pt", dataset=tmp_path / "missing",
                               runs=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def _shared_with_two_scene_tests(shared: Path, root: Path, folders: tuple[str, ...] = ("test",)) -> Path:
    # Two reviewed pictures of the real scene test are enough to build it; all 145 take ~30 s.
    for folder in folders:
        src = shared / "data" / "faces-in-scenes" / folder
        dst = root / "data" / "faces-in-scenes" / folder
        for sub in ("images", "labels"):
            (dst / sub).mkdir(parents=True)
        for img in sorted((src / "images").iterdir())[:2]:
            shutil.copy(img, dst / "images" / img.name)
            shutil.copy(src / "labels" / f"{img.stem}.txt", dst / "labels" / f"{img.stem}.txt")
    return root


def test_shipped_test_sets_say_when_fer2013_is_missing(shared: Path, tmp_path: Path) -> None:
    from detector.recipes import shipped_test_sets

    no_fer = _shared_with_two_scene_tests(shared, tmp_path / "shared")
    sets, skipped = shipped_test_sets(no_fer, tmp_path / "datasets" / "smile-neutral-scenes")
    assert [label for label, _ in sets] == ["test_photos", "test_composites", "test_real_scenes"]
    # No test_crops in this dataset folder, so no reviewed photos either, and said so.
    assert len(skipped) == 3 and "by-eye labels" in skipped[0] and "no images to review" in skipped[0]
    assert "person-disjoint" in skipped[1] and "other people" in skipped[2]
    assert str(no_fer / "data" / "faces-in-scenes" / "train" / "images") in skipped[1]
    assert str(no_fer / "data" / "fer2013") in skipped[2]
    assert (tmp_path / "datasets" / "scene-test" / "data.yaml").is_file()
    assert len(list((tmp_path / "datasets" / "scene-test" / "test" / "images").iterdir())) == 2

    with_fer = _shared_with_two_scene_tests(shared, tmp_path / "shared2")
    for cls in ("happy", "neutral"):
        (with_fer / "data" / "fer2013" / "test" / cls).mkdir(parents=True)
        cv2.imwrite(str(with_fer / "data" / "fer2013" / "test" / cls / "a.jpg"), np.zeros((48, 48), np.uint8))
    sets, skipped = shipped_test_sets(with_fer, tmp_path / "datasets" / "smile-neutral-scenes")
    assert [label for label, _ in sets][-1] == "test_other_people" and len(skipped) == 2


def test_shipped_test_sets_add_the_reviewed_test_photos(shared: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import detector.recipes

    root = _shared_with_two_scene_tests(shared, tmp_path / "shared")
    dataset = tmp_path / "datasets" / "smile-neutral-scenes"
    _photo_folder(dataset / "test_crops", {"a.jpg": "smile", "b.jpg": "neutral"})
    review = tmp_path / "review.csv"
    review.write_text("image,label\na.jpg,unusable\nb.jpg,neutral\n")
    monkeypatch.setattr(detector.recipes, "TEST_PHOTO_REVIEW_CSV", review)
    sets, skipped = detector.recipes.shipped_test_sets(root, dataset)
    assert [label for label, _ in sets][:2] == ["test_photos", "test_photos_reviewed"]
    assert not any("by-eye labels" in note for note in skipped)
    assert sorted(p.name for p in (sets[1][1].parent / "val" / "images").iterdir()) == ["b.jpg"]


def test_shipped_test_sets_add_the_person_disjoint_real_scenes(shared: Path, tmp_path: Path) -> None:
    from detector.recipes import shipped_test_sets

    root = _shared_with_two_scene_tests(shared, tmp_path / "shared", folders=("train", "valid", "test"))
    sets, skipped = shipped_test_sets(root, tmp_path / "datasets" / "smile-neutral-scenes")
    assert [label for label, _ in sets] == ["test_photos", "test_composites", "test_real_scenes",
                                            "test_real_scenes_by_person"]
    assert "by-eye labels" in skipped[0]
    assert sets[3][1] == tmp_path / "datasets" / "real-scenes-by-person" / "data.yaml"
    report = json.loads((sets[3][1].parent / "real_scenes_report.json").read_text())
    # Six pictures in, each written once (train ones twice: mirrored), and no person on two sides.
    images = {split: report["splits"][split]["images"] for split in ("train", "val", "test")}
    assert images["val"] + images["test"] + images["train"] // 2 == 6
    people = report["identities_per_split"]
    assert not set(people["train"]) & set(people["test"]) and not set(people["val"]) & set(people["test"])


def test_review_sheets_number_every_face(shared: Path, tmp_path: Path) -> None:
    from detector.paths import DEFAULT_CLASSIFIER
    from detector.recipes import REVIEW_CSV, read_review, write_review_sheets

    out = write_review_sheets(shared / "data" / "faces-in-scenes" / "test", DEFAULT_CLASSIFIER, tmp_path / "rev")
    rows = (out / "review_faces.csv").read_text().splitlines()
    faces = len(read_review(REVIEW_CSV))                      # the by-eye review covers every face
    assert len(rows) == faces + 1 and rows[0] == "n,image,face,width_px,p_smile"
    assert len(list(out.glob("review_*.png"))) == -(-faces // 40)


def test_autolabel_agreement_counts_labelled_and_agreeing_faces(tmp_path: Path) -> None:
    from detector.recipes import autolabel_agreement

    _scene_export(tmp_path / "scenes")
    test_dir = tmp_path / "scenes" / "test"
    # Human labels: 40 px smile, 60 px neutral, 30 px smile, 10 px neutral.
    (test_dir / "labels" / "a.txt").write_text("".join(
        f"{c} {rest}" for c, rest in zip("1010", [
            line.split(" ", 1)[1] for line in (test_dir / "labels" / "a.txt").read_text().splitlines(keepends=True)
        ], strict=True)))
    clf = _ScriptedClassifier({40: 0.95, 60: 0.5, 30: 0.05, 10: 0.99})
    got = autolabel_agreement(test_dir, clf)
    # 40 px: labelled smile (agrees); 60 px: unsure; 30 px: labelled neutral (disagrees); 10 px: too small.
    assert (got["faces"], got["labelled"], got["agree"], got["agree_share"]) == (4, 2, 1, 0.5)
    # Argmax: 40 smile right, 60 smile wrong, 30 neutral wrong, 10 smile wrong.
    assert got["argmax_right"] == 1


def test_autolabel_agreement_names_a_folder_without_images(tmp_path: Path) -> None:
    from detector.errors import DatasetError
    from detector.recipes import autolabel_agreement

    with pytest.raises(DatasetError, match="images/"):
        autolabel_agreement(tmp_path, _ScriptedClassifier({}))


def test_autolabel_agreement_cli_names_a_missing_classifier(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from detector.cli import main

    _scene_export(tmp_path / "scenes")
    missing = tmp_path / "nope.pt"
    assert main(["autolabel-agreement", str(missing), "--labelled", str(tmp_path / "scenes" / "test")]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "no such crop classifier" in err


def test_build_classify_mix_adds_fer_faces_to_train_only(tmp_path: Path) -> None:
    from detector.recipes import build_classify_mix

    img = np.full((8, 8, 3), 128, np.uint8)
    for split, n in (("train", 2), ("val", 1), ("test", 1)):
        for cls in ("neutral", "smile"):
            (tmp_path / "classify" / split / cls).mkdir(parents=True)
            for i in range(n):
                cv2.imwrite(str(tmp_path / "classify" / split / cls / f"{i}.jpg"), img)
    for cls, n in (("happy", 3), ("neutral", 1), ("sad", 5)):
        (tmp_path / "fer" / "train" / cls).mkdir(parents=True)
        for i in range(n):
            cv2.imwrite(str(tmp_path / "fer" / "train" / cls / f"{i}.jpg"), img[:, :, 0])
    out = tmp_path / "mix"
    counts = build_classify_mix(tmp_path / "classify", tmp_path / "fer", out)
    assert counts == {"train": {"neutral": 3, "smile": 5}, "val": {"neutral": 1, "smile": 1},
                      "test": {"neutral": 1, "smile": 1}}
    smiles = sorted(p.name for p in (out / "train" / "smile").iterdir())
    assert smiles == ["0.jpg", "1.jpg", "fer_happy_0.jpg", "fer_happy_1.jpg", "fer_happy_2.jpg"]
    assert (out / "train" / "smile" / "fer_happy_0.jpg").is_symlink()
    assert not any(p.name.startswith("fer_") for p in (out / "val").rglob("*"))
    # Re-running replaces the folder with the same content.
    assert build_classify_mix(tmp_path / "classify", tmp_path / "fer", out) == counts


def test_build_classify_mix_names_a_missing_fer_class(tmp_path: Path) -> None:
    from detector.errors import DatasetError
    from detector.recipes import build_classify_mix

    for split in ("train", "val"):
        for cls in ("neutral", "smile"):
            (tmp_path / "classify" / split / cls).mkdir(parents=True)
    (tmp_path / "fer" / "train" / "neutral").mkdir(parents=True)
    with pytest.raises(DatasetError, match="happy"):
        build_classify_mix(tmp_path / "classify", tmp_path / "fer", tmp_path / "mix")
    assert not (tmp_path / "mix").exists()


@pytest.mark.parametrize(("xyxy", "offsets", "expected"), [
    ([10, 20, 110, 120], (0, 0, 0, 0), [10, 20, 110, 120]),                 # identity
    ([10, 20, 110, 120], (-0.1, -0.2, 0.1, 0.1), [0, 0, 120, 130]),        # grown, top clipped at 0
    ([100, 100, 190, 200], (-0.1, -0.1, 0.2, 0.1), [91, 90, 200, 200]),    # clipped at the far edges
    ([50, 50, 150, 100], HUMAN_BOX_OFFSETS, [43.7, 42.2, 156.3, 106.6]),   # taller by 28.8 % of h
])
def test_to_human_box(xyxy: list[float], offsets: tuple, expected: list[float]) -> None:
    out = to_human_box(np.array(xyxy, float), (200, 200), offsets)
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_to_human_box_keeps_the_shape_of_many_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [5, 5, 25, 45]], float)
    out = to_human_box(boxes, (100, 100))
    assert out.shape == (2, 4)
    # a human box contains the YuNet box and is taller in proportion than it is wider
    assert (out[:, :2] <= boxes[:, :2]).all() and (out[:, 2:] >= boxes[:, 2:]).all()
    assert HUMAN_BOX_OFFSETS[3] - HUMAN_BOX_OFFSETS[1] > HUMAN_BOX_OFFSETS[2] - HUMAN_BOX_OFFSETS[0]


@pytest.mark.parametrize(("human", "offsets", "expected"), [
    ([0, 0, 120, 130], (-0.1, -0.2, 0.1, 0.1), [10, 20, 110, 120]),     # grown 20 % wide, 30 % tall
    ([40, 40, 60, 60], (0, 0, 0, 0), [40, 40, 60, 60]),                  # no shift, no change
    ([43.7, 42.2, 156.3, 106.6], HUMAN_BOX_OFFSETS, [50, 50, 150, 100]),  # the shipped shifts
    ([0, 0, 30, 30], (0.5, 0.5, 0.5, 0.5), [0, 0, 15, 15]),              # moved off the image: clipped
])
def test_from_human_box(human: list[float], offsets: tuple, expected: list[float]) -> None:
    out = from_human_box(np.array(human, float), (200, 200), offsets)
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_from_human_box_inverts_to_human_box() -> None:
    rng = np.random.default_rng(0)
    xy = rng.uniform(40, 100, (50, 2))
    boxes = np.hstack([xy, xy + rng.uniform(10, 60, (50, 2))])
    back = from_human_box(to_human_box(boxes, (400, 400)), (400, 400))
    np.testing.assert_allclose(back, boxes, atol=1e-9)


@pytest.mark.parametrize(("report", "expected"), [
    ({"box_offsets": list(HUMAN_BOX_OFFSETS)}, "human"),
    ({"box_offsets": [0, 0, 0, 0]}, "yunet"),
    ({}, "yunet"),                                       # recipes before the human convention
])
def test_dataset_box_convention(tmp_path: Path, report: dict, expected: str) -> None:
    (tmp_path / "recipe_report.json").write_text(json.dumps(report))
    assert dataset_box_convention(tmp_path) == expected


def test_dataset_box_convention_needs_the_report(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="recipe_report.json"):
        dataset_box_convention(tmp_path)


class _ShrinkingFinder:
    """Answers every labelled face with a box 10 % narrower and 20 % shorter at the top."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def find(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = image_bgr.shape[:2]
        name = next(p for p in (self.folder / "images").iterdir() if cv2.imread(str(p)).shape == image_bgr.shape
                    and (cv2.imread(str(p)) == image_bgr).all())
        rows = [ln.split() for ln in (self.folder / "labels" / f"{name.stem}.txt").read_text().splitlines()]
        boxes = []
        for _, cx, cy, bw, bh in rows:
            x1, y1 = (float(cx) - float(bw) / 2) * w, (float(cy) - float(bh) / 2) * h
            x2, y2 = x1 + float(bw) * w, y1 + float(bh) * h
            boxes.append([x1 + 0.05 * (x2 - x1), y1 + 0.2 * (y2 - y1), x2 - 0.05 * (x2 - x1), y2])
        return np.array(boxes).reshape(-1, 4), np.ones(len(boxes))


def test_measure_box_offsets_recovers_a_known_shift(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(tmp_path / "images" / f"s{i}.png"), rng.integers(0, 255, (100, 120, 3), np.uint8))
        (tmp_path / "labels" / f"s{i}.txt").write_text(f"0 0.5 0.5 0.5 0.6\n0 0.2 0.2 0.{i + 1} 0.2\n")
    m = measure_box_offsets(tmp_path, _ShrinkingFinder(tmp_path))
    assert m["faces"] == 6
    # finder box = truth 90 % wide, 80 % tall -> truth edges at -0.05/0.9, -0.2/0.8, +0.05/0.9, 0
    np.testing.assert_allclose(m["median"], [-0.056, -0.25, 0.056, 0.0], atol=1e-3)
    # mapping the finder's boxes with the measured shifts gives back the labelled boxes
    img = cv2.imread(str(tmp_path / "images" / "s0.png"))
    found = _ShrinkingFinder(tmp_path).find(img)[0]
    mapped = to_human_box(found, (120, 100), tuple(m["median"]))
    np.testing.assert_allclose(mapped, [[30, 20, 90, 80], [18, 10, 30, 30]], atol=0.1)


def test_measure_box_offsets_needs_matching_faces(tmp_path: Path) -> None:
    class Blind:
        def find(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return np.zeros((0, 4)), np.zeros(0)

    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "a.png"), np.zeros((50, 50, 3), np.uint8))
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    with pytest.raises(DatasetError, match="no labelled face"):
        measure_box_offsets(tmp_path, Blind())


@pytest.mark.slow
def test_roboflow_singles_reboxed_by_yunet_are_faces_not_pictures(shared: Path) -> None:
    from detector.faces import YuNetFaceFinder

    root = shared / "data" / "roboflow-facial-emotion-7"
    mapping = {"happy": "smile", "neutral": "neutral"}
    as_exported = roboflow_singles(root, mapping)
    unboxed: list[str] = []
    reboxed = roboflow_singles(root, mapping, YuNetFaceFinder(shared / "models" / "face_detection_yunet.onnx"),
                               unboxed)
    assert len(reboxed) + len(unboxed) == len(as_exported)

    def whole_picture(f: object) -> bool:
        w, h = Image.open(f.image_path).size
        x1, y1, x2, y2 = f.box_xyxy
        return (x2 - x1) > 0.9 * w and (y2 - y1) > 0.9 * h

    # 55 of the 135 exported boxes cover the whole picture; YuNet's boxes are the face itself
    assert sum(map(whole_picture, as_exported)) > 40
    assert sum(map(whole_picture, reboxed)) == 0


def _small_shared(shared: Path, root: Path, persons: int = 12, people: list[str] | None = None,
                  reverse: bool = False) -> Path:
    """A ``shared`` folder holding the real photos of a few people (links, nothing copied).

    ``people`` names them (default: the first ``persons`` in name order); ``reverse`` writes
    ``labels.csv`` in reverse order, so its photos are processed the other way round.
    """
    src = shared / "data" / "smile-neutral-faces"
    with (src / "labels.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    keep = people or sorted({r["person"] for r in rows})[:persons]
    rows = [r for r in rows if r["person"] in keep][::-1 if reverse else 1]
    dst = root / "data" / "smile-neutral-faces"
    (dst / "images").mkdir(parents=True)
    for r in rows:
        (dst / "images" / r["image"]).symlink_to(src / "images" / r["image"])
    with (dst / "labels.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (root / "models").mkdir()
    (root / "models" / "face_detection_yunet.onnx").symlink_to(shared / "models" / "face_detection_yunet.onnx")
    return root


@pytest.mark.slow
def test_photo_boxes_do_not_depend_on_the_order_photos_are_boxed_in(shared: Path, tmp_path: Path) -> None:
    # These three people's photos are 18-120 px colour crops; before YuNet enlarged small inputs,
    # some of them were boxed or not depending on the photo boxed before, so builds differed.
    from detector.faces import YuNetFaceFinder

    people = ["Dileep", "Jayamadhuri", "HrithikRoshan"]
    results = []
    for reverse in (False, True):
        small = _small_shared(shared, tmp_path / f"shared-{reverse}", people=people, reverse=reverse)
        rows, missed = load_smile_neutral(small / "data" / "smile-neutral-faces",
                                          YuNetFaceFinder(small / "models" / "face_detection_yunet.onnx"))
        results.append(({r["image"]: r["box"] for r in rows}, sorted(missed)))
    (boxes, missed), (boxes_reversed, missed_reversed) = results
    assert len(boxes) + len(missed) == 298
    assert missed == missed_reversed and len(missed) <= 2
    assert boxes == boxes_reversed


def test_add_val_crops_writes_every_validation_person_photo(shared: Path, tmp_path: Path) -> None:
    small = _small_shared(shared, tmp_path / "shared")
    dataset = tmp_path / "ds"
    dataset.mkdir()
    (dataset / "recipe_report.json").write_text(json.dumps({"box_offsets": list(HUMAN_BOX_OFFSETS), "splits": {}}))
    (dataset / "data_crops.yaml").write_text("path: x\ntrain: train/images\nval: val/images\ntest: test_crops/images\n")
    summary = add_val_crops(small, dataset)
    split, _ = smile_neutral_split(small / "data" / "smile-neutral-faces", (0.6, 0.2, 0.2), 0)
    val_photos = {name for name, s in split.items() if s == "val"}
    written = {p.name.removeprefix("photo_") for p in (dataset / "val_crops" / "images").iterdir()}
    assert written and written <= val_photos  # only photos YuNet could box are written
    assert summary["images"] == len(written)
    labels = {r["image"]: r["expression"] for r in csv.DictReader((small / "data" / "smile-neutral-faces"
                                                                   / "labels.csv").open())}
    for name in written:
        rows = (dataset / "val_crops" / "labels" / f"photo_{Path(name).stem}.txt").read_text().splitlines()
        assert len(rows) == 1 and NAMES[int(rows[0].split()[0])] == labels[name]
    assert "val: val_crops/images" in (dataset / "data_crops.yaml").read_text()
    assert json.loads((dataset / "recipe_report.json").read_text())["splits"]["val_crops"] == summary
    assert add_val_crops(small, dataset) == summary  # a re-run replaces the split with the same files
    assert "val: val_crops/images" in (dataset / "data_crops.yaml").read_text()


def test_add_val_crops_refuses_a_dataset_with_other_box_offsets(shared: Path, tmp_path: Path) -> None:
    (tmp_path / "recipe_report.json").write_text(json.dumps({"box_offsets": [0, 0, 0, 0], "splits": {}}))
    with pytest.raises(DatasetError, match="box offsets"):
        add_val_crops(shared, tmp_path)


def test_shipped_detector_args_are_valid() -> None:
    from detector.recipes import DETECTOR_ARGS, FINETUNE_ARGS
    from detector.train import check_overrides, unfreeze_callback

    check_overrides(DETECTOR_ARGS["overrides"])
    check_overrides(FINETUNE_ARGS["overrides"])
    assert "model" not in FINETUNE_ARGS  # stage two starts from stage one's best.pt
    if DETECTOR_ARGS.get("unfreeze"):
        assert DETECTOR_ARGS["overrides"].get("freeze"), "unfreezing needs a frozen backbone"
        assert callable(unfreeze_callback(**DETECTOR_ARGS["unfreeze"]))


def _fake_recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list, dict]:
    """Stand-ins for the recipe's trainings: (dataset, the calls in order, each stage's keyword args)."""
    import detector.recipes as recipes
    import detector.train as train_mod
    from detector.train import TrainResult

    dataset = tmp_path / "datasets" / "smile-neutral-scenes"
    dataset.mkdir(parents=True)
    (dataset / "data.yaml").write_text("names: {0: neutral, 1: smile}\n")
    (dataset / "recipe_report.json").write_text(json.dumps({"box_offsets": [0.0, 0.01, 0.0, 0.0]}))
    calls: list[tuple[str, object]] = []
    kwargs: dict[str, dict] = {}

    def fake_weights(name: str) -> Path:
        path = tmp_path / "runs" / name / "weights" / "best.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode())
        return path

    def fake_train(data: Path, model: object, *, name: str, **kw: object) -> TrainResult:
        calls.append((name, model))
        kwargs[name] = kw
        best = fake_weights(name)
        seconds = {"classifier": 600.0, "detector": 3600.0, "finetune": 1800.0}[name]
        return TrainResult(best, best, best.parent.parent, seconds, 2)

    monkeypatch.setattr(train_mod, "train_classifier", fake_train)
    monkeypatch.setattr(train_mod, "train", fake_train)
    monkeypatch.setattr(train_mod, "tag_box_convention", lambda path, convention: calls.append(("tag", convention)))
    monkeypatch.setattr(recipes, "build_real_scenes", lambda src, cls, out, **kw: calls.append(("real", cls)))
    monkeypatch.setattr(recipes, "evaluate_shipped_model", lambda *a, **kw: {"test_photos": {}})
    return dataset, calls, kwargs


def test_train_shipped_model_runs_the_stages_in_order_and_times_each(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import detector.recipes as recipes

    dataset, calls, kwargs = _fake_recipe(tmp_path, monkeypatch)
    out = tmp_path / "out" / "smile-neutral-yolo11n.pt"
    summary = recipes.train_shipped_model(tmp_path / "shared", out, dataset=dataset, runs=tmp_path / "runs")

    cls_best = tmp_path / "runs" / "classifier" / "weights" / "best.pt"
    det_best = tmp_path / "runs" / "detector" / "weights" / "best.pt"
    assert [c[0] for c in calls] == ["classifier", "real", "detector", "finetune", "tag", "tag"]
    assert calls[1][1] == cls_best and calls[3][1] == det_best   # each stage starts from the one before
    assert [c[1] for c in calls[4:]] == ["yunet", "human"]
    seconds = summary["seconds"]
    assert (seconds["classifier"], seconds["detector"], seconds["finetune"]) == (600.0, 3600.0, 1800.0)
    assert seconds["total"] == 6000.0
    assert out.read_bytes() == b"finetune" and (out.parent / "smile-neutral-cls.pt").read_bytes() == b"classifier"
    assert (tmp_path / "datasets" / "mixed.yaml").is_file()
    assert kwargs["detector"]["overrides"]["time"] == recipes.DETECTOR_ARGS["overrides"]["time"]
    assert calls[0][1] == "yolo11n-cls.yaml" and calls[2][1] == "yolo11n.yaml"
    assert {kw["seed"] for kw in kwargs.values()} == {0}


def test_train_shipped_model_seeds_every_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import detector.recipes as recipes

    dataset, calls, kwargs = _fake_recipe(tmp_path, monkeypatch)
    recipes.train_shipped_model(tmp_path / "shared", tmp_path / "out.pt", dataset=dataset, runs=tmp_path / "runs",
                                evaluate=False, seed=1, threads=1)
    assert {name: (kw["seed"], kw["threads"]) for name, kw in kwargs.items()} == {
        "classifier": (1, 1), "detector": (1, 1), "finetune": (1, 1)}
    assert recipes.DETECTOR_ARGS["seed"] == 0          # the recipe's own table is left as it was


def test_train_shipped_model_adds_extra_training_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import detector.recipes as recipes

    dataset, calls, kwargs = _fake_recipe(tmp_path, monkeypatch)
    with pytest.raises(DatasetError, match="expected an image folder") as err:
        recipes.train_shipped_model(tmp_path / "shared", tmp_path / "out.pt", dataset=dataset, runs=tmp_path / "runs",
                                    evaluate=False, extra_train=(tmp_path / "nowhere",))
    assert str(tmp_path / "nowhere") in str(err.value) and calls == []      # failed before any training
    extra = tmp_path / "small" / "train" / "images"
    extra.mkdir(parents=True)
    recipes.train_shipped_model(tmp_path / "shared", tmp_path / "out.pt", dataset=dataset, runs=tmp_path / "runs",
                                evaluate=False, extra_train=(extra,))
    text = (dataset.parent / "mixed-extra.yaml").read_text()
    assert str(extra.resolve()) in text.split("val:")[0]                   # train only, not val
    assert not (dataset.parent / "mixed.yaml").exists()


@pytest.mark.parametrize(("options", "builder", "folder"), [
    ({}, "build_real_scenes", "real-scenes"),
    ({"reviewed_scenes": True}, "build_real_scenes", "real-scenes-reviewed"),
    ({"person_disjoint_scenes": True}, "build_person_disjoint_scenes", "real-scenes-by-person"),
])
def test_train_shipped_model_builds_the_real_scenes_it_is_asked_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: dict, builder: str, folder: str) -> None:
    import detector.recipes as recipes

    dataset, calls, kwargs = _fake_recipe(tmp_path, monkeypatch)
    built: list[tuple[str, Path, object]] = []
    monkeypatch.setattr(recipes, "build_real_scenes",
                        lambda src, cls, out, **kw: built.append(("build_real_scenes", out, kw.get("reviews"))))
    monkeypatch.setattr(recipes, "build_person_disjoint_scenes",
                        lambda src, out, **kw: built.append(("build_person_disjoint_scenes", out, None)))
    recipes.train_shipped_model(tmp_path / "shared", tmp_path / "out.pt", dataset=dataset, runs=tmp_path / "runs",
                                evaluate=False, **options)
    assert [(b[0], b[1].name) for b in built] == [(builder, folder)]
    if options.get("reviewed_scenes"):
        assert built[0][2] == {"train": recipes.SCENE_TRAIN_REVIEW_CSV, "valid": recipes.SCENE_VAL_REVIEW_CSV}
    mixed = dataset.parent / f"mixed{folder.removeprefix('real-scenes')}.yaml"
    assert f"{folder}/train/images" in mixed.read_text() and f"{folder}/val/images" in mixed.read_text()
    assert ("tag", "human") in calls          # evaluate=False still tags and copies the weights
    assert (tmp_path / "out.pt").read_bytes() == b"finetune"


def test_train_shipped_model_at_another_width_fits_its_budget(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import detector.recipes as recipes

    dataset, calls, kwargs = _fake_recipe(tmp_path, monkeypatch)
    runs = tmp_path / "runs"
    recipes.train_shipped_model(tmp_path / "shared", tmp_path / "out.pt", dataset=dataset, runs=runs,
                                width=0.1875, budget_hours=2)
    assert calls[0][1] == runs / "cfg" / "yolo11n-cls.yaml" and calls[2][1] == runs / "cfg" / "yolo11n.yaml"
    assert "0.1875" in (runs / "cfg" / "yolo11n.yaml").read_text()
    # The classifier took 600 s of 7,200: (7200 - 600 - 240) s split 2:1.
    assert kwargs["detector"]["overrides"]["time"] == 1.178
    assert kwargs["finetune"]["overrides"]["time"] == 0.589
    assert kwargs["detector"]["overrides"]["freeze"] == recipes.DETECTOR_ARGS["overrides"]["freeze"]
    assert recipes.DETECTOR_ARGS["overrides"]["time"] == 1.18   # the recipe's own caps are left alone


def test_train_shipped_model_refuses_a_budget_the_classifier_used_up(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import detector.recipes as recipes

    dataset, calls, _ = _fake_recipe(tmp_path, monkeypatch)
    with pytest.raises(ModelError, match="nothing left"):
        recipes.train_shipped_model(tmp_path / "shared", tmp_path / "out.pt", dataset=dataset,
                                    runs=tmp_path / "runs", budget_hours=0.2)
    assert [c[0] for c in calls] == ["classifier"]
    with pytest.raises(ModelError, match="width"):
        recipes.train_shipped_model(tmp_path / "shared", tmp_path / "out.pt", dataset=dataset,
                                    runs=tmp_path / "runs", width=1.5)


def _photo_split(root: Path, photos: int = 10) -> Path:
    rng = np.random.default_rng(0)
    for sub in ("images", "labels"):
        (root / sub).mkdir(parents=True)
    for i in range(photos):
        cv2.imwrite(str(root / "images" / f"photo_{i:02d}.jpg"), rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
        (root / "labels" / f"photo_{i:02d}.txt").write_text(f"{i % 2} 0.5 0.5 0.8 0.9\n")
    cv2.imwrite(str(root / "images" / "scene_a.jpg"), np.zeros((64, 96, 3), np.uint8))
    (root / "labels" / "scene_a.txt").write_text("0 0.2 0.2 0.1 0.1\n")
    return root


def test_lower_photo_resolution_replaces_a_seeded_share_of_close_ups(tmp_path: Path) -> None:
    a, b = _photo_split(tmp_path / "a"), _photo_split(tmp_path / "b")
    labels_before = {p.name: p.read_text() for p in (a / "labels").iterdir()}
    assert lower_photo_resolution(a, 0.3, (8, 16), seed=0) == 3
    lower_photo_resolution(b, 0.3, (8, 16), seed=0)
    names = sorted(p.name for p in (a / "images").iterdir())
    assert names == sorted(p.name for p in (b / "images").iterdir())   # same seed, same choice
    low = [n for n in names if n.startswith("lowres_")]
    assert len(low) == 3 and len(names) == 11 and "scene_a.jpg" in names
    for name in low:
        stem = Path(name).stem
        original = stem.removeprefix("lowres_")
        assert not (a / "images" / f"{original}.jpg").exists()
        assert (a / "labels" / f"{stem}.txt").read_text() == labels_before[f"{original}.txt"]
        img = cv2.imread(str(a / "images" / name))
        assert img.shape == (64, 64, 3)
        assert img.std() < 40   # noise averaged away: the detail of a picture at most 16 px wide
    c = _photo_split(tmp_path / "c")
    lower_photo_resolution(c, 0.3, (8, 16), seed=1)
    assert sorted(p.name for p in (c / "images").iterdir()) != names


def test_lower_photo_resolution_names_an_unreadable_photo(tmp_path: Path) -> None:
    split = _photo_split(tmp_path / "s", photos=2)
    (split / "images" / "photo_00.jpg").write_bytes(b"not a picture")
    (split / "images" / "photo_01.jpg").write_bytes(b"not a picture")
    with pytest.raises(DatasetError, match="photo_0.\\.jpg: unreadable image"):
        lower_photo_resolution(split, 0.5, (8, 16), seed=0)


def test_lower_photo_resolution_rejects_a_share_outside_0_1(tmp_path: Path) -> None:
    split = _photo_split(tmp_path / "s", photos=2)
    with pytest.raises(ValueError, match="between 0 and 1"):
        lower_photo_resolution(split, 1.5, (8, 16), seed=0)
    assert len(list((split / "images").iterdir())) == 3   # nothing touched


@pytest.mark.parametrize(("budget_s", "classifier_s", "expected"), [
    (7200, 900, (1.122, 0.561)),     # session 26's classifier time
    (7200, 625, (1.173, 0.587)),     # v9's
    (3600 + 240, 0, (0.667, 0.333)),
])
def test_split_budget_gives_the_detector_two_thirds_of_what_is_left(budget_s: float, classifier_s: float,
                                                                    expected: tuple[float, float]) -> None:
    from detector.recipes import split_budget

    assert split_budget(budget_s, classifier_s) == expected


def test_split_budget_refuses_a_budget_the_classifier_used_up() -> None:
    from detector.recipes import split_budget

    with pytest.raises(ValueError, match="nothing left"):
        split_budget(1000, 800)


def test_yolo11_yamls_build_a_classifier_whose_backbone_fits_the_detector(tmp_path: Path) -> None:
    from ultralytics import YOLO

    from detector.recipes import yolo11_yamls

    det_yaml, cls_yaml = yolo11_yamls(0.1875, tmp_path)
    det, cls = YOLO(str(det_yaml)).model, YOLO(str(cls_yaml)).model
    assert det.yaml["nc"] == 2 and cls.yaml["nc"] == 2
    det_sd, cls_sd = det.state_dict(), cls.state_dict()
    # Layers 0-8 (the backbone) have the same tensors, so the detector can load the classifier's.
    backbone = [k for k in cls_sd if int(k.split(".")[1]) <= 8]
    assert backbone and all(det_sd[k].shape == cls_sd[k].shape for k in backbone)
    narrow = sum(t.numel() for t in det.parameters())
    default = sum(t.numel() for t in YOLO(str(yolo11_yamls(0.25, tmp_path / "n")[0])).model.parameters())
    assert narrow < 0.7 * default
    with pytest.raises(ValueError, match="width"):
        yolo11_yamls(0, tmp_path)


def test_train_shipped_model_budgets_from_the_classifier_an_earlier_call_trained(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    import detector.recipes as recipes
    import detector.train as train_mod

    dataset, _, kwargs = _fake_recipe(tmp_path, monkeypatch)
    trained = train_mod.train_classifier

    def finished_before(*a: object, **kw: object) -> object:
        result = trained(*a, **kw)
        # As a resume that found the run finished reports it: 0 s in this call, the time in results.csv.
        (result.run_dir / "results.csv").write_text("epoch,time,train/loss\n1,450.0,0.7\n2,900.0,0.5\n")
        return dataclasses.replace(result, seconds=0.0)

    monkeypatch.setattr(train_mod, "train_classifier", finished_before)
    recipes.train_shipped_model(tmp_path / "shared", tmp_path / "out.pt", dataset=dataset, runs=tmp_path / "runs",
                                budget_hours=2)
    assert (kwargs["detector"]["overrides"]["time"], kwargs["finetune"]["overrides"]["time"]) == (1.122, 0.561)


@pytest.mark.parametrize(("xyxy", "expected"), [
    ((20, 15, 140, 150), (0, 0, 160, 160)),            # inside the top-left cell
    ((500, 490, 630, 635), (480, 480, 640, 640)),      # bottom-right cell
    ((165, 330, 315, 470), (160, 320, 320, 480)),
    ((150, 10, 300, 150), (160, 0, 320, 160)),         # 10 px over the edge: within the 2 % slack (12.8 px)
    ((100, 15, 220, 150), None),                       # across two cells
    ((0, 0, 640, 640), None),                          # the whole picture
])
def test_grid_cell_xyxy(xyxy: tuple, expected: tuple | None) -> None:
    from detector.recipes import grid_cell_xyxy

    cell = grid_cell_xyxy(np.array(xyxy, float), (640, 640))
    assert (cell is None) if expected is None else cell.tolist() == list(expected)


def _grid_export(root: Path) -> None:
    """A 7-class export: one 4x4 grid source (a plain copy in valid/, an altered one in train/), one single face."""
    rng = np.random.default_rng(0)
    faces = [rng.integers(0, 255, (160, 160, 3), dtype=np.uint8) for _ in range(16)]
    faces[5] = faces[0].copy()                     # the same face twice in one grid
    grid = np.vstack([np.hstack(faces[r * 4:r * 4 + 4]) for r in range(4)])
    # cells 0-3: happy, neutral, angry, happy (3 = duplicate of 0, as cell 5); cell 4 crosses into cell 5
    rows = {0: 3, 1: 4, 2: 0, 5: 3}
    lines = []
    for cell, cls in rows.items():
        r, c = divmod(cell, 4)
        lines.append(f"{cls} {(c * 160 + 80) / 640} {(r * 160 + 80) / 640} {120 / 640} {140 / 640}\n")
    lines.append(f"4 {(160 + 40) / 640} {(160 + 80) / 640} {200 / 640} {140 / 640}\n")   # crosses cells 4 and 5
    root.mkdir(parents=True)
    (root / "data.yaml").write_text("names: ['angry', 'disgust', 'fear', 'happy', 'neutral', 'sad', 'surprise']\n")
    for folder, name, img in (("valid", "g1_jpg.rf.aaa.jpg", grid), ("train", "g1_jpg.rf.bbb.jpg", 255 - grid),
                              ("train", "single_jpg.rf.ccc.jpg", faces[1])):
        (root / folder / "images").mkdir(parents=True, exist_ok=True)
        (root / folder / "labels").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / folder / "images" / name), img, [cv2.IMWRITE_JPEG_QUALITY, 100])
        text = "3 0.5 0.5 1 1\n" if name.startswith("single") else "".join(lines)
        (root / folder / "labels" / f"{Path(name).stem}.txt").write_text(text)


def test_grid_faces_one_image_per_mapped_face(tmp_path: Path) -> None:
    from detector.labels import read_label_file
    from detector.recipes import build_grid_faces

    _grid_export(tmp_path / "rf")
    report = build_grid_faces(tmp_path / "rf", tmp_path / "out", reviews=None)
    assert report["grids"] == 1                                # one source, read once
    assert report["faces"] == {"smile": 1, "neutral": 1}      # angry left out; cell 5 is cell 0 again
    assert (report["duplicates"], report["crossing_cells"]) == (1, 1)
    images = sorted((tmp_path / "out" / "val" / "images").iterdir())
    assert [p.name for p in images] == ["g1_jpg_00.jpg", "g1_jpg_01.jpg"]
    first = cv2.imread(str(images[0]))
    assert first.shape == (160, 160, 3)
    source = cv2.imread(str(tmp_path / "rf" / "valid" / "images" / "g1_jpg.rf.aaa.jpg"))[:160, :160]
    assert np.abs(first.astype(int) - source).mean() < 8       # the valid/ copy, not train/'s altered one
    (row,) = read_label_file(tmp_path / "out" / "val" / "labels" / "g1_jpg_00.txt", 2)
    assert row.class_id == NAMES.index("smile")
    assert np.allclose(row.xywhn, (0.5, 0.5, 120 / 160, 140 / 160), atol=1e-3)
    assert "val: val/images" in (tmp_path / "out" / "data.yaml").read_text()


def test_grid_faces_name_a_missing_class(tmp_path: Path) -> None:
    from detector.recipes import build_grid_faces

    _grid_export(tmp_path / "rf")
    with pytest.raises(DatasetError, match=r"classes \['joy'\] not in the export's names") as err:
        build_grid_faces(tmp_path / "rf", tmp_path / "out", {"joy": "smile"})
    assert str(tmp_path / "rf" / "data.yaml") in str(err.value)
    assert not (tmp_path / "out").exists()


def test_grid_faces_take_the_reviewed_labels(tmp_path: Path) -> None:
    from detector.labels import read_label_file
    from detector.recipes import build_grid_faces

    _grid_export(tmp_path / "rf")
    review = tmp_path / "review.csv"
    # The export calls face 00 happy and face 01 neutral; the reviewer disagrees with one, drops the other.
    review.write_text("# by eye\nimage,label\ng1_jpg_00.jpg,neutral\ng1_jpg_01.jpg,unusable\n")
    report = build_grid_faces(tmp_path / "rf", tmp_path / "out", reviews=(review,))
    assert (report["faces"], report["unusable"], report["relabelled"]) == ({"neutral": 1}, 1, 1)
    (row,) = read_label_file(tmp_path / "out" / "val" / "labels" / "g1_jpg_00.txt", 2)
    assert row.class_id == NAMES.index("neutral")
    assert not (tmp_path / "out" / "val" / "images" / "g1_jpg_01.jpg").exists()

    review.write_text("image,label\ng1_jpg_00.jpg,smile\n")
    with pytest.raises(DatasetError, match=r"no review of grid face g1_jpg_01.jpg \(valid/g1_jpg.rf.aaa.jpg, box 2\)"):
        build_grid_faces(tmp_path / "rf", tmp_path / "out2", reviews=(review,))
    review.write_text("image,label\ng1_jpg_00.jpg,happy\n")
    with pytest.raises(DatasetError, match="row 2: label must be smile, neutral or unusable, got 'happy'") as err:
        build_grid_faces(tmp_path / "rf", tmp_path / "out2", reviews=(review,))
    assert str(review) in str(err.value) and not (tmp_path / "out2").exists()


def test_shipped_grid_reviews_are_complete() -> None:
    from detector.recipes import GRID_REVIEWS, read_image_review

    happy, neutral = (read_image_review(path) for path in GRID_REVIEWS)
    assert len(happy) == 466 and len(neutral) == 555 and not set(happy) & set(neutral)
    assert collections.Counter(neutral.values())["smile"] == 0


def _photo_folder(root: Path, labels: dict[str, str]) -> None:
    for sub in ("images", "labels"):
        (root / sub).mkdir(parents=True)
    rng = np.random.default_rng(1)
    for name, label in labels.items():
        cv2.imwrite(str(root / "images" / name), rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
        (root / "labels" / f"{Path(name).stem}.txt").write_text(f"{NAMES.index(label)} 0.5 0.5 0.8 0.9\n")


def test_reviewed_photos_relabel_and_leave_out_unusable(tmp_path: Path) -> None:
    from detector.labels import read_label_file
    from detector.recipes import build_reviewed_photos

    _photo_folder(tmp_path / "val", {"a.jpg": "smile", "b.jpg": "neutral", "c.jpg": "smile"})
    review = tmp_path / "review.csv"
    review.write_text("# by eye\nimage,label\na.jpg,smile\nb.jpg,smile\nc.jpg,unusable\n")
    report = build_reviewed_photos(tmp_path / "val", tmp_path / "out", review)
    assert (report["kept"], report["unusable"], report["relabelled"]) == ({"smile": 2}, 1, 1)
    out = tmp_path / "out" / "val"
    assert sorted(p.name for p in (out / "images").iterdir()) == ["a.jpg", "b.jpg"]
    assert (out / "images" / "b.jpg").read_bytes() == (tmp_path / "val" / "images" / "b.jpg").read_bytes()
    (row,) = read_label_file(out / "labels" / "b.txt", 2)
    assert row.class_id == NAMES.index("smile") and np.allclose(row.xywhn, (0.5, 0.5, 0.8, 0.9))
    assert (tmp_path / "val" / "labels" / "b.txt").read_text().startswith("0 ")   # the source is untouched
    assert "val: val/images" in (tmp_path / "out" / "data.yaml").read_text()


@pytest.mark.parametrize(("review", "message"), [
    ("image,label\na.jpg,smile\n", r"no review of b.jpg"),
    ("image,label\na.jpg,smile\nb.jpg,neutral\nz.jpg,smile\n", r"1 reviewed images are not in .*, e.g. z.jpg"),
    ("image,label\na.jpg,smile\nb.jpg,grin\n", r"row 3: label must be smile, neutral or unusable, got 'grin'"),
])
def test_reviewed_photos_refuse_a_review_of_other_images(tmp_path: Path, review: str, message: str) -> None:
    from detector.recipes import build_reviewed_photos

    _photo_folder(tmp_path / "val", {"a.jpg": "smile", "b.jpg": "neutral"})
    (tmp_path / "review.csv").write_text(review)
    with pytest.raises(DatasetError, match=message) as err:
        build_reviewed_photos(tmp_path / "val", tmp_path / "out", tmp_path / "review.csv")
    assert str(tmp_path / "review.csv") in str(err.value)
    assert not (tmp_path / "out").exists()


def test_reviewed_photos_refuse_an_image_with_two_faces(tmp_path: Path) -> None:
    from detector.recipes import build_reviewed_photos

    _photo_folder(tmp_path / "val", {"a.jpg": "smile"})
    (tmp_path / "val" / "labels" / "a.txt").write_text("1 0.3 0.5 0.2 0.2\n0 0.7 0.5 0.2 0.2\n")
    (tmp_path / "review.csv").write_text("image,label\na.jpg,smile\n")
    with pytest.raises(DatasetError, match="expected one face per image, got 2 boxes") as err:
        build_reviewed_photos(tmp_path / "val", tmp_path / "out", tmp_path / "review.csv")
    assert "a.txt" in str(err.value)


@pytest.mark.parametrize(("name", "counts"), [("VAL_PHOTO_REVIEW_CSV", (779, 525, 664)),
                                              ("TEST_PHOTO_REVIEW_CSV", (674, 402, 892)),
                                              ("TRAIN_PHOTO_REVIEW_CSV", (1563, 1074, 3267))])
def test_shipped_photo_reviews_are_complete_and_match_their_counts(name: str, counts: tuple) -> None:
    import detector.recipes

    review = detector.recipes.read_image_review(getattr(detector.recipes, name))
    assert len(review) == sum(counts)
    assert collections.Counter(review.values()) == dict(zip(("neutral", "smile", "unusable"), counts, strict=True))


@pytest.mark.slow
def test_training_photo_review_names_exactly_the_recipes_train_people(shared: Path) -> None:
    from detector.recipes import TRAIN_PHOTO_REVIEW_CSV, read_image_review, smile_neutral_split

    split_of, _ = smile_neutral_split(shared / "data" / "smile-neutral-faces", (0.6, 0.2, 0.2), 0)
    train = {img for img, split in split_of.items() if split == "train"}
    assert set(read_image_review(TRAIN_PHOTO_REVIEW_CSV)) == train


@pytest.mark.parametrize(("labels", "review", "kept", "counts"), [
    (["smile", "neutral"], {"a.jpg": "smile", "b.jpg": "neutral"}, [("a.jpg", "smile"), ("b.jpg", "neutral")],
     {"kept": 2, "relabelled": 0, "unusable": 0}),
    (["smile", "neutral"], {"a.jpg": "neutral", "b.jpg": "unusable"}, [("a.jpg", "neutral")],
     {"kept": 1, "relabelled": 1, "unusable": 1}),
    (["neutral", "neutral"], {"a.jpg": "unusable", "b.jpg": "unusable"}, [],
     {"kept": 0, "relabelled": 0, "unusable": 2}),
])
def test_reviewed_faces(labels: list[str], review: dict, kept: list, counts: dict) -> None:
    from detector.recipes import reviewed_faces
    from detector.scenes import FaceSample

    faces = [FaceSample(Path(f"photos/{n}"), (1.0, 2.0, 30.0, 40.0), NAMES.index(lab), n[0])
             for n, lab in zip(("a.jpg", "b.jpg"), labels, strict=True)]
    before = list(faces)
    out, got = reviewed_faces(faces, review)
    assert [(f.image_path.name, NAMES[f.class_id]) for f in out] == kept and got == counts
    assert all(f.box_xyxy == (1.0, 2.0, 30.0, 40.0) and f.group == f.image_path.name[0] for f in out)
    assert faces == before                                   # the caller's list is left as it was
    with pytest.raises(KeyError, match="b.jpg"):
        reviewed_faces(faces, {"a.jpg": "smile"})


def test_train_shipped_model_refuses_a_dataset_built_the_other_way(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import detector.recipes as recipes

    dataset, calls, _ = _fake_recipe(tmp_path, monkeypatch)      # built without the review

    def ship(reviewed_photos: str | None) -> None:
        recipes.train_shipped_model(tmp_path / "shared", tmp_path / "out.pt", dataset=dataset, runs=tmp_path / "runs",
                                    evaluate=False, reviewed_photos=reviewed_photos)

    with pytest.raises(DatasetError, match="built with training-photo review none, this run needs drop") as err:
        ship("drop")
    assert "recipe_report.json" in str(err.value) and calls == []
    report = json.loads((dataset / "recipe_report.json").read_text())
    report["train_review"] = recipes.TRAIN_PHOTO_REVIEW_CSV.name     # a session-31 build: no train_review_use
    (dataset / "recipe_report.json").write_text(json.dumps(report))
    with pytest.raises(DatasetError, match="built with training-photo review drop, this run needs none"):
        ship(None)
    with pytest.raises(DatasetError, match="review drop, this run needs closeups-first"):
        ship("closeups-first")
    ship("drop")
    assert [c[0] for c in calls][:1] == ["classifier"]
    report["train_review_use"] = "closeups-first"
    (dataset / "recipe_report.json").write_text(json.dumps(report))
    with pytest.raises(DatasetError, match="review closeups-first, this run needs drop"):
        ship("drop")
    with pytest.raises(ValueError, match="'drop' or 'closeups-first'"):
        ship("keep")


def test_train_shipped_model_classifier_size_needs_crops_of_that_size(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import detector.recipes as recipes

    dataset, calls, kwargs = _fake_recipe(tmp_path, monkeypatch)      # a pre-session-33 build: 112 px crops

    def ship(**kw: object) -> None:
        recipes.train_shipped_model(tmp_path / "shared", tmp_path / "out.pt", dataset=dataset, runs=tmp_path / "runs",
                                    evaluate=False, **kw)

    with pytest.raises(DatasetError, match="classifier crops of 112 px, this run needs 187 px") as err:
        ship(classifier_imgsz=160)
    assert "recipe_report.json" in str(err.value) and calls == []
    ship(classifier_epochs=10)                     # the recipe's 96 px on the 112 px crops; only epochs change
    assert (kwargs["classifier"]["imgsz"], kwargs["classifier"]["epochs"]) == (96, 10)
    report = json.loads((dataset / "recipe_report.json").read_text())
    (dataset / "recipe_report.json").write_text(json.dumps({**report, "classifier_crop": 187}))
    with pytest.raises(DatasetError, match="classifier crops of 187 px, this run needs 112 px"):
        ship()
    ship(classifier_imgsz=160)
    assert (kwargs["classifier"]["imgsz"], kwargs["classifier"]["epochs"]) == (160, recipes.CLASSIFIER_ARGS["epochs"])
    assert recipes.CLASSIFIER_ARGS["imgsz"] == 96                   # the recipe's own arguments are not changed
    with pytest.raises(ValueError, match="at least 32"):       # a caller's mistake; the CLI's parser refuses it
        ship(classifier_imgsz=16)


def test_train_shipped_model_precision_goes_to_both_detector_stages_only(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import detector.recipes as recipes
    import detector.train as train_module

    dataset, calls, kwargs = _fake_recipe(tmp_path, monkeypatch)

    def ship(**kw: object) -> None:
        recipes.train_shipped_model(tmp_path / "shared", tmp_path / "out.pt", dataset=dataset, runs=tmp_path / "runs",
                                    evaluate=False, **kw)

    ship()
    assert all("amp" not in kwargs[stage].get("overrides", {}) for stage in ("classifier", "detector", "finetune"))
    monkeypatch.setattr(train_module, "cpu_supports_bf16", lambda: True)
    ship(precision="bf16")
    assert kwargs["detector"]["overrides"]["amp"] == kwargs["finetune"]["overrides"]["amp"] == "bf16"
    assert "amp" not in kwargs["classifier"].get("overrides", {})         # the classifier stays float32
    assert kwargs["detector"]["overrides"]["freeze"] == recipes.DETECTOR_ARGS["overrides"]["freeze"]
    assert "amp" not in recipes.DETECTOR_ARGS["overrides"]                 # the recipe itself is not changed
    n_calls = len(calls)
    monkeypatch.setattr(train_module, "cpu_supports_bf16", lambda: False)
    with pytest.raises(ModelError, match="needs a CPU with native bfloat16"):
        ship(precision="bf16")
    with pytest.raises(ModelError, match="precision must be one of"):
        ship(precision="fp8")
    assert len(calls) == n_calls                        # refused before the classifier's ten minutes


@pytest.mark.parametrize(("imgsz", "side"), [(96, 112), (128, 149), (160, 187), (192, 224), (32, 37)])
def test_classifier_crop_side_keeps_the_recipe_ratio(imgsz: int, side: int) -> None:
    from detector.recipes import RecipeConfig, classifier_crop_side

    assert classifier_crop_side(imgsz) == side
    assert RecipeConfig(classifier_crop=side).classifier_crop == side


def test_classifier_crop_below_32_px_is_refused() -> None:
    from detector.recipes import RecipeConfig, classifier_crop_side

    with pytest.raises(ValueError, match="at least 32 px, got 31"):
        RecipeConfig(classifier_crop=31)
    with pytest.raises(ValueError, match="at least 32 px, got 8"):
        classifier_crop_side(8)


@pytest.mark.parametrize(("order", "limit", "first", "expected"), [
    ([0, 1, 2, 3], 2, set(), ["a", "b"]),                         # no review: the seeded order (the shipped recipe)
    ([3, 2, 1, 0], 2, {"b.jpg", "c.jpg"}, ["c", "b"]),            # reviewed ones first, in the seeded order
    ([3, 2, 1, 0], 3, {"b.jpg"}, ["b", "d", "c"]),                # then the others, in the seeded order
    ([0, 1, 2, 3], None, {"d.jpg"}, ["d", "a", "b", "c"]),        # no limit: every face
    ([0, 1], 5, {"x.jpg"}, ["a", "b"]),                           # a name the faces lack changes nothing
])
def test_closeup_pool_draws_the_given_pictures_first(order: list[int], limit: int | None, first: set[str],
                                                     expected: list[str]) -> None:
    from detector.recipes import closeup_pool
    from detector.scenes import FaceSample

    faces = [FaceSample(Path(f"{c}.jpg"), (0.0, 0.0, 9.0, 9.0), 0, c) for c in "abcd"]
    before, order_before = list(faces), list(order)
    assert [f.image_path.stem for f in closeup_pool(faces, order, limit, first)] == expected
    assert faces == before and order == order_before


def test_person_photos_apply_the_training_review_to_training_people_only(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import detector.recipes as recipes

    rows = [{"image": f"{n}.jpg", "box": (0, 0, 9, 9), "expression": "smile", "person": n} for n in "abc"]
    monkeypatch.setattr(recipes, "smile_neutral_split", lambda *a: ({"a.jpg": "train", "b.jpg": "train",
                                                                      "c.jpg": "val"}, []))
    monkeypatch.setattr(recipes, "load_smile_neutral", lambda root, finder: (rows, []))
    review = tmp_path / "review.csv"
    review.write_text("image,label\na.jpg,unusable\nb.jpg,neutral\n")
    photos, _, _, counts = recipes._person_photos(tmp_path, None, recipes.RecipeConfig(train_review=review))
    assert [(f.image_path.name, NAMES[f.class_id]) for f in photos["train"]] == [("b.jpg", "neutral")]
    assert [(f.image_path.name, NAMES[f.class_id]) for f in photos["val"]] == [("c.jpg", "smile")]
    assert counts == {"kept": 1, "relabelled": 1, "unusable": 1}
    review.write_text("image,label\na.jpg,smile\n")
    with pytest.raises(DatasetError, match="no review of training photo b.jpg") as err:
        recipes._person_photos(tmp_path, None, recipes.RecipeConfig(train_review=review))
    assert str(review) in str(err.value)
    photos, _, _, counts = recipes._person_photos(tmp_path, None, recipes.RecipeConfig())
    assert len(photos["train"]) == 2 and counts is None
    review.write_text("image,label\na.jpg,unusable\nb.jpg,neutral\n")
    # closeups-first keeps every photo with the dataset's label and only counts the review.
    photos, _, _, counts = recipes._person_photos(tmp_path, None, recipes.RecipeConfig(train_review=review,
                                                                                       review_use="closeups-first"))
    assert [(f.image_path.name, NAMES[f.class_id]) for f in photos["train"]] == [("a.jpg", "smile"),
                                                                                   ("b.jpg", "smile")]
    assert counts == {"unusable": 1, "neutral": 1}
    with pytest.raises(ValueError, match="review_use"):
        recipes._person_photos(tmp_path, None, recipes.RecipeConfig(train_review=review, review_use="both"))
