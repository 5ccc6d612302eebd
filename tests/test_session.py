"""Session report: shares, smile episodes, valence, impression and the written files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from detector.session import (
    build_session_report,
    impression,
    percent_shares,
    render_markdown,
    write_session_report,
)

FER7 = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]


def rows_for(track: int | None, labels: list[str], fps: float = 10.0, start: int = 0) -> list[dict]:
    return [{"frame": start + i, "time_s": (start + i) / fps, "track_id": track, "class_name": lab}
            for i, lab in enumerate(labels)]


def test_percent_shares_always_sum_to_100() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        keys = [f"k{i}" for i in range(int(rng.integers(1, 8)))]
        counts = {k: int(rng.integers(0, 50)) for k in keys}
        shares = percent_shares(counts, keys)
        if sum(counts.values()):
            assert sum(shares.values()) == pytest.approx(100.0, abs=1e-9)
        else:
            assert set(shares.values()) == {0.0}


def test_two_class_report() -> None:
    rows = rows_for(1, ["neutral"] * 10 + ["smile"] * 10 + ["neutral"] * 20)
    rows += rows_for(2, ["smile"] * 40)
    r = build_session_report(rows, classes=["neutral", "smile"], source="clip.mp4")
    assert r.frames == 40 and r.duration_s == pytest.approx(4.0)
    assert r.shares == {"neutral": 37.5, "smile": 62.5}
    p1, p2 = r.people
    assert (p1.track_id, p2.track_id) == (1, 2)
    assert p1.shares == {"neutral": 75.0, "smile": 25.0}
    assert sum(p1.shares.values()) == pytest.approx(100.0)
    assert p1.valence == {"positive": 25.0, "neutral": 75.0, "negative": 0.0}
    assert [(e.start_s, e.duration_s) for e in p1.episodes] == [(1.0, 1.0)]
    assert len(p2.episodes) == 1 and p2.episodes[0].duration_s == pytest.approx(4.0)
    assert r.smile_episodes == 2
    assert r.impression == "good"
    assert [s.label for s in p1.segments] == ["neutral", "smile", "neutral"]


def test_seven_class_valence_and_impression() -> None:
    labels = ["happy"] * 2 + ["surprise"] * 2 + ["neutral"] * 1 + ["sad"] * 3 + ["angry"] * 2
    r = build_session_report(rows_for(1, labels), classes=FER7)
    assert r.valence == {"positive": 40.0, "neutral": 10.0, "negative": 50.0}
    assert r.impression == "needs attention"
    assert set(r.shares) == set(FER7)  # absent classes show as 0 %
    assert r.shares["disgust"] == 0.0
    assert sum(r.shares.values()) == pytest.approx(100.0)


def test_episode_gap_and_minimum_length() -> None:
    # 6 smile frames, a 0.3 s gap (merged), 6 more; then one 0.2 s blip (too short).
    labels = ["smile"] * 6 + ["neutral"] * 3 + ["smile"] * 6 + ["neutral"] * 10 + ["smile"] * 2
    r = build_session_report(rows_for(1, labels), classes=["neutral", "smile"], max_gap_s=0.5,
                             min_episode_s=0.5)
    eps = r.people[0].episodes
    assert len(eps) == 1
    assert eps[0].start_s == 0.0 and eps[0].duration_s == pytest.approx(1.5)


def test_untracked_rows_are_grouped_without_episodes() -> None:
    rows = rows_for(None, ["smile"] * 10) + rows_for(-1, ["neutral"] * 10, start=10)
    r = build_session_report(rows, classes=["neutral", "smile"])
    assert len(r.people) == 1 and r.people[0].track_id is None
    assert r.people[0].episodes == [] and r.smile_episodes == 0
    assert r.shares == {"neutral": 50.0, "smile": 50.0}


def test_empty_session() -> None:
    r = build_session_report([], classes=["neutral", "smile"])
    assert r.impression == "no faces seen" and r.people == []
    assert r.shares == {"neutral": 0.0, "smile": 0.0}
    assert impression({"positive": 1, "neutral": 1, "negative": 2}) == "needs attention"


def test_unknown_class_goes_to_other_valence() -> None:
    r = build_session_report(rows_for(1, ["person"] * 3 + ["smile"]), classes=["neutral", "smile"])
    assert r.valence["other"] == 75.0 and "person" in r.shares
    assert sum(r.valence.values()) == pytest.approx(100.0)


def test_write_session_report(tmp_path: Path) -> None:
    rows = rows_for(1, ["neutral"] * 5 + ["smile"] * 10) + rows_for(4, ["smile"] * 15)
    report = build_session_report(rows, classes=["neutral", "smile"], source="x.mp4")
    paths = write_session_report(report, tmp_path / "out", stem="s")
    assert {p.name for p in paths.values()} == {"s.json", "s.md", "s_timeline.png"}
    data = json.loads(paths["json"].read_text())
    assert data["people"][1]["track_id"] == 4
    assert sum(data["shares"].values()) == pytest.approx(100.0)
    assert paths["timeline"].read_bytes()[:4] == b"\x89PNG"
    md = paths["markdown"].read_text()
    assert "| person 1 |" in md and "Impression: **good**" in md
    assert render_markdown(report) == md
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temp left
