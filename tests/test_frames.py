"""Tests for detector/frames.py and `exprdet frames` (tiny synthetic clips + the shared videos)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from detector.cli import main as cli_main
from detector.errors import DatasetError
from detector.frames import (
    MANIFEST_COLUMNS,
    FrameRecord,
    FrameSampler,
    bench_frames,
    collect_videos,
    extract_frames,
    format_manifest,
    frame_difference,
    frame_name,
    frame_prefixes,
    read_manifest,
    thumbnail,
)
from tools.video_to_frames import main as tool_main

# ---------------------------------------------------------------- pure functions


@pytest.mark.parametrize(("kwargs", "n", "expected"), [
    ({"video_fps": 10.0}, 4, [0, 1, 2, 3]),
    ({"video_fps": 10.0, "every": 5}, 20, [0, 5, 10, 15]),
    ({"video_fps": 10.0, "every": 1}, 3, [0, 1, 2]),
    ({"video_fps": 25.0, "fps": 2.0}, 60, [0, 13, 25, 38, 50]),
    ({"video_fps": 30.0, "fps": 1.0}, 91, [0, 30, 60, 90]),
    ({"video_fps": 29.97, "fps": 2.0}, 40, [0, 15, 30]),
    ({"video_fps": 10.0, "fps": 50.0}, 5, [0, 1, 2, 3, 4]),  # target above the video's rate
    ({"video_fps": 10.0, "start_s": 0.5}, 8, [5, 6, 7]),
    ({"video_fps": 10.0, "end_s": 0.3}, 10, [0, 1, 2]),  # end is exclusive
    ({"video_fps": 10.0, "every": 3, "start_s": 0.5, "end_s": 1.5}, 30, [5, 8, 11, 14]),
    ({"video_fps": 10.0, "fps": 2.0, "start_s": 0.25}, 20, [3, 8, 13, 18]),
    ({"video_fps": 10.0, "start_s": 5.0}, 20, []),  # start after the end of the video
    ({"video_fps": 0.0, "every": 2}, 5, [0, 2, 4]),  # unknown rate is fine without seconds
])
def test_frame_sampler_indices(kwargs: dict, n: int, expected: list[int]) -> None:
    assert FrameSampler(**kwargs).indices(n) == expected


@pytest.mark.parametrize("kwargs", [
    {"video_fps": 10.0, "every": 2, "fps": 1.0},
    {"video_fps": 10.0, "every": 0},
    {"video_fps": 10.0, "fps": 0.0},
    {"video_fps": 10.0, "start_s": -1.0},
    {"video_fps": 10.0, "start_s": 2.0, "end_s": 1.0},
    {"video_fps": 10.0, "end_s": 0.0},
    {"video_fps": float("nan"), "fps": 2.0},
    {"video_fps": 0.0, "start_s": 1.0},
])
def test_frame_sampler_rejects(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        FrameSampler(**kwargs)


def test_frame_sampler_timestamps() -> None:
    assert FrameSampler(video_fps=25.0).timestamp(13) == pytest.approx(0.52)
    assert FrameSampler(video_fps=0.0).timestamp(13) is None


@pytest.mark.parametrize(("videos", "expected"), [
    (["a/clip.mp4"], ["clip"]),
    (["a/clip.mp4", "b/other.avi"], ["clip", "other"]),
    (["a/clip.mp4", "b/clip.mov"], ["a_clip", "b_clip"]),
    (["a/clip.mp4", "b/clip.mp4", "c/x.mp4"], ["a_clip", "b_clip", "x"]),
])
def test_frame_prefixes(videos: list[str], expected: list[str]) -> None:
    assert frame_prefixes(videos) == expected


def test_frame_prefixes_same_parent_name_gets_hash() -> None:
    prefixes = frame_prefixes(["x/a/clip.mp4", "y/a/clip.mp4"])
    assert len(set(prefixes)) == 2
    assert all(p.startswith("a_clip-") and len(p) == len("a_clip-") + 8 for p in prefixes)


def test_frame_name() -> None:
    assert frame_name("v", 7) == "v_000007.jpg"
    assert frame_name("v", 1234567) == "v_1234567.jpg"


def test_thumbnail_and_difference() -> None:
    a = thumbnail(np.zeros((48, 64, 3), np.uint8))
    b = thumbnail(np.full((48, 64, 3), 10, np.uint8))
    assert a.shape == (32, 32)
    assert frame_difference(a, a) == 0.0
    assert frame_difference(a, b) == pytest.approx(10.0)


def test_manifest_round_trip(tmp_path: Path) -> None:
    rows = [FrameRecord("v_000005.jpg", "/d/v.mp4", 5, 0.5, "smile"),
            FrameRecord("v_000000.jpg", "/d/v.mp4", 0, 0.0, "smile"),
            FrameRecord("w_000000.jpg", "/d/w.mp4", 0, None, "")]
    path = tmp_path / "manifest.csv"
    path.write_text(format_manifest(rows))
    back = read_manifest(path)
    assert [r.file for r in back] == ["v_000000.jpg", "v_000005.jpg", "w_000000.jpg"]
    assert back[2].timestamp_s is None and back[1].label == "smile"


@pytest.mark.parametrize(("text", "problem"), [
    ("a,b\n1,2\n", "missing column"),
    ("file,video,frame_index,timestamp_s,label\nx.jpg,v,notanint,0.0,\n", "line 2"),
])
def test_read_manifest_rejects(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "manifest.csv"
    path.write_text(text)
    with pytest.raises(DatasetError, match=problem):
        read_manifest(path)


def test_collect_videos(tmp_path: Path, make_video: Callable[..., Path]) -> None:
    a = make_video("a.mp4", frames=2)
    make_video("b.avi", frames=2)
    (tmp_path / "notes.txt").write_text("x")
    empty = tmp_path / "empty"
    empty.mkdir()
    videos, failures = collect_videos([tmp_path, a, empty, tmp_path / "gone.mp4"])
    assert [v.name for v in videos] == ["a.mp4", "b.avi"]  # a.mp4 given twice, kept once
    assert len(failures) == 2
    assert "no video files" in failures[0].error and "gone.mp4: does not exist" in failures[1].error


# ---------------------------------------------------------------- extraction, synthetic clips


def _manifest(out: Path) -> list[dict[str, str]]:
    with (out / "manifest.csv").open() as fh:
        return list(csv.DictReader(fh))


def _no_temp_left(out: Path) -> bool:
    return not [p for p in out.iterdir() if p.name.startswith(".")]


def test_extract_every_n(tmp_path: Path, make_video: Callable[..., Path]) -> None:
    video = make_video("clip.mp4", frames=20, fps=10.0)
    out = tmp_path / "out"
    summary = extract_frames([video], out, every=5, label="smile")
    assert summary.ok and summary.frames_written == 4
    r = summary.results[0]
    assert (r.frames_read, r.frames_sampled, r.prefix) == (20, 4, "clip")
    assert sorted(p.name for p in out.glob("*.jpg")) == [
        "clip_000000.jpg", "clip_000005.jpg", "clip_000010.jpg", "clip_000015.jpg"]
    rows = _manifest(out)
    assert list(rows[0]) == list(MANIFEST_COLUMNS)
    assert [(r["frame_index"], r["timestamp_s"], r["label"]) for r in rows] == [
        ("0", "0.000", "smile"), ("5", "0.500", "smile"), ("10", "1.000", "smile"),
        ("15", "1.500", "smile")]
    assert rows[0]["video"] == video.resolve().as_posix()
    img = cv2.imread(str(out / "clip_000005.jpg"))
    assert img.shape == (64, 96, 3)
    assert _no_temp_left(out)


def test_extract_fps_start_end(tmp_path: Path, make_video: Callable[..., Path]) -> None:
    video = make_video("clip.mp4", frames=30, fps=10.0)
    summary = extract_frames([video], tmp_path / "out", fps=2.0, start_s=0.5, end_s=2.0)
    assert [r.frame_index for r in summary.results[0].records] == [5, 10, 15]
    assert summary.results[0].frames_read == 20  # decoding stops at end_s


def test_dedupe_skips_static_frames(tmp_path: Path, make_video: Callable[..., Path]) -> None:
    video = make_video("still.mp4", frames=15, static=True)
    kept = extract_frames([video], tmp_path / "a").results[0]
    assert (kept.frames_written, kept.duplicates_skipped) == (1, 14)
    moving = extract_frames([make_video("moving.mp4", frames=15)], tmp_path / "b").results[0]
    assert moving.frames_written == 15
    off = extract_frames([video], tmp_path / "c", dedupe_threshold=0).results[0]
    assert (off.frames_written, off.duplicates_skipped) == (15, 0)


def test_rerun_is_identical_and_replaces_stale_frames(tmp_path: Path,
                                                      make_video: Callable[..., Path]) -> None:
    video = make_video("clip.mp4", frames=20)
    out = tmp_path / "out"
    extract_frames([video], out, every=5)
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    extract_frames([video], out, every=5)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first
    extract_frames([video], out, every=10)
    assert sorted(p.name for p in out.glob("*.jpg")) == ["clip_000000.jpg", "clip_000010.jpg"]
    assert [r["file"] for r in _manifest(out)] == ["clip_000000.jpg", "clip_000010.jpg"]


def test_manifest_merges_runs(tmp_path: Path, make_video: Callable[..., Path]) -> None:
    out = tmp_path / "out"
    extract_frames([make_video("a.mp4", frames=10)], out, every=5, label="smile")
    summary = extract_frames([make_video("b.mp4", frames=10)], out, every=5, label="neutral")
    assert summary.manifest_rows == 4
    assert [(r["file"], r["label"]) for r in _manifest(out)] == [
        ("a_000000.jpg", "smile"), ("a_000005.jpg", "smile"),
        ("b_000000.jpg", "neutral"), ("b_000005.jpg", "neutral")]


def test_same_stem_in_two_folders(tmp_path: Path, make_video: Callable[..., Path]) -> None:
    (tmp_path / "day1").mkdir()
    (tmp_path / "day2").mkdir()
    a = make_video("day1/clip.mp4", frames=10)
    b = make_video("day2/clip.mp4", frames=10)
    summary = extract_frames([a, b], tmp_path / "out", every=5)
    assert summary.ok
    assert sorted(p.name for p in (tmp_path / "out").glob("*.jpg")) == [
        "day1_clip_000000.jpg", "day1_clip_000005.jpg",
        "day2_clip_000000.jpg", "day2_clip_000005.jpg"]


def test_name_clash_with_other_run_fails_cleanly(tmp_path: Path,
                                                 make_video: Callable[..., Path]) -> None:
    (tmp_path / "day1").mkdir()
    (tmp_path / "day2").mkdir()
    out = tmp_path / "out"
    extract_frames([make_video("day1/clip.mp4", frames=10)], out, every=5)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    summary = extract_frames([make_video("day2/clip.mp4", frames=10)], out, every=5)
    assert not summary.ok
    assert "would overwrite a frame of" in summary.failures[0].error
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_unlisted_file_is_not_overwritten(tmp_path: Path, make_video: Callable[..., Path]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "clip_000000.jpg").write_bytes(b"mine")
    summary = extract_frames([make_video("clip.mp4", frames=5)], out)
    assert "not in the manifest" in summary.failures[0].error
    assert (out / "clip_000000.jpg").read_bytes() == b"mine"
    assert sorted(p.name for p in out.iterdir()) == ["clip_000000.jpg"]


def test_start_after_end_of_video_fails(tmp_path: Path, make_video: Callable[..., Path]) -> None:
    summary = extract_frames([make_video("clip.mp4", frames=10, fps=10.0)], tmp_path / "o",
                             start_s=5.0)
    assert "no frame in the requested range (the video is 1.00 s long)" in summary.failures[0].error


def test_option_errors_raise_before_work(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        extract_frames([], tmp_path / "o", every=2, fps=1.0)
    with pytest.raises(ValueError):
        extract_frames([], tmp_path / "o", dedupe_threshold=-1)
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------- bad videos through the CLI


def _bad_videos(tmp_path: Path, make_video: Callable[..., Path]) -> dict[str, Path]:
    bad = tmp_path / "bad"
    bad.mkdir()
    rand = bad / "random.mp4"
    rand.write_bytes(np.random.default_rng(0).bytes(20_000))
    good = make_video("good.mp4", frames=10)
    half = bad / "half.mp4"
    data = good.read_bytes()
    half.write_bytes(data[: len(data) // 2])  # OpenCV's mp4 writer puts the index at the end
    zero = bad / "zero.avi"
    writer = cv2.VideoWriter(str(zero), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (96, 64))
    writer.release()  # a valid container with no frame in it
    empty = bad / "empty.mp4"
    empty.write_bytes(b"")
    return {"good": good, "random": rand, "half": half, "zero": zero, "empty": empty,
            "missing": bad / "missing.mp4"}


def test_cli_bad_videos_fail_others_go_through(tmp_path: Path, make_video: Callable[..., Path],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    v = _bad_videos(tmp_path, make_video)
    out = tmp_path / "out"
    order = ["random", "good", "half", "zero", "empty", "missing"]
    code = cli_main(["frames", *(str(v[k]) for k in order), "--every", "5", "--out", str(out),
                     "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"error: {v['random']}: cannot be opened as a video" in err
    assert f"error: {v['half']}: cannot be opened as a video" in err
    assert f"error: {v['zero']}: no frame could be decoded" in err
    assert f"error: {v['empty']}: empty file (0 bytes)" in err
    assert f"error: {v['missing']}: does not exist" in err
    assert "5 input(s) failed" in err
    assert sorted(p.name for p in out.iterdir()) == ["good_000000.jpg", "good_000005.jpg",
                                                     "manifest.csv"]
    assert {r["video"] for r in _manifest(out)} == {v["good"].resolve().as_posix()}


def test_cli_all_good_exit_zero(tmp_path: Path, make_video: Callable[..., Path],
                                capsys: pytest.CaptureFixture[str]) -> None:
    video = make_video("clip.mp4", frames=10)
    code = cli_main(["frames", str(video), "--fps", "5", "--out", str(tmp_path / "o"),
                     "--label", "smile", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "10 frames decoded, 5 written as clip_NNNNNN.jpg" in captured.out


def test_cli_usage_errors(tmp_path: Path, make_video: Callable[..., Path],
                          capsys: pytest.CaptureFixture[str]) -> None:
    video = str(make_video("clip.mp4", frames=3))
    with pytest.raises(SystemExit) as exc:
        cli_main(["frames", video, "--every", "2", "--fps", "1"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        cli_main(["frames", video, "--every", "0"])
    assert cli_main(["frames", video, "--start", "2", "--end", "1"]) == 2
    assert "--end (1.0) must be after --start (2.0)" in capsys.readouterr().err


def test_cli_unreadable_manifest(tmp_path: Path, make_video: Callable[..., Path],
                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.csv").write_text("something,else\n")
    assert cli_main(["frames", str(make_video()), "--out", str(out), "--no-progress"]) == 2
    assert "manifest.csv: not a frames manifest" in capsys.readouterr().err


def test_tool_script(tmp_path: Path, make_video: Callable[..., Path]) -> None:
    assert tool_main([str(make_video("clip.mp4", frames=4)), "--out", str(tmp_path / "o"),
                      "--no-progress"]) == 0
    assert len(list((tmp_path / "o").glob("clip_*.jpg"))) == 4


def test_bench_frames_rows(make_video: Callable[..., Path]) -> None:
    rows = bench_frames([make_video("clip.mp4", frames=6)])
    assert rows[0]["video"] == "clip.mp4" and rows[0]["frames"] == rows[0]["written"] == 6
    assert rows[0]["resolution"] == "96x64" and rows[0]["decoded_per_s"] > 0


# ---------------------------------------------------------------- the shared real videos


def test_real_video_at_2fps(shared: Path, tmp_path: Path) -> None:
    video = shared / "data" / "videos" / "vdotup_face.mp4"  # 640x360, 25 fps, 224 frames
    out = tmp_path / "frames"
    summary = extract_frames([video], out, fps=2.0, label="neutral")
    r = summary.results[0]
    assert summary.ok and r.fps == 25.0 and r.frames_read == 224
    expected = FrameSampler(video_fps=25.0, fps=2.0).indices(224)
    assert len(expected) == 18 and r.frames_written == 18  # no frame is a near-duplicate at 2 fps
    rows = _manifest(out)
    assert [int(row["frame_index"]) for row in rows] == expected
    assert [row["file"] for row in rows] == [f"vdotup_face_{i:06d}.jpg" for i in expected]
    assert [float(row["timestamp_s"]) for row in rows] == pytest.approx(
        [i / 25.0 for i in expected], abs=5e-4)
    assert {row["label"] for row in rows} == {"neutral"}
    assert cv2.imread(str(out / rows[1]["file"])).shape == (360, 640, 3)


def test_real_truncated_video(shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              make_video: Callable[..., Path]) -> None:
    # 1zlab_face.mp4 keeps its index at the start, so half of it still opens and claims
    # 383 frames; only counting decoded frames shows it is cut.
    data = (shared / "data" / "videos" / "1zlab_face.mp4").read_bytes()
    half = tmp_path / "1zlab_half.mp4"
    half.write_bytes(data[: len(data) // 2])
    good = make_video("good.mp4", frames=3)
    out = tmp_path / "out"
    code = cli_main(["frames", str(half), str(good), "--fps", "2", "--out", str(out),
                     "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"{half}: truncated or damaged: decoded 194 of the 383 frames" in err
    assert not list(out.glob("1zlab_half_*"))
    assert _no_temp_left(out)


def test_real_videos_folder(shared: Path, tmp_path: Path) -> None:
    summary = extract_frames([shared / "data" / "videos"], tmp_path / "out", fps=1.0)
    assert summary.ok
    assert [(r.video.name, r.frames_written) for r in summary.results] == [
        ("1zlab_face.mp4", 13), ("karakayaahmet_smile.mp4", 2), ("vdotup_face.mp4", 9)]
    assert summary.manifest_rows == 24
