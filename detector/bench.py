"""End-to-end speed benchmark (decode, infer, draw, encode) and the label-flicker measurement.

:func:`run_bench` times every pipeline on the same frames of one video and
:func:`format_bench_table` prints a single Markdown table naming the machine. Pipelines:
PyTorch and ONNX Runtime at each ``imgsz`` and thread count, OpenVINO when the package is
importable ("not installed" otherwise), and a slot for any extra :class:`FrameDetector` such as
the later two-stage face-finder + CNN pipeline.

Speed is reported, never asserted: a nano model's speed does not depend on its training, so an
untrained model of the same architecture measures the pipeline before the shipped one exists.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import platform
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from detector.annotate import annotate
from detector.errors import ModelError, SourceError
from detector.fileio import atomic_write_json
from detector.inference import (
    ExpressionDetector,
    FrameDetector,
    build_untrained_weights,
    export_onnx,
    export_openvino,
)
from detector.live import run_detection
from detector.sources import FALLBACK_FPS, VideoWriter

TWO_STAGE = "two-stage (face finder + CNN)"
DEFAULT_IMGSZ = (320, 480, 640)
DEFAULT_THREADS = (1, 2)
_WARMUP_FRAMES = 3


@dataclass
class BenchRow:
    """One timed pipeline configuration; times are mean milliseconds per frame."""

    pipeline: str
    imgsz: int | None
    threads: int | None
    frames: int = 0
    fps: float | None = None
    decode_ms: float | None = None
    infer_ms: float | None = None
    draw_ms: float | None = None
    encode_ms: float | None = None
    note: str = ""


@dataclass
class BenchResult:
    """Everything ``bench.json`` holds."""

    machine: dict[str, Any]
    source: str
    input_wh: tuple[int, int]
    frame_wh: tuple[int, int]
    frames: int
    weights: str
    rows: list[BenchRow] = field(default_factory=list)
    command: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``"640x480"`` into ``(640, 480)``.

    Example:
        >>> parse_size("640x480")
        (640, 480)
    """
    try:
        w, h = (int(v) for v in text.lower().replace("*", "x").split("x"))
    except ValueError:
        raise ValueError(f"expected WIDTHxHEIGHT such as 640x480, got {text!r}") from None
    if w <= 0 or h <= 0:
        raise ValueError(f"size must be positive, got {text!r}")
    return w, h


def machine_info() -> dict[str, Any]:
    """CPU model, core count, default torch threads, library versions and current load.

    Example:
        >>> sorted(machine_info())[:3]
        ['cpu', 'load_avg_1m', 'logical_cores']
    """
    import torch

    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info: dict[str, Any] = {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "torch_default_threads": torch.get_num_threads(),
        "torch": torch.__version__.split("+")[0],
        "opencv": cv2.__version__,
        "python": platform.python_version(),
        "os": platform.platform(terse=True),
        # A busy machine (e.g. a training run) slows every row; recorded so readers can tell.
        "load_avg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }
    for module in ("ultralytics", "onnxruntime"):
        spec = importlib.util.find_spec(module)
        info[module] = importlib.import_module(module).__version__ if spec else None
    return info


def _open_video(path: Path) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise SourceError(path, "cannot be opened as a video")
    return cap


def time_pipeline(detector: FrameDetector, video: str | Path, *, frames: int, name: str,
                  imgsz: int | None = None, threads: int | None = None,
                  resize_wh: tuple[int, int] | None = None, work_dir: str | Path | None = None,
                  progress: bool = True) -> BenchRow:
    """Time ``frames`` end-to-end iterations: decode (+resize), predict, annotate, encode.

    The video is rewound when it is shorter than ``frames``; the first frames are run once
    untimed so one-off warm-up costs do not count.

    Example:
        >>> row = time_pipeline(det, "clip.mp4", frames=50, name="PyTorch")  # doctest: +SKIP
        >>> round(row.fps)  # doctest: +SKIP
        14
    """
    video = Path(video)
    cap = _open_video(video)
    fps_in = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) or FALLBACK_FPS
    times = np.zeros((frames, 4))
    tmp = tempfile.TemporaryDirectory(dir=work_dir, prefix="exprdet-bench-")
    try:
        with VideoWriter(Path(tmp.name) / "bench.mp4", fps=fps_in, size_wh=resize_wh) as writer:
            fps_shown: float | None = None
            for i in tqdm(range(-_WARMUP_FRAMES, frames), desc=f"bench {name} {imgsz or ''}",
                          disable=not progress, leave=False):
                t0 = time.perf_counter()
                ok, frame = cap.read()
                if not ok:  # rewind: every row times the same number of frames
                    cap.release()
                    cap = _open_video(video)
                    ok, frame = cap.read()
                    if not ok:
                        raise SourceError(video, "no frame could be decoded")
                if resize_wh is not None and (frame.shape[1], frame.shape[0]) != resize_wh:
                    frame = cv2.resize(frame, resize_wh, interpolation=cv2.INTER_AREA)
                t1 = time.perf_counter()
                dets = detector.predict(frame)
                t2 = time.perf_counter()
                drawn = annotate(frame, dets, fps_shown)
                t3 = time.perf_counter()
                writer.write(drawn)
                t4 = time.perf_counter()
                fps_shown = 1.0 / (t4 - t0)
                if i >= 0:
                    times[i] = (t1 - t0, t2 - t1, t3 - t2, t4 - t3)
    finally:
        cap.release()
        tmp.cleanup()
    mean_ms = times.mean(axis=0) * 1000.0
    total = times.sum()
    return BenchRow(name, imgsz, threads, frames, round(frames / total, 2) if total else None,
                    *(round(float(v), 2) for v in mean_ms))


def _video_size(video: Path) -> tuple[int, int]:
    cap = _open_video(video)
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        cap.release()


def run_bench(weights: str | Path | None, video: str | Path, *,
              imgsizes: Sequence[int] = DEFAULT_IMGSZ, threads: Sequence[int] = DEFAULT_THREADS,
              frames: int = 100, resize_wh: tuple[int, int] | None = None, onnx: bool = True,
              openvino: bool = True, extra: Mapping[str, FrameDetector] | None = None,
              conf: float = 0.25, work_dir: str | Path | None = None,
              progress: bool = True) -> BenchResult:
    """Benchmark every pipeline on the first ``frames`` frames of ``video``.

    Args:
        weights: ``.pt`` weights; ``None`` builds an untrained 2-class yolo11n (pipeline speed).
        video: Input video.
        imgsizes: Inference sizes to time.
        threads: CPU thread counts to time (torch, ONNX Runtime).
        frames: Timed frames per row.
        resize_wh: Resize decoded frames first (e.g. ``(640, 480)`` for the standard input).
        onnx, openvino: Include those rows.
        extra: More pipelines by name (e.g. the two-stage one); without one named
            :data:`TWO_STAGE` an empty slot row is added.
        conf: Confidence threshold (affects drawing cost only).
        work_dir: Where exports and scratch videos go (default a temporary folder).
        progress: Show progress bars.

    Example:
        >>> res = run_bench("weights/w.pt", "clip.mp4", frames=50)  # doctest: +SKIP
        >>> print(format_bench_table(res))  # doctest: +SKIP
    """
    import torch

    video = Path(video)
    if not video.is_file():
        raise SourceError(video, "video file not found")
    input_wh = _video_size(video)
    machine = machine_info()
    default_threads = torch.get_num_threads()
    scratch = tempfile.TemporaryDirectory(prefix="exprdet-bench-", dir=work_dir)
    try:
        work = Path(scratch.name)
        if weights is None and imgsizes:
            weights = build_untrained_weights(work / "untrained-smile-neutral-yolo11n.pt")
        result = BenchResult(machine, str(video), input_wh, resize_wh or input_wh, frames,
                             str(weights))
        common: dict[str, Any] = dict(frames=frames, resize_wh=resize_wh, work_dir=work,
                                      progress=progress)
        # No imgsz means only the extra pipelines are timed: no model is loaded at all.
        if not imgsizes:
            onnx = openvino = False
        else:
            assert weights is not None
            detector = ExpressionDetector(weights, conf=conf, imgsz=max(imgsizes))
        for size in imgsizes:
            detector.imgsz = size
            for n in threads:
                detector.set_threads(n)
                result.rows.append(time_pipeline(detector, video, name="PyTorch", imgsz=size,
                                                 threads=n, **common))
        if onnx:
            for size in imgsizes:
                try:
                    onnx_det = ExpressionDetector(export_onnx(weights, size, work), conf=conf)
                except ModelError as exc:
                    result.rows.append(BenchRow("ONNX Runtime", size, None,
                                                note=f"export failed: {exc}"))
                    continue
                for n in threads:
                    onnx_det.set_threads(n)
                    result.rows.append(time_pipeline(onnx_det, video, name="ONNX Runtime",
                                                     imgsz=size, threads=n, **common))
        if openvino:
            result.rows += _openvino_rows(weights, video, imgsizes, conf, work, common)
        pipelines = dict(extra or {})
        for name, det in pipelines.items():
            for n in threads:
                torch.set_num_threads(n)
                row = time_pipeline(det, video, name=name, imgsz=None, threads=n, **common)
                # e.g. "yunet + fer-cnn-7": which face finder and CNN the row timed.
                row.note = str(getattr(det, "name", "") or "")
                result.rows.append(row)
        if TWO_STAGE not in pipelines:
            result.rows.append(BenchRow(TWO_STAGE, None, None, note="not built yet (slot: any "
                                        "object with predict(frame) -> Detections)"))
    finally:
        torch.set_num_threads(default_threads)
        scratch.cleanup()
    return result


def _openvino_rows(weights: str | Path, video: Path, imgsizes: Sequence[int], conf: float,
                   work: Path, common: dict[str, Any]) -> list[BenchRow]:
    if importlib.util.find_spec("openvino") is None:
        return [BenchRow("OpenVINO", None, None, note="not installed")]
    rows = []
    for size in imgsizes:
        try:
            det = ExpressionDetector(export_openvino(weights, size, work), conf=conf)
        except ModelError as exc:
            rows.append(BenchRow("OpenVINO", size, None, note=f"export failed: {exc}"))
            continue
        # OpenVINO picks its own thread count; one row per size.
        rows.append(time_pipeline(det, video, name="OpenVINO", imgsz=size, **common))
    return rows


def _cell(value: float | int | None, fmt: str = "{:.1f}") -> str:
    return "—" if value is None else fmt.format(value)


def format_bench_table(result: BenchResult) -> str:
    """One Markdown table, preceded by a line naming the machine and the input.

    Example:
        >>> r = BenchResult({"cpu": "CPU", "logical_cores": 2, "torch_default_threads": 1},
        ...                 "v.mp4", (640, 360), (640, 480), 10, "w.pt",
        ...                 [BenchRow("PyTorch", 320, 1, 10, 22.2, 1, 40, 1, 3)])
        >>> print(format_bench_table(r).splitlines()[-1])
        | PyTorch | 320 | 1 | **22.2** | 45.0 | 1.0 | 40.0 | 1.0 | 3.0 |  |
    """
    m = result.machine
    resized = (f", resized to {result.frame_wh[0]}x{result.frame_wh[1]}"
               if tuple(result.frame_wh) != tuple(result.input_wh) else "")
    lines = [
        f"Machine: {m.get('cpu')}, {m.get('logical_cores')} logical cores, torch "
        f"{m.get('torch', '?')} (default {m.get('torch_default_threads')} threads), onnxruntime "
        f"{m.get('onnxruntime') or 'not installed'}, OpenCV {m.get('opencv', '?')}"
        + (f", 1-min load {m['load_avg_1m']}" if m.get("load_avg_1m") is not None else "") + ".",
        f"Input: `{Path(result.source).name}` {result.input_wh[0]}x{result.input_wh[1]}{resized}; "
        f"{result.frames} timed frames per row; end-to-end = decode + infer + draw + encode "
        "(mean ms per frame).",
        "",
        "| pipeline | imgsz | threads | FPS end-to-end | ms/frame | decode | infer | draw | encode "
        "| note |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in result.rows:
        total = sum(v for v in (r.decode_ms, r.infer_ms, r.draw_ms, r.encode_ms) if v is not None)
        fps = f"**{r.fps:.1f}**" if r.fps is not None else "—"
        lines.append(f"| {r.pipeline} | {_cell(r.imgsz, '{}')} | {_cell(r.threads, '{}')} "
                     f"| {fps} | {_cell(total if r.fps is not None else None)} "
                     f"| {_cell(r.decode_ms)} | {_cell(r.infer_ms)} | {_cell(r.draw_ms)} "
                     f"| {_cell(r.encode_ms)} | {r.note} |")
    return "\n".join(lines)


def write_bench_json(result: BenchResult, path: str | Path) -> Path:
    """Write the result (machine, rows, command) as JSON, atomically.

    Example:
        >>> write_bench_json(result, "bench.json")  # doctest: +SKIP
    """
    return atomic_write_json(path, result.to_dict())


def default_pipelines() -> dict[str, FrameDetector]:
    """The two-stage row (shared YuNet + ``weights/fer-cnn-7.pt``) when both files exist.

    ``exprdet bench`` adds these rows unless ``--pipeline`` names its own two-stage pipeline,
    so one-stage and two-stage speed land in one table.

    Example:
        >>> sorted(default_pipelines())  # doctest: +SKIP
        ['two-stage (face finder + CNN)']
    """
    from detector.paths import default_face_model
    from detector.twostage import FER_WEIGHTS, build_default

    if default_face_model() is None or not FER_WEIGHTS.is_file():
        return {}
    return {TWO_STAGE: build_default()}


def load_pipeline(spec: str) -> tuple[str, FrameDetector]:
    """Build an extra pipeline from ``NAME=module:factory`` (factory() -> FrameDetector).

    This is the two-stage pipeline's way in: ``--pipeline "two-stage (face finder + CNN)=
    detector.twostage:build_default"`` once that module exists.

    Example:
        >>> name, det = load_pipeline("fake=tests.conftest:make_fake_detector")  # doctest: +SKIP
    """
    name, _, target = spec.partition("=")
    if not target:
        name, target = TWO_STAGE, spec
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ValueError(f"expected NAME=module:factory, got {spec!r}")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ModelError(None, f"pipeline {target!r} cannot be imported ({exc})") from None
    det = factory()
    if not isinstance(det, FrameDetector):
        raise ModelError(None, f"pipeline {target!r} returned {type(det).__name__}, which has no "
                               "predict(frame) method")
    return name.strip(), det


@dataclass
class FlickerRow:
    """Label changes per track per minute on one video, before and after smoothing."""

    source: str
    frames: int
    tracks: int
    track_minutes: float
    raw: float
    smoothed: float
    smooth: int


def measure_flicker(detector: FrameDetector, sources: Sequence[str | Path], *, smooth: int = 5,
                    max_frames: int | None = None, progress: bool = True) -> list[FlickerRow]:
    """Run tracking on each source once and compare raw with smoothed label changes.

    Raw and smoothed labels come from the same run (the log keeps both), so the comparison
    is not blurred by two runs tracking differently.

    Example:
        >>> rows = measure_flicker(det, ["a.mp4"], smooth=5)  # doctest: +SKIP
        >>> print(format_flicker_table(rows))  # doctest: +SKIP
    """
    rows = []
    for source in sources:
        s = run_detection(detector, source, show=False, track=True, smooth=smooth,
                          max_frames=max_frames, report=False, progress=progress)
        assert s.flicker_raw is not None and s.flicker_smoothed is not None
        rows.append(FlickerRow(str(source), s.frames, s.flicker_raw.tracks,
                               round(s.flicker_raw.track_minutes, 3), round(s.flicker_raw.rate, 2),
                               round(s.flicker_smoothed.rate, 2), smooth))
    return rows


def format_flicker_table(rows: Sequence[FlickerRow]) -> str:
    """Markdown table of :func:`measure_flicker` rows.

    Example:
        >>> print(format_flicker_table([FlickerRow("a.mp4", 30, 1, 0.02, 12.0, 0.0, 5)]))
        ... # doctest: +NORMALIZE_WHITESPACE
        | video | frames | tracks | track-minutes | raw changes/track/min | smoothed (N=5) |
        |---|---:|---:|---:|---:|---:|
        | a.mp4 | 30 | 1 | 0.02 | 12.0 | 0.0 |
    """
    n = rows[0].smooth if rows else 0
    lines = ["| video | frames | tracks | track-minutes | raw changes/track/min "
             f"| smoothed (N={n}) |",
             "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {Path(r.source).name} | {r.frames} | {r.tracks} | {r.track_minutes:.2f} | "
              f"{r.raw:.1f} | {r.smoothed:.1f} |" for r in rows]
    return "\n".join(lines)
