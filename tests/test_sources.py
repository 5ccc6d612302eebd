"""Frame sources and the atomic video writer."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from detector.errors import SourceError
from detector.sources import (
    CameraSource,
    FolderSource,
    ImageSource,
    VideoSource,
    VideoWriter,
    open_source,
)


def video_props(path: Path) -> tuple[int, int, int, float]:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    return n, w, h, fps


def test_open_source_dispatch(tmp_path: Path, make_video: Callable[..., Path]) -> None:
    video = make_video()
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.zeros((8, 8, 3), np.uint8))
    assert isinstance(open_source(0), CameraSource)
    assert isinstance(open_source("3"), CameraSource)
    assert open_source("rtsp://10.0.0.1/stream").kind == "stream"
    assert open_source("http://host/video.mjpg").kind == "stream"
    assert isinstance(open_source(video), VideoSource) and open_source(video).kind == "video"
    assert isinstance(open_source(image), ImageSource)
    assert isinstance(open_source(tmp_path), FolderSource)
    with pytest.raises(SourceError, match="not found"):
        open_source(tmp_path / "missing.mp4")


def test_missing_camera_fails_fast_with_a_helpful_message() -> None:
    start = time.monotonic()
    with pytest.raises(SourceError) as info, open_source("97"):
        pass
    assert time.monotonic() - start < 5
    msg = str(info.value)
    assert "camera 97" in msg and "indices tried: 97" in msg
    assert "backends tried:" in msg and "ANY" in msg
    assert "--source" in msg


def test_video_frames_and_timestamps(make_video: Callable[..., Path]) -> None:
    video = make_video(frames=12, fps=10.0, size_wh=(96, 64))
    with open_source(video) as src:
        assert src.fps == pytest.approx(10.0) and src.frame_count == 12
        got = [(i, t, f.shape) for i, t, f in src]
    assert [i for i, _, _ in got] == list(range(12))
    assert [t for _, t, _ in got] == pytest.approx([i / 10 for i in range(12)])
    assert {s for _, _, s in got} == {(64, 96, 3)}
    assert src.stop_reason == "end"


def test_unreadable_video_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_text("not a video")
    with pytest.raises(SourceError) as info, open_source(bad):
        pass
    assert "broken.mp4" in str(info.value)


def test_live_stream_that_drops_finishes_cleanly(make_video: Callable[..., Path]) -> None:
    src = VideoSource(make_video(frames=5))
    src.live = True  # behave like a network stream: wall-clock times, a stop is a drop
    with src:
        frames = list(src)
    assert len(frames) == 5 and src.stop_reason == "dropped"
    assert all(b[1] >= a[1] for a, b in zip(frames, frames[1:], strict=False))


def test_image_and_folder_sources(tmp_path: Path) -> None:
    for i, name in enumerate(["b.jpg", "a.png", "c.bmp"]):
        cv2.imwrite(str(tmp_path / name), np.full((10 + i, 12, 3), i * 40, np.uint8))
    (tmp_path / "notes.txt").write_text("ignored: not an image")
    with open_source(tmp_path) as src:
        items = list(src)
    assert [i for i, _, _ in items] == [0, 1, 2]
    assert [t for _, t, _ in items] == [0.0, 1.0, 2.0]
    assert [f.shape[0] for _, _, f in items] == [11, 10, 12]  # a.png, b.jpg, c.bmp
    with open_source(tmp_path / "a.png") as one:
        assert [(i, t) for i, t, _ in one] == [(0, 0.0)]


def test_bad_image_and_empty_folder(tmp_path: Path) -> None:
    bad = tmp_path / "x.jpg"
    bad.write_bytes(b"garbage")
    with pytest.raises(SourceError, match="x.jpg"), open_source(bad):
        pass
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match="no images"), open_source(empty):
        pass
    # A corrupt image inside a folder is reported, not silently skipped.
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(SourceError, match="x.jpg"), open_source(tmp_path) as src:
        list(src)


def test_writer_keeps_input_size_and_rate(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "out.mp4"
    with VideoWriter(out, fps=12.5) as w:
        for i in range(7):
            w.write(np.full((50, 70, 3), i * 30, np.uint8))
            assert not out.exists()  # atomic: only the temp file exists while writing
    n, width, height, fps = video_props(out)
    assert (n, width, height) == (7, 70, 50) and fps == pytest.approx(12.5)
    assert [p.name for p in out.parent.iterdir()] == ["out.mp4"]


def test_writer_resizes_odd_frames_and_handles_grayscale(tmp_path: Path) -> None:
    out = tmp_path / "o.mp4"
    with VideoWriter(out, fps=5, size_wh=(64, 48)) as w:
        w.write(np.zeros((100, 100, 3), np.uint8))
        w.write(np.zeros((48, 64), np.uint8))
    assert video_props(out)[:3] == (2, 64, 48)


def test_writer_on_interrupt_keeps_and_on_error_discards(tmp_path: Path) -> None:
    kept, dropped = tmp_path / "kept.mp4", tmp_path / "dropped.mp4"
    with pytest.raises(KeyboardInterrupt), VideoWriter(kept, fps=5) as w:
        w.write(np.zeros((32, 32, 3), np.uint8))
        raise KeyboardInterrupt
    assert kept.exists()
    with pytest.raises(RuntimeError), VideoWriter(dropped, fps=5) as w:
        w.write(np.zeros((32, 32, 3), np.uint8))
        raise RuntimeError("boom")
    assert not dropped.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.mp4"]


def test_writer_with_no_frames_writes_nothing(tmp_path: Path) -> None:
    with VideoWriter(tmp_path / "none.mp4", fps=5) as w:
        pass
    assert not w.finalised and not (tmp_path / "none.mp4").exists()
