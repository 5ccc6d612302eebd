"""The detect loop: outputs, stopping (end, max frames, q, Ctrl-C), errors, smoothing, CLI."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from detector import live
from detector.cli import main
from detector.core import Detections
from detector.live import DetectionLog, read_log, run_detection
from detector.sources import FrameSource

NAMES = {0: "neutral", 1: "smile"}


def video_info(path: Path) -> tuple[int, int, int]:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    size = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    cap.release()
    return n, *size


def two_faces(i: int, frame: np.ndarray) -> Detections:
    return Detections(np.array([[2, 2, 20, 20], [30, 5, 60, 40]]), np.array([0, 1]),
                      np.array([0.7, 0.8]), None, NAMES)


def test_outputs_match_the_input(tmp_path: Path, make_video: Callable[..., Path],
                                 fake_detector: Any) -> None:
    video = make_video(frames=15, size_wh=(96, 64), fps=10.0)
    out = tmp_path / "out"
    s = run_detection(fake_detector(two_faces), video, show=False, save_video=out / "a.mp4",
                      log_path=out / "a.jsonl", progress=False)
    assert (s.frames, s.detections, s.stopped_by) == (15, 30, "end")
    assert video_info(out / "a.mp4") == (15, 96, 64)
    rows = read_log(out / "a.jsonl")
    assert len(rows) == 30 and rows[0]["frame"] == 0 and rows[-1]["frame"] == 14
    assert {r["track_id"] for r in rows} == {1, 2}
    assert rows[1]["class_name"] == "smile" and rows[1]["x1"] == 30.0
    assert rows[3]["time_s"] == pytest.approx(0.1)
    # Session report next to the video by default, shares summing to 100 %.
    report = json.loads((out / "a_session.json").read_text())
    assert report["frames"] == 15 and len(report["people"]) == 2
    assert sum(report["shares"].values()) == pytest.approx(100.0)
    assert (out / "a_session.md").exists() and (out / "a_session_timeline.png").exists()
    assert s.report_paths["json"] == out / "a_session.json"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left


def test_csv_log_and_no_report(tmp_path: Path, make_video: Callable[..., Path],
                               fake_detector: Any) -> None:
    s = run_detection(fake_detector(two_faces), make_video(frames=4), show=False,
                      save_video=tmp_path / "v.mp4", log_path=tmp_path / "v.csv", report=False,
                      track=False, progress=False)
    rows = read_log(tmp_path / "v.csv")
    assert len(rows) == s.detections == 8
    assert rows[0]["track_id"] is None and rows[0]["confidence"] == pytest.approx(0.7)
    assert s.report_paths == {} and not (tmp_path / "v_session.json").exists()


def test_bad_log_suffix_fails_before_anything_opens(tmp_path: Path, fake_detector: Any) -> None:
    from detector.errors import DetectorError

    with pytest.raises(DetectorError, match="jsonl or .csv"):
        run_detection(fake_detector(), tmp_path / "missing.mp4", log_path=tmp_path / "x.txt")


def test_ctrl_c_mid_stream_still_writes_everything(tmp_path: Path, make_video: Callable[..., Path],
                                                   fake_detector: Any) -> None:
    det = fake_detector(two_faces, raise_at=6)
    s = run_detection(det, make_video(frames=20), show=False, save_video=tmp_path / "i.mp4",
                      log_path=tmp_path / "i.jsonl", progress=False)
    assert s.stopped_by == "interrupt" and s.frames == 6
    assert video_info(tmp_path / "i.mp4")[0] == 6
    assert len(read_log(tmp_path / "i.jsonl")) == 12
    assert json.loads((tmp_path / "i_session.json").read_text())["frames"] == 6


class InterruptingSource(FrameSource):
    """A source that is interrupted while waiting for its 4th frame (like Ctrl-C in cap.read)."""

    kind = "camera"

    def __init__(self) -> None:
        super().__init__("fake-camera")
        self.fps = 20.0
        self.closed = False

    def open(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def frames(self):  # type: ignore[no-untyped-def]
        for i in range(3):
            yield i, i * 0.05, np.full((48, 64, 3), 60 * i, np.uint8)
        raise KeyboardInterrupt


def test_ctrl_c_in_the_source_releases_it(tmp_path: Path, fake_detector: Any) -> None:
    src = InterruptingSource()
    s = run_detection(fake_detector(), src, show=False, save_video=tmp_path / "c.mp4",
                      log_path=tmp_path / "c.jsonl", progress=False)
    assert s.stopped_by == "interrupt" and src.closed
    n, w, h = video_info(tmp_path / "c.mp4")
    assert (n, w, h) == (3, 64, 48)
    assert len(read_log(tmp_path / "c.jsonl")) == 3


def test_an_error_discards_partial_outputs_and_releases(tmp_path: Path,
                                                        make_video: Callable[..., Path],
                                                        fake_detector: Any) -> None:
    det = fake_detector(raise_at=3, exc=RuntimeError)
    with pytest.raises(RuntimeError):
        run_detection(det, make_video(frames=10), show=False, save_video=tmp_path / "e.mp4",
                      log_path=tmp_path / "e.jsonl", progress=False)
    assert list(tmp_path.glob("e*")) == [] and not list(tmp_path.glob(".e*"))


def test_max_frames(make_video: Callable[..., Path], fake_detector: Any) -> None:
    s = run_detection(fake_detector(), make_video(frames=10), show=False, max_frames=4,
                      progress=False)
    assert (s.frames, s.stopped_by) == (4, "max_frames")


def test_q_key_stops_and_finishes(tmp_path: Path, make_video: Callable[..., Path],
                                  fake_detector: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[tuple[int, ...]] = []

    class FakeWindow:
        def __init__(self, name: str) -> None:
            self.name = name

        def __enter__(self) -> FakeWindow:
            return self

        def show(self, frame: np.ndarray) -> bool:
            shown.append(frame.shape)
            return len(shown) == 3  # the user presses q on the third frame

        def __exit__(self, *exc: object) -> None:
            shown.append(("closed",))

    monkeypatch.setattr(live, "_Window", FakeWindow)
    monkeypatch.setattr(live, "display_available", lambda: True)
    s = run_detection(fake_detector(), make_video(frames=10), save_video=tmp_path / "q.mp4",
                      progress=False)
    assert s.shown and s.stopped_by == "q" and s.frames == 3
    assert shown[-1] == ("closed",)
    assert video_info(tmp_path / "q.mp4")[0] == 3


def test_show_without_display_runs_headless(make_video: Callable[..., Path], fake_detector: Any,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(live.sys, "platform", "linux")
    s = run_detection(fake_detector(), make_video(frames=2), show=True, progress=False)
    assert not s.shown and any("headless" in n for n in s.notes)


def test_smoothing_removes_flicker_in_the_loop(make_video: Callable[..., Path],
                                               fake_detector: Any) -> None:
    video = make_video(frames=40, fps=20.0)
    # The default fake face alternates neutral/smile every frame.
    raw = run_detection(fake_detector(), video, show=False, smooth=0, progress=False)
    smooth = run_detection(fake_detector(), video, show=False, smooth=5, progress=False)
    assert raw.flicker_raw is not None and smooth.flicker_smoothed is not None
    assert raw.flicker_smoothed.rate == raw.flicker_raw.rate > 500
    assert smooth.flicker_smoothed.rate == 0.0
    assert smooth.flicker_raw.rate == raw.flicker_raw.rate  # same raw labels, logged side by side


def test_mirror_flips_before_detection(make_video: Callable[..., Path], fake_detector: Any) -> None:
    seen: list[np.ndarray] = []

    def record(i: int, frame: np.ndarray) -> Detections:
        seen.append(frame.copy())
        return Detections.empty(NAMES)

    video = make_video(frames=1)
    run_detection(fake_detector(record), video, show=False, mirror=False, progress=False)
    run_detection(fake_detector(record), video, show=False, mirror=True, progress=False)
    assert np.array_equal(seen[1], cv2.flip(seen[0], 1))


def test_image_and_folder_sources(tmp_path: Path, fake_detector: Any) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((40, 50, 3), 50 * i, np.uint8))
    s = run_detection(fake_detector(two_faces), folder, show=False,
                      save_video=tmp_path / "f.mp4", progress=False)
    assert s.frames == 3 and video_info(tmp_path / "f.mp4") == (3, 50, 40)
    one = run_detection(fake_detector(two_faces), folder / "1.png", show=False,
                        log_path=tmp_path / "one.jsonl", progress=False)
    assert one.frames == 1 and len(read_log(tmp_path / "one.jsonl")) == 2


def test_detector_without_track_runs_untracked(make_video: Callable[..., Path]) -> None:
    class PredictOnly:
        names = NAMES

        def predict(self, frame: np.ndarray) -> Detections:
            return two_faces(0, frame)

    s = run_detection(PredictOnly(), make_video(frames=3), show=False, smooth=5, progress=False)
    assert not s.tracked and s.smoothing == 0 and len(s.notes) == 2


def test_detection_log_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    with DetectionLog(path) as log:
        log.write([{"frame": 0, "time_s": 0.0, "class_name": "smile", "track_id": None}])
        assert not path.exists()
    assert read_log(path)[0]["track_id"] is None
    with pytest.raises(ValueError), DetectionLog(tmp_path / "m.csv") as log:
        log.write([{"frame": 0}])
        raise ValueError
    assert list(tmp_path.iterdir()) == [path]


def test_real_video_untrained_model(shared: Path, untrained_weights: Path, tmp_path: Path) -> None:
    from detector.inference import ExpressionDetector

    video = shared / "data" / "videos" / "vdotup_face.mp4"
    det = ExpressionDetector(untrained_weights, conf=0.01, imgsz=96)
    s = run_detection(det, video, show=False, save_video=tmp_path / "r.mp4",
                      log_path=tmp_path / "r.jsonl", smooth=5, max_frames=30, progress=False)
    assert s.frames == 30 and s.size_wh == (640, 360)
    assert video_info(tmp_path / "r.mp4") == (30, 640, 360)
    rows = read_log(tmp_path / "r.jsonl")
    assert len(rows) == s.detections  # one row per detection, however many the model found
    assert {r["frame"] for r in rows} <= set(range(30))
    report = json.loads((tmp_path / "r_session.json").read_text())
    assert report["frames"] == 30 and report["duration_s"] == pytest.approx(30 / 25)
    if rows:
        assert sum(report["shares"].values()) == pytest.approx(100.0)
        for person in report["people"]:
            assert sum(person["shares"].values()) == pytest.approx(100.0)


def test_cli_detect_on_a_video(tmp_path: Path, untrained_weights: Path,
                               make_video: Callable[..., Path],
                               capsys: pytest.CaptureFixture[str]) -> None:
    video = make_video(frames=6)
    code = main(["detect", "--source", str(video), "--weights", str(untrained_weights),
                 "--imgsz", "64", "--no-show", "--save", str(tmp_path / "o.mp4"),
                 "--log", str(tmp_path / "o.csv"), "--report", str(tmp_path / "rep"),
                 "--max-frames", "5", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0 and "5 frames" in out and "annotated video" in out
    assert video_info(tmp_path / "o.mp4")[0] == 5
    assert (tmp_path / "rep" / "o_session.json").exists()


def test_cli_errors_are_clear(tmp_path: Path, untrained_weights: Path,
                              monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["detect", "--source", "97", "--weights", str(untrained_weights), "--imgsz", "64",
                 "--no-show"])
    err = capsys.readouterr().err
    assert code == 2 and "camera 97" in err and "--source" in err and "Traceback" not in err
    missing = tmp_path / "weights" / "smile-neutral-yolo11n.pt"
    monkeypatch.setattr("detector.inference.DEFAULT_WEIGHTS", missing)
    monkeypatch.setattr("detector.commands.detect.DEFAULT_WEIGHTS", missing)
    code = main(["detect", "--source", str(tmp_path), "--no-show"])
    err = capsys.readouterr().err
    assert code == 2 and "--weights" in err
    code = main(["detect", "--source", str(tmp_path / "nothing.mp4"), "--no-show"])
    assert code == 2 and "nothing.mp4" in capsys.readouterr().err


def test_webcam_tool_is_a_thin_wrapper(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location(
        "webcam_detect", Path(__file__).resolve().parents[1] / "tools" / "webcam_detect.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    calls: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(module, "tool_main", lambda cmd, argv: calls.append((cmd, argv)) or 0)
    assert module.main(["--mirror"]) == 0
    assert calls == [("detect", ["--source", "0", "--mirror"])]
