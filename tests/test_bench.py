"""Benchmark table shape and the flicker measurement (speed itself is never asserted)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from detector.bench import (
    TWO_STAGE,
    BenchResult,
    BenchRow,
    format_bench_table,
    format_flicker_table,
    load_pipeline,
    measure_flicker,
    parse_size,
    run_bench,
    time_pipeline,
)
from detector.cli import main


def test_parse_size() -> None:
    assert parse_size("640x480") == (640, 480) and parse_size("320X240") == (320, 240)
    for bad in ("640", "axb", "0x10"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_time_pipeline_with_fake(make_video: Callable[..., Path], fake_detector: Any) -> None:
    video = make_video(frames=5, size_wh=(96, 64))
    row = time_pipeline(fake_detector(), video, frames=8, name="fake", resize_wh=(64, 48),
                        progress=False)
    assert row.frames == 8 and row.fps is not None and row.fps > 0  # rewound past 5 frames
    assert all(v is not None and v >= 0 for v in (row.decode_ms, row.infer_ms, row.draw_ms,
                                                  row.encode_ms))


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")
def test_bench_rows_on_a_tiny_video(make_video: Callable[..., Path], untrained_weights: Path,
                                    fake_detector: Any, tmp_path: Path) -> None:
    video = make_video(frames=6, size_wh=(96, 64))
    work = tmp_path / "work"
    work.mkdir()
    res = run_bench(untrained_weights, video, imgsizes=(64,), threads=(1, 2), frames=3,
                    extra={"fake": fake_detector()}, work_dir=work, progress=False)
    got = [(r.pipeline, r.imgsz, r.threads) for r in res.rows]
    assert got == [("PyTorch", 64, 1), ("PyTorch", 64, 2), ("ONNX Runtime", 64, 1),
                   ("ONNX Runtime", 64, 2), ("OpenVINO", None, None), ("fake", None, 1),
                   ("fake", None, 2), (TWO_STAGE, None, None)]
    assert all(r.fps for r in res.rows[:4])
    assert res.rows[4].note == "not installed"
    assert "not built yet" in res.rows[-1].note
    table = format_bench_table(res)
    assert table.splitlines()[0].startswith("Machine: ")
    assert "logical cores" in table and "default" in table  # machine and torch threads named
    assert table.count("\n| ") == 1 + len(res.rows)  # header + one line per row
    assert list(work.iterdir()) == []  # exports and scratch videos cleaned up


def test_two_stage_slot_is_filled_by_name(make_video: Callable[..., Path],
                                          fake_detector: Any) -> None:
    # No imgsz: only the extra pipeline is timed and no model is loaded.
    res = run_bench(None, make_video(frames=3), imgsizes=(), threads=(1,), frames=2,
                    extra={TWO_STAGE: fake_detector()}, progress=False)
    assert [(r.pipeline, r.threads) for r in res.rows] == [(TWO_STAGE, 1)]


def test_load_pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_pipe.py").write_text(
        "from detector.core import Detections\n"
        "class P:\n"
        "    def predict(self, frame):\n"
        "        return Detections.empty()\n"
        "def build():\n"
        "    return P()\n"
        "def bad():\n"
        "    return 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    name, det = load_pipeline("my=my_pipe:build")
    assert name == "my" and hasattr(det, "predict")
    assert load_pipeline("my_pipe:build")[0] == TWO_STAGE
    from detector.errors import ModelError

    with pytest.raises(ModelError, match="no predict"):
        load_pipeline("x=my_pipe:bad")
    with pytest.raises(ModelError, match="cannot be imported"):
        load_pipeline("x=no_such_module_here:build")
    sys.modules.pop("my_pipe", None)


def test_flicker_measurement(make_video: Callable[..., Path], fake_detector: Any) -> None:
    rows = measure_flicker(fake_detector(), [make_video(frames=30, fps=15.0)], smooth=5,
                           progress=False)
    (row,) = rows
    assert row.frames == 30 and row.tracks == 1
    assert row.raw > 0 and row.smoothed == 0.0
    table = format_flicker_table(rows)
    assert "smoothed (N=5)" in table and "clip.mp4" in table


def test_bench_cli(make_video: Callable[..., Path], untrained_weights: Path, tmp_path: Path,
                   capsys: pytest.CaptureFixture[str]) -> None:
    video = make_video(frames=4, size_wh=(96, 64))
    out = tmp_path / "bench.json"
    code = main(["bench", "--source", str(video), "--weights", str(untrained_weights),
                 "--imgsz", "64", "--threads", "1", "--frames", "2", "--no-onnx",
                 "--out", str(out), "--quiet"])
    text = capsys.readouterr().out
    assert code == 0
    assert "| PyTorch | 64 | 1 |" in text and "| OpenVINO |" in text and TWO_STAGE in text
    assert "--resize 640x480" in text  # the 96x64 input is not the standard size
    data = json.loads(out.read_text())
    assert data["machine"]["cpu"] and data["rows"][0]["pipeline"] == "PyTorch"
    code = main(["bench", "--source", str(video), str(video), "--weights", str(untrained_weights)])
    assert code == 2 and "one --source" in capsys.readouterr().err
    code = main(["bench", "--source", str(video), str(video), "--weights", str(untrained_weights),
                 "--flicker", "--imgsz-flicker", "64", "--max-frames", "3", "--quiet"])
    assert code == 0 and capsys.readouterr().out.count("clip.mp4") == 2


def test_format_bench_table_marks_missing_values() -> None:
    res = BenchResult({"cpu": "X"}, "v.mp4", (640, 480), (640, 480), 5, "w.pt",
                      [BenchRow("OpenVINO", None, None, note="not installed")])
    last = format_bench_table(res).splitlines()[-1]
    assert last.startswith("| OpenVINO | — | — | — |") and last.endswith("not installed |")
