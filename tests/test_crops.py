"""Crops of a dataset's labelled faces as class folders (``detector.crops``)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from detector.cli import main as cli_main
from detector.crops import REPORT_NAME, export_crops, keep_box
from detector.errors import DatasetError
from detector.labels import read_label_file


@pytest.mark.parametrize(("xyxy", "min_px", "expected"), [
    ([0, 0, 12, 12], 12, True),
    ([0, 0, 11.9, 30], 12, False),
    ([0, 0, 30, 11], 12, False),
    ([10, 10, 60, 70], 0, True),
])
def test_keep_box(xyxy: list[float], min_px: float, expected: bool) -> None:
    assert keep_box(np.array(xyxy, float), min_px) is expected


def _label_counts(data: Path, split: str) -> dict[str, int]:
    counts = {"neutral": 0, "smile": 0}
    for label in sorted((data.parent / split / "labels").glob("*.txt")):
        for row in read_label_file(label):
            counts[["neutral", "smile"][row.class_id]] += 1
    return counts


def test_export_crops_counts_classes_and_sizes(tmp_path: Path, make_yolo_dataset: Callable[..., Path]) -> None:
    data = make_yolo_dataset(counts=(6, 3, 3), size=96)
    before = sorted(p.name for p in (data.parent / "train" / "images").iterdir())
    out = tmp_path / "crops"
    report = export_crops(data, out, size=32, min_px=0, progress=False)

    for split in ("train", "val", "test"):
        assert report.counts[split] == _label_counts(data, split)
        for name, n in report.counts[split].items():
            files = sorted((out / split / name).glob("*.jpg"))
            assert len(files) == n
            for f in files:
                assert cv2.imread(str(f)).shape == (32, 32, 3)
    # The synthetic classes are bright squares and dark discs: the crops keep that difference.
    neutral = np.mean([cv2.imread(str(f)).mean() for f in (out / "train" / "neutral").glob("*.jpg")])
    smile = np.mean([cv2.imread(str(f)).mean() for f in (out / "train" / "smile").glob("*.jpg")])
    assert neutral > smile + 20
    assert json.loads((out / REPORT_NAME).read_text())["counts"] == report.counts
    assert sorted(p.name for p in (data.parent / "train" / "images").iterdir()) == before  # source untouched
    assert not (tmp_path / "crops.tmp").exists()


def test_export_crops_skips_flips_and_small_faces(tmp_path: Path, make_yolo_dataset: Callable[..., Path]) -> None:
    data = make_yolo_dataset(counts=(4, 2, 2), size=64)
    images = data.parent / "train" / "images"
    first = sorted(images.glob("*.png")) or sorted(images.iterdir())
    src = first[0]
    shutil.copy(src, images / f"{src.stem}_flip{src.suffix}")
    shutil.copy(data.parent / "train" / "labels" / f"{src.stem}.txt",
                data.parent / "train" / "labels" / f"{src.stem}_flip.txt")
    report = export_crops(data, tmp_path / "a", splits=("train",), min_px=0, progress=False)
    assert report.flips_skipped["train"] == 1
    kept = export_crops(data, tmp_path / "b", splits=("train",), min_px=0, skip_flips=False, progress=False)
    assert sum(kept.counts["train"].values()) > sum(report.counts["train"].values())
    # Every synthetic object is at most half of a 64-px image, so a 40-px floor drops some faces.
    big = export_crops(data, tmp_path / "c", splits=("train",), min_px=40, progress=False)
    total = sum(report.counts["train"].values())
    assert big.too_small["train"] > 0
    assert sum(big.counts["train"].values()) + big.too_small["train"] == total


def test_export_crops_rerun_replaces_and_refuses_foreign_folder(
        tmp_path: Path, make_yolo_dataset: Callable[..., Path]) -> None:
    data = make_yolo_dataset(counts=(4, 2, 2), size=64)
    out = tmp_path / "crops"
    export_crops(data, out, min_px=0, progress=False)
    (out / "train" / "neutral" / "stale.jpg").write_bytes(b"x")
    export_crops(data, out, min_px=0, progress=False)
    assert not (out / "train" / "neutral" / "stale.jpg").exists()

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("user data")
    with pytest.raises(DatasetError, match="not a crop export"):
        export_crops(data, foreign, progress=False)
    assert (foreign / "keep.txt").read_text() == "user data"


def test_crops_command_line(tmp_path: Path, make_yolo_dataset: Callable[..., Path],
                            capsys: pytest.CaptureFixture[str]) -> None:
    data = make_yolo_dataset(counts=(4, 2, 2), size=64)
    assert cli_main(["crops", str(data), "--out", str(tmp_path / "c"), "--splits", "train,val",
                     "--min-px", "0", "--no-progress"]) == 0
    assert "train:" in capsys.readouterr().out
    assert not (tmp_path / "c" / "test").exists()
    assert cli_main(["crops", str(data), "--out", str(tmp_path / "d"), "--splits", "nope",
                     "--no-progress"]) == 2
    assert "nope" in capsys.readouterr().err
