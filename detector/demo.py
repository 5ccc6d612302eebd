"""``exprdet demo``: the shipped model on a built-in clip, no camera, display or download needed.

The clip is generated at run time from public-domain pictures that scikit-image ships inside
its wheel: ``astronaut()`` (NASA portrait of Eileen Collins, public domain) and ``camera()``
(the "cameraman", CC0). It moves, zooms and mirrors them over a textured background so faces
appear at several sizes and positions. No media is committed to the repository.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from detector.inference import ExpressionDetector, FrameDetector
from detector.live import RunSummary, run_detection
from detector.paths import DEFAULT_WEIGHTS
from detector.sources import VideoWriter

DEMO_SIZE_WH = (640, 480)
# Square head-and-shoulders crops (x0, y0, side) of the 512x512 pictures, so the face fills
# about 40 % of a pasted tile like in a webcam close-up (found once with YuNet, fixed here).
_CROPS = ((103, 15, 240), (136, 75, 180))


def demo_pictures(crop: bool = True) -> list[np.ndarray]:
    """The bundled public-domain face pictures as BGR images (astronaut, cameraman).

    Example:
        >>> [p.shape for p in demo_pictures()]
        [(240, 240, 3), (180, 180, 3)]
        >>> demo_pictures(crop=False)[1].shape
        (512, 512, 3)
    """
    from skimage import data

    pictures = [cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR),
                cv2.cvtColor(data.camera(), cv2.COLOR_GRAY2BGR)]
    if not crop:
        return pictures
    return [pic[y0:y0 + side, x0:x0 + side].copy()
            for pic, (x0, y0, side) in zip(pictures, _CROPS, strict=True)]


def _background(size_wh: tuple[int, int], seed: int) -> np.ndarray:
    """A soft gradient with fine noise and faint stripes: textured, but nothing face-like."""
    w, h = size_wh
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 70 + 60 * (yy / h) + 25 * np.sin(xx / 37.0) * np.cos(yy / 53.0)
    noise = rng.normal(0, 6, (h, w)).astype(np.float32)
    tint = np.array([1.0, 0.92, 0.85], np.float32)  # slightly warm, like a classroom wall
    img = (base + noise)[..., None] * tint
    return np.clip(img, 0, 255).astype(np.uint8)


def _paste(canvas: np.ndarray, picture: np.ndarray, cx: float, cy: float, side: int) -> None:
    """Paste ``picture`` resized to ``side`` pixels, centred at (cx, cy), clipped to the canvas."""
    side = max(int(side), 8)
    tile = cv2.resize(picture, (side, side), interpolation=cv2.INTER_AREA)
    h, w = canvas.shape[:2]
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + side, w), min(y0 + side, h)
    if xb <= xa or yb <= ya:
        return
    canvas[ya:yb, xa:xb] = tile[ya - y0:yb - y0, xa - x0:xb - x0]


def render_demo_frame(t: float, seconds: float, size_wh: tuple[int, int] = DEMO_SIZE_WH,
                      pictures: list[np.ndarray] | None = None,
                      background: np.ndarray | None = None) -> np.ndarray:
    """One frame of the demo clip at time ``t`` (pure function of ``t``).

    Four phases: zoom in on the astronaut; pan left to right; mirrored and smaller, right to
    left; astronaut and cameraman side by side.

    Example:
        >>> render_demo_frame(0.0, 4.0, (160, 120)).shape
        (120, 160, 3)
    """
    w, h = size_wh
    pics = pictures if pictures is not None else demo_pictures()
    frame = (background if background is not None else _background(size_wh, 0)).copy()
    p = min(max(t / seconds, 0.0), 0.9999)
    astronaut, second = pics[0], pics[-1]
    if p < 0.3:  # zoom in from a small face to a close-up
        q = p / 0.3
        _paste(frame, astronaut, w / 2, h / 2, h * (0.25 + 0.7 * q))
    elif p < 0.55:  # pan left to right with a gentle bob
        q = (p - 0.3) / 0.25
        _paste(frame, astronaut, w * (0.2 + 0.6 * q), h * (0.5 + 0.1 * math.sin(6 * q)), h * 0.5)
    elif p < 0.8:  # mirrored, smaller, right to left
        q = (p - 0.55) / 0.25
        _paste(frame, cv2.flip(astronaut, 1), w * (0.8 - 0.6 * q), h * 0.4, h * 0.35)
    else:  # two people at different sizes, slowly zooming
        q = (p - 0.8) / 0.2
        _paste(frame, astronaut, w * 0.28, h * 0.5, h * (0.42 + 0.08 * q))
        _paste(frame, second, w * 0.72, h * 0.5, h * (0.55 - 0.05 * q))
    return frame


def make_demo_clip(path: str | Path, seconds: float = 4.0, fps: float = 15.0,
                   size_wh: tuple[int, int] = DEMO_SIZE_WH, seed: int = 0) -> Path:
    """Write the demo clip (mp4v, atomic) and return its path.

    Example:
        >>> import tempfile
        >>> p = make_demo_clip(Path(tempfile.mkdtemp()) / "d.mp4", seconds=1, fps=5,
        ...                    size_wh=(160, 120))
        >>> int(cv2.VideoCapture(str(p)).get(cv2.CAP_PROP_FRAME_COUNT))
        5
    """
    if seconds <= 0 or fps <= 0:
        raise ValueError("seconds and fps must be positive")
    pictures = demo_pictures()
    background = _background(size_wh, seed)
    n = max(int(round(seconds * fps)), 1)
    with VideoWriter(path, fps=fps, size_wh=size_wh) as writer:
        for i in range(n):
            writer.write(render_demo_frame(i / fps, seconds, size_wh, pictures, background))
    return Path(path)


@dataclass
class DemoResult:
    """Where the demo put its files, plus the detection run's summary."""

    out_dir: Path
    input_video: Path
    summary: RunSummary

    def lines(self) -> list[str]:
        """What ``exprdet demo`` prints."""
        return [f"demo input clip: {self.input_video}", *self.summary.lines(),
                f"all demo outputs are in {self.out_dir}/"]


def run_demo(weights: str | Path = DEFAULT_WEIGHTS, out_dir: str | Path = "demo_output", *,
             detector: FrameDetector | None = None, seconds: float = 4.0, fps: float = 15.0,
             max_frames: int | None = None, imgsz: int | None = None, conf: float = 0.25,
             smooth: int = 5, progress: bool = True, classifier: str | Path | None = None) -> DemoResult:
    """Generate the demo clip, run detection with tracking and write every output to ``out_dir``.

    Outputs: ``demo_input.mp4`` (the generated clip), ``demo_annotated.mp4``,
    ``detections.jsonl`` and the session report (``session.json``, ``session.md``,
    ``session_timeline.png``). Each file is written atomically; other files in ``out_dir``
    are left alone.

    Args:
        weights: Model to run (default the shipped one); ignored when ``detector`` is given.
        out_dir: Output folder (created).
        detector: A ready detector (tests pass a small or fake one).
        seconds, fps: Length and rate of the generated clip.
        max_frames: Process only the first frames.
        imgsz, conf: Inference size and confidence threshold.
        smooth: Label smoothing window (frames).
        progress: Show progress bars.
        classifier: Optional face-crop ``-cls`` model that re-classifies every box.

    Raises:
        ModelError: the weights are missing (pass ``--weights``) or cannot be loaded.

    Example:
        >>> result = run_demo(out_dir="demo_output")  # doctest: +SKIP
        >>> print("\\n".join(result.lines()))  # doctest: +SKIP
    """
    # Load the model first: a missing model should fail before any file is written.
    if detector is None:
        detector = ExpressionDetector(weights, conf=conf, imgsz=imgsz, classifier=classifier)
    out = Path(out_dir)
    clip = make_demo_clip(out / "demo_input.mp4", seconds=seconds, fps=fps)
    summary = run_detection(detector, clip, show=False, save_video=out / "demo_annotated.mp4",
                            log_path=out / "detections.jsonl", smooth=smooth, track=True,
                            max_frames=max_frames, report_dir=out, report_stem="session",
                            progress=progress)
    return DemoResult(out, clip, summary)
