"""Frame sources (camera, video, image, folder, stream URL) and an atomic video writer.

Every source is a context manager that yields ``(frame_index, timestamp_s, frame_bgr)``::

    with open_source("0") as src:          # or "clip.mp4", "photo.jpg", "frames/", "rtsp://..."
        for index, t, frame in src:
            ...

Opening problems raise :class:`~detector.errors.SourceError` naming the source; a stream that
ends or drops mid-way simply stops the iteration (``src.stop_reason`` says which).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from detector.errors import SourceError
from detector.fileio import IMAGE_SUFFIXES, list_images, temp_file_for

STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")
# Stills have no frame rate; counting each image as one second gives session reports a time axis.
STILL_FPS = 1.0
# Used by writers when a camera or stream reports no frame rate (many webcams report 0).
FALLBACK_FPS = 30.0


def camera_backends() -> list[tuple[str, int]]:
    """The OpenCV capture backends tried for a camera index on this platform, in order.

    Example:
        >>> [name for name, _ in camera_backends()][-1]
        'ANY'
    """
    if sys.platform.startswith("linux"):
        names = ["V4L2"]
    elif sys.platform == "darwin":
        names = ["AVFOUNDATION"]
    elif sys.platform.startswith("win"):
        names = ["DSHOW", "MSMF"]
    else:
        names = []
    return [(n, getattr(cv2, f"CAP_{n}")) for n in names if hasattr(cv2, f"CAP_{n}")] + [
        ("ANY", cv2.CAP_ANY)]


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's own warnings while probing; our SourceError says what failed."""
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is None:
        yield
        return
    level = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        logging.setLogLevel(level)


class FrameSource:
    """Base class: a context manager and an iterator of ``(index, timestamp_s, frame)``.

    Attributes:
        kind: ``camera``, ``video``, ``image``, ``folder`` or ``stream``.
        name: What the user passed, for messages and reports.
        fps: Nominal frame rate, or ``None`` when unknown (stills, some cameras).
        frame_count: Number of frames when known in advance.
        stop_reason: After iteration: ``end`` (source exhausted) or ``dropped`` (a live source
            stopped delivering frames).
    """

    kind = "base"

    def __init__(self, name: str) -> None:
        self.name = name
        self.fps: float | None = None
        self.frame_count: int | None = None
        self.stop_reason: str | None = None

    def open(self) -> None:  # pragma: no cover - overridden
        """Acquire the device or file; raise SourceError when impossible."""

    def close(self) -> None:  # pragma: no cover - overridden
        """Release the device or file (safe to call twice)."""

    def frames(self) -> Iterator[tuple[int, float, np.ndarray]]:  # pragma: no cover - overridden
        """Yield the frames."""
        yield from ()

    def __enter__(self) -> FrameSource:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __iter__(self) -> Iterator[tuple[int, float, np.ndarray]]:
        return self.frames()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class _CaptureSource(FrameSource):
    """Shared ``cv2.VideoCapture`` reading for cameras, files and streams."""

    live = False

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._cap: cv2.VideoCapture | None = None

    def _read_props(self) -> None:
        assert self._cap is not None
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        # Some containers report 1000 or NaN; treat implausible values as unknown.
        self.fps = fps if 0.5 < fps < 500 else None
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count = count if count > 0 and not self.live else None

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def frames(self) -> Iterator[tuple[int, float, np.ndarray]]:
        if self._cap is None:
            raise RuntimeError(f"{self!r} is not open; use it in a with-statement")
        start = time.monotonic()
        index = 0
        while self._cap is not None:
            ok, frame = self._cap.read()
            if not ok or frame is None:
                if index == 0:
                    raise SourceError(self.name, "opened, but no frame could be read "
                                                 "(unsupported codec, empty file or busy device)")
                self.stop_reason = "dropped" if self.live else "end"
                return
            if self.live or not self.fps:
                # Live sources: wall-clock time is the truth (frames arrive when they arrive).
                pos = None if self.live else self._cap.get(cv2.CAP_PROP_POS_MSEC)
                t = time.monotonic() - start if pos is None else float(pos) / 1000.0
            else:
                t = index / self.fps
            yield index, t, frame
            index += 1
        self.stop_reason = "end"


class CameraSource(_CaptureSource):
    """A local camera by index, trying this platform's capture backends in turn.

    Example:
        >>> with CameraSource(0) as cam:  # doctest: +SKIP
        ...     index, t, frame = next(iter(cam))
    """

    kind = "camera"
    live = True

    def __init__(self, index: int, backends: list[tuple[str, int]] | None = None) -> None:
        super().__init__(str(index))
        self.index = int(index)
        self.backends = backends if backends is not None else camera_backends()
        self.backend_name: str | None = None

    def open(self) -> None:
        tried = []
        with _quiet_opencv():
            for name, api in self.backends:
                tried.append(name)
                cap = cv2.VideoCapture(self.index, api)
                if cap.isOpened():
                    self._cap, self.backend_name = cap, name
                    self._read_props()
                    return
                cap.release()
        raise SourceError(None, (
            f"camera {self.index} could not be opened (indices tried: {self.index}; backends "
            f"tried: {', '.join(tried)}; {_video_devices()}). Check the camera is connected and "
            "not used by another program, or pass --source with another index (e.g. --source 1), "
            "a video file, an image, a folder or an rtsp/http URL."))


def _video_devices() -> str:
    """Which camera devices the OS shows (Linux), so the message says whether any exist."""
    if not sys.platform.startswith("linux"):
        return "OS camera list not checked"
    devices = sorted(str(p) for p in Path("/dev").glob("video*"))
    return f"video devices present: {', '.join(devices)}" if devices else "no /dev/video* devices"


class VideoSource(_CaptureSource):
    """A video file (timestamps from its frame rate) or a network stream (wall-clock timestamps).

    Example:
        >>> with VideoSource("clip.mp4") as v:  # doctest: +SKIP
        ...     n = sum(1 for _ in v)
    """

    def __init__(self, path_or_url: str | Path, open_timeout_s: float = 10.0) -> None:
        super().__init__(str(path_or_url))
        self.live = is_stream_url(str(path_or_url))
        self.kind = "stream" if self.live else "video"
        self.open_timeout_s = open_timeout_s

    def open(self) -> None:
        if not self.live and not Path(self.name).is_file():
            raise SourceError(self.name, "video file not found")
        with _quiet_opencv():
            if self.live:
                ms = int(self.open_timeout_s * 1000)
                # Bounded timeouts so a dead camera URL fails in seconds instead of hanging.
                params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
                cap = cv2.VideoCapture(self.name, cv2.CAP_FFMPEG, params)
            else:
                cap = cv2.VideoCapture(self.name)
        if not cap.isOpened():
            cap.release()
            what = ("stream could not be opened (check the URL, credentials and network)"
                    if self.live
                    else "cannot be opened as a video (not a video or unsupported codec)")
            raise SourceError(self.name, what)
        self._cap = cap
        self._read_props()


class ImageSource(FrameSource):
    """One still image, yielded once at time 0.

    Example:
        >>> with ImageSource("photo.jpg") as s:  # doctest: +SKIP
        ...     [i for i, _, _ in s]
        [0]
    """

    kind = "image"

    def __init__(self, path: str | Path) -> None:
        super().__init__(str(path))
        self.path = Path(path)
        self._image: np.ndarray | None = None

    def open(self) -> None:
        self._image = _read_image(self.path)
        self.frame_count = 1

    def close(self) -> None:
        self._image = None

    def frames(self) -> Iterator[tuple[int, float, np.ndarray]]:
        if self._image is None:
            raise RuntimeError(f"{self!r} is not open; use it in a with-statement")
        yield 0, 0.0, self._image
        self.stop_reason = "end"


class FolderSource(FrameSource):
    """The images directly in a folder, sorted by name; each counts as ``1 / STILL_FPS`` seconds.

    Example:
        >>> with FolderSource("frames/") as s:  # doctest: +SKIP
        ...     names = [i for i, _, _ in s]
    """

    kind = "folder"

    def __init__(self, folder: str | Path) -> None:
        super().__init__(str(folder))
        self.folder = Path(folder)
        self._paths: list[Path] = []

    def open(self) -> None:
        if not self.folder.is_dir():
            raise SourceError(self.folder, "folder not found")
        self._paths = list_images(self.folder)
        if not self._paths:
            raise SourceError(self.folder,
                              f"no images in folder (looked for {', '.join(IMAGE_SUFFIXES)})")
        self.frame_count = len(self._paths)
        self.fps = STILL_FPS

    def close(self) -> None:
        self._paths = []

    def frames(self) -> Iterator[tuple[int, float, np.ndarray]]:
        for index, path in enumerate(list(self._paths)):
            yield index, index / STILL_FPS, _read_image(path)
        self.stop_reason = "end"


def _read_image(path: Path) -> np.ndarray:
    if not path.is_file():
        raise SourceError(path, "image file not found")
    # imdecode from bytes: cv2.imread cannot open non-ASCII paths on Windows.
    image = cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise SourceError(path, "cannot be read as an image (corrupt or unsupported format)")
    return image


def is_stream_url(spec: str) -> bool:
    """True for rtsp/rtmp/http(s)/udp/tcp URLs.

    Example:
        >>> is_stream_url("rtsp://10.0.0.5/live"), is_stream_url("clip.mp4")
        (True, False)
    """
    return spec.lower().startswith(STREAM_SCHEMES)


def open_source(spec: str | int | Path) -> FrameSource:
    """Make the right source for ``spec``; use the result in a ``with`` statement.

    ``0``/``"0"`` (digits) is a camera index, a URL is a stream, a folder is a folder of images,
    a file with an image suffix is an image and any other file is tried as a video.

    Raises:
        SourceError: ``spec`` is neither a camera index, a URL nor an existing path.

    Example:
        >>> type(open_source("0")).__name__, open_source("rtsp://cam/1").kind
        ('CameraSource', 'stream')
    """
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
        return CameraSource(int(spec))
    text = str(spec)
    if is_stream_url(text):
        return VideoSource(text)
    path = Path(text)
    if path.is_dir():
        return FolderSource(path)
    if not path.exists():
        raise SourceError(path, "not found (expected a camera index like 0, a video file, an "
                                "image, a folder of images or an rtsp/http URL)")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource(path)
    return VideoSource(path)


class VideoWriter:
    """Write frames to an ``.mp4`` (mp4v) atomically: a temporary file renamed on close.

    The size comes from ``size_wh`` or the first frame; later frames of another size (a folder
    of mixed photos) are resized to it because a video has one size. A ``KeyboardInterrupt``
    still finalises the file (what was recorded is kept); any other exception discards it.

    Args:
        path: Final video path.
        fps: Frame rate to record, normally the input's.
        size_wh: ``(width, height)``; ``None`` takes the first frame's.
        fourcc: Four-character codec code.

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp()) / "out.mp4"
        >>> with VideoWriter(out, fps=10) as w:
        ...     for _ in range(3):
        ...         w.write(np.zeros((48, 64, 3), np.uint8))
        >>> out.exists(), w.frames_written
        (True, 3)
    """

    def __init__(self, path: str | Path, fps: float, size_wh: tuple[int, int] | None = None,
                 fourcc: str = "mp4v") -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.path = Path(path)
        self.fps = float(fps)
        self.size_wh = size_wh
        self.fourcc = fourcc
        self.frames_written = 0
        self._writer: cv2.VideoWriter | None = None
        self._tmp: Path | None = None
        self.finalised = False

    def __enter__(self) -> VideoWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return self

    def _open(self, frame: np.ndarray) -> None:
        if self.size_wh is None:
            self.size_wh = (int(frame.shape[1]), int(frame.shape[0]))
        # Same folder (same file system, so the final rename is atomic) and same suffix
        # (OpenCV picks the container from it).
        fd, self._tmp = temp_file_for(self.path, suffix=self.path.suffix)
        os.close(fd)
        writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*self.fourcc), self.fps,
                                 self.size_wh)
        if not writer.isOpened():
            self._tmp.unlink(missing_ok=True)
            raise SourceError(self.path, f"cannot open a video writer (fourcc {self.fourcc}, "
                                         f"size {self.size_wh}, {self.fps:g} fps)")
        self._writer = writer

    def write(self, frame: np.ndarray) -> None:
        """Append one BGR frame."""
        if self._writer is None:
            self._open(frame)
        assert self._writer is not None and self.size_wh is not None
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        if (frame.shape[1], frame.shape[0]) != self.size_wh:
            frame = cv2.resize(frame, self.size_wh, interpolation=cv2.INTER_AREA)
        self._writer.write(frame)
        self.frames_written += 1

    def close(self, keep: bool = True) -> None:
        """Release the encoder and move the file into place (delete it when ``keep`` is False)."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self._tmp is not None:
            if keep and self.frames_written:
                os.replace(self._tmp, self.path)
                self.finalised = True
            else:
                self._tmp.unlink(missing_ok=True)
            self._tmp = None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close(keep=exc_type is None or issubclass(exc_type, KeyboardInterrupt))
