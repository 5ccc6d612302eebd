"""Faces in context: paste labelled face photos into real scenes at webcam-like scales.

Tight face crops teach a detector that a face is the whole picture. Composing them into
scenes (covering the scene's own, unlabelled faces so no face is left without a label,
and adding more at 5-40 % of the frame width) gives it faces at the sizes a webcam sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from detector.labels import box_iou_xyxy


@dataclass(frozen=True)
class FaceSample:
    """A labelled face: its picture, the face box in that picture and its class.

    Example:
        >>> FaceSample(Path("a.jpg"), (10.0, 10.0, 90.0, 100.0), 1, "Aaron").class_id
        1
    """

    image_path: Path
    box_xyxy: tuple[float, float, float, float]
    class_id: int
    group: str


def face_alpha(size_wh: tuple[int, int], inner_xyxy: tuple[float, float, float, float],
               feather: float = 0.12) -> np.ndarray:
    """A soft elliptical mask: 1 over the face box, fading to 0 towards the patch edge.

    Example:
        >>> a = face_alpha((100, 100), (25, 20, 75, 80))
        >>> float(a[50, 50]), float(a[0, 0])
        (1.0, 0.0)
    """
    w, h = size_wh
    x1, y1, x2, y2 = inner_xyxy
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    # Ellipse a little larger than the box so chin and forehead stay opaque.
    ax, ay = max((x2 - x1) * 0.62, 1.0), max((y2 - y1) * 0.62, 1.0)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.sqrt(((xx + 0.5 - cx) / ax) ** 2 + ((yy + 0.5 - cy) / ay) ** 2)
    return np.clip((1.0 + feather * 2 - r) / (feather * 2), 0.0, 1.0)


def tint_gray(image_bgr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Give a grayscale face a random skin tone so grayscale sources also teach colour.

    Colour images are returned unchanged.

    Example:
        >>> g = np.full((4, 4, 3), 128, np.uint8)
        >>> t = tint_gray(g, np.random.default_rng(0))
        >>> bool((t[..., 2] >= t[..., 1]).all() and (t[..., 1] >= t[..., 0]).all())
        True
    """
    b, g, r = (image_bgr[..., i].astype(np.int16) for i in range(3))
    if np.abs(b - g).mean() > 3 or np.abs(g - r).mean() > 3:
        return image_bgr
    # Skin tones: red >= green >= blue, from pale to dark.
    red = 1.0
    green = rng.uniform(0.72, 0.88)
    blue = green * rng.uniform(0.72, 0.9)
    gain = np.array([blue, green, red], np.float32) * rng.uniform(0.9, 1.15)
    return np.clip(image_bgr.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def shrink_to_short_side(image: np.ndarray, short_side: int) -> np.ndarray:
    """Resize a picture down (area averaging) so its shorter side is ``short_side`` pixels.

    Pictures already that small come back as an unchanged copy; normalised YOLO boxes stay valid.

    Example:
        >>> shrink_to_short_side(np.zeros((256, 128, 3), np.uint8), 64).shape
        (128, 64, 3)
    """
    if short_side < 1:
        raise ValueError(f"short_side must be at least 1 pixel, got {short_side}")
    h, w = image.shape[:2]
    scale = short_side / min(h, w)
    if scale >= 1:
        return image.copy()
    return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def lower_resolution(image: np.ndarray, short_side: int) -> np.ndarray:
    """Shrink a picture to ``short_side`` pixels on its shorter side and enlarge it back to its size.

    The result has the input's shape but only the detail of the small picture, as a face far from
    a webcam or a small video grab has. Pictures already that small come back as an unchanged copy.

    Example:
        >>> img = np.zeros((256, 256, 3), np.uint8); img[::2] = 255   # one-pixel stripes
        >>> low = lower_resolution(img, 32)
        >>> low.shape, int(low.std()) < 10
        ((256, 256, 3), True)
    """
    small = shrink_to_short_side(image, short_side)
    if small.shape == image.shape:
        return small
    return cv2.resize(small, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)


def paste_face(canvas: np.ndarray, face_img: np.ndarray, face_xyxy: np.ndarray,
               target_xyxy: np.ndarray, margin: float = 1.35) -> np.ndarray | None:
    """Paste ``face_img`` so its face box lands on ``target_xyxy`` of ``canvas`` (in place).

    The patch is the face box grown by ``margin`` and blended with :func:`face_alpha`.
    Returns the face box actually placed (clipped to the canvas) or ``None`` when it
    would be too small to see.

    Example:
        >>> canvas = np.zeros((200, 200, 3), np.uint8)
        >>> face = np.full((100, 100, 3), 200, np.uint8)
        >>> paste_face(canvas, face, np.array([20, 20, 80, 80.]), np.array([50, 50, 110, 110.])).tolist()
        [50.0, 50.0, 110.0, 110.0]
    """
    ch, cw = canvas.shape[:2]
    fx1, fy1, fx2, fy2 = (float(v) for v in face_xyxy)
    tx1, ty1, tx2, ty2 = (float(v) for v in target_xyxy)
    scale = (tx2 - tx1) / max(fx2 - fx1, 1e-6)
    if (tx2 - tx1) < 6 or (ty2 - ty1) < 6:
        return None
    # Patch in source pixels: face box grown by the margin, clipped to the source image.
    fh, fw = face_img.shape[:2]
    fcx, fcy = (fx1 + fx2) / 2, (fy1 + fy2) / 2
    hw, hh = (fx2 - fx1) * margin / 2, (fy2 - fy1) * margin / 2
    sx1, sy1 = max(0.0, fcx - hw), max(0.0, fcy - hh)
    sx2, sy2 = min(float(fw), fcx + hw), min(float(fh), fcy + hh)
    patch = face_img[int(sy1):int(np.ceil(sy2)), int(sx1):int(np.ceil(sx2))]
    pw, ph = max(1, round(patch.shape[1] * scale)), max(1, round(patch.shape[0] * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    patch = cv2.resize(patch, (pw, ph), interpolation=interp)
    # Where the patch's top-left goes on the canvas so the face box maps onto the target.
    ox = tx1 - (fx1 - int(sx1)) * scale
    oy = ty1 - (fy1 - int(sy1)) * scale
    ix, iy = round(ox), round(oy)
    inner = ((fx1 - int(sx1)) * scale, (fy1 - int(sy1)) * scale,
             (fx2 - int(sx1)) * scale, (fy2 - int(sy1)) * scale)
    alpha = face_alpha((pw, ph), inner) * _edge_ramp((pw, ph))
    alpha = alpha[..., None]
    cx1, cy1 = max(0, ix), max(0, iy)
    cx2, cy2 = min(cw, ix + pw), min(ch, iy + ph)
    if cx2 <= cx1 or cy2 <= cy1:
        return None
    region = canvas[cy1:cy2, cx1:cx2].astype(np.float32)
    p = patch[cy1 - iy:cy2 - iy, cx1 - ix:cx2 - ix].astype(np.float32)
    a = alpha[cy1 - iy:cy2 - iy, cx1 - ix:cx2 - ix]
    canvas[cy1:cy2, cx1:cx2] = (p * a + region * (1 - a)).round().astype(np.uint8)
    placed = np.array([max(0.0, tx1), max(0.0, ty1), min(float(cw), tx2), min(float(ch), ty2)])
    if placed[2] - placed[0] < 6 or placed[3] - placed[1] < 6:
        return None
    # A face cut by the frame edge by more than half is not a usable label.
    if (placed[2] - placed[0]) * (placed[3] - placed[1]) < 0.5 * (tx2 - tx1) * (ty2 - ty1):
        return None
    return placed


def random_free_box(resolution_wh: tuple[int, int], taken_xyxy: np.ndarray, width_frac: tuple[float, float],
                    aspect_hw: float, rng: np.random.Generator, tries: int = 30) -> np.ndarray | None:
    """A random box of ``width_frac`` of the image width that overlaps none of ``taken_xyxy``.

    Example:
        >>> box = random_free_box((640, 480), np.zeros((0, 4)), (0.1, 0.2), 1.2, np.random.default_rng(0))
        >>> bool(0 <= box[0] < box[2] <= 640)
        True
    """
    w, h = resolution_wh
    for _ in range(tries):
        bw = rng.uniform(*width_frac) * w
        bh = bw * aspect_hw
        if bw >= w or bh >= h:
            continue
        x1, y1 = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
        box = np.array([x1, y1, x1 + bw, y1 + bh])
        # Keep a gap around existing faces: grown boxes must not touch.
        grown = np.array([x1 - bw * 0.2, y1 - bh * 0.2, x1 + bw * 1.2, y1 + bh * 1.2])
        if len(taken_xyxy) == 0 or box_iou_xyxy(grown[None], taken_xyxy).max() == 0:
            return box
    return None


def compose_scene(background: np.ndarray, scene_faces_xyxy: np.ndarray, samples: list[FaceSample],
                  load: callable, rng: np.random.Generator, *, extra: tuple[int, int] = (0, 2),
                  extra_width_frac: tuple[float, float] = (0.06, 0.4), tint_prob: float = 0.5,
                  gray_prob: float = 0.1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cover every face of a scene with a labelled face and add a few more.

    ``samples`` are drawn in order (the caller shuffles them); ``load(path)`` returns a BGR
    image. Returns ``(image, xyxy (n, 4), class_id (n,))``; the background is not modified.
    Scene faces that could not be covered are painted over with a blurred patch so no
    unlabelled face remains.

    Example:
        >>> # img, xyxy, cls = compose_scene(bg, scene_boxes, samples, cv2.imread, rng)
    """
    canvas = background.copy()
    h, w = canvas.shape[:2]
    out_boxes: list[np.ndarray] = []
    out_cls: list[int] = []
    it = iter(samples)

    def _paste(sample: FaceSample, target: np.ndarray) -> bool:
        img = load(sample.image_path)
        if rng.random() < tint_prob:
            img = tint_gray(img, rng)
        placed = paste_face(canvas, img, np.array(sample.box_xyxy), target)
        if placed is None:
            return False
        out_boxes.append(placed)
        out_cls.append(sample.class_id)
        return True

    for box in np.asarray(scene_faces_xyxy, np.float64).reshape(-1, 4):
        sample = next(it, None)
        bw, bh = box[2] - box[0], box[3] - box[1]
        fw = sample.box_xyxy[2] - sample.box_xyxy[0] if sample else 1
        fh = sample.box_xyxy[3] - sample.box_xyxy[1] if sample else 1
        # Cover the scene face fully: scale by the larger ratio, keep the sample's aspect.
        s = max(bw / fw, bh / fh) * 1.1
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        target = np.array([cx - fw * s / 2, cy - fh * s / 2, cx + fw * s / 2, cy + fh * s / 2])
        if sample is None or not _paste(sample, target):
            _blur_out(canvas, box)
    for _ in range(int(rng.integers(extra[0], extra[1] + 1))):
        sample = next(it, None)
        if sample is None:
            break
        fw = sample.box_xyxy[2] - sample.box_xyxy[0]
        fh = sample.box_xyxy[3] - sample.box_xyxy[1]
        taken = np.concatenate([np.asarray(out_boxes).reshape(-1, 4),
                                np.asarray(scene_faces_xyxy, np.float64).reshape(-1, 4)])
        target = random_free_box((w, h), taken, extra_width_frac, fh / max(fw, 1e-6), rng)
        if target is not None:
            _paste(sample, target)
    if rng.random() < gray_prob:
        canvas = cv2.cvtColor(cv2.cvtColor(canvas, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    return canvas, np.asarray(out_boxes, np.float64).reshape(-1, 4), np.asarray(out_cls, np.int64)


def _edge_ramp(size_wh: tuple[int, int], frac: float = 0.08) -> np.ndarray:
    # Tight source photos end inside the ellipse; fading at the patch border hides the
    # rectangle edge a detector would otherwise learn as "face".
    w, h = size_wh
    ramp = max(1.0, frac * min(w, h))
    x = np.minimum(np.arange(w) + 0.5, w - np.arange(w) - 0.5) / ramp
    y = np.minimum(np.arange(h) + 0.5, h - np.arange(h) - 0.5) / ramp
    return np.clip(np.minimum(y[:, None], x[None, :]), 0.0, 1.0).astype(np.float32)


def _blur_out(canvas: np.ndarray, box: np.ndarray) -> None:
    h, w = canvas.shape[:2]
    x1, y1 = max(0, int(box[0])), max(0, int(box[1]))
    x2, y2 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return
    k = max(3, (min(x2 - x1, y2 - y1) // 2) | 1)
    canvas[y1:y2, x1:x2] = cv2.GaussianBlur(canvas[y1:y2, x1:x2], (k, k), 0)
