"""YOLO label rows and box geometry as pure functions (no I/O apart from `read_label_file`).

Coordinate conventions are in the names: ``xywhn`` is normalised centre/size,
``xyxy`` is pixel corners, ``resolution_wh`` is ``(width, height)`` in pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detector.errors import DatasetError


@dataclass(frozen=True)
class LabelRow:
    """One parsed YOLO row: a class id and a normalised ``xywhn`` box.

    ``polygon`` is True when the row was a polygon converted to its bounding box.
    """

    class_id: int
    xywhn: tuple[float, float, float, float]
    polygon: bool = False


class LabelRowError(ValueError):
    """A label row that cannot be used; the message says why."""


def parse_yolo_line(line: str, num_classes: int | None = None) -> LabelRow | None:
    """Parse one YOLO detection (or polygon) row.

    Returns ``None`` for a blank line. Polygon rows (class then an even number >= 6 of
    coordinates) are converted to their bounding box. Raises :class:`LabelRowError`
    naming the problem for anything else that is wrong.

    Example:
        >>> parse_yolo_line("1 0.5 0.5 0.2 0.4")
        LabelRow(class_id=1, xywhn=(0.5, 0.5, 0.2, 0.4), polygon=False)
        >>> parse_yolo_line("0 0.1 0.1 0.3 0.1 0.3 0.5").xywhn
        (0.2, 0.3, 0.2, 0.4)
    """
    parts = line.split()
    if not parts:
        return None
    try:
        values = [float(p) for p in parts]
    except ValueError as exc:
        raise LabelRowError(f"not a number in {line.strip()!r}") from exc
    cls_value, coords = values[0], values[1:]
    if cls_value != int(cls_value) or cls_value < 0:
        raise LabelRowError(f"class id {parts[0]!r} is not a non-negative integer")
    class_id = int(cls_value)
    if num_classes is not None and class_id >= num_classes:
        raise LabelRowError(f"class id {class_id} out of range (dataset has {num_classes} classes)")
    if any(not np.isfinite(v) for v in coords):
        raise LabelRowError("non-finite coordinate")
    polygon = False
    if len(coords) == 4:
        xc, yc, w, h = coords
        if not all(0.0 <= v <= 1.0 for v in coords):
            raise LabelRowError(f"coordinate outside [0, 1] in {line.strip()!r}")
        if w <= 0 or h <= 0:
            raise LabelRowError(f"width and height must be positive in {line.strip()!r}")
        if xc - w / 2 < -1e-6 or xc + w / 2 > 1 + 1e-6 or yc - h / 2 < -1e-6 or yc + h / 2 > 1 + 1e-6:
            raise LabelRowError(f"box extends outside the image in {line.strip()!r}")
    elif len(coords) >= 6 and len(coords) % 2 == 0:
        xs, ys = np.array(coords[0::2]), np.array(coords[1::2])
        if np.any(xs < 0) or np.any(xs > 1) or np.any(ys < 0) or np.any(ys > 1):
            raise LabelRowError("polygon coordinate outside [0, 1]")
        x1, x2, y1, y2 = xs.min(), xs.max(), ys.min(), ys.max()
        w, h = x2 - x1, y2 - y1
        if w <= 0 or h <= 0:
            raise LabelRowError("degenerate polygon (zero width or height)")
        xc, yc = (x1 + x2) / 2, (y1 + y2) / 2
        polygon = True
    else:
        raise LabelRowError(
            f"expected 5 numbers (class x y w h) or a polygon, got {len(values)}"
        )
    return LabelRow(class_id, tuple(round(float(v), 6) for v in (xc, yc, w, h)), polygon)  # type: ignore[arg-type]


def format_yolo_line(class_id: int, xywhn: tuple[float, float, float, float] | np.ndarray) -> str:
    """Format a YOLO row with six decimals.

    Example:
        >>> format_yolo_line(0, (0.5, 0.5, 0.25, 0.125))
        '0 0.500000 0.500000 0.250000 0.125000'
    """
    xc, yc, w, h = (float(v) for v in xywhn)
    return f"{int(class_id)} {xc:.6f} {yc:.6f} {w:.6f} {h:.6f}"


def read_label_file(path: str | Path, num_classes: int | None = None) -> list[LabelRow]:
    """Read a YOLO label file strictly: the first bad row raises a DatasetError naming file and line.

    Example:
        >>> # read_label_file("train/labels/img.txt", num_classes=2)
    """
    path = Path(path)
    rows: list[LabelRow] = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        try:
            row = parse_yolo_line(line, num_classes)
        except LabelRowError as exc:
            raise DatasetError(path, f"line {lineno}: {exc}") from None
        if row is not None:
            rows.append(row)
    return rows


def flip_xywhn(xywhn: np.ndarray) -> np.ndarray:
    """Mirror normalised boxes left-right (``xc -> 1 - xc``).

    Example:
        >>> flip_xywhn(np.array([[0.2, 0.5, 0.1, 0.1]])).tolist()
        [[0.8, 0.5, 0.1, 0.1]]
    """
    out = np.array(xywhn, dtype=np.float64).reshape(-1, 4).copy()
    out[:, 0] = 1.0 - out[:, 0]
    return out


def xywhn_to_xyxy(xywhn: np.ndarray, resolution_wh: tuple[int, int]) -> np.ndarray:
    """Normalised centre boxes to pixel corners.

    Example:
        >>> xywhn_to_xyxy(np.array([[0.5, 0.5, 0.5, 0.5]]), (200, 100)).tolist()
        [[50.0, 25.0, 150.0, 75.0]]
    """
    w, h = resolution_wh
    b = np.array(xywhn, dtype=np.float64).reshape(-1, 4)
    return np.stack([(b[:, 0] - b[:, 2] / 2) * w, (b[:, 1] - b[:, 3] / 2) * h,
                     (b[:, 0] + b[:, 2] / 2) * w, (b[:, 1] + b[:, 3] / 2) * h], axis=1)


def xyxy_to_xywhn(xyxy: np.ndarray, resolution_wh: tuple[int, int]) -> np.ndarray:
    """Pixel corners to normalised centre boxes, clipped to the image.

    Example:
        >>> xyxy_to_xywhn(np.array([[50, 25, 150, 75]]), (200, 100)).tolist()
        [[0.5, 0.5, 0.5, 0.5]]
    """
    w, h = resolution_wh
    b = np.array(xyxy, dtype=np.float64).reshape(-1, 4).copy()
    b[:, [0, 2]] = b[:, [0, 2]].clip(0, w)
    b[:, [1, 3]] = b[:, [1, 3]].clip(0, h)
    return np.stack([(b[:, 0] + b[:, 2]) / 2 / w, (b[:, 1] + b[:, 3]) / 2 / h,
                     (b[:, 2] - b[:, 0]) / w, (b[:, 3] - b[:, 1]) / h], axis=1)


def letterbox_params(src_wh: tuple[int, int], dst_wh: tuple[int, int]) -> tuple[float, int, int]:
    """Scale and padding that fit ``src_wh`` inside ``dst_wh`` keeping aspect ratio.

    Returns ``(scale, pad_x, pad_y)``; the image is scaled then placed at ``(pad_x, pad_y)``.

    Example:
        >>> letterbox_params((640, 640), (450, 650))
        (0.703125, 0, 100)
    """
    sw, sh = src_wh
    dw, dh = dst_wh
    scale = min(dw / sw, dh / sh)
    nw, nh = round(sw * scale), round(sh * scale)
    return scale, (dw - nw) // 2, (dh - nh) // 2


def resize_xywhn(xywhn: np.ndarray, src_wh: tuple[int, int], dst_wh: tuple[int, int],
                 mode: str = "letterbox") -> np.ndarray:
    """Transform normalised boxes for an image resized from ``src_wh`` to ``dst_wh``.

    ``stretch`` keeps normalised boxes unchanged; ``letterbox`` maps them through the
    scale-and-pad of :func:`letterbox_params`.

    Example:
        >>> resize_xywhn(np.array([[0.5, 0.5, 1.0, 1.0]]), (640, 640), (450, 650)).round(4).tolist()
        [[0.5, 0.5, 1.0, 0.6923]]
    """
    b = np.array(xywhn, dtype=np.float64).reshape(-1, 4)
    if mode == "stretch":
        return b.copy()
    if mode != "letterbox":
        raise ValueError(f"unknown resize mode {mode!r} (letterbox or stretch)")
    scale, px, py = letterbox_params(src_wh, dst_wh)
    sw, sh = src_wh
    dw, dh = dst_wh
    nw, nh = round(sw * scale), round(sh * scale)
    out = np.empty_like(b)
    out[:, 0] = (b[:, 0] * nw + px) / dw
    out[:, 1] = (b[:, 1] * nh + py) / dh
    out[:, 2] = b[:, 2] * nw / dw
    out[:, 3] = b[:, 3] * nh / dh
    return out


def box_iou_xyxy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU between ``(n, 4)`` and ``(m, 4)`` corner boxes.

    Example:
        >>> box_iou_xyxy(np.array([[0, 0, 2, 2]]), np.array([[1, 0, 3, 2]])).round(3).tolist()
        [[0.333]]
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod((rb - lt).clip(min=0), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


# Human-drawn face box relative to YuNet's, in units of the YuNet box's width/height:
# (left, top, right, bottom) edge shifts. Medians over the 1,045 faces of faces-in-scenes/train
# that YuNet also finds (IoU > 0.3): left -0.059, top -0.156, right +0.067, bottom +0.132; the
# two side shifts are averaged (annotators are not left-handed; the asymmetry is noise).
# valid/ gives -0.062/-0.165/+0.052/+0.178 and test/ -0.066/-0.213/+0.055/+0.153.
HUMAN_BOX_OFFSETS: tuple[float, float, float, float] = (-0.063, -0.156, 0.063, 0.132)
# Each face-box convention as edge shifts from YuNet's boxes (what to_human_box applies).
BOX_CONVENTION_OFFSETS: dict[str, tuple[float, float, float, float]] = {
    "human": HUMAN_BOX_OFFSETS, "yunet": (0.0, 0.0, 0.0, 0.0)}


def to_human_box(xyxy: np.ndarray, image_wh: tuple[int, int],
                 offsets: tuple[float, float, float, float] = HUMAN_BOX_OFFSETS) -> np.ndarray:
    """Map face boxes from YuNet's convention to the human-drawn one, clipped to the image.

    Args:
        xyxy: ``(n, 4)`` or ``(4,)`` boxes in pixels.
        image_wh: ``(width, height)`` of the image, for clipping.
        offsets: ``(left, top, right, bottom)`` edge shifts in units of the box's width/height.

    Returns:
        Boxes of the same shape, as float64.

    Example:
        >>> to_human_box(np.array([10., 20., 110., 120.]), (200, 200), (-0.1, -0.2, 0.1, 0.1)).tolist()
        [0.0, 0.0, 120.0, 130.0]
    """
    boxes = np.asarray(xyxy, np.float64)
    flat = boxes.reshape(-1, 4)
    w = (flat[:, 2] - flat[:, 0])[:, None]
    h = (flat[:, 3] - flat[:, 1])[:, None]
    scale = np.hstack([w, h, w, h])
    out = flat + scale * np.asarray(offsets, np.float64)
    out = out.clip(0, [image_wh[0], image_wh[1], image_wh[0], image_wh[1]])
    return out.reshape(boxes.shape)


def from_human_box(xyxy: np.ndarray, image_wh: tuple[int, int],
                   offsets: tuple[float, float, float, float] = HUMAN_BOX_OFFSETS) -> np.ndarray:
    """Inverse of :func:`to_human_box`: human-drawn face boxes back to YuNet's convention.

    Used where a model trained on YuNet crops (the crop classifier) is given boxes from a
    detector trained on human-drawn boxes. Exact for boxes that :func:`to_human_box` did not clip.

    Args:
        xyxy: ``(n, 4)`` or ``(4,)`` boxes in pixels.
        image_wh: ``(width, height)`` of the image, for clipping.
        offsets: The same ``(left, top, right, bottom)`` shifts :func:`to_human_box` applied.

    Returns:
        Boxes of the same shape, as float64.

    Example:
        >>> from_human_box(np.array([0., 0., 120., 130.]), (200, 200), (-0.1, -0.2, 0.1, 0.1)).round(6).tolist()
        [10.0, 20.0, 110.0, 120.0]
    """
    boxes = np.asarray(xyxy, np.float64)
    flat = boxes.reshape(-1, 4)
    left, top, right, bottom = (float(v) for v in offsets)
    # A human box is the YuNet box grown by (right - left) of its width and (bottom - top) of its height.
    w = (flat[:, 2] - flat[:, 0]) / (1.0 + right - left)
    h = (flat[:, 3] - flat[:, 1]) / (1.0 + bottom - top)
    x1 = flat[:, 0] - left * w
    y1 = flat[:, 1] - top * h
    out = np.stack([x1, y1, x1 + w, y1 + h], axis=1)
    out = out.clip(0, [image_wh[0], image_wh[1], image_wh[0], image_wh[1]])
    return out.reshape(boxes.shape)
