"""Re-classifying detector boxes with a face-crop classifier."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

from detector.core import Detections
from detector.errors import ModelError
from detector.labels import to_human_box
from detector.refine import CropClassifier, square_crops

NAMES = {0: "neutral", 1: "smile"}


@pytest.mark.parametrize(("box", "shape"), [
    ((40, 40, 60, 60), (21, 21, 3)),      # grown by 5 %, square
    ((0, 0, 100, 50), (77, 100, 3)),      # the longer side wins, clipped to the image
    ((90, 90, 100, 100), (11, 11, 3)),    # clipped at the corner
])
def test_square_crops(box: tuple, shape: tuple) -> None:
    image = np.zeros((100, 100, 3), np.uint8)
    assert square_crops(image, np.array([box], float))[0].shape == shape


def test_square_crops_gray_option() -> None:
    image = np.zeros((50, 50, 3), np.uint8)
    image[..., 2] = 255
    crop = square_crops(image, np.array([[0, 0, 50, 50.0]]))[0]
    assert np.all(crop[..., 0] == crop[..., 2])                       # grayscale
    assert np.all(square_crops(image, np.array([[0, 0, 50, 50.0]]), gray=False)[0][..., 0] == 0)


class _FakeClassifier(CropClassifier):
    def __init__(self, probs: np.ndarray) -> None:  # no model: scripted probabilities
        self._p = probs
        self.names = NAMES

    def probs(self, image: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
        return self._p[: len(xyxy)]


def test_refine_takes_the_class_and_multiplies_confidences() -> None:
    dets = Detections(np.array([[0, 0, 10, 10], [20, 20, 30, 30], [5, 5, 9, 9]]), np.array([0, 0, 1]),
                      np.array([0.9, 0.5, 0.001]), np.array([7, 8, 9]), NAMES)
    clf = _FakeClassifier(np.array([[0.2, 0.8], [0.9, 0.1]], np.float32))
    out = clf.refine(np.zeros((40, 40, 3), np.uint8), dets)
    assert out.class_id.tolist() == [1, 0]                 # the near-zero box was dropped
    assert np.allclose(out.confidence, [0.9 * 0.8, 0.5 * 0.9])
    assert out.tracker_id.tolist() == [7, 8]


class _RecordingModel:
    """Stands in for the Ultralytics classifier: remembers the crops, answers 'smile'."""

    def __init__(self) -> None:
        self.shapes: list[tuple[int, ...]] = []

    def predict(self, crops: list[np.ndarray], **_: object) -> list[SimpleNamespace]:
        self.shapes += [c.shape for c in crops]
        return [SimpleNamespace(probs=SimpleNamespace(data=torch.tensor([0.3, 0.7]))) for _ in crops]


@pytest.mark.parametrize(("boxes", "crops", "crop_shape"), [
    (None, "yunet", (135, 135, 3)),       # detector convention unknown: the box as it is, height x 1.05
    ("human", None, (135, 135, 3)),       # classifier untagged: the same
    ("human", "human", (135, 135, 3)),    # same convention: the same
    ("human", "yunet", (105, 105, 3)),    # shrunk back to the YuNet box first: 100 x 1.05
])
def test_classifier_crops_in_the_convention_it_learned(boxes: str | None, crops: str | None,
                                                        crop_shape: tuple) -> None:
    # a 100 x 100 YuNet face as a detector trained on human-drawn boxes reports it
    box = to_human_box(np.array([[100, 100, 200, 200.0]]), (300, 300))
    clf = CropClassifier.__new__(CropClassifier)
    clf.model, clf.order, clf.imgsz, clf.names = _RecordingModel(), [0, 1], 96, NAMES
    clf.box_convention, clf.crop_convention, clf.flip = boxes, crops, False
    p = clf.probs(np.zeros((300, 300, 3), np.uint8), box)
    assert clf.model.shapes == [crop_shape]
    np.testing.assert_allclose(p, [[0.3, 0.7]])


def test_classifier_grows_yunet_boxes_for_a_human_crop_classifier() -> None:
    clf = CropClassifier.__new__(CropClassifier)
    clf.model, clf.order, clf.imgsz, clf.names = _RecordingModel(), [0, 1], 96, NAMES
    clf.box_convention, clf.crop_convention, clf.flip = "yunet", "human", False
    clf.probs(np.zeros((300, 300, 3), np.uint8), np.array([[100, 100, 200, 200.0]]))
    assert clf.model.shapes == [(135, 135, 3)]


def test_classifier_flip_averages_the_mirror_crop() -> None:
    class _Asymmetric(_RecordingModel):
        def predict(self, crops: list[np.ndarray], **_: object) -> list[SimpleNamespace]:
            # 'smile' probability = brightness of the crop's left half, so a mirror changes it
            out = []
            for c in crops:
                s = float(c[:, : c.shape[1] // 2].mean() / 255)
                out.append(SimpleNamespace(probs=SimpleNamespace(data=torch.tensor([1 - s, s]))))
            return out

    image = np.zeros((100, 100, 3), np.uint8)
    image[:, :50] = 255                                   # left half white
    clf = CropClassifier.__new__(CropClassifier)
    clf.model, clf.order, clf.imgsz, clf.names = _Asymmetric(), [0, 1], 96, NAMES
    clf.box_convention, clf.crop_convention, clf.flip = None, None, False
    box = np.array([[0, 0, 100, 100.0]])
    np.testing.assert_allclose(clf.probs(image, box), [[0, 1]], atol=1e-6)
    clf.flip = True
    np.testing.assert_allclose(clf.probs(image, box), [[0.5, 0.5]], atol=1e-6)


def test_classifier_errors(tmp_path: Path, untrained_weights: Path) -> None:
    with pytest.raises(ModelError, match="local .pt"):
        CropClassifier(tmp_path / "missing.pt", NAMES)
    with pytest.raises(ModelError, match="not a classifier"):
        CropClassifier(untrained_weights, NAMES)


@pytest.mark.slow
def test_real_classifier_refines_detector_output(tmp_path: Path) -> None:
    from detector.train import train_classifier

    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for cls, value in (("neutral", 60), ("smile", 200)):
            folder = tmp_path / "crops" / split / cls
            folder.mkdir(parents=True)
            for i in range(8):
                cv2.imwrite(str(folder / f"{i}.png"), rng.normal(value, 5, (32, 32, 3)).clip(0, 255).astype(np.uint8))
    best = train_classifier(tmp_path / "crops", epochs=1, batch=8, imgsz=32, threads=1, name="cls",
                            project=tmp_path / "runs", overrides={"plots": False}).best
    clf = CropClassifier(best, NAMES)
    with pytest.raises(ModelError, match="has no class"):
        CropClassifier(best, {0: "angry"})
    frame = np.full((64, 64, 3), 200, np.uint8)
    dets = Detections(np.array([[8, 8, 40, 40.0]]), np.array([0]), np.array([0.8]), None, NAMES)
    out = clf.refine(frame, dets)
    p = clf.probs(frame, dets.xyxy)
    assert p.shape == (1, 2) and np.isclose(p.sum(), 1.0, atol=1e-4)
    assert out.class_id[0] == p.argmax() and np.isclose(out.confidence[0], 0.8 * p.max())
