"""The demo: generated clip from scikit-image's public-domain pictures, and its outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from detector.cli import main
from detector.demo import demo_pictures, make_demo_clip, render_demo_frame, run_demo
from detector.inference import ExpressionDetector
from detector.live import read_log


def frame_count(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def test_clip_is_deterministic_and_varied(tmp_path: Path) -> None:
    a = render_demo_frame(0.5, 4.0)
    assert np.array_equal(a, render_demo_frame(0.5, 4.0))
    frames = [render_demo_frame(t, 4.0) for t in (0.0, 1.0, 2.0, 3.0, 3.9)]
    assert all(f.shape == (480, 640, 3) for f in frames)
    assert len({f.tobytes() for f in frames}) == 5  # the picture moves
    # Phase 3 shows the mirrored picture.
    assert len(demo_pictures()) == 2
    path = make_demo_clip(tmp_path / "c.mp4", seconds=1.0, fps=8.0, size_wh=(160, 120))
    assert frame_count(path) == 8


def test_run_demo_writes_all_outputs(tmp_path: Path, untrained_weights: Path) -> None:
    det = ExpressionDetector(untrained_weights, conf=0.01, imgsz=96)
    out = tmp_path / "demo_output"
    (out).mkdir()
    (out / "keep.txt").write_text("user file")  # other files in --out are left alone
    result = run_demo(out_dir=out, detector=det, seconds=1.0, fps=6.0, max_frames=4,
                      progress=False)
    names = {p.name for p in out.iterdir()}
    assert names == {"keep.txt", "demo_input.mp4", "demo_annotated.mp4", "detections.jsonl",
                     "session.json", "session.md", "session_timeline.png"}
    assert frame_count(out / "demo_input.mp4") == 6
    assert frame_count(out / "demo_annotated.mp4") == 4
    assert len(read_log(out / "detections.jsonl")) == result.summary.detections
    assert json.loads((out / "session.json").read_text())["frames"] == 4
    text = "\n".join(result.lines())
    assert str(out) in text and "demo_annotated.mp4" in text


def test_demo_cli(tmp_path: Path, untrained_weights: Path, capsys: pytest.CaptureFixture[str],
                  monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "d"
    code = main(["demo", "--weights", str(untrained_weights), "--out", str(out), "--seconds", "1",
                 "--fps", "4", "--imgsz", "64", "--quiet"])
    assert code == 0 and "all demo outputs are in" in capsys.readouterr().out
    assert frame_count(out / "demo_annotated.mp4") == 4
    missing = tmp_path / "weights" / "smile-neutral-yolo11n.pt"
    monkeypatch.setattr("detector.inference.DEFAULT_WEIGHTS", missing)
    monkeypatch.setattr("detector.commands.demo.DEFAULT_WEIGHTS", missing)
    code = main(["demo", "--out", str(tmp_path / "none")])
    assert code == 2 and "--weights" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()  # the model is checked before anything is written


def test_demo_with_fake_detector(tmp_path: Path, fake_detector: Any) -> None:
    result = run_demo(out_dir=tmp_path, detector=fake_detector(), seconds=1.0, fps=10.0,
                      progress=False)
    s = result.summary
    assert s.frames == 10 and s.tracked and s.flicker_smoothed is not None
    assert s.flicker_smoothed.rate < s.flicker_raw.rate  # type: ignore[union-attr]
