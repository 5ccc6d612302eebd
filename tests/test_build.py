"""`exprdet build` on synthetic pools: geometry, flips, leakage, near-duplicates, atomicity."""

from __future__ import annotations

import csv
import json
import shutil
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from detector.build import build_dataset, data_yaml_text, load_pool, merge_names
from detector.cli import main
from detector.errors import DatasetError
from detector.labels import read_label_file, xywhn_to_xyxy

BRIGHT = 250  # face stand-in; the textured background stays below 120, the pad is 114


def texture(rng: np.random.Generator, wh: tuple[int, int]) -> np.ndarray:
    """Dark smooth random background: every image gets its own dHash."""
    small = rng.integers(0, 120, (5, 7, 3), dtype=np.uint8)
    return cv2.resize(small, wh, interpolation=cv2.INTER_CUBIC)


def write_pool(root: Path, groups: dict[str, list[str]],
               names: tuple[str, ...] = ("neutral", "smile"), wh: tuple[int, int] = (320, 240),
               seed: int = 0, kind: str = "autolabel",
               source_split: dict[str, str] | None = None) -> Path:
    """A pool with one bright box per image; ``groups`` maps group -> class of each image
    (``""`` = background image with an empty label file)."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    rows = []
    w, h = wh
    for group, classes in groups.items():
        for k, cls in enumerate(classes):
            name = f"{group}_{k:03d}.png"
            img = texture(rng, wh)
            label = ""
            if cls:
                bw, bh = int(rng.integers(w // 6, w // 2)), int(rng.integers(h // 6, h // 2))
                x1, y1 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
                img[y1:y1 + bh, x1:x1 + bw] = BRIGHT
                label = (f"{names.index(cls)} {(x1 + bw / 2) / w:.6f} {(y1 + bh / 2) / h:.6f} "
                         f"{bw / w:.6f} {bh / h:.6f}\n")
            cv2.imwrite(str(root / "images" / name), img)
            (root / "labels" / f"{Path(name).stem}.txt").write_text(label)
            rows.append([name, group, (source_split or {}).get(group, ""), cls])
    with (root / "manifest.csv").open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["image", "group", "source_split", "class_names"])
        writer.writerows(rows)
    (root / "pool.yaml").write_text(yaml.safe_dump(
        {"names": list(names), "source": "synthetic test pool", "kind": kind}, sort_keys=False))
    return root


def people(n: int, per: int = 3, prefix: str = "p") -> dict[str, list[str]]:
    """``n`` groups of ``per`` images, alternating neutral and smile people."""
    return {f"{prefix}{i:02d}": ["smile" if i % 2 else "neutral"] * per for i in range(n)}


@pytest.fixture
def pool(tmp_path: Path) -> Path:
    return write_pool(tmp_path / "pool", people(20))


def split_files(ds: Path, split: str) -> list[str]:
    return sorted(p.name for p in (ds / split / "images").iterdir())


def test_layout_counts_and_groups(tmp_path: Path, pool: Path) -> None:
    result = build_dataset([pool], "ds", tmp_path / "out", seed=0, progress=False)
    ds = result.dataset
    for split in ("train", "val", "test"):
        assert (ds / split / "images").is_dir() and (ds / split / "labels").is_dir()
    for name in ("data.yaml", "manifest.csv", "stats.json", "stats.png", "build_report.json"):
        assert (ds / name).is_file(), name
    rows = list(csv.DictReader((ds / "manifest.csv").open()))
    split_of_group: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        split_of_group[row["group"]].add(row["split"])
    assert all(len(s) == 1 for s in split_of_group.values())          # no person straddles
    sources = {r["source_image"] for r in rows}
    assert len(sources) == 60
    stats = json.loads((ds / "stats.json").read_text())
    src = {s: stats["splits"][s]["source_images"] for s in ("train", "val", "test")}
    assert src == {"train": 36, "val": 12, "test": 12}                 # 60/20/20 of 20 groups
    for s in ("train", "val", "test"):                                 # both classes everywhere
        assert all(stats["splits"][s]["per_class"][n]["images"] for n in ("neutral", "smile"))
    report = json.loads((ds / "build_report.json").read_text())
    assert report["arguments"]["seed"] == 0 and report["sources"][0]["images"] == 60
    assert report["counts"]["train"]["source_images"] == 36


def test_letterbox_is_pixel_exact(tmp_path: Path, pool: Path) -> None:
    ds = build_dataset([pool], "ds", tmp_path / "out", size=(450, 650), flip="all",
                       progress=False).dataset
    checked = 0
    for split in ("train", "val", "test"):
        for img_path in sorted((ds / split / "images").iterdir()):
            img = cv2.imread(str(img_path))
            assert img.shape == (650, 450, 3)
            rows = read_label_file(ds / split / "labels" / f"{img_path.stem}.txt", 2)
            assert len(rows) == 1
            want = xywhn_to_xyxy(np.array([rows[0].xywhn]), (450, 650))[0]
            ys, xs = np.nonzero(img.min(axis=2) > 185)   # the bright box, JPEG-blurred edges
            got = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
            assert got == pytest.approx(want, abs=1.5), img_path.name
            # letterbox of 320x240 into 450x650: grey (114) bands above and below
            assert abs(int(img[5, 225, 0]) - 114) <= 3 and abs(int(img[-5, 225, 0]) - 114) <= 3
            checked += 1
    assert checked == 120   # 60 images + 60 flips with --flip all


def test_stretch_and_keep(tmp_path: Path, pool: Path) -> None:
    ds = build_dataset([pool], "st", tmp_path / "out", resize="stretch", size="200x100",
                       flip="none", progress=False).dataset
    img = next((ds / "train" / "images").iterdir())
    assert cv2.imread(str(img)).shape == (100, 200, 3)
    keep = build_dataset([pool], "keep", tmp_path / "out", size="keep", flip="none",
                         progress=False).dataset
    out = sorted((keep / "val" / "images").iterdir())[0]
    src = pool / "images" / out.name.split("__", 1)[1]
    assert out.read_bytes() == src.read_bytes()           # copied byte for byte
    assert (keep / "val" / "labels" / f"{out.stem}.txt").read_text() == \
        (pool / "labels" / f"{src.stem}.txt").read_text()


def test_flip_only_in_train_and_mirrored(tmp_path: Path, pool: Path) -> None:
    ds = build_dataset([pool], "ds", tmp_path / "out", progress=False).dataset
    train = split_files(ds, "train")
    flips = [f for f in train if f.endswith("_flip.jpg")]
    assert len(flips) == len(train) // 2 == 36
    for split in ("val", "test"):
        assert not [f for f in split_files(ds, split) if "_flip" in f]
    name = flips[0].removesuffix("_flip.jpg")
    orig = read_label_file(ds / "train" / "labels" / f"{name}.txt")[0].xywhn
    flip = read_label_file(ds / "train" / "labels" / f"{name}_flip.txt")[0].xywhn
    assert flip == pytest.approx((1 - orig[0], *orig[1:]), abs=2e-6)
    a = cv2.imread(str(ds / "train" / "images" / f"{name}.jpg")).astype(np.int16)
    b = cv2.imread(str(ds / "train" / "images" / f"{name}_flip.jpg")).astype(np.int16)
    assert np.abs(cv2.flip(a, 1) - b).mean() < 2           # same pixels, mirrored (JPEG noise)
    none = build_dataset([pool], "none", tmp_path / "out", flip="none", progress=False).dataset
    assert not [f for f in split_files(none, "train") if "_flip" in f]


def test_data_yaml_loads_in_ultralytics_from_any_cwd(tmp_path: Path, pool: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from ultralytics.data.utils import check_det_dataset

    ds = build_dataset([pool], "ds", tmp_path / "out", progress=False).dataset
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    for given in (str(ds / "data.yaml"), "../out/ds/data.yaml"):
        data = check_det_dataset(given, autodownload=False)
        assert data["nc"] == 2 and data["names"] == {0: "neutral", 1: "smile"}
        for split in ("train", "val", "test"):
            assert Path(data[split]).resolve() == (ds / split / "images").resolve()


def test_data_yaml_text_without_test() -> None:
    loaded = yaml.safe_load(data_yaml_text(["a"], has_test=False))
    assert loaded == {"train": "train/images", "val": "val/images", "nc": 1, "names": {0: "a"}}


def test_rerun_is_identical(tmp_path: Path, pool: Path) -> None:
    def snapshot(ds: Path) -> dict[str, bytes]:
        return {str(p.relative_to(ds)): p.read_bytes() for p in sorted(ds.rglob("*"))
                if p.is_file() and p.suffix in (".txt", ".jpg", ".csv", ".yaml")}

    first = snapshot(build_dataset([pool], "ds", tmp_path / "a", progress=False).dataset)
    second = snapshot(build_dataset([pool], "ds", tmp_path / "a", progress=False).dataset)
    third = snapshot(build_dataset([pool], "ds", tmp_path / "b", progress=False,
                                   workers=2).dataset)
    assert first == second == third
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["ds"]   # no temp leftovers


def test_failure_leaves_previous_output_untouched(tmp_path: Path, pool: Path) -> None:
    out = tmp_path / "out"
    build_dataset([pool], "ds", out, progress=False)
    before = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    broken = tmp_path / "broken"
    shutil.copytree(pool, broken)
    victim = sorted((broken / "images").iterdir())[30]
    victim.write_bytes(b"not an image")                  # fails in the middle of the run
    with pytest.raises(DatasetError, match="cannot decode image") as err:
        build_dataset([broken], "ds", out, progress=False)
    assert err.value.path is not None and err.value.path.name == victim.name
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == before
    with pytest.raises(DatasetError):
        build_dataset([broken], "fresh", out, progress=False)
    assert not (out / "fresh").exists()
    assert [p.name for p in out.iterdir()] == ["ds"]
    assert victim.read_bytes() == b"not an image"         # sources untouched


def test_failure_while_writing_leaves_nothing_half_written(tmp_path: Path, pool: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import detector.build as build_module

    real = build_module._imwrite
    calls = {"n": 0}

    def flaky(path: Path, image: np.ndarray, quality: int) -> None:
        calls["n"] += 1
        if calls["n"] == 40:  # the disk "fills up" two thirds of the way through
            raise DatasetError(path, "could not write image")
        real(path, image, quality)

    monkeypatch.setattr(build_module, "_imwrite", flaky)
    out = tmp_path / "out"
    with pytest.raises(DatasetError, match="could not write image"):
        build_dataset([pool], "ds", out, workers=1, progress=False)
    assert calls["n"] == 40
    assert list(out.iterdir()) == []                      # no dataset, no temporary folder


def test_source_files_never_change(tmp_path: Path, pool: Path) -> None:
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in pool.rglob("*") if p.is_file()}
    build_dataset([pool], "ds", tmp_path / "out", progress=False)
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in pool.rglob("*") if p.is_file()}
    assert before == after


def duplicate_pool(tmp_path: Path) -> Path:
    """20 people; p01's first photo is also filed (re-encoded, slightly noisy) under p14."""
    root = write_pool(tmp_path / "dup", people(20))
    src = cv2.imread(str(root / "images" / "p01_000.png"))
    noise = np.random.default_rng(0).normal(0, 2, src.shape)
    cv2.imwrite(str(root / "images" / "p14_000.png"),
                (src.astype(np.float64) + noise).clip(0, 255).astype(np.uint8))
    shutil.copyfile(root / "labels" / "p01_000.txt", root / "labels" / "p14_000.txt")
    rows = (root / "manifest.csv").read_text().replace("p14_000.png,p14,,neutral",
                                                       "p14_000.png,p14,,smile")
    (root / "manifest.csv").write_text(rows)
    return root


def test_near_duplicates_across_splits_fail_with_a_report(tmp_path: Path) -> None:
    root = duplicate_pool(tmp_path)
    out = tmp_path / "out"
    split_of: dict[str, str] = {}
    for seed in range(20):  # find a seed that puts p01 and p14 in different splits
        try:
            build_dataset([root], f"s{seed}", out, seed=seed, progress=False)
        except DatasetError as err:
            assert err.path == out / f"s{seed}.near_duplicates.json"
            report = json.loads(err.path.read_text())
            assert "near-duplicate" in str(err) and "--merge-near-duplicates" in str(err)
            pair = report["pairs"][0]
            assert {pair["a"], pair["b"]} == {"dup/p01_000.png", "dup/p14_000.png"}
            assert pair["split_a"] != pair["split_b"]
            assert not (out / f"s{seed}").exists()
            allowed = build_dataset([root], f"s{seed}", out, seed=seed, allow_near_duplicates=True,
                                    progress=False)
            assert allowed.report["near_duplicates_across_splits"] == 1
            assert (allowed.dataset / "near_duplicates.json").is_file()
            assert not err.path.exists()                                # stale report removed
            merged = build_dataset([root], "merged", out, seed=seed, merge_near_duplicates=True,
                                   progress=False)
            assert merged.report["merged_groups"] == [["p01", "p14"]]
            rows = list(csv.DictReader((merged.dataset / "manifest.csv").open()))
            for row in rows:
                split_of.setdefault(row["group"], row["split"])
            assert split_of["p01"] == split_of["p14"]
            return
    pytest.fail("no seed separated the duplicate pair")


def test_respect_source_splits(tmp_path: Path) -> None:
    groups = people(12)
    fixed = {g: ("train", "val", "test")[i % 3] for i, g in enumerate(groups)}
    root = write_pool(tmp_path / "rf", groups, kind="roboflow", source_split=fixed)
    ds = build_dataset([root], "ds", tmp_path / "out", respect_source_splits=True,
                       progress=False).dataset
    for row in csv.DictReader((ds / "manifest.csv").open()):
        assert row["split"] == fixed[row["group"]]


def test_pools_merge_by_class_name(tmp_path: Path) -> None:
    a = write_pool(tmp_path / "a", people(9, prefix="a"))
    b = write_pool(tmp_path / "b", {f"b{i}": ["smile", "neutral"] for i in range(9)},
                   names=("smile", "neutral"), seed=1)
    c = write_pool(tmp_path / "c", {f"c{i}": ["happy", ""] for i in range(6)},
                   names=("happy",), seed=2)
    assert merge_names([load_pool(a), load_pool(b)]) == ["neutral", "smile"]
    result = build_dataset([a, b, c], "ds", tmp_path / "out", progress=False)
    assert result.names == ["happy", "neutral", "smile"]
    # b's "smile" (its id 0) is id 2 in the merged dataset
    row = next(r for r in csv.DictReader((result.dataset / "manifest.csv").open())
               if r["pool"] == "b" and r["class_names"] == "smile" and r["flip"] == "0")
    stem = Path(row["image"]).stem
    label = result.dataset / row["split"] / "labels" / f"{stem}.txt"
    assert read_label_file(label)[0].class_id == 2
    assert result.stats["totals"]["source_images"] == 27 + 18 + 12
    assert sum(result.stats["splits"][s]["background"] for s in ("train", "val", "test")) > 0
    with pytest.raises(DatasetError, match="not in --classes"):
        build_dataset([a, c], "x", tmp_path / "out", classes=["neutral", "smile"], progress=False)


@pytest.mark.parametrize(("breakage", "match"), [
    ("no_manifest", "manifest.csv: missing"),
    ("no_pool_yaml", "pool.yaml: missing"),
    ("bad_row", r"p00_001\.txt: line 1: class id 5 out of range"),
    ("wrong_class_names", "class_names smile but p00_000.txt has neutral"),
    ("missing_image", r"p00_002\.png: listed in .*manifest\.csv line 4 but missing"),
    ("unlisted_image", r"1 image\(s\) not in manifest\.csv, e\.g\. extra\.png"),
    ("missing_column", "missing column"),
])
def test_bad_pools_name_the_file(tmp_path: Path, breakage: str, match: str) -> None:
    root = write_pool(tmp_path / "pool", people(3))
    if breakage == "no_manifest":
        (root / "manifest.csv").unlink()
    elif breakage == "no_pool_yaml":
        (root / "pool.yaml").unlink()
    elif breakage == "bad_row":
        (root / "labels" / "p00_001.txt").write_text("5 0.5 0.5 0.1 0.1\n")
    elif breakage == "wrong_class_names":
        text = (root / "manifest.csv").read_text().replace("p00_000.png,p00,,neutral",
                                                           "p00_000.png,p00,,smile")
        (root / "manifest.csv").write_text(text)
    elif breakage == "missing_image":
        (root / "images" / "p00_002.png").unlink()
    elif breakage == "unlisted_image":
        shutil.copyfile(root / "images" / "p00_000.png", root / "images" / "extra.png")
    elif breakage == "missing_column":
        text = (root / "manifest.csv").read_text().replace("source_split,", "")
        (root / "manifest.csv").write_text(text)
    with pytest.raises(DatasetError, match=match):
        build_dataset([root], "ds", tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "ds").exists()


def test_refuses_to_replace_a_foreign_folder(tmp_path: Path, pool: Path) -> None:
    out = tmp_path / "out"
    (out / "ds").mkdir(parents=True)
    (out / "ds" / "precious.txt").write_text("keep me")
    with pytest.raises(DatasetError, match="not a previous output"):
        build_dataset([pool], "ds", out, progress=False)
    assert (out / "ds" / "precious.txt").read_text() == "keep me"


def test_too_few_groups_for_val(tmp_path: Path) -> None:
    root = write_pool(tmp_path / "pool", people(1))
    with pytest.raises(DatasetError, match="the val split would be empty"):
        build_dataset([root], "ds", tmp_path / "out", progress=False)


def test_cli_build_and_error_exit(tmp_path: Path, pool: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["build", str(pool), "--name", "cli", "--out", str(tmp_path / "out"),
                 "--split", "0.6,0.2,0.2", "--seed", "3", "--size", "96x128", "--no-progress"])
    captured = capsys.readouterr().out
    assert code == 0 and "train:" in captured and "data.yaml" in captured
    report = json.loads((tmp_path / "out" / "cli" / "build_report.json").read_text())
    assert report["command"].startswith("exprdet build ") and "--seed 3" in report["command"]
    assert main(["build", str(tmp_path / "nope"), "--out", str(tmp_path / "out")]) == 2
    assert "pool folder not found" in capsys.readouterr().err



def test_atomic_writes_get_ordinary_file_modes(tmp_path: Path) -> None:
    import os
    import stat

    from detector.fileio import atomic_write_text

    umask = os.umask(0o022)
    try:
        mode = stat.S_IMODE(atomic_write_text(tmp_path / "w.txt", "x").stat().st_mode)
    finally:
        os.umask(umask)
    assert mode == 0o644   # not mkstemp's 0600: shipped weights and reports must be readable by others
