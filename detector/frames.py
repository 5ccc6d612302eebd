"""Recorded videos to JPEG frames with a manifest, one video at a time and never half-written.

The library does not print: :func:`extract_frames` returns a :class:`FramesSummary` and the
``exprdet frames`` command turns it into a report. A video that cannot be read (missing,
not a video, truncated, no decodable frame) becomes a failed :class:`VideoResult` with a
:class:`~detector.errors.SourceError` message; the other videos still go through.

Output layout (``out_dir``)::

    <prefix>_<frame-index:06d>.jpg     one JPEG per kept frame; <prefix> is the video stem
    manifest.csv                       file,video,frame_index,timestamp_s,label

Frame indices count decoded frames from the start of the video (0-based), and
``timestamp_s = frame_index / fps`` as declared by the container.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from detector.errors import DatasetError, SourceError
from detector.fileio import VIDEO_SUFFIXES, atomic_write_text

MANIFEST_NAME = "manifest.csv"
MANIFEST_COLUMNS = ("file", "video", "frame_index", "timestamp_s", "label")
# Mean absolute difference (0-255 grey levels) on a 32x32 grey thumbnail against the last
# *kept* frame. 1.0 drops frozen or static stretches and the near-copies of consecutive frames
# at full frame rate (talking-head clips differ by 0.3-0.9 frame to frame), but keeps every
# frame of the shared clips sampled at 2 fps (smallest difference there is 1.15).
DEFAULT_DEDUPE_THRESHOLD = 1.0
THUMB_WH = (32, 32)
JPEG_QUALITY = 95
# Containers that store a sample table (mp4/mov) report an exact frame count, others estimate
# it from the duration; a shortfall beyond this slack means the file ended early.
TRUNCATION_SLACK_FRAMES = 3
TRUNCATION_SLACK_FRACTION = 0.02
_EPS = 1e-9


@dataclass(frozen=True)
class FrameRecord:
    """One manifest row: a written frame and where it came from."""

    file: str
    video: str
    frame_index: int
    timestamp_s: float | None
    label: str = ""


@dataclass
class VideoResult:
    """What happened to one input video.

    ``error`` is ``None`` on success, otherwise the SourceError message (path and problem).
    """

    video: Path
    prefix: str = ""
    fps: float = 0.0
    frames_declared: int = 0
    frames_read: int = 0
    frames_sampled: int = 0
    frames_written: int = 0
    duplicates_skipped: int = 0
    seconds: float = 0.0
    error: str | None = None
    records: list[FrameRecord] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the video's frames were moved into the output folder."""
        return self.error is None


@dataclass
class FramesSummary:
    """Result of :func:`extract_frames`: one :class:`VideoResult` per input, in input order."""

    out_dir: Path
    manifest: Path
    results: list[VideoResult]
    manifest_rows: int = 0

    @property
    def failures(self) -> list[VideoResult]:
        """Inputs that produced no frames, with their error messages."""
        return [r for r in self.results if not r.ok]

    @property
    def frames_written(self) -> int:
        """Frames written by this run (all videos)."""
        return sum(r.frames_written for r in self.results)

    @property
    def ok(self) -> bool:
        """True when every input succeeded."""
        return not self.failures


@dataclass(frozen=True)
class FrameSampler:
    """Decide which frame indices to keep: every N-th frame or one per ``1/fps`` seconds.

    Times are half-open: frames with ``start_s <= t < end_s`` are candidates. With ``fps`` the
    kept frame is the first one at or after each tick ``start_s + k / fps``. With neither
    ``every`` nor ``fps`` every frame is kept.

    Example:
        >>> FrameSampler(video_fps=25.0, fps=2.0).indices(60)
        [0, 13, 25, 38, 50]
        >>> FrameSampler(video_fps=10.0, every=3, start_s=0.5, end_s=1.5).indices(30)
        [5, 8, 11, 14]
    """

    video_fps: float
    every: int | None = None
    fps: float | None = None
    start_s: float | None = None
    end_s: float | None = None

    def __post_init__(self) -> None:
        if self.every is not None and self.fps is not None:
            raise ValueError("give either every or fps, not both")
        if self.every is not None and self.every < 1:
            raise ValueError(f"every must be >= 1, got {self.every}")
        if self.fps is not None and not self.fps > 0:
            raise ValueError(f"fps must be > 0, got {self.fps}")
        if self.start_s is not None and self.start_s < 0:
            raise ValueError(f"start_s must be >= 0, got {self.start_s}")
        if self.end_s is not None and self.end_s <= (self.start_s or 0.0):
            raise ValueError(f"end_s ({self.end_s}) must be after start_s ({self.start_s or 0})")
        if not self.has_timing and self.needs_timing:
            raise ValueError("the video's frame rate is unknown; fps, start_s and end_s need it")

    @property
    def has_timing(self) -> bool:
        """True when the container declared a usable frame rate."""
        return math.isfinite(self.video_fps) and self.video_fps > 0

    @property
    def needs_timing(self) -> bool:
        """True when the options are expressed in seconds."""
        return self.fps is not None or self.start_s is not None or self.end_s is not None

    def timestamp(self, index: int) -> float | None:
        """Seconds from the start of the video for frame ``index`` (``None`` without a frame rate).

        Example:
            >>> FrameSampler(video_fps=25.0).timestamp(50)
            2.0
        """
        return index / self.video_fps if self.has_timing else None

    @property
    def first_index(self) -> int:
        """The first frame index at or after ``start_s``."""
        if not self.start_s:
            return 0
        return max(0, math.ceil(self.start_s * self.video_fps - _EPS))

    def past_end(self, index: int) -> bool:
        """True when frame ``index`` is at or after ``end_s``: decoding can stop.

        Example:
            >>> FrameSampler(video_fps=10.0, end_s=1.0).past_end(10)
            True
        """
        return self.end_s is not None and index / self.video_fps >= self.end_s - _EPS

    def selects(self, index: int) -> bool:
        """True when frame ``index`` is to be kept (before de-duplication).

        Example:
            >>> [FrameSampler(video_fps=4.0, fps=1.0).selects(i) for i in range(6)]
            [True, False, False, False, True, False]
        """
        first = self.first_index
        if index < first or self.past_end(index):
            return False
        if self.fps is not None:
            start = self.start_s or 0.0
            tick = math.floor((index / self.video_fps - start) * self.fps + _EPS)
            prev_tick = math.floor(((index - 1) / self.video_fps - start) * self.fps + _EPS)
            return index == first or tick > prev_tick
        if self.every is not None:
            return (index - first) % self.every == 0
        return True

    def indices(self, n_frames: int) -> list[int]:
        """Kept frame indices for a video of ``n_frames`` frames (for planning and tests).

        Example:
            >>> FrameSampler(video_fps=30.0, every=10).indices(35)
            [0, 10, 20, 30]
        """
        out = []
        for i in range(n_frames):
            if self.past_end(i):
                break
            if self.selects(i):
                out.append(i)
        return out


def frame_name(prefix: str, index: int) -> str:
    """File name of a frame: ``<prefix>_<index:06d>.jpg``.

    Example:
        >>> frame_name("vdotup_face", 25)
        'vdotup_face_000025.jpg'
    """
    return f"{prefix}_{index:06d}.jpg"


def frame_prefixes(videos: Sequence[str | Path]) -> list[str]:
    """Frame-name prefixes for ``videos``: the stem, disambiguated only where stems clash.

    Two videos with the same stem (``a/clip.mp4``, ``b/clip.mp4``) would overwrite each other's
    frames, so clashing stems get their parent folder's name in front (``a_clip``); if that
    still clashes, a short hash of the resolved path is appended. Unique stems are unchanged
    so the common case keeps readable names.

    Example:
        >>> frame_prefixes(["a/clip.mp4", "b/clip.mov", "c/other.mp4"])
        ['a_clip', 'b_clip', 'other']
    """
    paths = [Path(v) for v in videos]
    stems = Counter(p.stem for p in paths)
    prefixes = [p.stem if stems[p.stem] == 1 else f"{p.parent.name}_{p.stem}" for p in paths]
    again = Counter(prefixes)
    out = []
    for p, prefix in zip(paths, prefixes, strict=True):
        if again[prefix] > 1:
            digest = hashlib.sha1(str(p.resolve()).encode("utf-8")).hexdigest()[:8]
            prefix = f"{prefix}-{digest}"
        out.append(prefix)
    return out


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """A 32x32 grey ``int16`` thumbnail used to compare frames cheaply.

    Example:
        >>> thumbnail(np.zeros((64, 96, 3), np.uint8)).shape
        (32, 32)
    """
    small = cv2.resize(frame, THUMB_WH, interpolation=cv2.INTER_AREA)
    if small.ndim == 3:
        small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    return small.astype(np.int16)


def frame_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two thumbnails, in grey levels (0-255).

    Example:
        >>> frame_difference(np.zeros((2, 2), np.int16), np.full((2, 2), 3, np.int16))
        3.0
    """
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def collect_videos(inputs: Iterable[str | Path]) -> tuple[list[Path], list[VideoResult]]:
    """Expand files and folders into video paths; return ``(videos, failures)``.

    Folders contribute the files directly inside them whose suffix is in
    :data:`~detector.fileio.VIDEO_SUFFIXES`, sorted by name. A file named explicitly is tried
    whatever its suffix. Missing paths and folders without videos become failures; the same
    video given twice is kept once.

    Example:
        >>> videos, failed = collect_videos(["does/not/exist.mp4"])
        >>> videos, failed[0].error
        ([], 'does/not/exist.mp4: does not exist')
    """
    videos: list[Path] = []
    failures: list[VideoResult] = []
    seen: set[Path] = set()
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir()
                           if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
            if not found:
                kinds = ", ".join(s.lstrip(".") for s in VIDEO_SUFFIXES)
                failures.append(VideoResult(path, error=str(SourceError(
                    path, f"folder contains no video files ({kinds})"))))
        elif path.is_file():
            found = [path]
        else:
            failures.append(VideoResult(path, error=str(SourceError(path, "does not exist"))))
            continue
        for video in found:
            key = video.resolve()
            if key not in seen:
                seen.add(key)
                videos.append(video)
    return videos, failures


def read_manifest(path: str | Path) -> list[FrameRecord]:
    """Read a frames ``manifest.csv``; a malformed one raises DatasetError naming the line.

    Example:
        >>> read_manifest("no/such/manifest.csv")
        []
    """
    path = Path(path)
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in MANIFEST_COLUMNS[:4] if c not in (reader.fieldnames or [])]
    if missing:
        raise DatasetError(path, f"not a frames manifest: missing column(s) {', '.join(missing)}")
    records = []
    for lineno, row in enumerate(reader, start=2):
        try:
            ts = row["timestamp_s"]
            records.append(FrameRecord(row["file"], row["video"], int(row["frame_index"]),
                                       float(ts) if ts else None, row.get("label") or ""))
        except (TypeError, ValueError) as exc:
            raise DatasetError(path, f"line {lineno}: {exc}") from None
    return records


def format_manifest(records: Iterable[FrameRecord]) -> str:
    """CSV text of a frames manifest, rows sorted by video then frame index.

    Example:
        >>> rows = [FrameRecord("v_000000.jpg", "/d/v.mp4", 0, 0.0, "smile")]
        >>> print(format_manifest(rows), end="")
        file,video,frame_index,timestamp_s,label
        v_000000.jpg,/d/v.mp4,0,0.000,smile
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    for r in sorted(records, key=lambda r: (r.video, r.frame_index, r.file)):
        ts = "" if r.timestamp_s is None else f"{r.timestamp_s:.3f}"
        writer.writerow([r.file, r.video, r.frame_index, ts, r.label])
    return buf.getvalue()


def _declared_count(cap: cv2.VideoCapture) -> int:
    value = cap.get(cv2.CAP_PROP_FRAME_COUNT)
    return int(value) if math.isfinite(value) and value > 0 else 0


def _decode_to(video: Path, prefix: str, tmp: Path, sampler_args: dict, dedupe_threshold: float,
               label: str, result: VideoResult, progress: bool) -> None:
    """Decode ``video`` into ``tmp``; fill ``result``; raise SourceError when it cannot be read."""
    cap = cv2.VideoCapture(str(video))
    try:
        if not cap.isOpened():
            if video.stat().st_size == 0:
                raise SourceError(video, "empty file (0 bytes)")
            raise SourceError(video, "cannot be opened as a video (not a video file, unsupported "
                                     "codec, or a damaged or truncated container)")
        result.fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        result.frames_declared = _declared_count(cap)
        try:
            sampler = FrameSampler(result.fps, **sampler_args)
        except ValueError as exc:
            raise SourceError(video, str(exc)) from None
        video_key = video.resolve().as_posix()
        last_thumb: np.ndarray | None = None
        stopped_at_end = False
        bar = tqdm(total=result.frames_declared or None, desc=video.name, unit="frame",
                   leave=False, disable=not progress)
        index = 0
        with bar:
            while True:
                if sampler.past_end(index):
                    stopped_at_end = True
                    break
                # grab() decodes without the colour conversion retrieve() does, so frames that
                # are not kept cost less; decoding every frame keeps indices exact (seeking
                # lands on key frames in many codecs).
                if not cap.grab():
                    break
                result.frames_read += 1
                bar.update(1)
                if sampler.selects(index):
                    ok, frame = cap.retrieve()
                    if not ok or frame is None:
                        raise SourceError(video, f"frame {index} could not be decoded")
                    result.frames_sampled += 1
                    thumb = thumbnail(frame) if dedupe_threshold > 0 else None
                    if (thumb is not None and last_thumb is not None
                            and frame_difference(thumb, last_thumb) < dedupe_threshold):
                        result.duplicates_skipped += 1
                    else:
                        ok, buf = cv2.imencode(".jpg", frame,
                                               [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                        if not ok:
                            raise SourceError(video, f"frame {index} could not be encoded as JPEG")
                        name = frame_name(prefix, index)
                        (tmp / name).write_bytes(buf.tobytes())
                        result.records.append(FrameRecord(name, video_key, index,
                                                          sampler.timestamp(index), label))
                        result.frames_written += 1
                        last_thumb = thumb
                index += 1
    finally:
        cap.release()
    if result.frames_read == 0:
        raise SourceError(video, "no frame could be decoded (empty, corrupt or truncated video)")
    declared = result.frames_declared
    slack = max(TRUNCATION_SLACK_FRAMES, TRUNCATION_SLACK_FRACTION * declared)
    # CAP_PROP_FRAME_COUNT is what the container claims; only frames actually decoded count.
    if not stopped_at_end and declared and result.frames_read < declared - slack:
        raise SourceError(video, f"truncated or damaged: decoded {result.frames_read} of the "
                                 f"{declared} frames the container declares")
    if result.frames_sampled == 0:
        duration = (f"{result.frames_read / result.fps:.2f} s" if result.fps > 0
                    else f"{result.frames_read} frames")
        raise SourceError(video, f"no frame in the requested range (the video is {duration} long)")


def _commit(result: VideoResult, tmp: Path, out_dir: Path, existing: list[FrameRecord]
            ) -> list[FrameRecord]:
    """Move one finished video's frames in; return the manifest with its rows replaced."""
    video_key = result.records[0].video
    new_files = {r.file for r in result.records}
    owners = {r.file: r.video for r in existing}
    for name in sorted(new_files):
        owner = owners.get(name)
        if owner is not None and owner != video_key:
            raise SourceError(result.video, f"frame {name} would overwrite a frame of {owner} "
                                            f"already in {out_dir}; use another --out")
        if owner is None and (out_dir / name).exists():
            raise SourceError(result.video, f"{out_dir / name} exists and is not in the "
                                            "manifest; refusing to overwrite it")
    for name in sorted(new_files):
        os.replace(tmp / name, out_dir / name)
    # Frames of an earlier run of this video that this run did not produce (other options,
    # another prefix) would otherwise linger without manifest rows.
    for old in existing:
        if old.video == video_key and old.file not in new_files:
            (out_dir / old.file).unlink(missing_ok=True)
    kept = [r for r in existing if r.video != video_key]
    return kept + result.records


def extract_frames(videos: Iterable[str | Path], out_dir: str | Path, *, every: int | None = None,
                   fps: float | None = None, start_s: float | None = None,
                   end_s: float | None = None,
                   dedupe_threshold: float = DEFAULT_DEDUPE_THRESHOLD,
                   label: str | None = None, progress: bool = False) -> FramesSummary:
    """Extract JPEG frames from videos into ``out_dir`` and merge them into its manifest.

    Each video is decoded into a temporary folder inside ``out_dir`` and its frames are moved
    in only after the whole video decoded; ``manifest.csv`` is then rewritten atomically.
    Re-running replaces a video's earlier frames and rows, so the result is the same.

    Args:
        videos: Video files and/or folders of videos (mp4, avi, mov, mkv, webm, m4v).
        out_dir: Output folder (created if needed).
        every: Keep every N-th frame. Mutually exclusive with ``fps``.
        fps: Keep about ``fps`` frames per second of video.
        start_s: Ignore frames before this many seconds.
        end_s: Stop at this many seconds (exclusive).
        dedupe_threshold: Skip a frame whose 32x32 grey thumbnail differs from the last kept
            frame's by less than this mean absolute difference (grey levels); 0 keeps all.
        label: Expression label written in the manifest's ``label`` column for every frame.
        progress: Show tqdm progress bars on stderr.

    Returns:
        A :class:`FramesSummary`: inputs that failed while listing (missing paths, folders
        without videos) first, then one result per video in input order; failed videos
        carry their SourceError message.

    Raises:
        ValueError: Inconsistent options (both ``every`` and ``fps``, ``end_s <= start_s``...).
        DatasetError: ``out_dir`` holds a manifest that cannot be read.

    Example:
        >>> summary = extract_frames(["clips/"], "out", fps=2, label="smile")  # doctest: +SKIP
        >>> [(r.video.name, r.frames_written) for r in summary.results]  # doctest: +SKIP
        [('a.mp4', 18), ('b.mp4', 25)]
    """
    # Validate the options once, before touching any video or the output folder.
    sampler_args = {"every": every, "fps": fps, "start_s": start_s, "end_s": end_s}
    FrameSampler(25.0, **sampler_args)
    if dedupe_threshold < 0:
        raise ValueError(f"dedupe_threshold must be >= 0, got {dedupe_threshold}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise SourceError(out_dir, "output path exists and is not a folder")
    manifest = out_dir / MANIFEST_NAME
    existing = read_manifest(manifest)
    paths, failures = collect_videos(videos)
    results: list[VideoResult] = list(failures)
    if paths:
        out_dir.mkdir(parents=True, exist_ok=True)
    for video, prefix in tqdm(list(zip(paths, frame_prefixes(paths), strict=True)),
                              desc="videos", unit="video", disable=not progress or len(paths) < 2):
        result = VideoResult(video, prefix)
        results.append(result)
        started = time.perf_counter()
        tmp = Path(tempfile.mkdtemp(prefix=f".{prefix}.frames-tmp-", dir=out_dir))
        try:
            _decode_to(video, prefix, tmp, sampler_args, dedupe_threshold, label or "", result,
                       progress)
            existing = _commit(result, tmp, out_dir, existing)
            # Rewritten after every video so an interruption leaves files and manifest in step.
            atomic_write_text(manifest, format_manifest(existing))
        except SourceError as exc:
            result.error = str(exc)
            result.records = []
            result.frames_written = 0
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            result.seconds = time.perf_counter() - started
    return FramesSummary(out_dir, manifest, results, manifest_rows=len(existing))


def bench_frames(videos: Iterable[str | Path]) -> list[dict]:
    """Time frame decoding and full extraction (decode + JPEG encode + write) per video.

    ``decoded_per_s`` is a plain ``read()`` loop over every frame; ``written_per_s`` is
    :func:`extract_frames` keeping every frame (no de-duplication) into a temporary folder.

    Example:
        >>> rows = bench_frames(["../shared/data/videos/vdotup_face.mp4"])  # doctest: +SKIP
        >>> sorted(rows[0])  # doctest: +SKIP
        ['decode_s', 'decoded_per_s', 'frames', 'resolution', 'video', 'write_s', 'written', ...]
    """
    rows = []
    for video in videos:
        video = Path(video)
        cap = cv2.VideoCapture(str(video))
        if not cap.isOpened():
            raise SourceError(video, "cannot be opened as a video")
        size = f"{int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))}x{int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))}"
        started = time.perf_counter()
        frames = 0
        while cap.read()[0]:
            frames += 1
        decode_s = time.perf_counter() - started
        cap.release()
        with tempfile.TemporaryDirectory(prefix="bench-frames-") as tmp:
            started = time.perf_counter()
            summary = extract_frames([video], tmp, every=1, dedupe_threshold=0)
            write_s = time.perf_counter() - started
        if not summary.ok:
            raise SourceError(video, summary.failures[0].error or "extraction failed")
        written = summary.frames_written
        rows.append({
            "video": video.name, "resolution": size, "frames": frames,
            "decode_s": round(decode_s, 3),
            "decoded_per_s": round(frames / decode_s, 1) if decode_s > 0 else float("nan"),
            "written": written, "write_s": round(write_s, 3),
            "written_per_s": round(written / write_s, 1) if write_s > 0 else float("nan"),
        })
    return rows
