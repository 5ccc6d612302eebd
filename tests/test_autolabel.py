"""`exprdet autolabel`: inputs, face policies, reports, and real photos with YuNet and Haar."""

from __future__ import annotations

import csv
import json
import random
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest

from detector import autolabel as al
from detector.autolabel import (
    LabelledImage,
    autolabel,
    contact_sheet,
    items_from_csv,
    items_from_folders,
    items_from_frames,
)
from detector.build import build_dataset, load_pool
from detector.cli import main
from detector.errors import DatasetError, ModelError
from detector.labels import read_label_file, xywhn_to_xyxy

SMILE_DIR = "data/smile-neutral-faces"


class SquareFinder:
    """Test double for a face finder: every bright (>200) blob is a "face".

    Lets the policy, reporting and input code run on synthetic images in milliseconds.
    """

    name = "squares"

    def find(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mask = (image_bgr.min(axis=2) > 200).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        boxes = [(x, y, x + w, y + h) for x, y, w, h, _ in stats[1:n]]
        xyxy = np.array(boxes, np.float32).reshape(-1, 4)
        order = np.argsort(-(xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1]), kind="stable")
        return xyxy[order], np.ones(len(xyxy), np.float32)


@pytest.fixture
def squares(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(al, "make_face_finder", lambda face_model=None: SquareFinder())


def picture(path: Path, squares: list[tuple[int, int, int, int]],
            wh: tuple[int, int] = (160, 120)) -> Path:
    """A dark image with white squares at pixel ``xyxy`` boxes."""
    img = np.full((wh[1], wh[0], 3), 40, np.uint8)
    for x1, y1, x2, y2 in squares:
        img[y1:y2, x1:x2] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)
    return path


def test_policies_and_report(tmp_path: Path, squares: None) -> None:
    src = tmp_path / "src"
    one = picture(src / "one.png", [(10, 20, 50, 60)])
    none = picture(src / "none.png", [])
    two = picture(src / "two.png", [(2, 2, 12, 12), (50, 30, 90, 70)])  # small corner + central
    off = picture(src / "off.png", [(0, 0, 40, 40), (60, 35, 80, 55)])  # large corner + central
    broken = src / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 truncated")
    items = [LabelledImage(p, "smile" if i % 2 else "neutral", p.stem)
             for i, p in enumerate([one, none, two, off, broken])]
    before = list(items)

    skip = autolabel(items, tmp_path / "skip", progress=False)
    assert items == before
    report = json.loads(skip.report.read_text())
    assert report["counts"] | {"per_class": None} == {
        "input": 5, "labelled": 1, "no_face": 1, "multi_face": 2, "unreadable": 1,
        "invalid_box": 0, "per_class": None, "groups": 1}
    assert report["no_face"] == [str(none)] and report["unreadable"] == [str(broken)]
    assert sorted(m["image"] for m in report["multi_face_images"]) == sorted([str(two), str(off)])
    row = read_label_file(tmp_path / "skip" / "labels" / "one.txt", 2)[0]
    assert row.class_id == 0
    got = xywhn_to_xyxy(np.array([row.xywhn]), (160, 120))[0]
    assert got == pytest.approx([10, 20, 50, 60], abs=1e-3)

    largest = autolabel(items, tmp_path / "largest", multi_face="largest", progress=False)
    central = autolabel(items, tmp_path / "central", multi_face="central", progress=False)
    assert largest.counts["labelled"] == central.counts["labelled"] == 3

    def box(pool: Path, stem: str) -> list[float]:
        r = read_label_file(pool / "labels" / f"{stem}.txt")[0]
        return xywhn_to_xyxy(np.array([r.xywhn]), (160, 120))[0].round().tolist()

    assert box(tmp_path / "largest", "off") == [0, 0, 40, 40]
    assert box(tmp_path / "central", "off") == [60, 35, 80, 55]
    assert box(tmp_path / "largest", "two") == box(tmp_path / "central", "two") == [50, 30, 90, 70]


def test_tiny_images_are_upscaled_for_detection_only(tmp_path: Path, squares: None) -> None:
    tiny = picture(tmp_path / "tiny.png", [(6, 4, 18, 20)], wh=(24, 30))
    result = autolabel([LabelledImage(tiny, "smile", "t")], tmp_path / "pool", progress=False)
    assert result.counts["labelled"] == 1
    row = read_label_file(tmp_path / "pool" / "labels" / "tiny.txt")[0]
    got = xywhn_to_xyxy(np.array([row.xywhn]), (24, 30))[0]
    assert got == pytest.approx([6, 4, 18, 20], abs=0.3)   # back in the original pixels
    assert (tmp_path / "pool" / "images" / "tiny.png").read_bytes() == tiny.read_bytes()


def test_pool_format_and_copies(tmp_path: Path, squares: None) -> None:
    src = tmp_path / "photos"
    for cls in ("smile", "neutral"):
        for i in range(4):
            picture(src / cls / f"{cls}{i}.jpg", [(10 + i, 10, 60 + i, 70)])
    items = items_from_folders(src)
    assert {i.group for i in items} == {f"{c}/{c}{k}" for c in ("smile", "neutral")
                                        for k in range(4)}
    result = autolabel(items, tmp_path / "pool", source="test", progress=False)
    pool = load_pool(tmp_path / "pool")                        # what `build` will read
    assert pool.names == ["neutral", "smile"] and pool.kind == "autolabel"
    assert len(pool.entries) == 8
    for item in items:                                          # copied byte for byte
        copy = tmp_path / "pool" / "images" / item.path.name
        assert copy.read_bytes() == item.path.read_bytes()
    assert read_label_file(tmp_path / "pool" / "labels" / "smile0.txt")[0].class_id == 1
    sheets = sorted(p.name for p in result.contact_sheets)
    assert sheets == ["contact_neutral.png", "contact_smile.png"]
    sheet = cv2.imread(str(result.contact_sheets[0]))
    assert sheet is not None and sheet.shape[1] == 8 * 160
    fixed = autolabel(items, tmp_path / "fixed", classes=["smile", "neutral"], progress=False)
    assert fixed.names == ["smile", "neutral"]
    assert read_label_file(tmp_path / "fixed" / "labels" / "smile0.txt")[0].class_id == 0
    with pytest.raises(DatasetError, match=r"labels \['smile'\] are not in --classes"):
        autolabel(items, tmp_path / "bad", classes=["neutral"], progress=False)


def test_contact_sheet_zoom_and_box_colours(tmp_path: Path) -> None:
    image = np.full((1000, 1000, 3), 255, np.uint8)
    image[500:520, 500:520] = 0  # a small dark "face" in a big picture
    path = tmp_path / "big.png"
    cv2.imwrite(str(path), image)
    face = np.array([500, 500, 520, 520], np.float64)
    whole = contact_sheet([(path, None, "")], "t", cols=1)[28:]
    zoomed = contact_sheet([(path, face, "")], "t", cols=1, zoom=0.5)[28:]
    # Whole picture: the face is ~3 px wide; zoomed to it plus half its size around: half the tile.
    assert (whole[:140] < 100).all(axis=2).sum() < 20
    assert (zoomed[:140] < 100).all(axis=2).sum() > 0.2 * 140 * 160
    # A NaN row is skipped and keeps the next box in the second colour (red, not green).
    boxes = np.array([[np.nan] * 4, face])
    red_only = contact_sheet([(path, boxes, "")], "t", cols=1, zoom=0.5)[28:]
    assert np.all(red_only == (0, 0, 255), axis=2).any()
    assert not np.all(red_only == (0, 255, 0), axis=2).any()


def test_human_boxes_grow_the_finder_box(tmp_path: Path, squares: None) -> None:
    from detector.labels import to_human_box

    items = [LabelledImage(picture(tmp_path / "src" / "a.jpg", [(40, 30, 100, 90)]), "smile", "a")]
    plain = autolabel(items, tmp_path / "plain", face_model="yunet.onnx", progress=False, workers=1)
    human = autolabel(items, tmp_path / "human", face_model="yunet.onnx", progress=False, workers=1,
                      human_boxes=True)

    def box(pool: Path) -> np.ndarray:
        return xywhn_to_xyxy(np.array([read_label_file(pool / "labels" / "a.txt")[0].xywhn]), (160, 120))[0]

    np.testing.assert_allclose(box(plain.pool), [40, 30, 100, 90], atol=0.1)
    np.testing.assert_allclose(box(human.pool), to_human_box(np.array([40, 30, 100, 90.0]), (160, 120)), atol=0.1)
    assert box(human.pool)[3] - box(human.pool)[1] > 1.25 * 60     # taller by ~29 % of the height
    assert json.loads(human.report.read_text())["box_convention"] == "human"
    assert json.loads(plain.report.read_text())["box_convention"] == "yunet"
    with pytest.raises(DatasetError, match="YuNet"):
        autolabel(items, tmp_path / "haar", progress=False, human_boxes=True)
    assert not (tmp_path / "haar").exists()


def test_name_collisions_get_group_prefixes(tmp_path: Path, squares: None) -> None:
    a = picture(tmp_path / "a" / "frame.png", [(10, 10, 50, 50)])
    b = picture(tmp_path / "b" / "frame.png", [(10, 10, 50, 50)])
    c = picture(tmp_path / "c" / "frame.jpg", [(10, 10, 50, 50)])
    items = [LabelledImage(a, "smile", "vid a"), LabelledImage(b, "smile", "vid/b"),
             LabelledImage(c, "smile", "vid/b")]
    autolabel(items, tmp_path / "pool", progress=False)
    names = sorted(p.name for p in (tmp_path / "pool" / "images").iterdir())
    assert names == ["vid_a__frame.png", "vid_b__frame-2.jpg", "vid_b__frame.png"]
    assert len(list((tmp_path / "pool" / "labels").iterdir())) == 3


def test_frames_input_groups_by_video(tmp_path: Path, squares: None) -> None:
    frames = tmp_path / "frames"
    rows = []
    for video in ("clipA", "clipB"):
        for k in range(3):
            picture(frames / f"{video}_{k:06d}.jpg", [(20, 20, 70, 80)])
            rows.append([f"{video}_{k:06d}.jpg", f"{video}.mp4", k, k / 10, ""])
    with (frames / "manifest.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([["file", "video", "frame_index", "timestamp_s", "label"], *rows])
    with pytest.raises(DatasetError, match="line 2: empty 'label'"):
        items_from_frames([frames])
    items = items_from_frames([frames], label="smile")
    assert {i.group for i in items} == {"clipA.mp4", "clipB.mp4"}
    autolabel(items, tmp_path / "pool", progress=False)
    groups = [r["group"] for r in csv.DictReader((tmp_path / "pool" / "manifest.csv").open())]
    assert sorted(set(groups)) == ["clipA.mp4", "clipB.mp4"] and len(groups) == 6
    (frames / "manifest.csv").unlink()
    with pytest.raises(DatasetError, match="manifest.csv: missing") as err:
        items_from_frames([frames], label="smile")
    assert err.value.path == frames / "manifest.csv"


def test_bad_inputs_name_the_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="no class subfolders") as err:
        items_from_folders(empty)
    assert err.value.path == empty
    (empty / "smile").mkdir()
    with pytest.raises(DatasetError, match="class folder has no images"):
        items_from_folders(empty)

    images = tmp_path / "images"
    picture(images / "a.jpg", [])
    table = tmp_path / "labels.csv"
    table.write_text("image,label,person\na.jpg,smile,p1\n")
    with pytest.raises(DatasetError, match="missing column\\(s\\) 'expression'") as err:
        items_from_csv(table, images, group_col="person")
    assert err.value.path == table
    table.write_text("image,expression,person\na.jpg,smile,p1\nghost.jpg,neutral,p2\n")
    with pytest.raises(DatasetError, match="labels.csv line 3 does not exist") as err:
        items_from_csv(table, images, group_col="person")
    assert err.value.path == images / "ghost.jpg"
    table.write_text("image,expression,person\na.jpg,smile,p1\na.jpg,neutral,p1\n")
    with pytest.raises(DatasetError, match="listed twice"):
        items_from_csv(table, images, group_col="person")
    with pytest.raises(DatasetError, match="CSV file not found"):
        items_from_csv(tmp_path / "nope.csv", images)
    with pytest.raises(DatasetError, match="no images to autolabel"):
        autolabel([], tmp_path / "pool")
    with pytest.raises(ModelError, match="YuNet model file not found"):
        autolabel([LabelledImage(images / "a.jpg", "smile", "p1")], tmp_path / "pool",
                  face_model=tmp_path / "missing.onnx")


def test_no_face_anywhere_is_an_error_and_writes_nothing(tmp_path: Path, squares: None) -> None:
    items = [LabelledImage(picture(tmp_path / f"{i}.png", []), "smile", str(i)) for i in range(3)]
    with pytest.raises(DatasetError, match="no usable face in any of the 3 images"):
        autolabel(items, tmp_path / "pool", progress=False)
    assert not (tmp_path / "pool").exists()


def test_refuses_to_replace_a_foreign_folder(tmp_path: Path, squares: None) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep")
    items = [LabelledImage(picture(tmp_path / "a.png", [(5, 5, 40, 40)]), "smile", "a")]
    with pytest.raises(DatasetError, match="refusing to replace"):
        autolabel(items, out, progress=False)
    assert (out / "notes.txt").read_text() == "keep"


def test_cli_requires_exactly_one_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["autolabel", "--out", str(tmp_path / "p")]) == 2
    assert "exactly one input" in capsys.readouterr().err
    assert main(["autolabel", "--csv", str(tmp_path / "x.csv"), "--out", str(tmp_path / "p")]) == 2
    assert "CSV file not found" in capsys.readouterr().err


# ---------------------------------------------------------------- real photos (../shared)


def subset_csv(shared: Path, tmp_path: Path, n: int, seed: int = 0) -> Path:
    """A CSV of ``n`` random rows of the shared labels.csv (pointing at the shared images)."""
    with (shared / SMILE_DIR / "labels.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    chosen = sorted(random.Random(seed).sample(rows, n), key=lambda r: r["image"])
    path = tmp_path / "subset.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, ["image", "expression", "person"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(chosen)
    return path


def test_real_photos_yunet(shared: Path, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    table = subset_csv(shared, tmp_path, 40)
    code = main(["autolabel", "--csv", str(table), "--images", str(shared / SMILE_DIR / "images"),
                 "--group-col", "person", "--face-model",
                 str(shared / "models/face_detection_yunet.onnx"), "--out", str(tmp_path / "pool"),
                 "--no-progress"])
    assert code == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "pool" / "autolabel_report.json").read_text())
    assert report["face_finder"] == "yunet" and report["names"] == ["neutral", "smile"]
    assert report["counts"]["labelled"] >= 39            # YuNet finds ~100% of these faces
    pool = load_pool(tmp_path / "pool")
    people = {r["image"]: r["person"] for r in csv.DictReader(table.open())}
    for entry in pool.entries:
        assert entry.group == people[entry.image]
        (row,) = entry.rows
        assert 0.4 < row.xywhn[2] <= 1.0 and 0.4 < row.xywhn[3] <= 1.0   # a face fills the crop
        src = shared / SMILE_DIR / "images" / entry.image
        assert (tmp_path / "pool" / "images" / entry.image).read_bytes() == src.read_bytes()


def test_real_photos_haar(shared: Path, tmp_path: Path) -> None:
    items = items_from_csv(subset_csv(shared, tmp_path, 40), shared / SMILE_DIR / "images",
                           group_col="person")
    result = autolabel(items, tmp_path / "pool", progress=False)
    c = result.counts
    assert c["labelled"] + c["no_face"] + c["multi_face"] + c["unreadable"] == 40
    assert c["labelled"] >= 30                             # Haar misses some (~8% measured)
    report = json.loads(result.report.read_text())
    assert report["face_finder"] == "haar" and len(report["no_face"]) == c["no_face"]


@pytest.mark.slow
def test_real_photos_autolabel_then_build_keeps_people_together(shared: Path,
                                                                tmp_path: Path) -> None:
    table = subset_csv(shared, tmp_path, 300, seed=1)
    # The 300 photos of the people with the most photos would be one split; take a mix of
    # people with one and with several photos instead.
    with (shared / SMILE_DIR / "labels.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    by_person: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        by_person[row["person"]].append(row)
    chosen: list[dict[str, str]] = []
    for person in sorted(by_person, key=lambda p: (len(by_person[p]) > 12, p)):
        if len(chosen) + len(by_person[person]) <= 300:
            chosen.extend(by_person[person])
    with table.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, ["image", "expression", "person"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(chosen)
    items = items_from_csv(table, shared / SMILE_DIR / "images", group_col="person")
    pool = autolabel(items, tmp_path / "pool",
                     face_model=shared / "models/face_detection_yunet.onnx", progress=False)
    assert pool.counts["labelled"] >= 295
    result = build_dataset([pool.pool], "ds", tmp_path / "out", merge_near_duplicates=True,
                           progress=False)
    split_of: dict[str, set[str]] = defaultdict(set)
    person = {r["image"]: r["person"] for r in chosen}
    for row in csv.DictReader((result.dataset / "manifest.csv").open()):
        split_of[person[row["source_image"]]].add(row["split"])
    assert len(split_of) > 50 and any(len(by_person[p]) > 1 for p in split_of)
    assert all(len(s) == 1 for s in split_of.values())
    src = {s: result.stats["splits"][s]["source_images"] for s in ("train", "val", "test")}
    total = sum(src.values())
    assert abs(src["train"] / total - 0.6) < 0.03 and abs(src["val"] / total - 0.2) < 0.03
