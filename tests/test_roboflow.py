"""Tests for detector/roboflow.py and `exprdet import-roboflow` (fake exports + the shared one)."""

from __future__ import annotations

import csv
import filecmp
import json
import shutil
import zipfile
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from detector.cli import main as cli_main
from detector.errors import DatasetError
from detector.roboflow import (
    POOL_COLUMNS,
    check_image_bytes,
    find_data_yaml,
    import_roboflow,
    labels_dir_for,
    parse_class_map,
    parse_download_spec,
    plan_classes,
    read_data_yaml,
    resolve_split_dir,
    roboflow_group,
)
from tools.import_roboflow import main as tool_main

SEVEN = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
ROW = "3 0.5 0.5 0.4 0.4"  # a valid 'happy' box


def _jpeg(seed: int = 0) -> bytes:
    img = np.random.default_rng(seed).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", img)[1].tobytes()


def make_export(root: Path, splits: dict[str, dict[str, str | None]],
                names: list[str] | None = None, yaml_text: str | None = None) -> Path:
    """Write a small Roboflow-style export: ``{folder: {image file name: label text or None}}``.

    ``None`` as label text means no label file. data.yaml uses Roboflow's ``../x/images`` paths.
    """
    root.mkdir(parents=True, exist_ok=True)
    names = names or SEVEN
    for i, (folder, files) in enumerate(splits.items()):
        (root / folder / "images").mkdir(parents=True)
        (root / folder / "labels").mkdir(parents=True)
        for j, (name, label) in enumerate(files.items()):
            (root / folder / "images" / name).write_bytes(_jpeg(100 * i + j))
            if label is not None:
                (root / folder / "labels" / f"{Path(name).stem}.txt").write_text(label)
    if yaml_text is None:
        yaml_text = ("train: ../train/images\nval: ../valid/images\ntest: ../test/images\n\n"
                     f"nc: {len(names)}\nnames: {names}\n")
    (root / "data.yaml").write_text(yaml_text)
    return root


def rf(stem: str, h: str = "a" * 32) -> str:
    return f"{stem}_jpg.rf.{h}.jpg"


def _pool_manifest(pool: Path) -> list[dict[str, str]]:
    with (pool / "manifest.csv").open() as fh:
        return list(csv.DictReader(fh))


def _tree(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file()}


# ---------------------------------------------------------------- pure functions


@pytest.mark.parametrize(("name", "group"), [
    ("1-10-_jpg.rf.31209fb5b575382e4b0b74e89ce287d5.jpg", "1-10-_jpg"),
    ("IMG_0001_png.rf.abcdef.png", "IMG_0001_png"),
    ("a.b_jpg.rf.0123456789abcdef0123456789abcdef.jpg", "a.b_jpg"),
    ("holiday.png", "holiday"),
    ("x.rf..jpg", "x.rf."),
])
def test_roboflow_group(name: str, group: str) -> None:
    assert roboflow_group(name) == group


@pytest.mark.parametrize(("items", "expected"), [
    ([], {}),
    (["happy=smile"], {"happy": "smile"}),
    ([" happy = smile ", "neutral=neutral"], {"happy": "smile", "neutral": "neutral"}),
    (["happy=smile", "surprise=smile"], {"happy": "smile", "surprise": "smile"}),
    (["disgust="], {"disgust": None}),
    (["happy=smile", "happy=smile"], {"happy": "smile"}),
])
def test_parse_class_map(items: list[str], expected: dict) -> None:
    assert parse_class_map(items) == expected


@pytest.mark.parametrize("items", [["happy"], ["=smile"], ["happy=smile", "happy=joy"]])
def test_parse_class_map_rejects(items: list[str]) -> None:
    with pytest.raises(ValueError):
        parse_class_map(items)


@pytest.mark.parametrize(("cmap", "drop", "names", "ids"), [
    ({}, False, ["a", "b", "c"], [0, 1, 2]),
    ({"b": "x"}, False, ["x", "a", "c"], [1, 0, 2]),
    ({"b": "x"}, True, ["x"], [None, 0, None]),
    ({"c": "y", "a": "x"}, True, ["y", "x"], [1, None, 0]),
    ({"a": "x", "c": "x"}, False, ["x", "b"], [0, 1, 0]),
    ({"a": None}, False, ["b", "c"], [None, 0, 1]),
    ({"a": "b"}, False, ["b", "c"], [0, 0, 1]),  # renaming onto an existing name merges
])
def test_plan_classes(cmap: dict, drop: bool, names: list[str], ids: list) -> None:
    assert plan_classes(["a", "b", "c"], cmap, drop) == (names, ids)


def test_plan_classes_rejects() -> None:
    with pytest.raises(ValueError, match="'hapy' not in the export's names"):
        plan_classes(SEVEN, {"hapy": "smile"})
    with pytest.raises(ValueError, match="drops every class"):
        plan_classes(["a"], {"a": None})


@pytest.mark.parametrize(("spec", "ok"), [
    ("ws/proj/3", ("ws", "proj", 3)), ("my-ws/face.det_v2/12", ("my-ws", "face.det_v2", 12)),
    ("ws/proj", None), ("ws/proj/v3", None), ("ws/proj/3/x", None), ("", None),
])
def test_parse_download_spec(spec: str, ok: tuple | None) -> None:
    if ok is None:
        with pytest.raises(ValueError):
            parse_download_spec(spec)
    else:
        assert parse_download_spec(spec) == ok


def test_resolve_split_dir(tmp_path: Path) -> None:
    root = tmp_path / "export"
    for folder in ("train", "valid"):
        (root / folder / "images").mkdir(parents=True)
    (tmp_path / "test" / "images").mkdir(parents=True)  # outside the export: never used
    train = root / "train" / "images"
    assert resolve_split_dir("../train/images", root, "train") == train
    assert resolve_split_dir("train/images", root, "train") == train
    assert resolve_split_dir("./train/images", root, "train") == train
    assert resolve_split_dir(str(train.resolve()), root, "train") == train.resolve()
    assert resolve_split_dir("/content/ds-1/train/images", root, "train") == train
    assert resolve_split_dir("../val/images", root, "val") == root / "valid" / "images"
    assert resolve_split_dir("../test/images", root, "test") is None
    assert resolve_split_dir("images", root / "train", "train", root_hint=".") == train


def test_labels_dir_for() -> None:
    assert labels_dir_for("a/images/train/images").as_posix() == "a/images/train/labels"
    assert labels_dir_for("a/pics").as_posix() == "a/pics"


@pytest.mark.parametrize(("text", "names", "splits"), [
    ("train: ../train/images\nval: ../valid/images\nnames: [a, b]\n", ["a", "b"],
     {"train": ["../train/images"], "val": ["../valid/images"]}),
    ("train: [t1/images, t2/images]\nnc: 2\nnames: {0: a, 1: b}\n", ["a", "b"],
     {"train": ["t1/images", "t2/images"]}),
    ("train: x\nvalid: y\nnames: {'1': b, '0': a}\n", ["a", "b"], {"train": ["x"], "val": ["y"]}),
])
def test_read_data_yaml(tmp_path: Path, text: str, names: list[str], splits: dict) -> None:
    (tmp_path / "data.yaml").write_text(text)
    spec = read_data_yaml(tmp_path / "data.yaml")
    assert (spec.names, spec.splits) == (names, splits)


@pytest.mark.parametrize(("text", "problem"), [
    ("train: [unclosed\nnames: [a]\n", "line 2: not valid YAML"),
    ("- a\n- b\n", "expected a mapping"),
    ("train: x\n", "names: missing or empty"),
    ("train: x\nnames: {0: a, 2: b}\n", r"class ids must be 0..1"),
    ("train: x\nnc: 3\nnames: [a, b]\n", "nc is 3 but names lists 2"),
    ("train: x\nnames: [a, a]\n", "duplicate class name"),
    ("nc: 1\nnames: [a]\n", "no train/val/test entries"),
    ("train: 5\nnames: [a]\n", "train: expected a folder path"),
])
def test_read_data_yaml_rejects(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / "data.yaml").write_text(text)
    with pytest.raises(DatasetError, match=problem) as exc:
        read_data_yaml(tmp_path / "data.yaml")
    assert "data.yaml" in str(exc.value)


def test_check_image_bytes() -> None:
    good = _jpeg()
    assert check_image_bytes(good) is None
    assert check_image_bytes(b"") == "empty file"
    assert check_image_bytes(np.random.default_rng(1).bytes(500)) == (
        "cannot be decoded as an image")
    # OpenCV 4.14 refuses a cut JPEG; older builds decode it with grey filler, which the
    # end-marker check catches. Either way it is reported.
    assert check_image_bytes(good[: len(good) * 2 // 3]) in (
        "cannot be decoded as an image", "truncated JPEG (no end-of-image marker)")


def test_find_data_yaml(tmp_path: Path) -> None:
    inner = make_export(tmp_path / "zipped" / "faces-3", {"train": {rf("a"): ROW}})
    assert find_data_yaml(tmp_path / "zipped") == inner / "data.yaml"
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="is empty"):
        find_data_yaml(tmp_path / "empty")
    with pytest.raises(DatasetError, match="does not exist"):
        find_data_yaml(tmp_path / "nowhere")


# ---------------------------------------------------------------- fake exports


def test_clean_fake_export(tmp_path: Path) -> None:
    src = make_export(tmp_path / "exp", {
        "train": {rf("p1", "1" * 32): ROW, rf("p1", "2" * 32): ROW + "\n0 0.2 0.2 0.1 0.1\n",
                  rf("bg"): "", rf("nolabel"): None},
        "valid": {rf("p2"): "4 0.5 0.5 1 1\n"},
    })
    before = _tree(src)
    pool = tmp_path / "pool"
    report = import_roboflow(src, pool)
    assert _tree(src) == before  # the export is never changed
    assert sorted(p.name for p in pool.iterdir()) == [
        "images", "import_report.json", "labels", "manifest.csv", "pool.yaml"]
    meta = yaml.safe_load((pool / "pool.yaml").read_text())
    assert meta["names"] == SEVEN and meta["kind"] == "roboflow" and str(src) in meta["source"]
    rows = _pool_manifest(pool)
    assert tuple(rows[0]) == POOL_COLUMNS
    assert [(r["group"], r["source_split"], r["class_names"]) for r in rows] == [
        ("bg_jpg", "train", ""), ("nolabel_jpg", "train", ""), ("p1_jpg", "train", "happy"),
        ("p1_jpg", "train", "angry;happy"), ("p2_jpg", "val", "neutral")]
    for r in rows:
        assert (pool / "images" / r["image"]).read_bytes() == before[
            f"{'valid' if r['source_split'] == 'val' else 'train'}/images/{r['image']}"]
        assert (pool / "labels" / f"{Path(r['image']).stem}.txt").exists()
    assert (pool / "labels" / f"{Path(rf('bg')).stem}.txt").read_text() == ""
    assert (pool / "labels" / f"{Path(rf('nolabel')).stem}.txt").read_text() == ""
    t = report.splits["train"]
    assert (t.images, t.imported, t.background, t.background_no_label_file, t.boxes) == (4, 4, 2,
                                                                                          1, 3)
    assert report.problems == 0 and report.splits["val"].boxes_per_class["neutral"] == 1
    assert report.missing_classes["val"] == [n for n in SEVEN if n != "neutral"]
    assert any("test" in w and "not found" in w for w in report.warnings)
    saved = json.loads((pool / "import_report.json").read_text())
    assert saved["totals"]["images"] == 5 and len(saved["background_images"]) == 2


@pytest.mark.parametrize(("label", "line", "reason"), [
    (f"{ROW}\n3 0.5 0.5 0.4 0.4 0.1\n", 2,
     "expected 5 numbers (class x y w h) or a polygon, got 6"),
    ("9 0.5 0.5 0.2 0.2\n", 1, "class id 9 out of range (dataset has 7 classes)"),
    (f"{ROW}\n\n1 1.3 0.5 0.2 0.2\n", 3, "coordinate outside [0, 1]"),
    ("2 0.5 0.5 0 0.2\n", 1, "width and height must be positive"),
    ("x 0.5 0.5 0.2 0.2\n", 1, "not a number"),
    ("1 0.1 0.1 0.1 0.1 0.1 0.1\n", 1, "degenerate polygon"),
])
def test_invalid_rows_reported(tmp_path: Path, label: str, line: int, reason: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    src = make_export(tmp_path / "exp", {"train": {rf("bad"): label, rf("ok"): ROW}})
    pool = tmp_path / "pool"
    code = cli_main(["import-roboflow", str(src), "--out", str(pool), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    bad_label = f"train/labels/{Path(rf('bad')).stem}.txt"
    assert f"invalid: {bad_label}: line {line}: " in err and reason in err
    report = json.loads((pool / "import_report.json").read_text())
    assert report["invalid_rows"][0]["file"] == bad_label
    first = report["invalid_rows"][0]
    assert first["line"] == line and reason in first["reason"]
    assert report["splits"]["train"]["images_skipped_invalid"] == 1
    assert [r["image"] for r in _pool_manifest(pool)] == [rf("ok")]  # the bad image is left out


def test_strict_stops_and_writes_nothing(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    src = make_export(tmp_path / "exp", {"train": {rf("ok"): ROW,
                                                   rf("bad"): f"{ROW}\n9 0.5 0.5 0.2 0.2\n"}})
    pool = tmp_path / "pool"
    code = cli_main(["import-roboflow", str(src), "--out", str(pool), "--strict", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert (f"error: {src}/train/labels/{Path(rf('bad')).stem}.txt: line 2: class id 9 out of "
            "range") in err
    assert "Traceback" not in err
    assert not pool.exists() and list(tmp_path.iterdir()) == [src]


def test_strict_keeps_previous_pool(tmp_path: Path) -> None:
    src = make_export(tmp_path / "exp", {"train": {rf("ok"): ROW}})
    pool = tmp_path / "pool"
    import_roboflow(src, pool)
    before = _tree(pool)
    (src / "train" / "labels" / f"{Path(rf('ok')).stem}.txt").write_text("3 1.3 0.5 0.2 0.2\n")
    with pytest.raises(DatasetError, match="line 1: coordinate outside"):
        import_roboflow(src, pool, strict=True)
    assert _tree(pool) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp", "pool"]


def test_polygons_converted_and_counted(tmp_path: Path) -> None:
    poly = "3 0.1 0.1 0.3 0.1 0.3 0.5 0.1 0.5\n1 0.5 0.5 0.9 0.5 0.7 0.9\n"
    src = make_export(tmp_path / "exp", {"train": {rf("poly"): poly + ROW + "\n"}})
    report = import_roboflow(src, tmp_path / "pool")
    assert report.splits["train"].polygons_converted == 2 and report.problems == 0
    text = (tmp_path / "pool" / "labels" / f"{Path(rf('poly')).stem}.txt").read_text()
    assert text.splitlines() == ["3 0.200000 0.300000 0.200000 0.400000",
                                 "1 0.700000 0.700000 0.400000 0.400000",
                                 "3 0.500000 0.500000 0.400000 0.400000"]


def test_map_and_drop_others(tmp_path: Path) -> None:
    src = make_export(tmp_path / "exp", {"train": {
        rf("a"): "3 0.5 0.5 0.2 0.2\n0 0.2 0.2 0.1 0.1\n",  # happy + angry
        rf("b"): "0 0.5 0.5 0.2 0.2\n",  # angry only
        rf("c"): "4 0.5 0.5 0.2 0.2\n",  # neutral
        rf("d"): ""}})  # background
    kept = import_roboflow(src, tmp_path / "p1", class_map={"happy": "smile"})
    assert kept.names == ["smile", "angry", "disgust", "fear", "neutral", "sad", "surprise"]
    assert kept.splits["train"].imported == 4
    dropped = import_roboflow(src, tmp_path / "p2", class_map={"happy": "smile",
                                                                "neutral": "neutral"},
                              drop_others=True)
    s = dropped.splits["train"]
    assert dropped.names == ["smile", "neutral"]
    assert s.rows_dropped == {"angry": 2} and s.images_only_dropped_classes == 1
    assert (s.imported, s.background, s.boxes_per_class) == (3, 1, {"smile": 1, "neutral": 1})
    rows = {r["image"]: r["class_names"] for r in _pool_manifest(tmp_path / "p2")}
    assert rows == {rf("a"): "smile", rf("c"): "neutral", rf("d"): ""}
    assert (tmp_path / "p2" / "labels" / f"{Path(rf('a')).stem}.txt").read_text() == (
        "0 0.500000 0.500000 0.200000 0.200000\n")


def test_unknown_mapped_class(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make_export(tmp_path / "exp", {"train": {rf("a"): ROW}})
    code = cli_main(["import-roboflow", str(src), "--out", str(tmp_path / "p"),
                     "--map", "hapy=smile"])
    assert code == 2
    assert f"{src}/data.yaml: --map: class(es) 'hapy' not in the export's names" in (
        capsys.readouterr().err)
    with pytest.raises(SystemExit):
        cli_main(["import-roboflow", str(src), "--map", "happy"])


def test_unreadable_image_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make_export(tmp_path / "exp", {"train": {rf("a"): ROW, rf("b"): ROW}})
    (src / "train" / "images" / rf("b")).write_bytes(b"garbage")
    code = cli_main(["import-roboflow", str(src), "--out", str(tmp_path / "p"), "--no-progress"])
    assert code == 1
    assert f"invalid: train/images/{rf('b')}: cannot be decoded as an image" in (
        capsys.readouterr().err)
    report = json.loads((tmp_path / "p" / "import_report.json").read_text())
    assert report["unreadable_images"] == [{"file": f"train/images/{rf('b')}",
                                            "reason": "cannot be decoded as an image"}]
    with pytest.raises(DatasetError, match="cannot be decoded"):
        import_roboflow(src, tmp_path / "p2", strict=True)


@pytest.mark.parametrize(("setup", "problem"), [
    ("missing_yaml", "no data.yaml found"),
    ("empty", "is empty"),
    ("nonexistent", "does not exist"),
    ("no_split_folders", "none of the train/val/test folders it names exist"),
    ("text_file", "is not a folder or a .zip file"),
    ("bad_zip", "not a readable zip file"),
])
def test_bad_exports(tmp_path: Path, setup: str, problem: str,
                     capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "exp"
    if setup == "missing_yaml":
        make_export(src, {"train": {rf("a"): ROW}})
        (src / "data.yaml").unlink()
    elif setup == "empty":
        src.mkdir()
    elif setup == "no_split_folders":
        make_export(src, {"other": {rf("a"): ROW}})
    elif setup == "text_file":
        src = tmp_path / "exp.txt"
        src.write_text("hi")
    elif setup == "bad_zip":
        src = tmp_path / "exp.zip"
        src.write_bytes(b"PK not really")
    pool = tmp_path / "pool"
    code = cli_main(["import-roboflow", str(src), "--out", str(pool), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and problem in err and str(src) in err and "Traceback" not in err
    assert not pool.exists()


def test_zip_export(tmp_path: Path) -> None:
    src = make_export(tmp_path / "faces-3", {"train": {rf("a"): ROW},
                                             "valid": {rf("b"): "9 0.5 0.5 0.1 0.1\n"}})
    flat = Path(shutil.make_archive(str(tmp_path / "flat"), "zip", src))
    nested = Path(shutil.make_archive(str(tmp_path / "nested"), "zip", tmp_path, "faces-3"))
    for archive in (flat, nested):
        report = import_roboflow(archive, tmp_path / f"pool-{archive.stem}")
        assert report.splits["train"].imported == 1 and len(report.invalid_rows) == 1
    with pytest.raises(DatasetError) as exc:
        import_roboflow(nested, tmp_path / "strict", strict=True)
    label = f"valid/labels/{Path(rf('b')).stem}.txt"
    assert str(exc.value) == f"{nested}/faces-3/{label}: line 1: class id 9 out of range " \
                             "(dataset has 7 classes)"
    assert not (tmp_path / "strict").exists()


def test_zip_slip_rejected(tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../outside.txt", "x")
    with pytest.raises(DatasetError, match="unsafe path in zip"):
        import_roboflow(archive, tmp_path / "pool")


def test_output_guards(tmp_path: Path) -> None:
    src = make_export(tmp_path / "exp", {"train": {rf("a"): ROW}})
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(DatasetError, match="is not a pool"):
        import_roboflow(src, other)
    assert (other / "notes.txt").read_text() == "keep me"
    for bad_out in (src, src / "pool", tmp_path):
        with pytest.raises(DatasetError, match="outside the export"):
            import_roboflow(src, bad_out)


def test_rerun_replaces_pool(tmp_path: Path) -> None:
    src = make_export(tmp_path / "exp", {"train": {rf("a"): ROW, rf("b"): ROW}})
    pool = tmp_path / "pool"
    import_roboflow(src, pool)
    first = _tree(pool)
    import_roboflow(src, pool)
    assert _tree(pool) == first
    (src / "train" / "images" / rf("b")).unlink()
    import_roboflow(src, pool)
    assert sorted((pool / "images").iterdir()) == [pool / "images" / rf("a")]


def test_split_quirks(tmp_path: Path) -> None:
    same = rf("dup")
    src = make_export(tmp_path / "exp", {"train": {same: ROW}, "valid": {same: ROW}}, yaml_text=(
        "train: ../train/images\nval: ../valid/images\ntest: ../valid/images\nnames: "
        f"{SEVEN}\n"))
    (src / "valid" / "labels" / "orphan.txt").write_text(ROW)
    report = import_roboflow(src, tmp_path / "pool")
    assert sorted(p.name for p in (tmp_path / "pool" / "images").iterdir()) == [same, f"val-{same}"]
    assert [r["group"] for r in _pool_manifest(tmp_path / "pool")] == ["dup_jpg", "dup_jpg"]
    assert "test" not in report.splits
    assert any("same folder as val" in w for w in report.warnings)
    assert report.labels_without_image == ["valid/labels/orphan.txt"]


def test_download_without_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("ROBOFLOW_API_KEY", raising=False)
    code = cli_main(["import-roboflow", "--download", "ws/proj/3", str(tmp_path / "dl")])
    err = capsys.readouterr().err
    assert code == 2 and "ROBOFLOW_API_KEY is not set" in err and "Traceback" not in err
    assert not (tmp_path / "dl").exists()
    with pytest.raises(SystemExit):
        cli_main(["import-roboflow", "--download", "ws/proj"])


def test_no_path_given(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["import-roboflow"]) == 2
    assert "give the export folder or .zip" in capsys.readouterr().err


# ---------------------------------------------------------------- the shared real export


@pytest.fixture(scope="module")
def real_pool(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    src = shared / "data" / "roboflow-facial-emotion-7"
    pool = tmp_path_factory.mktemp("real") / "pool"
    assert tool_main([str(src), "--out", str(pool), "--no-progress"]) == 0
    return src, pool, json.loads((pool / "import_report.json").read_text())


def test_real_export_counts(real_pool: tuple[Path, Path, dict]) -> None:
    src, pool, report = real_pool
    folders = {"train": "train", "val": "valid", "test": "test"}
    assert {k: v["images"] for k, v in report["splits"].items()} == {
        "train": 943, "val": 185, "test": 99}
    for split, folder in folders.items():
        rows = [line.split() for p in (src / folder / "labels").glob("*.txt")
                for line in p.read_text().splitlines() if line.strip()]
        per_class = Counter(SEVEN[int(r[0])] for r in rows)
        stats = report["splits"][split]
        assert stats["imported"] == stats["images"] and stats["background"] == 0
        assert stats["boxes"] == len(rows) and stats["boxes_per_class"] == dict(
            (n, per_class[n]) for n in SEVEN)
    assert report["problems"] == 0 and report["totals"]["polygons_converted"] == 0
    assert report["names"] == SEVEN and report["missing_classes"] == {}


def test_real_export_pool_files(real_pool: tuple[Path, Path, dict]) -> None:
    src, pool, _ = real_pool
    rows = _pool_manifest(pool)
    assert len(rows) == len(list((pool / "images").iterdir())) == 1227
    by_split = Counter(r["source_split"] for r in rows)
    assert by_split == {"train": 943, "val": 185, "test": 99}
    folders = {"train": "train", "val": "valid", "test": "test"}
    for r in rows[::50]:
        assert filecmp.cmp(pool / "images" / r["image"],
                           src / folders[r["source_split"]] / "images" / r["image"], shallow=False)
        assert r["image"].startswith(r["group"] + ".rf.")
    grids = [r for r in rows if len(r["class_names"].split(";")) > 1]
    assert grids  # the 4x4 grids mix expressions
    groups = Counter(r["group"] for r in rows)
    assert groups["2_jpg"] == 10  # augmented copies of one source picture share a group
    splits_of: dict[str, set[str]] = {}
    for r in rows:
        splits_of.setdefault(r["group"], set()).add(r["source_split"])
    # The export's own splits leak: 58 source pictures have copies in two splits. The group
    # column is what lets the dataset builder keep them together.
    assert sum(len(s) > 1 for s in splits_of.values()) == 58
    yaml_meta = yaml.safe_load((pool / "pool.yaml").read_text())
    assert yaml_meta["kind"] == "roboflow" and "workenv-dayet" in yaml_meta["source"]


def test_real_export_smile_neutral(shared: Path, tmp_path: Path) -> None:
    src = shared / "data" / "roboflow-facial-emotion-7"
    report = import_roboflow(src, tmp_path / "pool", class_map={"happy": "smile",
                                                                 "neutral": "neutral"},
                             drop_others=True)
    assert report.names == ["smile", "neutral"]
    t = report.splits["train"]
    assert t.boxes_per_class == {"smile": 689, "neutral": 655}
    assert t.imported + t.images_only_dropped_classes == 943
    assert sum(t.rows_dropped.values()) + t.boxes == 3373
