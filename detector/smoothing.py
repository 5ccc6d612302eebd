"""Per-track label smoothing (so a face's label does not flicker) and a flicker measure.

A detector labels each frame on its own, so a face near the smile/neutral boundary can flip
label several times a second. :class:`LabelSmoother` keeps the last ``window`` observations of
every track and only switches a track's label when another class leads by ``margin`` for
``hold`` consecutive frames (hysteresis). It is pure Python/numpy: feed it synthetic sequences.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from detector.core import Detections

SMOOTHING_METHODS = ("average", "vote")


@dataclass
class _TrackState:
    history: deque[tuple[int, float]]
    label: int | None = None
    candidate: int | None = None
    streak: int = 0
    last_seen: int = 0


@dataclass
class LabelSmoother:
    """Smooth class labels per track id over a sliding window, with hysteresis.

    Args:
        window: Frames remembered per track; ``0`` or ``1`` switches smoothing off.
        method: ``average`` (mean confidence per class, a frame voting for its predicted class
            with its confidence) or ``vote`` (share of frames per class).
        margin: How far (in score, 0-1) a new class must lead the current one to count.
        hold: Consecutive frames the new class must lead by ``margin`` before the label switches.
        max_age: Frames after which a track that was not seen is forgotten.

    Example:
        >>> s = LabelSmoother(window=5)
        >>> [s.update(1, c, 0.9)[0] for c in [0, 0, 0, 1, 0, 1, 0, 1, 1, 1, 1]]
        [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1]
    """

    window: int = 5
    method: str = "average"
    margin: float = 0.1
    hold: int = 2
    max_age: int = 90
    _tracks: dict[int, _TrackState] = field(default_factory=dict, init=False, repr=False)
    _step: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.window < 0:
            raise ValueError(f"window must be >= 0, got {self.window}")
        if self.method not in SMOOTHING_METHODS:
            raise ValueError(f"method must be one of {SMOOTHING_METHODS}, got {self.method!r}")
        if self.hold < 1:
            raise ValueError(f"hold must be >= 1, got {self.hold}")

    @property
    def enabled(self) -> bool:
        """False for ``window`` 0 or 1 (labels pass through unchanged)."""
        return self.window > 1

    def reset(self) -> None:
        """Forget every track (call between unrelated sources)."""
        self._tracks.clear()
        self._step = 0

    def update(self, track_id: int, class_id: int, confidence: float) -> tuple[int, float]:
        """Add one observation of ``track_id``; return its smoothed ``(class_id, confidence)``.

        The returned confidence is the mean confidence of the window's frames that predicted
        the returned class (the raw one when none did).

        Example:
            >>> LabelSmoother(window=0).update(7, 1, 0.6)
            (1, 0.6)
        """
        if not self.enabled:
            return int(class_id), float(confidence)
        state = self._tracks.get(track_id)
        if state is None:
            state = self._tracks[track_id] = _TrackState(deque(maxlen=self.window))
        state.history.append((int(class_id), float(confidence)))
        state.last_seen = self._step
        scores = self._scores(state.history)
        leader = max(scores, key=lambda c: (scores[c], c == state.label))
        if state.label is None:
            state.label = leader
        elif leader != state.label and scores[leader] - scores.get(state.label, 0.0) >= self.margin:
            state.streak = state.streak + 1 if leader == state.candidate else 1
            state.candidate = leader
            if state.streak >= self.hold:
                state.label, state.candidate, state.streak = leader, None, 0
        else:
            state.candidate, state.streak = None, 0
        confs = [c for k, c in state.history if k == state.label]
        return state.label, float(np.mean(confs)) if confs else float(confidence)

    def _scores(self, history: Iterable[tuple[int, float]]) -> dict[int, float]:
        items = list(history)
        totals: dict[int, float] = {}
        for cls, conf in items:
            totals[cls] = totals.get(cls, 0.0) + (conf if self.method == "average" else 1.0)
        return {cls: total / len(items) for cls, total in totals.items()}

    def apply(self, detections: Detections) -> Detections:
        """Smooth one frame's tracked detections (a new object; untracked boxes pass through).

        Call once per frame, also for frames with no detections, so stale tracks age out.

        Example:
            >>> s = LabelSmoother(window=3)
            >>> d = Detections(np.array([[0, 0, 5, 5]]), np.array([1]), np.array([0.8]),
            ...                np.array([4]), {0: "neutral", 1: "smile"})
            >>> s.apply(d).labels
            ['smile']
        """
        self._step += 1
        if not self.enabled:
            return detections
        class_id = detections.class_id.copy()
        confidence = detections.confidence.copy()
        if detections.tracker_id is not None:
            for i, tid in enumerate(detections.tracker_id):
                if tid < 0:  # unconfirmed box: no history to smooth with
                    continue
                class_id[i], confidence[i] = self.update(int(tid), int(class_id[i]),
                                                         float(confidence[i]))
        stale = [t for t, s in self._tracks.items() if self._step - s.last_seen > self.max_age]
        for tid in stale:
            del self._tracks[tid]
        return Detections(detections.xyxy.copy(), class_id, confidence,
                          None if detections.tracker_id is None else detections.tracker_id.copy(),
                          detections.names)


def smooth_sequence(labels: Iterable[int], window: int = 5,
                    confidences: Iterable[float] | None = None, **kwargs: object) -> list[int]:
    """Smooth one track's label sequence (for tests, notebooks and tuning).

    Example:
        >>> smooth_sequence([0, 1] * 5, window=5)
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    """
    labels = list(labels)
    confs = [1.0] * len(labels) if confidences is None else list(confidences)
    smoother = LabelSmoother(window=window, **kwargs)  # type: ignore[arg-type]
    return [smoother.update(0, c, p)[0] for c, p in zip(labels, confs, strict=True)]


@dataclass(frozen=True)
class FlickerStats:
    """Label changes per track per minute, overall and by track.

    Attributes:
        rate: Total label changes divided by total tracked minutes.
        changes: Total label changes.
        track_minutes: Sum over tracks of (last - first timestamp) in minutes.
        tracks: Tracks with at least two observations.
        by_track: Per track ``changes / minutes``.
    """

    rate: float
    changes: int
    track_minutes: float
    tracks: int
    by_track: Mapping[int, float]


def flicker_stats(events: Iterable[tuple[int, float, str]]) -> FlickerStats:
    """Count label changes per track over ``(track_id, time_s, label)`` events.

    Untracked events (``track_id`` ``None`` or negative) are ignored: a change can only be
    attributed to a tracked face.

    Example:
        >>> ev = [(1, 0.0, "smile"), (1, 15.0, "neutral"), (1, 30.0, "smile")]
        >>> flicker_stats(ev).rate
        4.0
    """
    per_track: dict[int, list[tuple[float, str]]] = {}
    for tid, t, label in events:
        if tid is None or tid < 0:
            continue
        per_track.setdefault(int(tid), []).append((float(t), str(label)))
    changes = 0
    minutes = 0.0
    by_track: dict[int, float] = {}
    for tid, seq in per_track.items():
        seq.sort(key=lambda e: e[0])
        if len(seq) < 2:
            continue
        n = sum(1 for a, b in zip(seq, seq[1:], strict=False) if a[1] != b[1])
        span = (seq[-1][0] - seq[0][0]) / 60.0
        if span <= 0:
            continue
        changes += n
        minutes += span
        by_track[tid] = n / span
    rate = changes / minutes if minutes else 0.0
    return FlickerStats(rate, changes, minutes, len(by_track), by_track)


def flicker_rate(events: Iterable[tuple[int, float, str]]) -> float:
    """Label changes per track per minute (see :func:`flicker_stats`).

    Example:
        >>> flicker_rate([(1, 0.0, "smile"), (1, 60.0, "neutral")])
        1.0
    """
    return flicker_stats(events).rate
