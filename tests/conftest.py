"""Shared fixtures: the real shared data (skipped when absent) and tiny synthetic media."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

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
