"""Where things are by default: the shipped weights, the shared data, run folders."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
WEIGHTS_DIR = REPO_DIR / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "smile-neutral-yolo11n.pt"
# Face-crop smile/neutral classifier; its backbone started the detector, `--classifier` uses it whole.
DEFAULT_CLASSIFIER = WEIGHTS_DIR / "smile-neutral-cls.pt"
DATASETS_DIR = REPO_DIR / "datasets"
RUNS_DIR = REPO_DIR / "runs"


def shared_dir() -> Path:
    """The shared real-data folder: ``$EXPRDET_SHARED`` or ``../shared`` beside the repo.

    Example:
        >>> shared_dir().name in {"shared", os.environ.get("EXPRDET_SHARED", "shared")}
        True
    """
    env = os.environ.get("EXPRDET_SHARED")
    return Path(env) if env else REPO_DIR.parent / "shared"


def default_face_model() -> Path | None:
    """The YuNet ONNX model in the shared folder, if present.

    Example:
        >>> p = default_face_model(); p is None or p.suffix == ".onnx"
        True
    """
    path = shared_dir() / "models" / "face_detection_yunet.onnx"
    return path if path.exists() else None
