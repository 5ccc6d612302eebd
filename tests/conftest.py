"""Shared fixtures: the real shared data (skipped when absent) and tiny synthetic media."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from detector.core import Detections
from detector.paths import shared_dir


@pytest.fixture(scope="session")
def shared() -> Path:
    """The ../shared folder; tests that need it skip with a reason when it is missing."""
    path = shared_dir()
    if not (path / "data").is_dir():
        pytest.skip(f"shared data not found at {path} (set EXPRDET_SHARED)")
    return path


@pytest.fixture
def make_video(tmp_path: Path) -> Callable[..., Path]:
    """Write a small synthetic mp4: a moving bright square on a dark background."""

    def _make(name: str = "clip.mp4", frames: int = 20, size_wh: tuple[int, int] = (96, 64),
              fps: float = 10.0, static: bool = False) -> Path:
        path = tmp_path / name
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size_wh)
        assert writer.isOpened()
        w, h = size_wh
        for i in range(frames):
            img = np.full((h, w, 3), 30, np.uint8)
            x = 5 if static else (5 + 3 * i) % max(w - 20, 1)
            cv2.rectangle(img, (x, 10), (x + 15, 25), (255, 255, 255), -1)
            cv2.putText(img, str(0 if static else i), (2, h - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                        (200, 200, 0), 1)
            writer.write(img)
        writer.release()
        return path

    return _make



@pytest.fixture
def make_yolo_dataset(tmp_path: Path) -> Callable[..., Path]:
    """Write a tiny 2-class YOLO dataset under tmp_path and return its data.yaml.

    See ``detector.train.write_synthetic_dataset``: bright squares (``neutral``) and dark discs
    (``smile``) on grey, ``<root>/{train,val,test}/{images,labels}``.
    """
    from detector.train import write_synthetic_dataset

    def _make(root: str = "ds", counts: tuple[int, int, int] = (24, 8, 8), size: int = 64,
              seed: int = 0) -> Path:
        return write_synthetic_dataset(tmp_path / root, counts, size, seed)

    return _make


@pytest.fixture(scope="session")
def untrained_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained 2-class (neutral, smile) yolo11n saved as a ``.pt``: pipeline tests only."""
    from detector.inference import build_untrained_weights

    return build_untrained_weights(tmp_path_factory.mktemp("weights") / "untrained-yolo11n.pt")


@pytest.fixture(scope="session")
def scene_test(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The by-eye reviewed real-scene test set built once: ``(root, build report)``; read it, never write.

    Building its 145 pictures takes ~30 s, and the recipe test and the golden-metric tests both need it.
    """
    from detector.recipes import build_scene_test

    root = tmp_path_factory.mktemp("scene-test") / "scene"
    return root, build_scene_test(shared / "data" / "faces-in-scenes" / "test", root)


@pytest.fixture(scope="session")
def scenes_by_person(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The person-disjoint real scenes built once: ``(root, build report)``; read it, never write."""
    from detector.recipes import build_person_disjoint_scenes

    root = tmp_path_factory.mktemp("scenes-by-person") / "scenes"
    return root, build_person_disjoint_scenes(shared / "data" / "faces-in-scenes", root)


class FakeDetector:
    """A model stand-in: ``fn(frame_index, frame) -> Detections`` per frame, ids 1..n when tracking.

    The default face sits still and alternates neutral/smile every frame (maximal flicker).
    ``raise_at=k`` raises ``exc`` on frame k (0-based), after k frames were detected.
    """

    names = {0: "neutral", 1: "smile"}

    def __init__(self, fn: Callable[[int, np.ndarray], Detections] | None = None,
                 raise_at: int | None = None, exc: type[BaseException] = KeyboardInterrupt) -> None:
        self.fn = fn or self.flickering_face
        self.raise_at = raise_at
        self.exc = exc
        self.calls = 0

    def flickering_face(self, i: int, frame: np.ndarray) -> Detections:
        return Detections(np.array([[10, 10, 40, 40]]), np.array([i % 2]), np.array([0.9]),
                          None, self.names)

    def predict(self, frame: np.ndarray) -> Detections:
        i = self.calls
        if self.raise_at is not None and i >= self.raise_at:
            raise self.exc
        self.calls += 1
        return self.fn(i, frame)

    def track(self, frame: np.ndarray) -> Detections:
        d = self.predict(frame)
        return Detections(d.xyxy, d.class_id, d.confidence, np.arange(1, len(d) + 1), d.names)

    def reset_tracker(self) -> None:
        pass


@pytest.fixture
def fake_detector() -> Callable[..., FakeDetector]:
    """Factory of :class:`FakeDetector`: ``fake_detector(fn=None, raise_at=None, exc=...)``."""
    return FakeDetector


class FakeTrainer:
    """What unfreeze_callback reads and writes of an Ultralytics trainer, with a real model."""

    def __init__(self, freeze: int, epochs: int) -> None:
        from detector.train import load_yolo

        self.model = load_yolo("yolo11n.yaml").model
        self.freeze_layer_names = [f"model.{i}." for i in range(freeze)] + [".dfl"]
        for k, v in self.model.named_parameters():  # as the trainer freezes at set-up
            v.requires_grad = not any(n in k for n in self.freeze_layer_names)
        self.epoch, self.epochs = 0, epochs

    def trainable_layers(self) -> set[str]:
        return {k.split(".")[1] for k, v in self.model.named_parameters() if v.requires_grad}


@pytest.fixture
def fake_trainer() -> Callable[..., FakeTrainer]:
    """Factory of :class:`FakeTrainer`: ``fake_trainer(freeze=9, epochs=10)``."""
    return FakeTrainer
