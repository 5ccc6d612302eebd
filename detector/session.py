"""Session report for the classroom use case: who looked how, for how long.

From the per-detection rows the detect loop logs (``frame``, ``time_s``, ``track_id``,
``class_name``) it computes, per tracked person and overall: the share of time in each
expression (shares sum to 100 %), smile episodes, positive/neutral/negative shares and an
impression. :func:`write_session_report` writes it as JSON, Markdown and a timeline PNG.

Valence: ``happy`` and ``surprise`` (seven-class model) and ``smile`` (two-class model) are
positive; ``angry``, ``disgust``, ``fear``, ``sad`` negative; ``neutral`` neutral.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detector.annotate import class_color
from detector.fileio import atomic_write_bytes, atomic_write_json, atomic_write_text

VALENCE: dict[str, str] = {
    "smile": "positive", "happy": "positive", "surprise": "positive",
    "neutral": "neutral",
    "angry": "negative", "disgust": "negative", "fear": "negative", "sad": "negative",
}
SMILE_CLASSES = frozenset({"smile", "happy"})
VALENCE_KEYS = ("positive", "neutral", "negative")


@dataclass(frozen=True)
class SmileEpisode:
    """One stretch of smiling by one person."""

    track_id: int | None
    start_s: float
    duration_s: float


@dataclass(frozen=True)
class Segment:
    """A run of one label for one person on the timeline, ``[start_s, end_s)``."""

    start_s: float
    end_s: float
    label: str


@dataclass
class PersonSummary:
    """Report for one tracked person (``track_id`` ``None`` gathers untracked detections)."""

    track_id: int | None
    frames: int
    seen_s: float
    first_s: float
    last_s: float
    shares: dict[str, float]
    valence: dict[str, float]
    impression: str
    episodes: list[SmileEpisode] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``person 3`` or ``untracked``."""
        return "untracked" if self.track_id is None else f"person {self.track_id}"


@dataclass
class SessionReport:
    """The whole session: overall shares and one :class:`PersonSummary` per track."""

    source: str
    classes: list[str]
    frames: int
    duration_s: float
    frame_period_s: float
    detections: int
    shares: dict[str, float]
    valence: dict[str, float]
    impression: str
    smile_episodes: int
    people: list[PersonSummary]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict.

        Example:
            >>> build_session_report([], classes=["neutral", "smile"]).to_dict()["impression"]
            'no faces seen'
        """
        return asdict(self)


def percent_shares(counts: Mapping[str, float], keys: Sequence[str]) -> dict[str, float]:
    """Percentages of ``counts`` over ``keys`` rounded to 0.1 that sum to exactly 100.

    Largest-remainder rounding, so a report never shows 99.9 % or 100.1 %. All zero -> all 0.0.

    Example:
        >>> percent_shares({"a": 1, "b": 1, "c": 1}, ["a", "b", "c"])
        {'a': 33.4, 'b': 33.3, 'c': 33.3}
    """
    values = np.array([float(counts.get(k, 0.0)) for k in keys])
    total = values.sum()
    if total <= 0:
        return {k: 0.0 for k in keys}
    tenths = values / total * 1000.0
    floors = np.floor(tenths)
    missing = int(round(1000.0 - floors.sum()))
    order = np.argsort(-(tenths - floors), kind="stable")
    floors[order[:missing]] += 1
    return {k: round(float(v) / 10.0, 1) for k, v in zip(keys, floors, strict=True)}


def impression(valence: Mapping[str, float]) -> str:
    """``good`` when positive + neutral outweigh negative, ``needs attention`` otherwise.

    Example:
        >>> impression({"positive": 20, "neutral": 50, "negative": 30})
        'good'
        >>> impression({"positive": 0, "neutral": 0, "negative": 0})
        'no faces seen'
    """
    pos, neu, neg = (float(valence.get(k, 0.0)) for k in VALENCE_KEYS)
    if pos + neu + neg <= 0:
        return "no faces seen"
    return "good" if pos + neu > neg else "needs attention"


def _valence_shares(counts: Mapping[str, float]) -> dict[str, float]:
    grouped: Counter[str] = Counter()
    for name, n in counts.items():
        grouped[VALENCE.get(name.lower(), "other")] += n
    keys = list(VALENCE_KEYS) + (["other"] if grouped.get("other") else [])
    return percent_shares(grouped, keys)


def _runs(times: Sequence[float], labels: Sequence[str], period: float,
          max_gap_s: float) -> list[Segment]:
    """Run-length segments; a gap longer than ``max_gap_s`` (face not seen) ends a run."""
    segments: list[Segment] = []
    for t, label in zip(times, labels, strict=True):
        last = segments[-1] if segments else None
        if last is not None and last.label == label and t - last.end_s <= max_gap_s + 1e-9:
            segments[-1] = Segment(last.start_s, t + period, label)
        else:
            segments.append(Segment(t, t + period, label))
    return segments


def _episodes(track_id: int | None, times: Sequence[float], labels: Sequence[str], period: float,
              max_gap_s: float, min_episode_s: float) -> list[SmileEpisode]:
    smiles = [(t, "smile") for t, label in zip(times, labels, strict=True)
              if label.lower() in SMILE_CLASSES]
    runs = _runs([t for t, _ in smiles], [lab for _, lab in smiles], period, max_gap_s)
    return [SmileEpisode(track_id, round(r.start_s, 3), round(r.end_s - r.start_s, 3))
            for r in runs if r.end_s - r.start_s >= min_episode_s - 1e-9]


def build_session_report(rows: Iterable[Mapping[str, Any]], *, classes: Sequence[str],
                         source: str = "", frames: int | None = None,
                         duration_s: float | None = None, frame_period_s: float | None = None,
                         max_gap_s: float = 0.5, min_episode_s: float = 0.5) -> SessionReport:
    """Summarise detection rows (one per face per frame) into a :class:`SessionReport`.

    Every row counts for one frame period of that person's time, so shares are shares of the
    time a face was seen.

    Args:
        rows: Mappings with ``frame``, ``time_s``, ``track_id`` (``None``/``-1`` untracked)
            and ``class_name``.
        classes: The model's class names (all of them appear in the shares, zero or not).
        source: Name of the input, for the report.
        frames: Frames processed (default: from the rows).
        duration_s: Session length (default: from the rows).
        frame_period_s: Seconds per frame (default: median step between the rows' frame times).
        max_gap_s: Longer gaps split a smile episode / timeline segment.
        min_episode_s: Shorter smiles are not counted as episodes.

    Example:
        >>> rows = [{"frame": i, "time_s": i / 10, "track_id": 1,
        ...          "class_name": "smile" if i >= 5 else "neutral"} for i in range(20)]
        >>> r = build_session_report(rows, classes=["neutral", "smile"])
        >>> r.shares, r.smile_episodes, r.impression
        ({'neutral': 25.0, 'smile': 75.0}, 1, 'good')
    """
    rows = sorted(rows, key=lambda r: (int(r["frame"]), float(r["time_s"])))
    classes = list(classes)
    for name in sorted({str(r["class_name"]) for r in rows} - set(classes)):
        classes.append(name)
    frame_times = sorted({(int(r["frame"]), float(r["time_s"])) for r in rows})
    if frame_period_s is None:
        steps = [(b[1] - a[1]) / max(b[0] - a[0], 1)
                 for a, b in zip(frame_times, frame_times[1:], strict=False) if b[0] > a[0]]
        frame_period_s = float(np.median(steps)) if steps else 1.0
    if frames is None:
        frames = frame_times[-1][0] + 1 if frame_times else 0
    if duration_s is None:
        duration_s = frame_times[-1][1] + frame_period_s if frame_times else 0.0

    by_person: dict[int | None, list[Mapping[str, Any]]] = {}
    for r in rows:
        tid = r.get("track_id")
        key = None if tid is None or tid == "" or int(tid) < 0 else int(tid)
        by_person.setdefault(key, []).append(r)

    people: list[PersonSummary] = []
    for tid in sorted(by_person, key=lambda k: (k is None, k or 0)):
        prow = by_person[tid]
        labels = [str(r["class_name"]) for r in prow]
        times = [float(r["time_s"]) for r in prow]
        counts = Counter(labels)
        valence = _valence_shares(counts)
        people.append(PersonSummary(
            track_id=tid, frames=len(prow), seen_s=round(len(prow) * frame_period_s, 3),
            first_s=round(min(times), 3), last_s=round(max(times) + frame_period_s, 3),
            shares=percent_shares(counts, classes), valence=valence,
            impression=impression(valence),
            # Untracked rows mix faces, so episodes and timelines would be fiction for them.
            episodes=[] if tid is None else _episodes(tid, times, labels, frame_period_s,
                                                      max_gap_s, min_episode_s),
            segments=[] if tid is None else _runs(times, labels, frame_period_s, max_gap_s),
        ))
    overall = Counter(str(r["class_name"]) for r in rows)
    valence = _valence_shares(overall)
    return SessionReport(
        source=source, classes=classes, frames=int(frames), duration_s=round(float(duration_s), 3),
        frame_period_s=round(float(frame_period_s), 6), detections=len(rows),
        shares=percent_shares(overall, classes), valence=valence, impression=impression(valence),
        smile_episodes=sum(len(p.episodes) for p in people), people=people)


def render_markdown(report: SessionReport) -> str:
    """A readable Markdown version of the report.

    Example:
        >>> render_markdown(build_session_report([], classes=["neutral"])).splitlines()[0]
        '# Session report'
    """
    lines = ["# Session report", ""]
    if report.source:
        lines.append(f"- Source: `{report.source}`")
    lines += [
        f"- Length: {report.duration_s:.1f} s ({report.frames} frames)",
        f"- Faces tracked: {sum(p.track_id is not None for p in report.people)}; "
        f"face detections: {report.detections}",
        f"- Impression: **{report.impression}** "
        f"(positive {report.valence.get('positive', 0):.1f} %, "
        f"neutral {report.valence.get('neutral', 0):.1f} %, "
        f"negative {report.valence.get('negative', 0):.1f} %)",
        f"- Smile episodes: {report.smile_episodes}",
        "", "## Share of time per expression (all faces)", "",
        "| expression | share |", "|---|---:|",
    ]
    lines += [f"| {name} | {share:.1f} % |" for name, share in report.shares.items()]
    if report.people:
        head = " | ".join(report.classes)
        lines += ["", "## Per person", "",
                  f"| person | seen (s) | {head} | positive | negative | smile episodes "
                  "| impression |",
                  "|---|---:|" + "---:|" * len(report.classes) + "---:|---:|---:|---|"]
        for p in report.people:
            cells = " | ".join(f"{p.shares.get(c, 0.0):.1f} %" for c in report.classes)
            lines.append(f"| {p.label} | {p.seen_s:.1f} | {cells} | "
                         f"{p.valence.get('positive', 0):.1f} % | "
                         f"{p.valence.get('negative', 0):.1f} % | "
                         f"{len(p.episodes)} | {p.impression} |")
    episodes = [e for p in report.people for e in p.episodes]
    if episodes:
        lines += ["", "## Smile episodes", "", "| person | start (s) | duration (s) |",
                  "|---|---:|---:|"]
        lines += [f"| {e.track_id} | {e.start_s:.1f} | {e.duration_s:.1f} |" for e in episodes]
    lines += ["", "Shares are of the time each face was seen; labels come from the model and "
                  "can be wrong, so read this as a rough mood indicator, not a measurement.", ""]
    return "\n".join(lines)


def render_timeline_png(report: SessionReport, max_people: int = 30) -> bytes:
    """Timeline PNG: one lane per tracked person, coloured by expression.

    Uses matplotlib's Agg canvas directly (no pyplot, no global backend switch), so it works
    headless and does not disturb a caller's GUI backend.

    Example:
        >>> render_timeline_png(build_session_report([], classes=["neutral"]))[:4]
        b'\\x89PNG'
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    people = [p for p in report.people if p.track_id is not None]
    people = sorted(people, key=lambda p: -p.seen_s)[:max_people]
    people.sort(key=lambda p: p.track_id or 0)
    fig = Figure(figsize=(10, 1.2 + 0.45 * max(len(people), 1)), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    used: dict[str, tuple[float, float, float]] = {}
    for lane, p in enumerate(people):
        for seg in p.segments:
            b, g, r = class_color(report.classes.index(seg.label) if seg.label in report.classes
                                  else 0, seg.label)
            rgb = (r / 255, g / 255, b / 255)
            used[seg.label] = rgb
            ax.broken_barh([(seg.start_s, seg.end_s - seg.start_s)], (lane - 0.4, 0.8),
                           facecolors=rgb)
    ax.set_yticks(range(len(people)), [p.label for p in people])
    ax.set_ylim(-0.6, max(len(people), 1) - 0.4)
    ax.set_xlim(0, max(report.duration_s, 1e-3))
    ax.set_xlabel("time (s)")
    title = f"Expressions over time - impression: {report.impression}"
    ax.set_title(title if people else f"{title} (no tracked faces)")
    if used:
        # Outside the axes, so it never hides a lane.
        ax.legend(handles=[Patch(color=c, label=n) for n, c in used.items()], loc="upper left",
                  bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def write_session_report(report: SessionReport, out_dir: str | Path,
                         stem: str = "session") -> dict[str, Path]:
    """Write ``<stem>.json``, ``<stem>.md`` and ``<stem>_timeline.png`` atomically.

    Example:
        >>> import tempfile
        >>> paths = write_session_report(build_session_report([], classes=["neutral"]),
        ...                              tempfile.mkdtemp())
        >>> sorted(paths)
        ['json', 'markdown', 'timeline']
    """
    out_dir = Path(out_dir)
    return {
        "json": atomic_write_json(out_dir / f"{stem}.json", report.to_dict()),
        "markdown": atomic_write_text(out_dir / f"{stem}.md", render_markdown(report)),
        "timeline": atomic_write_bytes(out_dir / f"{stem}_timeline.png",
                                       render_timeline_png(report)),
    }
