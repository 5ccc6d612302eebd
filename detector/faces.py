"""Face finders (Haar cascade built in, YuNet from an ONNX path) and the one-face policy.

Both return pixel ``xyxy`` boxes with scores, largest faces first, so autolabelling,
the two-stage pipeline and scene labelling share one interface.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from detector.errors import ModelError

FACE_POLICIES = ("skip", "largest", "central")


class FaceFinder(Protocol):
    """Anything that boxes faces in a BGR image."""

    name: str

    def find(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(xyxy (n, 4) float32, scores (n,) float32)``."""
        ...


# Measured on the 390 small photos of smile-neutral-faces (shorter side 18-239 px) processed in
# three shuffled orders: unscaled, 23 came out differently between orders (boxed or not, shifted);
# enlarged to a shorter side of 64 or more, none did, and 387-388 were boxed instead of 374-378.
YUNET_MIN_SIDE = 128
# Haar: 96 px is what autolabelling enlarged tiny pictures to before the finders did it themselves.
HAAR_MIN_SIDE = 96


def upscale_small(image: np.ndarray, min_side: int) -> tuple[np.ndarray, float]:
    """Enlarge ``image`` so its shorter side is at least ``min_side``; return it and the factor.

    Boxes found on the result are divided by the factor to return to ``image``'s pixels. Face
    finders miss or mis-box faces in tiny pictures (some shared photos are 18x30 px), so both
    finders call it inside ``find``.

    Example:
        >>> big, scale = upscale_small(np.zeros((40, 30, 3), np.uint8), 120)
        >>> big.shape, scale
        ((160, 120, 3), 4.0)
        >>> upscale_small(np.zeros((200, 300, 3), np.uint8), 120)[1]
        1.0
    """
    h, w = image.shape[:2]
    short = min(h, w)
    if min_side <= 0 or short >= min_side or short == 0:
        return image, 1.0
    scale = min_side / short
    size = (max(min_side, round(w * scale)), max(min_side, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR), scale


def _back_to_image(xyxy: np.ndarray, scale: float, resolution_wh: tuple[int, int]) -> np.ndarray:
    xyxy = xyxy / scale
    xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, resolution_wh[0])
    xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, resolution_wh[1])
    return xyxy


class HaarFaceFinder:
    """OpenCV's frontal-face Haar cascade, shipped inside the opencv-python 4.x wheel.

    Images whose shorter side is under ``min_side`` pixels are enlarged to it before detection
    and the boxes scaled back (:func:`upscale_small`).

    Example:
        >>> finder = HaarFaceFinder()
        >>> finder.find(np.zeros((64, 64, 3), np.uint8))[0].shape
        (0, 4)
    """

    name = "haar"

    def __init__(self, scale_factor: float = 1.1, min_neighbors: int = 5,
                 min_size_frac: float = 0.08, min_side: int = HAAR_MIN_SIDE) -> None:
        data = getattr(cv2, "data", None)
        if data is None or not hasattr(cv2, "CascadeClassifier"):
            raise ModelError(None, "this OpenCV has no Haar cascades (OpenCV 5 dropped them); "
                                   "install opencv-python<5 or pass --face-model yunet.onnx")
        path = Path(data.haarcascades) / "haarcascade_frontalface_default.xml"
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise ModelError(path, "could not load the Haar cascade")
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size_frac = min_size_frac
        self.min_side = int(min_side)

    def find(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = image_bgr.shape[:2]
        image_bgr, scale = upscale_small(image_bgr, self.min_side)
        gray = image_bgr if image_bgr.ndim == 2 else cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
        side = max(8, int(min(gray.shape[:2]) * self.min_size_frac))
        found, _, weights = self._cascade.detectMultiScale3(
            gray, self.scale_factor, self.min_neighbors, minSize=(side, side), outputRejectLevels=True)
        if len(found) == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        xywh = np.asarray(found, np.float32).reshape(-1, 4)
        xyxy = _back_to_image(np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1), scale, (w, h))
        # detectMultiScale3 weights are unbounded margins; squash to (0, 1) for a comparable score.
        scores = 1.0 / (1.0 + np.exp(-np.asarray(weights, np.float32).reshape(-1)))
        return _largest_first(xyxy, scores)


class YuNetFaceFinder:
    """OpenCV's YuNet detector from a local ONNX file (e.g. ``face_detection_yunet.onnx``).

    Images whose shorter side is under ``min_side`` pixels are enlarged to it before detection
    and the boxes scaled back (:func:`upscale_small`): on such tiny inputs OpenCV's YuNet
    gives results that depend on the images it saw before (NaN boxes, faces found or not), so
    the same photo could be boxed in one dataset build and not in another. ``min_side=0`` turns
    this off.

    Example:
        >>> # finder = YuNetFaceFinder("../shared/models/face_detection_yunet.onnx")
        >>> # xyxy, scores = finder.find(cv2.imread("photo.jpg"))
    """

    name = "yunet"

    def __init__(self, model_path: str | Path, score_threshold: float = 0.6,
                 nms_threshold: float = 0.3, min_side: int = YUNET_MIN_SIDE) -> None:
        self.model_path = Path(model_path)
        self.min_side = int(min_side)
        if not self.model_path.is_file():
            raise ModelError(self.model_path, "YuNet model file not found")
        if not hasattr(cv2, "FaceDetectorYN"):
            raise ModelError(self.model_path, "this OpenCV build has no cv2.FaceDetectorYN")
        try:
            self._net = cv2.FaceDetectorYN.create(str(self.model_path), "", (320, 320),
                                                  score_threshold, nms_threshold, 5000)
        except cv2.error as exc:
            raise ModelError(self.model_path, f"not a loadable YuNet ONNX model ({exc.msg})") from None
        self._size: tuple[int, int] = (320, 320)

    def find(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if image_bgr.ndim == 2:
            image_bgr = cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR)
        h, w = image_bgr.shape[:2]
        image_bgr, scale = upscale_small(image_bgr, self.min_side)
        size = (image_bgr.shape[1], image_bgr.shape[0])
        if size != self._size:
            self._net.setInputSize(size)
            self._size = size
        _, faces = self._net.detect(image_bgr)
        if faces is None or len(faces) == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        faces = np.asarray(faces, np.float32)
        faces = faces[np.isfinite(faces[:, :4]).all(axis=1)]
        xyxy = _back_to_image(np.concatenate([faces[:, :2], faces[:, :2] + faces[:, 2:4]], axis=1), scale, (w, h))
        keep = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
        return _largest_first(xyxy[keep], faces[keep, -1])


def make_face_finder(face_model: str | Path | None = None) -> FaceFinder:
    """YuNet when an ONNX path is given, the built-in Haar cascade otherwise.

    Example:
        >>> make_face_finder().name
        'haar'
    """
    if face_model is None:
        return HaarFaceFinder()
    return YuNetFaceFinder(face_model)


def choose_face(xyxy: np.ndarray, resolution_wh: tuple[int, int], policy: str = "skip") -> int | None:
    """Pick the one face to label in an image of known expression.

    ``skip`` keeps an image only when exactly one face was found; ``largest`` keeps the
    largest; ``central`` keeps the one whose centre is nearest the image centre.
    Returns the index into ``xyxy`` or ``None`` when the image should be skipped.

    Example:
        >>> boxes = np.array([[0, 0, 10, 10], [40, 40, 60, 60]], np.float32)
        >>> choose_face(boxes, (100, 100), "skip") is None
        True
        >>> choose_face(boxes, (100, 100), "largest"), choose_face(boxes, (100, 100), "central")
        (1, 1)
    """
    if policy not in FACE_POLICIES:
        raise ValueError(f"unknown face policy {policy!r}; choose from {FACE_POLICIES}")
    n = len(xyxy)
    if n == 0:
        return None
    if n == 1:
        return 0
    if policy == "skip":
        return None
    if policy == "largest":
        areas = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
        return int(np.argmax(areas))
    w, h = resolution_wh
    centres = (xyxy[:, :2] + xyxy[:, 2:]) / 2
    return int(np.argmin(np.hypot(centres[:, 0] - w / 2, centres[:, 1] - h / 2)))


def _largest_first(xyxy: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    areas = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
    order = np.argsort(-areas, kind="stable")
    return xyxy[order].astype(np.float32), np.asarray(scores, np.float32)[order]
