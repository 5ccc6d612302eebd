"""The shipped weights: small, loadable offline, and they find faces in real videos.

Golden metrics: `tests/golden/shipped_metrics.json` holds what `exprdet eval` measured on the
by-eye reviewed real-scene test sets (the export's and the person-disjoint one) and on other people;
a re-evaluation must agree within its tolerance, so a changed model or a changed evaluation cannot
pass silently.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import pytest

from detector.inference import LIVE_NMS_IOU, ExpressionDetector
from detector.paths import DEFAULT_CLASSIFIER, DEFAULT_WEIGHTS

if TYPE_CHECKING:
    from detector.evaluate import EvalReport

GOLDEN = Path(__file__).parent / "golden" / "shipped_metrics.json"


def first_frames(video: Path, n: int) -> list:
    """The first ``n`` frames of a video (fewer if it is shorter)."""
    cap = cv2.VideoCapture(str(video))
    frames = []
    try:
        while len(frames) < n:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame)
    finally:
        cap.release()
    return frames


def test_shipped_files_exist_and_are_small() -> None:
    for path in (DEFAULT_WEIGHTS, DEFAULT_CLASSIFIER):
        assert path.is_file(), path
        assert path.stat().st_size < 10 * 1024 * 1024


def test_shipped_detector_loads_with_its_classes_and_size() -> None:
    det = ExpressionDetector()
    assert det.names == {0: "neutral", 1: "smile"}
    assert det.imgsz == 320


@pytest.mark.slow
@pytest.mark.parametrize(("video", "min_share"), [
    ("vdotup_face.mp4", 0.9),
    ("1zlab_face.mp4", 0.9),
    ("karakayaahmet_smile.mp4", 0.8),
])
def test_shipped_detector_finds_faces_in_real_videos(shared: Path, video: str, min_share: float) -> None:
    det = ExpressionDetector(conf=0.25)
    frames = first_frames(shared / "data" / "videos" / video, 30)
    assert len(frames) == 30
    found = sum(len(det.predict(frame)) > 0 for frame in frames)
    assert found / len(frames) >= min_share


@pytest.mark.slow
def test_live_default_gives_one_box_per_face(shared: Path) -> None:
    # 1zlab_face.mp4 shows one speaker. At Ultralytics' NMS IoU 0.7 the shipped v4 model put a
    # second, looser box around her in 195 of the 383 frames; the live default must not.
    det = ExpressionDetector(conf=0.25)
    assert det.iou == LIVE_NMS_IOU
    frames = first_frames(shared / "data" / "videos" / "1zlab_face.mp4", 60)
    assert len(frames) == 60
    counts = [len(det.predict(frame)) for frame in frames]
    assert counts.count(1) == len(counts), counts


@pytest.mark.slow
def test_smiles_in_the_group_selfie_are_called_smile(shared: Path) -> None:
    det = ExpressionDetector(conf=0.25, classifier=DEFAULT_CLASSIFIER)
    frames = first_frames(shared / "data" / "videos" / "karakayaahmet_smile.mp4", 30)
    assert len(frames) == 30
    labels = [label for frame in frames for label in det.predict(frame).labels]
    assert labels.count("smile") > 2 * labels.count("neutral")


def _assert_matches_golden(report: EvalReport, key: str) -> None:
    golden = json.loads(GOLDEN.read_text())
    measured = {"map50": report.map50, "map50_95": report.map50_95, **report.face.shares()}
    for name, value in golden[key].items():
        assert measured[name] == pytest.approx(value, abs=golden["tolerance"]), name


@pytest.mark.slow
@pytest.mark.parametrize("with_classifier", [False, True])
def test_golden_metrics_on_the_real_scene_test(scene_test: tuple[Path, dict], tmp_path: Path,
                                               with_classifier: bool) -> None:
    from detector.evaluate import evaluate_weights

    key = "real_scenes+classifier" if with_classifier else "real_scenes"
    report = evaluate_weights(DEFAULT_WEIGHTS, scene_test[0] / "data.yaml", "test", out=tmp_path / "eval",
                              plots=False, classifier=DEFAULT_CLASSIFIER if with_classifier else None)
    _assert_matches_golden(report, key)


@pytest.mark.slow
def test_golden_metrics_on_other_people(shared: Path, tmp_path: Path) -> None:
    # FER2013's test happy/neutral faces: people from another source, never trained on.
    from detector.evaluate import evaluate_weights
    from detector.recipes import build_other_people_test

    data = build_other_people_test(shared / "data" / "fer2013", tmp_path / "other")
    report = evaluate_weights(DEFAULT_WEIGHTS, data, "test", out=tmp_path / "eval", plots=False, threads=2)
    _assert_matches_golden(report, "other_people")


@pytest.mark.slow
def test_golden_metrics_on_the_person_disjoint_real_scene_test(scenes_by_person: tuple[Path, dict],
                                                               tmp_path: Path) -> None:
    # v9 trained on these people (the export's train/), and still gets 61 % (session 28).
    from detector.evaluate import evaluate_weights

    report = evaluate_weights(DEFAULT_WEIGHTS, scenes_by_person[0] / "data.yaml", "test", out=tmp_path / "eval",
                              plots=False, threads=2)
    _assert_matches_golden(report, "real_scenes_by_person")
