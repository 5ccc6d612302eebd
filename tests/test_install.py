"""The environment the README promises: one cv2, with Haar cascades, and nothing that downloads."""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path

import cv2

OPENCV_DISTS = {"opencv-python", "opencv-python-headless", "opencv-contrib-python",
                "opencv-contrib-python-headless"}


def test_exactly_one_opencv_distribution_is_installed() -> None:
    installed = sorted({d.metadata["Name"].lower() for d in md.distributions()} & OPENCV_DISTS)
    assert installed == ["opencv-python"], installed


def test_cv2_is_4x_with_haar_cascades() -> None:
    assert cv2.__version__.startswith("4."), cv2.__version__
    assert hasattr(cv2, "CascadeClassifier")
    cascade = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
    assert cascade.is_file()
    assert not cv2.CascadeClassifier(str(cascade)).empty()


def test_lap_is_installed_so_trackers_never_pip_install_it() -> None:
    import lap  # noqa: F401
