"""Draw detections on a copy of a frame: box, class, confidence, track id and an FPS counter.

Only ``cv2.rectangle``/``cv2.putText`` with OpenCV's built-in Hershey font are used, so nothing
(no TrueType font) is ever downloaded, unlike Ultralytics' own plotting.
"""

from __future__ import annotations

import cv2
import numpy as np

from detector.core import Detections

# BGR colours chosen so the two-class model reads at a glance (smile green, neutral grey-blue)
# and the seven FER classes stay distinguishable; "happy" matches "smile".
CLASS_COLORS: dict[str, tuple[int, int, int]] = {
    "smile": (80, 200, 60),
    "happy": (80, 200, 60),
    "neutral": (200, 160, 90),
    "surprise": (0, 200, 255),
    "angry": (40, 40, 230),
    "disgust": (40, 130, 120),
    "fear": (170, 60, 170),
    "sad": (190, 90, 20),
}
_FALLBACK = [(255, 56, 56), (56, 56, 255), (255, 157, 151), (0, 194, 255), (147, 69, 52),
             (255, 115, 100), (52, 147, 26), (187, 212, 0), (168, 153, 44), (255, 194, 0)]
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def class_color(class_id: int, name: str | None = None) -> tuple[int, int, int]:
    """The BGR colour of a class: fixed for known expression names, a palette entry otherwise.

    Example:
        >>> class_color(1, "smile")
        (80, 200, 60)
        >>> class_color(3) == class_color(13)
        True
    """
    if name is not None and name.lower() in CLASS_COLORS:
        return CLASS_COLORS[name.lower()]
    return _FALLBACK[int(class_id) % len(_FALLBACK)]


def annotate(frame: np.ndarray, detections: Detections, fps: float | None = None) -> np.ndarray:
    """Return a copy of ``frame`` with each detection and (optionally) the FPS drawn on it.

    Each box is labelled ``#<track id> <class> <confidence>`` (the id only when tracked and
    confirmed). Line width and text size scale with the frame so labels stay readable from
    96-pixel test clips to 1080p. The input frame is never modified.

    Args:
        frame: BGR (or grayscale) ``uint8`` image.
        detections: Boxes in ``frame``'s pixel coordinates.
        fps: Frames per second to show in the top-left corner; ``None`` hides the counter.

    Example:
        >>> img = np.zeros((120, 160, 3), np.uint8)
        >>> d = Detections(np.array([[10, 20, 60, 90]]), np.array([1]), np.array([0.87]),
        ...                np.array([3]), {0: "neutral", 1: "smile"})
        >>> out = annotate(img, d, fps=24.5)
        >>> out.shape, int(img.sum()), int(out.sum()) > 0
        ((120, 160, 3), 0, True)
    """
    out = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR) if frame.ndim == 2 else frame.copy()
    h, w = out.shape[:2]
    scale = max(min(h, w) / 720.0, 0.35)
    thickness = max(1, round(2 * scale))
    font_scale = 0.8 * scale
    for i in range(len(detections)):
        x1, y1, x2, y2 = (int(round(float(v))) for v in detections.xyxy[i])
        cls = int(detections.class_id[i])
        name = detections.names.get(cls, str(cls))
        color = class_color(cls, name)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thickness, cv2.LINE_AA)
        text = f"{name} {float(detections.confidence[i]):.2f}"
        if detections.tracker_id is not None and int(detections.tracker_id[i]) >= 0:
            text = f"#{int(detections.tracker_id[i])} {text}"
        _label(out, text, (x1, y1), color, font_scale, thickness)
    if fps is not None:
        _label(out, f"FPS {fps:.1f}", (0, 0), (40, 40, 40), font_scale, thickness, below=True)
    return out


def _label(img: np.ndarray, text: str, anchor: tuple[int, int], color: tuple[int, int, int],
           font_scale: float, thickness: int, below: bool = False) -> None:
    """Draw ``text`` on a filled box above ``anchor`` (below it when there is no room)."""
    (tw, th), base = cv2.getTextSize(text, _FONT, font_scale, thickness)
    pad = max(2, thickness)
    h, w = img.shape[:2]
    x = min(max(anchor[0], 0), max(w - tw - 2 * pad, 0))
    top = anchor[1] - th - base - 2 * pad
    if below or top < 0:
        top = max(anchor[1], 0)
    top = min(top, max(h - th - base - 2 * pad, 0))
    cv2.rectangle(img, (x, top), (x + tw + 2 * pad, top + th + base + 2 * pad), color, -1)
    # White or black text, whichever contrasts with the fill (perceived luminance).
    b, g, r = color
    ink = (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 140 else (255, 255, 255)
    cv2.putText(img, text, (x + pad, top + pad + th), _FONT, font_scale, ink, thickness,
                cv2.LINE_AA)
