"""Seven-class FER mode: FER2013 folders to a pool, merging with a Roboflow pool by class name,
class balancing by a repeated train list, and a tiny end-to-end build/train/eval with per-class
metrics for all seven classes."""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from detector.build import build_dataset, load_pool
from detector.errors import DatasetError
from detector.fer import (
    BLURRED_BELOW,
    FER_CLASSES,
    balanced_train_list,
    blur_warnings,
    cap_per_class,
    import_fer2013,
    laplacian_variance,
    main,
    parse_caps,
    repeat_factors,
    whole_face_box,
)
from detector.labels import read_label_file
from detector.train import load_data_yaml

# Two FER2013 train file names that occur in two class folders, with different pictures.
CLASHING = ("Training_52789098.jpg", "Training_8475486.jpg")


# --------------------------------------------------------------------------- pure functions


@pytest.mark.parametrize(("inset", "box"), [
    (0.0, (0.5, 0.5, 1.0, 1.0)), (0.1, (0.5, 0.5, 0.8, 0.8)), (0.25, (0.5, 0.5, 0.5, 0.5))])
def test_whole_face_box(inset: float, box: tuple) -> None:
    assert whole_face_box(inset) == box


@pytest.mark.parametrize("inset", [-0.1, 0.5, 0.7])
def test_whole_face_box_rejects(inset: float) -> None:
    with pytest.raises(ValueError, match="inset"):
        whole_face_box(inset)


@pytest.mark.parametrize(("power", "disgust", "fear"), [(0.0, 1.0, 1.0), (0.5, 4.0, 2.0),
                                                        (1.0, 16.0, 4.0)])
def test_repeat_factors(power: float, disgust: float, fear: float) -> None:
    f = repeat_factors({"happy": 1600, "fear": 400, "disgust": 100, "none": 0}, power)
    assert f == {"happy": 1.0, "fear": fear, "disgust": disgust, "none": 1.0}


def test_balanced_list_counts_are_exact_in_expectation_and_deterministic() -> None:
    items = ([(f"h{i:03d}.jpg", ("happy",)) for i in range(300)]
             + [(f"d{i:02d}.jpg", ("disgust",)) for i in range(30)]
             + [(f"m{i:02d}.jpg", ("happy", "disgust")) for i in range(3)]
             + [("bg.jpg", ())])
    listed, info = balanced_train_list(items, power=0.5, seed=0)
    # happy is in 303 images, disgust in 33: r = sqrt(303 / 33)
    assert info["images_before"] == 334
    assert info["repeat"]["disgust"] == pytest.approx((303 / 33) ** 0.5, abs=1e-4)
    counts = Counter(listed)
    assert counts["h000.jpg"] == 1 and counts["bg.jpg"] == 1
    assert all(counts[f"d{i:02d}.jpg"] in (3, 4) for i in range(30))
    assert all(counts[f"m{i:02d}.jpg"] in (3, 4) for i in range(3))  # rarest class decides
    # 33 disgust images at 3.03 each: 100 listings expected
    assert 99 <= info["per_class_after"]["disgust"] <= 103
    # happy-only images once each; the mixed ones as often as their disgust face asks
    assert info["per_class_after"]["happy"] == 300 + sum(counts[f"m{i:02d}.jpg"] for i in range(3))
    assert balanced_train_list(items[::-1], power=0.5, seed=0) == (listed, info)
    full, _ = balanced_train_list(items, power=1.0)
    assert Counter(full)["d00.jpg"] in (9, 10)  # 303 / 33 = 9.18
    none, _ = balanced_train_list(items, power=0.0)
    assert sorted(none) == sorted(i for i, _ in items)


def test_cap_per_class() -> None:
    files = [Path(f"f{i}.jpg") for i in range(10)]
    assert cap_per_class(files, None, 0) == files
    assert cap_per_class(files, 20, 0) == files
    three = cap_per_class(files, 3, seed=5)
    assert len(three) == 3 and three == cap_per_class(files[::-1], 3, seed=5)


# --------------------------------------------------------------------------- importer, real FER2013


@pytest.fixture(scope="module")
def fer_small(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A FER2013-layout copy of a handful of real images: 3 train + 2 test per class, plus the
    two train names that occur in two class folders."""
    src = shared / "data" / "fer2013"
    root = tmp_path_factory.mktemp("fer")
    for split, n in (("train", 3), ("test", 2)):
        for cls in FER_CLASSES:
            (root / split / cls).mkdir(parents=True)
            for f in sorted((src / split / cls).iterdir())[:n]:
                shutil.copyfile(f, root / split / cls / f.name)
    for name in CLASHING:
        for folder in (src / "train").iterdir():
            if (folder / name).is_file():
                shutil.copyfile(folder / name, root / "train" / folder.name / name)
    return root


def test_fer_import_real_images(fer_small: Path, tmp_path: Path) -> None:
    before = {p: p.read_bytes() for p in fer_small.rglob("*.jpg")}
    report = import_fer2013(fer_small, tmp_path / "pool", progress=False)
    pool = load_pool(tmp_path / "pool")  # the builder accepts it
    assert pool.names == list(FER_CLASSES) and pool.kind == "crops"
    n = len(before)
    assert len(pool.entries) == report.total == n
    assert report.sizes == {"48x48": n}
    assert len({e.group for e in pool.entries}) == n  # each file its own group
    for e in pool.entries:
        assert len(e.rows) == 1 and e.rows[0].xywhn == (0.5, 0.5, 1.0, 1.0)
        assert e.image.startswith(f"{e.class_names[0]}__")
        assert e.source_split in ("train", "test")
    # the clashing names are both kept, under their class prefix
    images = {e.image for e in pool.entries}
    for name in CLASHING:
        assert sum(i.endswith(name) for i in images) == 2
    assert report.per_split["test"] == {c: 2 for c in FER_CLASSES}
    assert json.loads((tmp_path / "pool" / "fer_import_report.json").read_text())["total"] == n
    assert {p: p.read_bytes() for p in fer_small.rglob("*.jpg")} == before  # source untouched
    # The shared copy's train split is blurred, its test split is not: the report says so.
    assert report.sharpness["train"] < BLURRED_BELOW < report.sharpness["test"]
    assert len(report.warnings) == 1 and "split train looks blurred" in report.warnings[0]


def test_fer_import_options(fer_small: Path, tmp_path: Path) -> None:
    report = import_fer2013(fer_small, tmp_path / "pool", splits=["test"], classes=["happy",
                            "disgust"], per_class=1, inset=0.1, upscale=96,
                            keep_source_splits=False, progress=False)
    pool = load_pool(tmp_path / "pool")
    assert pool.names == ["happy", "disgust"] and report.per_split == {
        "test": {"happy": 1, "disgust": 1}}
    assert parse_caps("3") == 3 and parse_caps("happy=1") == {"happy": 1}
    with pytest.raises(ValueError, match="per-class cap"):
        parse_caps("happy=x")
    with pytest.raises(DatasetError, match="unknown class"):
        import_fer2013(fer_small, tmp_path / "p2", per_class={"contempt": 1}, progress=False)
    for e in pool.entries:
        img = cv2.imread(str(tmp_path / "pool" / "images" / e.image))
        assert img.shape[:2] == (96, 96)
        assert e.rows[0].xywhn == (0.5, 0.5, 0.8, 0.8) and e.source_split == ""
    # re-import replaces the previous pool atomically
    import_fer2013(fer_small, tmp_path / "pool", splits=["test"], per_class=1, progress=False)
    assert len(load_pool(tmp_path / "pool").entries) == 7


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"splits": ["val"]}, "has no val/ folder"),
    ({"classes": ["happy", "contempt"]}, "no class folder"),
    ({"splits": ["dev"]}, "unknown split"),
])
def test_fer_import_errors(fer_small: Path, tmp_path: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(DatasetError, match=match):
        import_fer2013(fer_small, tmp_path / "pool", progress=False, **kwargs)
    assert not (tmp_path / "pool").exists()


def test_fer_import_refuses_foreign_folder_and_missing_root(fer_small: Path, tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(DatasetError, match="not a previous output"):
        import_fer2013(fer_small, tmp_path / "mine", progress=False)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    with pytest.raises(DatasetError, match="FER2013 folder not found"):
        import_fer2013(tmp_path / "nope", tmp_path / "pool", progress=False)


def test_fer_command_line(fer_small: Path, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(fer_small), "--out", str(tmp_path / "pool"), "--per-class", "1",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "14 images" in out and "warning: split train looks blurred" in out
    assert main([str(tmp_path / "nope"), "--out", str(tmp_path / "p2")]) == 2
    assert "error:" in capsys.readouterr().err
    assert main([str(fer_small), "--out", str(tmp_path / "p3"), "--inset", "0.6"]) == 2
    assert "inset" in capsys.readouterr().err


@pytest.mark.parametrize(("sigma", "blurred"), [(0.0, False), (1.0, False), (3.0, True)])
def test_blur_warning_follows_a_known_blur(sigma: float, blurred: bool) -> None:
    rng = np.random.default_rng(0)
    # A 48x48 picture with face-like detail: smooth shading plus texture.
    img = (np.linspace(60, 190, 48)[None, :] + rng.normal(0, 25, (48, 48))).clip(0, 255).astype(np.uint8)
    if sigma:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    sharpness = {"train": laplacian_variance(img)}
    assert bool(blur_warnings(sharpness)) is blurred
    assert laplacian_variance(cv2.cvtColor(img, cv2.COLOR_GRAY2BGRA)) == pytest.approx(sharpness["train"])


# --------------------------------------------------------------------------- merge + balance


def mini_roboflow_export(shared: Path, root: Path, per_split: int = 4) -> Path:
    """A real-Roboflow-layout export made of the first images of the shared seven-class export."""
    src = shared / "data" / "roboflow-facial-emotion-7"
    for split in ("train", "valid", "test"):
        for kind in ("images", "labels"):
            (root / split / kind).mkdir(parents=True)
        for img in sorted((src / split / "images").iterdir())[:per_split]:
            shutil.copyfile(img, root / split / "images" / img.name)
            label = src / split / "labels" / f"{img.stem}.txt"
            shutil.copyfile(label, root / split / "labels" / label.name)
    (root / "data.yaml").write_text((src / "data.yaml").read_text())
    return root


@pytest.fixture(scope="module")
def seven_pools(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A FER2013 pool (10 train images per class, disgust 4) and a tiny real Roboflow pool."""
    from detector.roboflow import import_roboflow

    root = tmp_path_factory.mktemp("seven")
    fer = root / "pools" / "fer"
    # 10 images per class, disgust 4: unbalanced on purpose, so balancing has work to do
    import_fer2013(shared / "data" / "fer2013", fer, splits=["train"], seed=0, progress=False,
                   per_class={c: 4 if c == "disgust" else 10 for c in FER_CLASSES})
    rf = root / "pools" / "rf7"
    import_roboflow(mini_roboflow_export(shared, root / "export"), rf, strict=True)
    return fer, rf


def test_merge_with_roboflow_by_class_name_and_balance(seven_pools: tuple[Path, Path],
                                                       tmp_path: Path) -> None:
    fer, rf = seven_pools
    result = build_dataset([rf, fer], "fer7", tmp_path / "out", size=(64, 64),
                           merge_near_duplicates=True, balance="sqrt", progress=False)
    assert result.names == list(FER_CLASSES)  # both pools name the classes the same way
    # a FER2013 'disgust' image keeps the disgust id in the merged dataset
    row = next(r for r in csv.DictReader((result.dataset / "manifest.csv").open())
               if r["pool"] == "fer" and r["class_names"] == "disgust")
    label = result.dataset / row["split"] / "labels" / f"{Path(row['image']).stem}.txt"
    assert read_label_file(label)[0].class_id == FER_CLASSES.index("disgust")
    for split in ("train", "val", "test"):
        per = result.stats["splits"][split]["per_class"]
        assert all(per[c]["source_images"] > 0 for c in FER_CLASSES), (split, per)
    bal = result.report["balance"]
    assert bal["mode"] == "sqrt" and bal["images_after"] > bal["images_before"]
    balanced = load_data_yaml(result.dataset / "data_balanced.yaml")
    plain = load_data_yaml(result.data_yaml)
    assert balanced.names == plain.names and balanced.splits["val"] == plain.splits["val"]
    assert len(balanced.images("train")) == bal["images_after"]
    assert set(balanced.images("train")) == set(plain.images("train"))
    assert yaml.safe_load(result.data_yaml.read_text())["train"] == "train/images"  # unchanged


# --------------------------------------------------------------------------- slow: end to end


@pytest.mark.slow
def test_seven_classes_end_to_end(seven_pools: tuple[Path, Path], tmp_path: Path) -> None:
    from detector.evaluate import evaluate_weights
    from detector.train import train

    fer, rf = seven_pools
    result = build_dataset([rf, fer], "fer7", tmp_path / "out", size=(64, 64),
                           merge_near_duplicates=True, balance="sqrt", progress=False)
    # Training on the balanced list also shows Ultralytics keeps the repeated images.
    seen: list[int] = []
    trained = train(result.dataset / "data_balanced.yaml", "yolo11n.yaml", epochs=1, batch=16,
                    imgsz=64, threads=1, name="fer7", project=tmp_path / "runs",
                    overrides={"plots": False, "val": False},
                    callbacks={"on_train_start": lambda t: seen.append(len(t.train_loader.dataset))})
    assert seen == [result.report["balance"]["images_after"]]
    assert trained.best.is_file()
    report = evaluate_weights(trained.best, result.data_yaml, "test", imgsz=64, threads=1,
                              out=tmp_path / "eval", plots=True)
    saved = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert [c["name"] for c in saved["per_class"]] == list(FER_CLASSES)
    for c in saved["per_class"]:
        assert c["instances"] > 0 and c["ap50"] is not None, c
    assert np.asarray(saved["confusion"]["counts"]).shape == (8, 8)
    assert saved["confusion"]["labels"] == [*FER_CLASSES, "background"]
    assert len(report.per_class) == 7
    assert (tmp_path / "eval" / "confusion_matrix.png").is_file()
