"""Label smoothing and the flicker measure, on synthetic label sequences."""

from __future__ import annotations

import numpy as np
import pytest

from detector.core import Detections
from detector.smoothing import (
    LabelSmoother,
    flicker_rate,
    flicker_stats,
    smooth_sequence,
)

NAMES = {0: "neutral", 1: "smile"}


def changes(seq: list[int]) -> int:
    return sum(a != b for a, b in zip(seq, seq[1:], strict=False))


def test_alternating_labels_stop_flickering() -> None:
    raw = [0, 1] * 30
    smoothed = smooth_sequence(raw, window=5)
    assert changes(raw) == 59
    assert changes(smoothed) == 0


@pytest.mark.parametrize("method", ["average", "vote"])
def test_real_change_gets_through_with_bounded_delay(method: str) -> None:
    raw = [0] * 20 + [1] * 20
    smoothed = smooth_sequence(raw, window=5, method=method)
    assert changes(smoothed) == 1
    switch = smoothed.index(1)
    assert 20 < switch <= 20 + 5  # hysteresis costs a few frames, never more than the window


def test_short_blip_is_ignored() -> None:
    raw = [0] * 10 + [1] + [0] * 10 + [1, 1] + [0] * 10
    assert set(smooth_sequence(raw, window=5)) == {0}


@pytest.mark.parametrize("window", [0, 1])
def test_window_zero_or_one_is_off(window: int) -> None:
    raw = [0, 1, 1, 0, 1]
    assert smooth_sequence(raw, window=window) == raw
    assert not LabelSmoother(window=window).enabled


def test_margin_blocks_a_near_tie() -> None:
    # Confident neutral frames against slightly less confident smiles: the average method
    # keeps neutral because smile never leads by the margin.
    labels = [0, 1, 0, 1, 1] * 6
    confs = [0.9 if c == 0 else 0.55 for c in labels]
    assert set(smooth_sequence(labels, window=5, confidences=confs, margin=0.2)) == {0}


def test_confidence_is_mean_of_frames_with_the_label() -> None:
    s = LabelSmoother(window=3)
    s.update(1, 1, 0.8)
    cls, conf = s.update(1, 1, 0.6)
    assert cls == 1 and conf == pytest.approx(0.7)


def test_tracks_are_independent() -> None:
    s = LabelSmoother(window=5)
    a = [s.update(1, 0, 0.9)[0] for _ in range(5)]
    b = [s.update(2, 1, 0.9)[0] for _ in range(5)]
    assert set(a) == {0} and set(b) == {1}


def test_apply_smooths_tracked_and_passes_untracked() -> None:
    s = LabelSmoother(window=5)
    out = None
    for i in range(10):
        d = Detections(np.array([[0, 0, 10, 10], [20, 20, 30, 30]]), np.array([i % 2, i % 2]),
                       np.array([0.7, 0.7]), np.array([3, -1]), NAMES)
        out = s.apply(d)
        assert d.class_id.tolist() == [i % 2, i % 2]  # input untouched
    assert out is not None
    assert out.class_id[0] == 0  # track 3 kept its first label
    assert out.class_id[1] == 1  # unconfirmed box (-1) passed through (frame 9 is odd)
    assert out.tracker_id.tolist() == [3, -1]


def test_stale_tracks_are_forgotten() -> None:
    s = LabelSmoother(window=3, max_age=2)
    s.apply(Detections(np.array([[0, 0, 1, 1]]), np.array([1]), np.array([0.9]), np.array([5]),
                       NAMES))
    for _ in range(3):
        s.apply(Detections.empty(NAMES))
    assert 5 not in s._tracks


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        LabelSmoother(window=-1)
    with pytest.raises(ValueError):
        LabelSmoother(method="median")
    with pytest.raises(ValueError):
        LabelSmoother(hold=0)


def test_flicker_rate_counts_changes_per_track_minute() -> None:
    # Track 1: 2 changes over 1 minute; track 2: 0 changes over 1 minute -> 1 change/track-minute.
    ev = [(1, 0.0, "smile"), (1, 30.0, "neutral"), (1, 60.0, "smile"),
          (2, 0.0, "neutral"), (2, 60.0, "neutral"),
          (None, 10.0, "smile"), (-1, 20.0, "neutral")]  # untracked: ignored
    stats = flicker_stats(ev)
    assert stats.changes == 2 and stats.tracks == 2
    assert stats.track_minutes == pytest.approx(2.0)
    assert stats.rate == pytest.approx(1.0)
    assert stats.by_track == {1: 2.0, 2: 0.0}


def test_flicker_rate_edge_cases() -> None:
    assert flicker_rate([]) == 0.0
    assert flicker_rate([(1, 5.0, "smile")]) == 0.0  # one observation: no span
    assert flicker_rate([(1, 5.0, "smile"), (1, 5.0, "neutral")]) == 0.0  # zero span


def test_smoothing_lowers_flicker_rate_on_a_synthetic_track() -> None:
    fps = 25.0
    raw = [0, 1] * 50
    smoothed = smooth_sequence(raw, window=5)
    ev_raw = [(1, i / fps, str(c)) for i, c in enumerate(raw)]
    ev_smooth = [(1, i / fps, str(c)) for i, c in enumerate(smoothed)]
    assert flicker_rate(ev_raw) > 1000
    assert flicker_rate(ev_smooth) == 0.0
