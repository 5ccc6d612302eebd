"""The detect loop: source -> detector -> smoothing -> log, annotated video, window, report.

:func:`run_detection` is what ``exprdet detect``, ``exprdet demo`` and the flicker measurement
call. Every resource (source, video writer, log, window, progress bar) lives in one
``ExitStack``, so pressing ``q``, Ctrl-C, an error or the end of the stream all release them;
on ``q``, Ctrl-C and end of stream the outputs are completed (video finalised, log written,
report written), on an error the partial outputs are discarded (atomic writes).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import cv2
import numpy as np
from tqdm import tqdm

from detector.annotate import annotate
from detector.core import Detections
from detector.errors import DetectorError
from detector.fileio import temp_file_for
from detector.inference import FrameDetector
from detector.session import build_session_report, write_session_report
from detector.smoothing import FlickerStats, LabelSmoother, flicker_stats
from detector.sources import (
    FALLBACK_FPS,
    FrameSource,
    VideoWriter,
    open_source,
)

LOG_FIELDS = ("frame", "time_s", "track_id", "class_id", "class_name", "confidence",
              "x1", "y1", "x2", "y2", "raw_class_name", "raw_confidence")
LOG_SUFFIXES = (".jsonl", ".csv")
_INT_FIELDS = {"frame", "track_id", "class_id"}
# Live sources report a nominal rate (often 30) while the loop may run at 8 fps; the first frames'
# timestamps give the real rate, so the saved video plays at the speed it was recorded.
_RATE_PROBE_FRAMES = 15
_STR_FIELDS = {"class_name", "raw_class_name"}


def check_log_path(path: str | Path) -> Path:
    """Validate a log path's suffix before anything is opened.

    Example:
        >>> check_log_path("run.jsonl").suffix
        '.jsonl'
    """
    path = Path(path)
    if path.suffix.lower() not in LOG_SUFFIXES:
        raise DetectorError(path, f"log file must end in {' or '.join(LOG_SUFFIXES)}")
    return path


class DetectionLog:
    """Per-detection log, JSON Lines or CSV by suffix, written atomically on close.

    A ``KeyboardInterrupt`` still completes the file (it holds every frame processed so far);
    other exceptions discard it.

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "log.csv"
        >>> with DetectionLog(p) as log:
        ...     log.write([{"frame": 0, "time_s": 0.0, "class_name": "smile"}])
        >>> read_log(p)[0]["class_name"]
        'smile'
    """

    def __init__(self, path: str | Path) -> None:
        self.path = check_log_path(path)
        self.format = self.path.suffix.lower().lstrip(".")
        self.rows_written = 0
        self._fh: IO[str] | None = None
        self._csv: csv.DictWriter[str] | None = None
        self._tmp: Path | None = None

    def __enter__(self) -> DetectionLog:
        fd, self._tmp = temp_file_for(self.path)
        self._fh = os.fdopen(fd, "w", encoding="utf-8", newline="")
        if self.format == "csv":
            self._csv = csv.DictWriter(self._fh, fieldnames=LOG_FIELDS, extrasaction="ignore")
            self._csv.writeheader()
        return self

    def write(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append rows (missing fields are left empty)."""
        assert self._fh is not None, "use DetectionLog in a with-statement"
        for row in rows:
            if self._csv is not None:
                self._csv.writerow({k: "" if row.get(k) is None else row.get(k)
                                    for k in LOG_FIELDS})
            else:
                self._fh.write(json.dumps({k: row.get(k) for k in LOG_FIELDS}) + "\n")
            self.rows_written += 1

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        keep = exc_type is None or issubclass(exc_type, KeyboardInterrupt)
        if self._fh is not None:
            self._fh.flush()
            if keep:
                os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
        if self._tmp is not None:
            if keep:
                os.replace(self._tmp, self.path)
            else:
                self._tmp.unlink(missing_ok=True)
            self._tmp = None


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSONL or CSV detection log back into typed dicts.

    Example:
        >>> read_log("run.jsonl")[:1]  # doctest: +SKIP
        [{'frame': 0, 'time_s': 0.0, 'track_id': 1, 'class_name': 'smile', ...}]
    """
    path = check_log_path(path)
    if not path.is_file():
        raise DetectorError(path, "log file not found")
    if path.suffix.lower() == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    rows = []
    with path.open(newline="", encoding="utf-8") as fh:
        for raw in csv.DictReader(fh):
            row: dict[str, Any] = {}
            for key, value in raw.items():
                if value in ("", None):
                    row[key] = None
                elif key in _STR_FIELDS:
                    row[key] = value
                elif key in _INT_FIELDS:
                    row[key] = int(float(value))
                else:
                    row[key] = float(value)
            rows.append(row)
    return rows


def flicker_from_rows(rows: Iterable[Mapping[str, Any]], raw: bool = False) -> FlickerStats:
    """Label changes per track per minute from log rows (smoothed labels, or raw ones).

    Example:
        >>> rows = [{"track_id": 1, "time_s": t, "class_name": "smile",
        ...          "raw_class_name": "smile" if t % 2 else "neutral"} for t in range(61)]
        >>> flicker_from_rows(rows).rate, flicker_from_rows(rows, raw=True).rate
        (0.0, 60.0)
    """
    key = "raw_class_name" if raw else "class_name"
    return flicker_stats((r["track_id"], float(r["time_s"]), str(r.get(key) or r["class_name"]))
                         for r in rows if r.get("track_id") is not None)


def display_available() -> bool:
    """True when an OpenCV window can be shown (a display server and a GUI-enabled OpenCV).

    Example:
        >>> isinstance(display_available(), bool)
        True
    """
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        return False
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GUI:"):
            return line.split(":", 1)[1].strip().upper() not in ("NONE", "")
    return False


class _Window:
    """An OpenCV window; ``show`` returns True when the user asked to stop (q, Esc, closed)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> _Window:
        cv2.namedWindow(self.name, cv2.WINDOW_NORMAL)
        return self

    def show(self, frame: np.ndarray) -> bool:
        cv2.imshow(self.name, frame)
        key = cv2.waitKey(1) & 0xFF
        closed = cv2.getWindowProperty(self.name, cv2.WND_PROP_VISIBLE) < 1
        return key in (ord("q"), ord("Q"), 27) or closed

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(cv2.error):  # already closed by the user
            cv2.destroyWindow(self.name)
        cv2.waitKey(1)  # lets the GUI loop actually remove the window


@dataclass
class RunSummary:
    """What a detection run did and where its outputs are.

    Attributes:
        stopped_by: ``end`` (source exhausted), ``dropped`` (a live source stopped), ``q``
            (key or window closed), ``interrupt`` (Ctrl-C) or ``max_frames``.
        fps: End-to-end frames per second (read, detect, smooth, draw, encode, show).
        flicker_raw / flicker_smoothed: Label changes per track per minute before and after
            smoothing (``None`` without tracking).
    """

    source: str
    frames: int = 0
    detections: int = 0
    tracks: int = 0
    elapsed_s: float = 0.0
    stopped_by: str = "end"
    size_wh: tuple[int, int] | None = None
    source_fps: float | None = None
    tracked: bool = False
    smoothing: int = 0
    shown: bool = False
    video_path: Path | None = None
    log_path: Path | None = None
    report_paths: dict[str, Path] = field(default_factory=dict)
    flicker_raw: FlickerStats | None = None
    flicker_smoothed: FlickerStats | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def fps(self) -> float:
        """Frames processed per wall-clock second."""
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def lines(self) -> list[str]:
        """Human-readable summary lines (what the CLI prints).

        Example:
            >>> RunSummary("clip.mp4", frames=3, elapsed_s=1.0).lines()[0]
            'clip.mp4: 3 frames in 1.0 s (3.0 fps), 0 detections, stopped by end'
        """
        out = [f"{self.source}: {self.frames} frames in {self.elapsed_s:.1f} s "
               f"({self.fps:.1f} fps), {self.detections} detections, "
               f"stopped by {self.stopped_by}"]
        if self.tracked:
            out.append(f"tracks: {self.tracks}")
        if self.flicker_raw is not None and self.flicker_smoothed is not None:
            out.append(f"label changes per track per minute: raw {self.flicker_raw.rate:.1f}, "
                       f"smoothed (N={self.smoothing}) {self.flicker_smoothed.rate:.1f}")
        if self.video_path:
            out.append(f"annotated video: {self.video_path}")
        if self.log_path:
            out.append(f"detection log: {self.log_path}")
        for kind, path in self.report_paths.items():
            out.append(f"session report ({kind}): {path}")
        out += [f"note: {n}" for n in self.notes]
        return out


class _FpsMeter:
    """Exponential moving average of the loop rate, steady enough to read on screen."""

    def __init__(self, alpha: float = 0.1) -> None:
        self.alpha = alpha
        self.value: float | None = None
        self._last: float | None = None

    def tick(self) -> float | None:
        now = time.perf_counter()
        if self._last is not None and now > self._last:
            inst = 1.0 / (now - self._last)
            self.value = (inst if self.value is None
                          else (1 - self.alpha) * self.value + self.alpha * inst)
        self._last = now
        return self.value


def _rows(index: int, t: float, dets: Detections, raw: Detections) -> list[dict[str, Any]]:
    rows = []
    raw_labels = raw.labels
    for i, rec in enumerate(dets.to_records()):
        tid = rec["track_id"]
        rows.append({"frame": index, "time_s": round(t, 4),
                     "track_id": None if tid is None or tid < 0 else tid,
                     **{k: rec[k] for k in ("class_id", "class_name", "confidence",
                                            "x1", "y1", "x2", "y2")},
                     "raw_class_name": raw_labels[i],
                     "raw_confidence": round(float(raw.confidence[i]), 4)})
    return rows


def _flush_pending(writer: VideoWriter, pending: list[tuple[float, np.ndarray]]) -> None:
    """Write the probe frames of a live source, first fixing the writer's rate from them."""
    (t0, _), (t1, _) = pending[0], pending[-1]
    if len(pending) > 1 and t1 > t0:
        writer.fps = float(min(max((len(pending) - 1) / (t1 - t0), 1.0), 120.0))
    for _, frame in pending:
        writer.write(frame)
    pending.clear()


def run_detection(detector: FrameDetector, source: str | int | Path | FrameSource, *,
                  show: bool | None = None, save_video: str | Path | None = None,
                  log_path: str | Path | None = None, mirror: bool = False, smooth: int = 0,
                  track: bool = True, max_frames: int | None = None,
                  report_dir: str | Path | None = None, report: bool = True,
                  report_stem: str | None = None, progress: bool = True,
                  window_name: str = "exprdet") -> RunSummary:
    """Run the detector over a source and write the requested outputs.

    Args:
        detector: An :class:`~detector.inference.ExpressionDetector` or anything with
            ``predict(frame) -> Detections`` (``track`` is used when present and ``track``).
        source: Camera index, video, image, folder, URL, or an already-made
            :class:`~detector.sources.FrameSource` (not yet entered).
        show: Show a window; ``None`` shows one when a display is available.
        save_video: Annotated ``.mp4`` path (input resolution and frame rate).
        log_path: Per-detection log, ``.jsonl`` or ``.csv``.
        mirror: Flip frames left-right first (a webcam then behaves like a mirror).
        smooth: Label smoothing window in frames per track; 0 or 1 is off. Needs tracking.
        track: Track faces across frames (ids in the log, per-person report, smoothing).
        max_frames: Stop after this many frames.
        report_dir: Where the session report goes; default next to ``save_video``.
        report: Set False to write no session report.
        report_stem: Report file stem; default ``<video stem>_session`` or ``session``.
        progress: Show a tqdm progress bar.
        window_name: Title of the window.

    Returns:
        A :class:`RunSummary`; the outputs are complete when it returns, also after ``q`` or
        Ctrl-C.

    Raises:
        SourceError: the source cannot be opened; DetectorError: a bad log suffix.

    Example:
        >>> det = ExpressionDetector("weights/smile-neutral-yolo11n.pt")  # doctest: +SKIP
        >>> s = run_detection(det, "clip.mp4", show=False, save_video="out.mp4",
        ...                   log_path="out.jsonl", smooth=5)  # doctest: +SKIP
        >>> s.lines()  # doctest: +SKIP
    """
    if log_path is not None:
        log_path = check_log_path(log_path)
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1, got {max_frames}")
    src = source if isinstance(source, FrameSource) else open_source(source)
    summary = RunSummary(source=src.name, smoothing=smooth if smooth > 1 else 0)
    has_track = callable(getattr(detector, "track", None))
    summary.tracked = bool(track and has_track)
    if track and not has_track:
        summary.notes.append(f"{type(detector).__name__} cannot track; running without tracking")
    if smooth > 1 and not summary.tracked:
        summary.notes.append("smoothing needs tracking; labels are not smoothed")
        summary.smoothing = 0
    if show is None:
        show = display_available()
    elif show and not display_available():
        summary.notes.append("no display available (DISPLAY unset or OpenCV without GUI): headless")
        show = False
    summary.shown = bool(show)
    smoother = LabelSmoother(window=summary.smoothing)
    if summary.tracked and callable(getattr(detector, "reset_tracker", None)):
        detector.reset_tracker()  # type: ignore[attr-defined]
    session_rows: list[dict[str, Any]] = []
    track_ids: set[int] = set()
    writer: VideoWriter | None = None
    live = src.kind in ("camera", "stream")
    pending: list[tuple[float, np.ndarray]] = []
    last_t = 0.0
    start = time.perf_counter()

    with contextlib.ExitStack() as stack:
        stack.enter_context(src)
        summary.source_fps = src.fps
        if save_video is not None:
            writer = stack.enter_context(VideoWriter(save_video, fps=src.fps or FALLBACK_FPS))
        log = stack.enter_context(DetectionLog(log_path)) if log_path is not None else None
        window = stack.enter_context(_Window(window_name)) if show else None
        total = (src.frame_count if max_frames is None
                 else min(src.frame_count or max_frames, max_frames))
        bar = stack.enter_context(tqdm(total=total, unit="frame", disable=not progress,
                                       desc=f"detect {Path(src.name).name}", leave=False))
        meter = _FpsMeter()
        summary.stopped_by = "end"
        try:
            for index, t, frame in src:
                if summary.size_wh is None:
                    summary.size_wh = (int(frame.shape[1]), int(frame.shape[0]))
                last_t = t
                if mirror:
                    frame = cv2.flip(frame, 1)
                raw = detector.track(frame) if summary.tracked else detector.predict(frame)  # type: ignore[attr-defined]
                dets = smoother.apply(raw)
                rows = _rows(index, t, dets, raw)
                if log is not None:
                    log.write(rows)
                session_rows.extend(rows)
                track_ids.update(r["track_id"] for r in rows if r["track_id"] is not None)
                summary.frames += 1
                summary.detections += len(dets)
                fps = meter.tick()
                if writer is not None or window is not None:
                    drawn = annotate(frame, dets, fps)
                    if writer is not None and live and writer.frames_written == 0:
                        pending.append((t, drawn))
                        if len(pending) >= _RATE_PROBE_FRAMES:
                            _flush_pending(writer, pending)
                    elif writer is not None:
                        writer.write(drawn)
                    if window is not None and window.show(drawn):
                        summary.stopped_by = "q"
                        break
                bar.update(1)
                if max_frames is not None and summary.frames >= max_frames:
                    summary.stopped_by = "max_frames"
                    break
            else:
                summary.stopped_by = src.stop_reason or "end"
        except KeyboardInterrupt:
            # Ctrl-C is the normal way to end a webcam session: finish the outputs, don't crash.
            summary.stopped_by = "interrupt"
        finally:
            if writer is not None and pending:
                _flush_pending(writer, pending)
    summary.elapsed_s = time.perf_counter() - start
    summary.tracks = len(track_ids)
    if writer is not None and writer.finalised:
        summary.video_path = writer.path
    elif writer is not None:
        summary.notes.append("no frames were processed, so no video was written")
    if log_path is not None:
        summary.log_path = log_path
    if summary.tracked:
        summary.flicker_raw = flicker_from_rows(session_rows, raw=True)
        summary.flicker_smoothed = flicker_from_rows(session_rows)
    if report and (report_dir is not None or save_video is not None):
        out_dir = Path(report_dir) if report_dir is not None else Path(save_video).parent  # type: ignore[arg-type]
        stem = report_stem or (f"{Path(save_video).stem}_session" if save_video else "session")
        names = getattr(detector, "names", None) or {}
        # Files: the nominal rate is exact. Live: frames arrive at the loop's rate, so the
        # period is measured from the timestamps instead.
        period = None if live or not src.fps else 1.0 / src.fps
        if period is None and summary.frames > 1 and last_t > 0:
            period = last_t / (summary.frames - 1)
        session = build_session_report(session_rows, classes=[names[k] for k in sorted(names)],
                                       source=src.name, frames=summary.frames,
                                       duration_s=summary.frames * period if period else None,
                                       frame_period_s=period)
        summary.report_paths = write_session_report(session, out_dir, stem)
    return summary
