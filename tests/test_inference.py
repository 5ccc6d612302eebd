"""ExpressionDetector (with an untrained model: pipeline behaviour only) and annotate()."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from detector.annotate import annotate, class_color
from detector.core import Detections
from detector.errors import ModelError
from detector.inference import ExpressionDetector, export_onnx, resolve_weights

NAMES = {0: "neutral", 1: "smile"}


@pytest.fixture(scope="module")
def detector(untrained_weights: Path) -> ExpressionDetector:
    # conf 0.001: an untrained model scores ~0.006, so this makes it return boxes to exercise
    # the conversion and tracking code; what it finds is meaningless.
    return ExpressionDetector(untrained_weights, conf=0.001, imgsz=96)


@pytest.fixture(autouse=True)
def no_pip(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Record any attempt by Ultralytics to run pip/uv; every test here must leave it empty."""
    import subprocess

    real = subprocess.check_output
    calls: list[object] = []

    def guarded(cmd: object, *args: object, **kwargs: object) -> object:
        if any(part in ("pip", "uv", "install") for part in (cmd if isinstance(cmd, list) else [])):
            calls.append(cmd)
            return ""
        return real(cmd, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(subprocess, "check_output", guarded)
    yield calls
    assert calls == [], f"Ultralytics tried to install something: {calls}"


def frame(seed: int = 0, shape: tuple[int, int] = (72, 96)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (*shape, 3), dtype=np.uint8)


def test_bare_hub_name_is_refused_without_download() -> None:
    for name in ("yolo11n.pt", "yolov8n.pt", "yolo11n"):
        with pytest.raises(ModelError) as info:
            resolve_weights(name)
        assert "use a .yaml or a path" in str(info.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "w.pt"
    with pytest.raises(ModelError) as info:
        ExpressionDetector(missing)
    assert str(missing) in str(info.value) and "not found" in str(info.value)


def test_missing_default_weights_says_pass_weights(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    fake_default = tmp_path / "weights" / "smile-neutral-yolo11n.pt"
    monkeypatch.setattr("detector.inference.DEFAULT_WEIGHTS", fake_default)
    with pytest.raises(ModelError, match="--weights"):
        resolve_weights(fake_default)


def test_corrupt_or_foreign_weights(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="cannot load"):
        ExpressionDetector(bad)
    txt = tmp_path / "w.txt"
    txt.write_text("x")
    with pytest.raises(ModelError, match="unsupported"):
        resolve_weights(txt)
    with pytest.raises(ModelError, match="folder"):
        resolve_weights(tmp_path)


def test_predict_returns_detections(detector: ExpressionDetector) -> None:
    assert detector.names == NAMES and detector.backend == "pytorch"
    d = detector.predict(frame())
    assert isinstance(d, Detections) and d.names == NAMES
    assert d.tracker_id is None
    assert len(d) > 0  # at conf 0.001 even an untrained head returns boxes
    assert np.all(d.xyxy >= -1)
    assert np.all(d.xyxy[:, [0, 2]] <= 97) and np.all(d.xyxy[:, [1, 3]] <= 73)
    assert set(d.class_id.tolist()) <= {0, 1}
    gray = detector.predict(frame()[..., 0])  # grayscale frames are accepted
    assert isinstance(gray, Detections)


def test_track_gives_every_box_an_id(detector: ExpressionDetector) -> None:
    detector.reset_tracker()
    for i in range(3):
        d = detector.track(frame(i))
        assert d.tracker_id is not None and len(d.tracker_id) == len(d)


def test_model_and_predictor_are_built_once(detector: ExpressionDetector) -> None:
    model, predictor = detector.model, detector.model.predictor
    for i in range(3):
        detector.predict(frame(i))
        detector.track(frame(i))
    assert detector.model is model and detector.model.predictor is predictor


def test_no_runtime_installs() -> None:
    from ultralytics.utils import checks

    assert checks.AUTOINSTALL is False
    # What the tracker and the ONNX export/runtime ask for is already installed.
    assert checks.check_requirements("lap>=0.5.12", install=False)
    assert checks.check_requirements(["onnx>=1.12.0,<2.0.0", "onnxslim>=0.1.82", "onnxruntime"],
                                     install=False)


def test_threads(detector: ExpressionDetector) -> None:
    import torch

    before = torch.get_num_threads()
    try:
        detector.set_threads(1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError):
        detector.set_threads(0)


# torch's TorchScript ONNX exporter warns about its own deprecation; not ours to fix.
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")
def test_onnx_export_and_load(untrained_weights: Path, tmp_path: Path) -> None:
    path = export_onnx(untrained_weights, 64, tmp_path)
    assert path.suffix == ".onnx" and path.parent == tmp_path
    assert not (untrained_weights.parent / path.name).exists()  # nothing written beside the .pt
    det = ExpressionDetector(path, conf=0.001, imgsz=640, threads=1)
    assert det.backend == "onnx" and det.imgsz == 64  # the export's fixed size wins
    assert det.names == NAMES
    assert isinstance(det.predict(frame()), Detections)


def test_annotate_draws_on_a_copy() -> None:
    img = np.zeros((120, 160, 3), np.uint8)
    d = Detections(np.array([[10, 20, 60, 90], [80, 10, 150, 100]]), np.array([0, 1]),
                   np.array([0.5, 0.9]), np.array([1, -1]), NAMES)
    out = annotate(img, d, fps=12.3)
    assert img.sum() == 0  # input untouched
    assert out.shape == img.shape and out.dtype == np.uint8
    # Both box colours appear (per-class colours).
    for cls, name in NAMES.items():
        assert np.any(np.all(out == class_color(cls, name), axis=-1))
    # The FPS box is drawn in the top-left corner even without detections.
    empty = annotate(img, Detections.empty(NAMES), fps=30.0)
    assert empty[:10, :30].sum() > 0 and annotate(img, Detections.empty(NAMES)).sum() == 0


def test_annotate_edge_boxes_and_grayscale() -> None:
    gray = np.zeros((40, 50), np.uint8)
    d = Detections(np.array([[0, 0, 50, 40]]), np.array([7]), np.array([1.0]), None, {})
    out = annotate(gray, d)
    assert out.shape == (40, 50, 3)
    assert class_color(1, "smile") != class_color(0, "neutral")
    assert class_color(1, "happy") == class_color(1, "smile")
