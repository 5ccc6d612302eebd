"""Honest evaluation of detector weights, with every metric computed here on :class:`Detections`.

The pure core, :func:`evaluate_detections`, takes per-image predictions and ground truth and
returns an :class:`EvalReport`; :func:`evaluate_weights` does the I/O (predict every image of a
data.yaml split, read its YOLO labels) and writes ``report.json``, ``report.md``, the confusion
matrix (PNG + JSON), precision-recall, F1-confidence and reliability plots.

Metric definitions (also in docs/train_eval.md):

* **mAP50, mAP50-95** — COCO-style: per image and class, predictions in descending confidence
  each take the unmatched ground-truth box of highest IoU >= t (IoU thresholds 0.50:0.05:0.95);
  AP is pycocotools' 101-point interpolated AP (precision envelope sampled at recall
  0, 0.01, ..., 1; 0 beyond the highest recall); the mean is over classes with ground truth.
* **precision, recall, F1** — at IoU 0.5, at the one confidence threshold that maximises the
  mean F1 over classes (as Ultralytics chooses it); "overall" is the mean over classes.
* **face accuracy, confusion matrix, ECE** — what a user sees: predictions with confidence >=
  ``face_conf`` (0.25); each labelled face takes the most confident prediction whose IoU with
  it is >= ``face_iou`` (0.3): right class, wrong class, or missed. Predictions taken by no face
  are false boxes (the background row of the confusion matrix). ECE uses the confidences of the
  faces' predictions, correct class = 1, 10 equal-width bins.

Example:
    >>> from detector.core import Detections
    >>> truth = Detections(np.array([[0, 0, 10, 10]]), np.array([1]), np.array([1.0]))
    >>> pred = Detections(np.array([[0, 0, 10, 10]]), np.array([1]), np.array([0.9]))
    >>> r = evaluate_detections([pred], [truth], {0: "neutral", 1: "smile"})
    >>> r.map50, r.face.right
    (1.0, 1)
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detector.core import Detections
from detector.errors import DatasetError, ModelError
from detector.fileio import atomic_dir
from detector.labels import box_iou_xyxy, read_label_file, xywhn_to_xyxy
from detector.paths import RUNS_DIR
from detector.train import label_path_for, load_data_yaml, load_yolo, offline_ultralytics, read_box_convention

# Read once when Ultralytics is first imported: with it set, Ultralytics skips its DNS probe,
# PyPI version check and telemetry. Project policy is that nothing downloads at run time.
os.environ.setdefault("YOLO_OFFLINE", "1")

IOU_THRESHOLDS = np.round(np.linspace(0.5, 0.95, 10), 2)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
FACE_IOU = 0.3
FACE_CONF = 0.25
ECE_BINS = 10
BOOTSTRAP_RESAMPLES = 200
MISTAKES_SHEET_TILES = 64
# Face width as a share of the image width: tight crops (>= 0.4), head and shoulders, a desk
# webcam (0.1-0.2), a room or a crowd (< 0.1).
FACE_SIZE_EDGES = (0.0, 0.05, 0.1, 0.2, 0.4, 1.0)
BOOTSTRAP_METHOD = ("percentile bootstrap over images (resampled with replacement); photos of one "
                    "person count as independent, so the intervals are if anything too narrow")


# --------------------------------------------------------------------------- report types


@dataclass(frozen=True)
class ClassMetrics:
    """Metrics of one class. ``None`` where undefined (a class with no ground truth has no AP).

    Attributes:
        name: Class name.
        instances: Ground-truth boxes of the class.
        predictions: Predicted boxes of the class (all confidences).
        ap50: AP at IoU 0.5.
        ap50_95: AP averaged over IoU 0.50:0.05:0.95.
        precision: At IoU 0.5 and the report's F1-maximising confidence.
        recall: Same point.
        f1: Same point.

    Example:
        >>> ClassMetrics("smile", 4, 5, 0.9, 0.6, 0.8, 1.0, 0.889).ap50
        0.9
    """

    name: str
    instances: int
    predictions: int
    ap50: float | None
    ap50_95: float | None
    precision: float | None
    recall: float | None
    f1: float | None


@dataclass(frozen=True)
class FaceAccuracy:
    """What users feel: how each labelled face came out.

    Attributes:
        faces: Labelled faces.
        right: Faces whose most confident overlapping prediction has the right class.
        wrong: ... has another class.
        missed: Faces with no prediction (confidence >= conf, IoU >= iou).
        false_boxes: Predictions (confidence >= conf) taken by no face.
        conf: Confidence a prediction needs to count (shown to users).
        iou: IoU a prediction needs with a face.

    Example:
        >>> FaceAccuracy(faces=4, right=3, wrong=1, missed=0, false_boxes=2, conf=0.25,
        ...              iou=0.3).shares()["wrong"]
        0.25
    """

    faces: int
    right: int
    wrong: int
    missed: int
    false_boxes: int
    conf: float
    iou: float

    def shares(self) -> dict[str, float | None]:
        """Right / wrong / missed as fractions of the faces (sum 1; ``None`` without faces).

        Example:
            >>> FaceAccuracy(4, 3, 1, 0, 0, 0.25, 0.3).shares()
            {'right': 0.75, 'wrong': 0.25, 'missed': 0.0}
        """
        if self.faces == 0:
            return {"right": None, "wrong": None, "missed": None}
        return {k: getattr(self, k) / self.faces for k in ("right", "wrong", "missed")}


@dataclass(frozen=True)
class Mistake:
    """One face the user would see go wrong, or one box on no face.

    Attributes:
        image: Index of the image in the evaluated split (order of ``image_paths``).
        kind: ``wrong`` (boxed with the other class), ``missed`` (no box with confidence >=
            ``face_conf`` and IoU >= ``face_iou``) or ``false_box`` (a shown box on no face).
        true_class: Labelled class id (``None`` for a false box).
        pred_class: Predicted class id (``None`` for a missed face).
        confidence: The prediction's confidence (``None`` for a missed face).
        truth_xyxy: The labelled box in pixels (``None`` for a false box).
        pred_xyxy: The predicted box in pixels (``None`` for a missed face).

    Example:
        >>> Mistake(0, "missed", 1, None, None, (0, 0, 10, 10), None).kind
        'missed'
    """

    image: int
    kind: str
    true_class: int | None
    pred_class: int | None
    confidence: float | None
    truth_xyxy: tuple[float, float, float, float] | None
    pred_xyxy: tuple[float, float, float, float] | None


@dataclass
class EvalReport:
    """Everything :func:`evaluate_detections` measures (plus run facts in ``meta``).

    Attributes:
        names: Class index to name.
        images: Images evaluated.
        instances: Ground-truth boxes.
        map50: Mean AP at IoU 0.5 over classes with ground truth.
        map50_95: Mean AP over IoU 0.50:0.95 over classes with ground truth.
        precision: Mean over classes with ground truth, at ``f1_confidence``.
        recall: Same.
        f1: Same (the maximised quantity).
        f1_confidence: The confidence threshold maximising mean F1 (``None``: no predictions).
        per_class: One :class:`ClassMetrics` per class, in index order.
        confusion: ``(nc + 1, nc + 1)`` counts, rows = true class, columns = predicted class,
            last row/column = background (false box / missed face).
        face: :class:`FaceAccuracy`.
        ece: Expected calibration error of the faces' predictions (``None`` without any).
        ece_bins: Per bin: ``lo, hi, count, confidence (mean), accuracy``.
        curves: Plot data (not written to JSON): ``pr`` per class (recall, precision at IoU 0.5)
            and ``f1`` per class on a 0..1 confidence grid.
        meta: Facts of the run (weights, data, split, seconds, ...), filled by the I/O layer.
        intervals: 95 % bootstrap intervals (images resampled with replacement) of
            ``face_accuracy`` and ``map50``; empty when not computed.
        face_by_size: Face outcomes per bin of face width / image width
            (:data:`FACE_SIZE_EDGES`): ``lo, hi, faces, right, wrong, missed``; empty when the
            image sizes were not given.
        mistakes: Every wrong or missed face and every false box (:class:`Mistake`), in image
            order; written to ``mistakes.csv`` and, most confident first, ``mistakes.png``.
        image_paths: The evaluated images in order (filled by the I/O layer); with them the
            mistakes name their files and get a contact sheet.

    Example:
        >>> r = evaluate_detections([Detections.empty()], [Detections.empty()], ["a", "b"])
        >>> r.confusion.shape, r.ece is None
        ((3, 3), True)
    """

    names: dict[int, str]
    images: int
    instances: int
    map50: float
    map50_95: float
    precision: float
    recall: float
    f1: float
    f1_confidence: float | None
    per_class: list[ClassMetrics]
    confusion: np.ndarray
    face: FaceAccuracy
    ece: float | None
    ece_bins: list[dict[str, float | int | None]]
    curves: dict[str, Any] = field(default_factory=dict, repr=False)
    meta: dict[str, Any] = field(default_factory=dict)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    face_by_size: list[dict[str, float | int]] = field(default_factory=list)
    mistakes: list[Mistake] = field(default_factory=list, repr=False)
    image_paths: list[str] = field(default_factory=list, repr=False)

    @property
    def confusion_normalized(self) -> np.ndarray:
        """Row-normalised confusion matrix (each true class sums to 1; empty rows stay 0).

        Example:
            >>> # report.confusion_normalized[0]  # how class 0's faces came out
        """
        rows = self.confusion.sum(axis=1, keepdims=True).astype(np.float64)
        return np.divide(self.confusion, rows, out=np.zeros(self.confusion.shape), where=rows > 0)

    @property
    def confusion_labels(self) -> list[str]:
        """Row/column labels of the confusion matrix: class names then ``background``."""
        return [self.names[i] for i in range(len(self.names))] + ["background"]

    def confusion_dict(self) -> dict[str, Any]:
        """The confusion matrix as JSON-ready data.

        Example:
            >>> # json.dumps(report.confusion_dict())
        """
        return {
            "labels": self.confusion_labels,
            "rows": "true class (last: background = false box)",
            "columns": "predicted class (last: background = missed face)",
            "conf": self.face.conf,
            "iou": self.face.iou,
            "counts": self.confusion.astype(int).tolist(),
            "normalized": _round(self.confusion_normalized.tolist()),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report (rounded to 6 decimals).

        Example:
            >>> # json.dumps(report.to_dict())
        """
        return _round({
            **self.meta,
            "images": self.images,
            "instances": self.instances,
            "metrics": {
                "map50": self.map50,
                "map50_95": self.map50_95,
                "precision": self.precision,
                "recall": self.recall,
                "f1": self.f1,
                "f1_confidence": self.f1_confidence,
                "face_accuracy": self.face.shares()["right"],
                "ece": self.ece,
            },
            "definitions": {
                "ap": "COCO-style: confidence-ordered greedy matching per image and class, "
                      "101-point interpolated AP (pycocotools), mean over classes with ground "
                      "truth; IoU thresholds 0.50:0.05:0.95",
                "precision_recall_f1": "IoU 0.5, at the confidence maximising the mean F1 over "
                                       "classes; overall = mean over classes with ground truth",
                "face": f"predictions with confidence >= {self.face.conf}; each labelled face "
                        f"takes the most confident prediction with IoU >= {self.face.iou}",
                "ece": f"{ECE_BINS} equal-width bins [k/10, (k+1)/10) of the faces' prediction "
                       "confidences, correct class = 1",
            },
            "intervals_95": {**{k: list(v) for k, v in self.intervals.items()},
                             "method": BOOTSTRAP_METHOD} if self.intervals else None,
            "face_by_size": self.face_by_size or None,
            "per_class": [vars(c) for c in self.per_class],
            "face": {**{k: v for k, v in vars(self.face).items()}, "shares": self.face.shares()},
            "ece_bins": self.ece_bins,
            "confusion": self.confusion_dict(),
        })

    def to_markdown(self) -> str:
        """A readable report: headline metrics, per-class table, faces, confusion matrix.

        Example:
            >>> # Path("report.md").write_text(report.to_markdown())
        """
        m = self.meta
        lines = ["# Evaluation report", ""]
        for key in ("weights", "data", "split", "imgsz", "conf", "seconds"):
            if key in m:
                lines.append(f"- **{key}**: `{m[key]}`")
        lines += [f"- **images**: {self.images}, **labelled boxes**: {self.instances}", ""]
        conf = "-" if self.f1_confidence is None else f"{self.f1_confidence:.3f}"
        lines += [
            "| metric | value |", "|---|---|",
            f"| mAP50 | {_fmt(self.map50)}{self._interval('map50')} |",
            f"| mAP50-95 | {_fmt(self.map50_95)} |",
            f"| precision (at conf {conf}) | {_fmt(self.precision)} |",
            f"| recall (at conf {conf}) | {_fmt(self.recall)} |",
            f"| F1 (max over conf) | {_fmt(self.f1)} |",
            f"| face accuracy | {_fmt(self.face.shares()['right'])}{self._interval('face_accuracy')} |",
            f"| ECE ({ECE_BINS} bins) | {_fmt(self.ece)} |",
            "",
            "## Per class (IoU 0.5 for P/R/F1)", "",
            "| class | boxes | predictions | AP50 | AP50-95 | precision | recall | F1 |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for c in self.per_class:
            lines.append(f"| {c.name} | {c.instances} | {c.predictions} | {_fmt(c.ap50)} | "
                         f"{_fmt(c.ap50_95)} | {_fmt(c.precision)} | {_fmt(c.recall)} | "
                         f"{_fmt(c.f1)} |")
        s = self.face.shares()
        lines += [
            "", f"## Faces (confidence >= {self.face.conf}, IoU >= {self.face.iou})", "",
            "| faces | right | wrong class | missed | false boxes |",
            "|---:|---:|---:|---:|---:|",
            f"| {self.face.faces} | {self.face.right} ({_pct(s['right'])}) | {self.face.wrong} "
            f"({_pct(s['wrong'])}) | {self.face.missed} ({_pct(s['missed'])}) | "
            f"{self.face.false_boxes} |",
            *self._size_table(),
            "", "## Confusion matrix (rows: true, columns: predicted)", "",
            "| true \\ predicted | " + " | ".join(self.confusion_labels) + " |",
            "|---|" + "---:|" * len(self.confusion_labels),
        ]
        norm = self.confusion_normalized
        for i, label in enumerate(self.confusion_labels):
            cells = [f"{int(self.confusion[i, j])} ({norm[i, j]:.2f})"
                     for j in range(len(self.confusion_labels))]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        if self.mistakes:
            lines += ["", f"{len(self.mistakes)} mistakes (wrong or missed faces, false boxes) are listed "
                          "in `mistakes.csv`; `mistakes.png`, written with the plots, shows the most "
                          "confident ones."]
        notes = list(m.get("notes") or [])
        if self.intervals:
            notes.append(f"intervals: 95 %, {BOOTSTRAP_METHOD}")
        if notes:
            lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
        return "\n".join(lines) + "\n"

    def _size_table(self) -> list[str]:
        rows = [b for b in self.face_by_size if b["faces"]]
        if not rows:
            return []
        lines = ["", "Faces by width (share of the image width):", "",
                 "| face width | faces | right | wrong class | missed |", "|---|---:|---:|---:|---:|"]
        for b in rows:
            n = int(b["faces"])
            lines.append(f"| {b['lo']:.2f}-{b['hi']:.2f} | {n} | {_pct(b['right'] / n)} | "
                         f"{_pct(b['wrong'] / n)} | {_pct(b['missed'] / n)} |")
        return lines

    def _interval(self, key: str) -> str:
        if key not in self.intervals:
            return ""
        lo, hi = self.intervals[key]
        return f" ({_fmt(lo)}-{_fmt(hi)})"

    def save(self, out: str | Path, plots: bool = True) -> Path:
        """Write report.json, report.md, confusion_matrix.json, mistakes.csv and (``plots``) the
        PNGs, atomically.

        Example:
            >>> # report.save("runs/eval/smile-test")
        """
        out = Path(out)
        with atomic_dir(out) as tmp:
            (tmp / "report.json").write_text(json.dumps(self.to_dict(), indent=2) + "\n")
            (tmp / "report.md").write_text(self.to_markdown())
            (tmp / "confusion_matrix.json").write_text(
                json.dumps(self.confusion_dict(), indent=2) + "\n")
            (tmp / "mistakes.csv").write_text(mistakes_csv(self))
            if plots:
                plot_report(self, tmp)
        return out


def _round(obj: Any) -> Any:
    if isinstance(obj, float):
        return None if math.isnan(obj) else round(obj, 6)
    if isinstance(obj, (np.floating, np.integer)):
        return _round(obj.item())
    if isinstance(obj, dict):
        return {str(k): _round(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_round(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


# --------------------------------------------------------------------------- pure metrics


def coco_ap(tp: np.ndarray, n_gt: float, weights: np.ndarray | None = None) -> float:
    """pycocotools' 101-point interpolated AP of predictions sorted by descending confidence.

    Args:
        tp: ``(n,)`` booleans, True where the prediction matched (in confidence order).
        n_gt: Ground-truth boxes of the class (> 0).
        weights: Optional positive ``(n,)`` copy counts (a bootstrap resample draws an image
            several times); the same AP as repeating each prediction that many times.

    Example:
        >>> round(coco_ap(np.array([True, False, True]), 2), 5)  # (51 * 1 + 50 * 2/3) / 101
        0.83498
    """
    if n_gt <= 0:
        raise ValueError("AP is undefined without ground truth")
    if len(tp) == 0:
        return 0.0
    w = np.ones(len(tp)) if weights is None else np.asarray(weights, dtype=np.float64)
    ctp = np.cumsum(w * tp, dtype=np.float64)
    recall = ctp / n_gt
    precision = ctp / np.cumsum(w)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    idx = np.searchsorted(recall, RECALL_POINTS, side="left")
    sampled = np.where(idx < len(envelope), envelope[np.minimum(idx, len(envelope) - 1)], 0.0)
    return float(sampled.mean())


def _match_greedy(iou: np.ndarray, threshold: float) -> np.ndarray:
    """COCO matching of one image and class: ``iou`` is (preds in confidence order, truths)."""
    tp = np.zeros(iou.shape[0], dtype=bool)
    if iou.size == 0:
        return tp
    taken = np.zeros(iou.shape[1], dtype=bool)
    # Predictions overlapping no truth enough can never match: skip them without a loop.
    for j in np.flatnonzero(iou.max(axis=1) >= threshold):
        available = np.where(taken, -1.0, iou[j])
        k = int(available.argmax())
        if available[k] >= threshold:
            tp[j] = True
            taken[k] = True
    return tp


def _prf_at(conf_sorted: np.ndarray, ctp: np.ndarray, n_gt: int,
            thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall, F1 of one class for confidence thresholds (predictions >= threshold)."""
    n = np.searchsorted(-conf_sorted, -thresholds, side="right")  # predictions kept
    tp = np.where(n > 0, ctp[np.maximum(n - 1, 0)] if len(ctp) else 0.0, 0.0)
    precision = np.divide(tp, n, out=np.zeros(len(thresholds)), where=n > 0)
    recall = tp / n_gt if n_gt > 0 else np.zeros(len(thresholds))
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(len(thresholds)), where=denom > 0)
    return precision, recall, f1


def _check_ids(dets: Detections, nc: int, what: str, index: int) -> None:
    if len(dets) and (dets.class_id.min() < 0 or dets.class_id.max() >= nc):
        raise ValueError(f"{what} of image {index} has class ids outside 0..{nc - 1}")


def evaluate_detections(
    preds: Sequence[Detections],
    truths: Sequence[Detections],
    names: Mapping[int, str] | Sequence[str],
    *,
    face_conf: float = FACE_CONF,
    face_iou: float = FACE_IOU,
    bootstrap: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    image_wh: Sequence[tuple[int, int]] | None = None,
) -> EvalReport:
    """Compute every metric from per-image predictions and ground truth (no model, no I/O).

    Args:
        preds: Predictions of each image (confidences as given by the model).
        truths: Ground truth of the same images (confidence ignored).
        names: Class names (index -> name, or a list).
        face_conf: Confidence a prediction needs for face accuracy, confusion matrix and ECE.
        face_iou: IoU a prediction needs with a labelled face to be that face's prediction.
        bootstrap: Resamples for the 95 % intervals of face accuracy and mAP50 (images drawn
            with replacement by ``numpy.random.default_rng(seed)``); 0 skips them.
        seed: Seed of the resampling.
        image_wh: ``(width, height)`` of each image, for face accuracy by face size.

    Returns:
        An :class:`EvalReport` (``meta`` empty).

    Example:
        >>> names = {0: "neutral", 1: "smile"}
        >>> t = Detections(np.array([[0, 0, 10, 10], [20, 0, 30, 10]]), np.array([0, 1]),
        ...                np.ones(2))
        >>> p = Detections(np.array([[0, 0, 10, 10]]), np.array([1]), np.array([0.8]))
        >>> r = evaluate_detections([p], [t], names)
        >>> r.face.shares()
        {'right': 0.0, 'wrong': 0.5, 'missed': 0.5}
    """
    if len(preds) != len(truths):
        raise ValueError(f"{len(preds)} prediction sets but {len(truths)} ground-truth sets")
    names = dict(enumerate(names)) if not isinstance(names, Mapping) else dict(names)
    names = {int(k): str(v) for k, v in names.items()}
    nc = len(names)
    if sorted(names) != list(range(nc)):
        raise ValueError("names must be indexed 0..n-1")
    for i, (p, t) in enumerate(zip(preds, truths, strict=True)):
        _check_ids(p, nc, "predictions", i)
        _check_ids(t, nc, "ground truth", i)

    # -- AP matching, per image and class, confidence order (stable, so ties keep input order).
    conf_per_class: list[list[np.ndarray]] = [[] for _ in range(nc)]
    tp_per_class: list[list[np.ndarray]] = [[] for _ in range(nc)]
    image_per_class: list[list[np.ndarray]] = [[] for _ in range(nc)]
    n_gt = np.zeros(nc, dtype=np.int64)
    gt_per_image = np.zeros((len(truths), nc), dtype=np.int64)
    for i, (p, t) in enumerate(zip(preds, truths, strict=True)):
        for c in range(nc):
            pc, tc = p[np.flatnonzero(p.class_id == c)], t[np.flatnonzero(t.class_id == c)]
            n_gt[c] += len(tc)
            gt_per_image[i, c] = len(tc)
            if not len(pc):
                continue
            order = np.argsort(-pc.confidence, kind="stable")
            iou = box_iou_xyxy(pc.xyxy[order], tc.xyxy)
            tp = np.stack([_match_greedy(iou, th) for th in IOU_THRESHOLDS], axis=1)
            conf_per_class[c].append(pc.confidence[order].astype(np.float64))
            tp_per_class[c].append(tp)
            image_per_class[c].append(np.full(len(pc), i, dtype=np.int64))

    classes_with_gt = [c for c in range(nc) if n_gt[c] > 0]
    sorted_conf: dict[int, np.ndarray] = {}
    sorted_tp: dict[int, np.ndarray] = {}
    sorted_image: dict[int, np.ndarray] = {}
    ap = np.full((nc, len(IOU_THRESHOLDS)), np.nan)
    for c in range(nc):
        conf = np.concatenate(conf_per_class[c]) if conf_per_class[c] else np.zeros(0)
        tp = (np.concatenate(tp_per_class[c]) if tp_per_class[c]
              else np.zeros((0, len(IOU_THRESHOLDS)), dtype=bool))
        img = np.concatenate(image_per_class[c]) if image_per_class[c] else np.zeros(0, np.int64)
        order = np.argsort(-conf, kind="stable")
        sorted_conf[c], sorted_tp[c], sorted_image[c] = conf[order], tp[order], img[order]
        if n_gt[c] > 0:
            ap[c] = [coco_ap(sorted_tp[c][:, k], int(n_gt[c])) for k in range(len(IOU_THRESHOLDS))]

    # -- P/R/F1 at IoU 0.5: the exact maximiser of mean F1 is one of the prediction confidences.
    all_conf = np.unique(np.concatenate([sorted_conf[c] for c in range(nc)]))[::-1]
    best_conf: float | None = None
    per_class_prf: dict[int, tuple[float, float, float]] = {}
    if len(all_conf) and classes_with_gt:
        mean_f1 = np.zeros(len(all_conf))
        for c in classes_with_gt:
            ctp = np.cumsum(sorted_tp[c][:, 0], dtype=np.float64)
            mean_f1 += _prf_at(sorted_conf[c], ctp, int(n_gt[c]), all_conf)[2]
        best_conf = float(all_conf[int(np.argmax(mean_f1))])  # first max = highest confidence
    grid = np.linspace(0.0, 1.0, 1001)
    f1_curves: dict[int, np.ndarray] = {}
    pr_curves: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for c in range(nc):
        ctp = np.cumsum(sorted_tp[c][:, 0], dtype=np.float64)
        if best_conf is not None:
            p_, r_, f_ = _prf_at(sorted_conf[c], ctp, int(n_gt[c]), np.array([best_conf]))
            per_class_prf[c] = (float(p_[0]), float(r_[0]), float(f_[0]))
        if n_gt[c] > 0:
            f1_curves[c] = _prf_at(sorted_conf[c], ctp, int(n_gt[c]), grid)[2]
            if len(ctp):
                precision = ctp / np.arange(1, len(ctp) + 1)
                pr_curves[c] = (ctp / n_gt[c], np.maximum.accumulate(precision[::-1])[::-1])

    per_class = []
    for c in range(nc):
        has_gt = n_gt[c] > 0
        p_, r_, f_ = per_class_prf.get(c, (0.0, 0.0, 0.0))
        kept = 0 if best_conf is None else int(np.sum(sorted_conf[c] >= best_conf))
        per_class.append(ClassMetrics(
            name=names[c], instances=int(n_gt[c]), predictions=len(sorted_conf[c]),
            ap50=float(ap[c, 0]) if has_gt else None,
            ap50_95=float(ap[c].mean()) if has_gt else None,
            # A class without ground truth has a precision only if it predicted something
            # (then every box is a false positive); 0 for a class with truth but no kept box.
            precision=p_ if (has_gt or kept) else None,
            recall=r_ if has_gt else None,
            f1=f_ if has_gt else None,
        ))

    def mean_over_gt(values: list[float | None]) -> float:
        picked = [v for c, v in enumerate(values) if c in classes_with_gt and v is not None]
        return float(np.mean(picked)) if picked else 0.0

    if image_wh is not None and len(image_wh) != len(truths):
        raise ValueError(f"{len(image_wh)} image sizes for {len(truths)} images")
    face, confusion, confs, correct, outcome, mistakes = _face_outcomes(preds, truths, nc, face_conf,
                                                                        face_iou)
    ece, ece_bins = expected_calibration_error(confs, correct)
    intervals = _bootstrap_intervals(outcome, gt_per_image, sorted_image, sorted_tp, bootstrap, seed) \
        if bootstrap > 0 and n_gt.sum() > 0 else {}
    return EvalReport(
        names=names, images=len(truths), instances=int(n_gt.sum()),
        map50=mean_over_gt([c.ap50 for c in per_class]),
        map50_95=mean_over_gt([c.ap50_95 for c in per_class]),
        precision=mean_over_gt([c.precision for c in per_class]),
        recall=mean_over_gt([c.recall for c in per_class]),
        f1=mean_over_gt([c.f1 for c in per_class]),
        f1_confidence=best_conf, per_class=per_class, confusion=confusion, face=face,
        ece=ece, ece_bins=ece_bins,
        curves={"pr": pr_curves, "f1": f1_curves, "grid": grid, "best_conf": best_conf},
        intervals=intervals,
        face_by_size=[] if image_wh is None else _face_by_size(truths, image_wh, outcome),
        mistakes=mistakes,
    )


def _face_by_size(truths: Sequence[Detections], image_wh: Sequence[tuple[int, int]],
                  outcome: np.ndarray) -> list[dict[str, float | int]]:
    share = np.concatenate([(t.xyxy[:, 2] - t.xyxy[:, 0]) / max(wh[0], 1)
                            for t, wh in zip(truths, image_wh, strict=True)] or [np.zeros(0)])
    edges = np.asarray(FACE_SIZE_EDGES)
    index = np.clip(np.searchsorted(edges, share, side="right") - 1, 0, len(edges) - 2)
    table: list[dict[str, float | int]] = []
    for k in range(len(edges) - 1):
        got = outcome[index == k]
        table.append({"lo": float(edges[k]), "hi": float(edges[k + 1]), "faces": len(got),
                      **{name: int(np.sum(got == code)) for code, name in enumerate(("right", "wrong", "missed"))}})
    return table


def _bootstrap_intervals(outcome: np.ndarray, gt_per_image: np.ndarray, sorted_image: dict[int, np.ndarray],
                         sorted_tp: dict[int, np.ndarray], resamples: int, seed: int
                         ) -> dict[str, tuple[float, float]]:
    # Images, not faces, are resampled: the faces of one picture share its lighting and camera.
    # Photos of one person still count as independent, so the intervals are if anything too narrow.
    rng = np.random.default_rng(seed)
    n = len(gt_per_image)
    faces_per_image = gt_per_image.sum(axis=1)
    face_image = np.repeat(np.arange(n), faces_per_image)  # outcomes are in image order
    right_per_image = np.bincount(face_image[outcome == 0], minlength=n)
    acc, maps = [], []
    for _ in range(resamples):
        counts = np.bincount(rng.integers(0, n, n), minlength=n)
        faces = float(counts @ faces_per_image)
        if faces == 0:
            continue
        acc.append(float(counts @ right_per_image) / faces)
        gt = counts @ gt_per_image
        aps = []
        for c in np.flatnonzero(gt > 0):
            w = counts[sorted_image[c]].astype(np.float64)
            keep = w > 0
            aps.append(coco_ap(sorted_tp[c][keep, 0], float(gt[c]), w[keep]))
        maps.append(float(np.mean(aps)))
    if not acc:
        return {}
    return {"face_accuracy": (float(np.percentile(acc, 2.5)), float(np.percentile(acc, 97.5))),
            "map50": (float(np.percentile(maps, 2.5)), float(np.percentile(maps, 97.5)))}


def _face_outcomes(preds: Sequence[Detections], truths: Sequence[Detections], nc: int,
                   face_conf: float, face_iou: float
                   ) -> tuple[FaceAccuracy, np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[Mistake]]:
    """Face accuracy, confusion matrix, (confidence, correct) pairs for ECE, each face's
    outcome (0 right, 1 wrong, 2 missed) in image order, and the mistakes."""
    confusion = np.zeros((nc + 1, nc + 1), dtype=np.int64)
    right = wrong = missed = false_boxes = 0
    confs: list[float] = []
    correct: list[bool] = []
    outcome: list[int] = []
    mistakes: list[Mistake] = []
    for i, (p, t) in enumerate(zip(preds, truths, strict=True)):
        shown = p[np.flatnonzero(p.confidence >= face_conf)]
        iou = box_iou_xyxy(t.xyxy, shown.xyxy)  # (faces, shown predictions)
        taken = np.zeros(len(shown), dtype=bool)
        for f in range(len(t)):
            candidates = np.flatnonzero(iou[f] >= face_iou) if len(shown) else np.zeros(0, int)
            true_cls = int(t.class_id[f])
            if not len(candidates):
                missed += 1
                confusion[true_cls, nc] += 1
                outcome.append(2)
                mistakes.append(Mistake(i, "missed", true_cls, None, None, _box(t.xyxy[f]), None))
                continue
            # Most confident; among equal confidences the better-overlapping one.
            best = max(candidates, key=lambda j: (float(shown.confidence[j]), float(iou[f, j])))
            taken[best] = True
            pred_cls = int(shown.class_id[best])
            confusion[true_cls, pred_cls] += 1
            confs.append(float(shown.confidence[best]))
            correct.append(pred_cls == true_cls)
            outcome.append(0 if pred_cls == true_cls else 1)
            if pred_cls == true_cls:
                right += 1
            else:
                wrong += 1
                mistakes.append(Mistake(i, "wrong", true_cls, pred_cls, round(float(shown.confidence[best]), 4),
                                        _box(t.xyxy[f]), _box(shown.xyxy[best])))
        for j in np.flatnonzero(~taken):
            false_boxes += 1
            confusion[nc, int(shown.class_id[j])] += 1
            mistakes.append(Mistake(i, "false_box", None, int(shown.class_id[j]),
                                    round(float(shown.confidence[j]), 4), None, _box(shown.xyxy[j])))
    face = FaceAccuracy(sum(len(t) for t in truths), right, wrong, missed, false_boxes,
                        face_conf, face_iou)
    return (face, confusion, np.array(confs, dtype=np.float64), np.array(correct, dtype=bool),
            np.array(outcome, dtype=np.int64), mistakes)


def _box(xyxy: np.ndarray) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (round(float(v), 1) for v in xyxy)
    return x1, y1, x2, y2


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS
                               ) -> tuple[float | None, list[dict[str, float | int | None]]]:
    """ECE = sum over equal-width bins of (share of predictions) * |accuracy - mean confidence|.

    Bins are ``[k/bins, (k+1)/bins)``, the last one closed at 1. Confidences are rounded to 6
    decimals first so a float32 0.9 (0.8999999762) falls in the bin a reader expects.

    Returns:
        ``(ece, bins)``; ``ece`` is ``None`` without predictions.

    Example:
        >>> ece, _ = expected_calibration_error(np.array([0.95, 0.95, 0.55, 0.55]),
        ...                                     np.array([True, True, True, False]))
        >>> round(ece, 3)  # bin 9: |1 - 0.95| * 2/4, bin 5: |0.5 - 0.55| * 2/4
        0.05
    """
    confidence = np.round(np.asarray(confidence, dtype=np.float64), 6)
    correct = np.asarray(correct, dtype=bool)
    index = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    table: list[dict[str, float | int | None]] = []
    ece = 0.0
    for k in range(bins):
        in_bin = index == k
        n = int(in_bin.sum())
        row: dict[str, float | int | None] = {"lo": k / bins, "hi": (k + 1) / bins, "count": n,
                                              "confidence": None, "accuracy": None}
        if n:
            conf_k, acc_k = float(confidence[in_bin].mean()), float(correct[in_bin].mean())
            row["confidence"], row["accuracy"] = conf_k, acc_k
            ece += n / len(confidence) * abs(acc_k - conf_k)
        table.append(row)
    return (ece if len(confidence) else None), table


# --------------------------------------------------------------------------- plots


def plot_report(report: EvalReport, folder: str | Path) -> list[Path]:
    """Write confusion_matrix(_normalized).png, pr_curve.png, f1_curve.png, reliability.png.

    Uses matplotlib's object API (no pyplot, no GUI backend) and its bundled DejaVu font, so
    nothing is downloaded.

    Example:
        >>> # plot_report(report, "runs/eval/x")
    """
    from matplotlib.figure import Figure

    folder = Path(folder)
    written = []
    labels = report.confusion_labels
    for name, matrix, fmt in (("confusion_matrix.png", report.confusion, "d"),
                              ("confusion_matrix_normalized.png", report.confusion_normalized,
                               ".2f")):
        size = 2.5 + 0.7 * len(labels)
        fig = Figure(figsize=(size, size * 0.85))
        ax = fig.subplots()
        im = ax.imshow(matrix, cmap="Blues", vmin=0)
        fig.colorbar(im, ax=ax, fraction=0.046)
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        top = float(matrix.max()) if matrix.size else 0.0
        for i in range(len(labels)):
            for j in range(len(labels)):
                v = matrix[i, j]
                ax.text(j, i, format(int(v) if fmt == "d" else float(v), fmt), ha="center",
                        va="center", fontsize=8, color="white" if top and v > top / 2 else "black")
        ax.set_title(f"confidence >= {report.face.conf}, IoU >= {report.face.iou}")
        fig.tight_layout()
        fig.savefig(folder / name, dpi=120)
        written.append(folder / name)

    fig = Figure(figsize=(6, 5))
    ax = fig.subplots()
    for c, (rec, prec) in report.curves.get("pr", {}).items():
        ax.plot(np.r_[0, rec], np.r_[prec[0], prec], label=f"{report.names[c]} "
                f"AP50 {report.per_class[c].ap50:.3f}")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02),
           title=f"Precision-recall at IoU 0.5 (mAP50 {report.map50:.3f})")
    if report.curves.get("pr"):
        ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "pr_curve.png", dpi=120)
    written.append(folder / "pr_curve.png")

    fig = Figure(figsize=(6, 5))
    ax = fig.subplots()
    grid = report.curves.get("grid", np.linspace(0, 1, 1001))
    f1s = report.curves.get("f1", {})
    for c, f1 in f1s.items():
        ax.plot(grid, f1, lw=1, label=report.names[c])
    if f1s:
        ax.plot(grid, np.mean(list(f1s.values()), axis=0), lw=2.5, color="black", label="mean")
    if report.f1_confidence is not None:
        ax.axvline(report.f1_confidence, ls="--", color="grey",
                   label=f"best {report.f1:.3f} at {report.f1_confidence:.3f}")
    ax.set(xlabel="confidence", ylabel="F1", xlim=(0, 1), ylim=(0, 1.02),
           title="F1 vs confidence threshold (IoU 0.5)")
    if f1s:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "f1_curve.png", dpi=120)
    written.append(folder / "f1_curve.png")

    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    used = [b for b in report.ece_bins if b["count"]]
    ax.bar([(b["lo"] + b["hi"]) / 2 for b in used], [b["accuracy"] for b in used],  # type: ignore[operator]
           width=1 / ECE_BINS * 0.9, edgecolor="black", label="accuracy")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    ece = "-" if report.ece is None else f"{report.ece:.3f}"
    ax.set(xlabel="confidence", ylabel="share of faces with the right class", xlim=(0, 1),
           ylim=(0, 1.02), title=f"Reliability (ECE {ece})")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "reliability.png", dpi=120)
    written.append(folder / "reliability.png")
    if report.mistakes and report.image_paths:
        import cv2

        from detector.autolabel import contact_sheet

        # Numbered before sorting: the number on a tile is the mistake's mistakes.csv row.
        shown = sorted(enumerate(report.mistakes, start=1), key=lambda row_m: _review_key(row_m[1]))
        samples = [(Path(report.image_paths[m.image]), _sheet_boxes(m), f"{row} {_caption(m, report.names)}")
                   for row, m in shown[:MISTAKES_SHEET_TILES]]
        title = (f"{len(samples)} of {len(report.mistakes)} mistakes, most confident first "
                 "(green: label, red: prediction; number = row of mistakes.csv)")
        cv2.imwrite(str(folder / "mistakes.png"), contact_sheet(samples, title, zoom=0.5))
        written.append(folder / "mistakes.png")
    return written


def mistakes_to_review(mistakes: Sequence[Mistake]) -> list[Mistake]:
    """The mistakes in the order worth looking at: confident ones first, missed faces last.

    A confidently wrong face is the likeliest label error or systematic failure; a missed face
    has no confidence to rank it. Ties keep the split's order.

    Example:
        >>> m = [Mistake(0, "missed", 1, None, None, (0, 0, 9, 9), None),
        ...      Mistake(1, "wrong", 0, 1, 0.4, (0, 0, 9, 9), (0, 0, 9, 9)),
        ...      Mistake(2, "false_box", None, 0, 0.9, None, (0, 0, 9, 9))]
        >>> [x.image for x in mistakes_to_review(m)]
        [2, 1, 0]
    """
    return sorted(mistakes, key=_review_key)


def _review_key(m: Mistake) -> tuple[bool, float]:
    return m.confidence is None, -(m.confidence or 0.0)


def _sheet_boxes(m: Mistake) -> np.ndarray:
    nan = (math.nan,) * 4
    return np.array([m.truth_xyxy or nan, m.pred_xyxy or nan], np.float64)


def _caption(m: Mistake, names: Mapping[int, str]) -> str:
    if m.kind == "missed":
        return f"missed {names[m.true_class]}"  # type: ignore[index]
    if m.kind == "false_box":
        return f"no face: {names[m.pred_class]} {m.confidence:.2f}"  # type: ignore[index]
    return f"{names[m.true_class]}>{names[m.pred_class]} {m.confidence:.2f}"  # type: ignore[index]


def mistakes_csv(report: EvalReport) -> str:
    """``mistakes.csv`` of a report: one row per wrong or missed face and per false box.

    Columns: ``row`` (the number on ``mistakes.png``), ``image`` (path, or index when the
    report has no paths), ``kind``, ``true``, ``predicted``, ``confidence``, ``label_xyxy``,
    ``pred_xyxy`` (pixels, space separated).

    Example:
        >>> r = evaluate_detections([Detections.empty()], [Detections.empty()], ["a", "b"])
        >>> mistakes_csv(r).splitlines()
        ['row,image,kind,true,predicted,confidence,label_xyxy,pred_xyxy']
    """
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["row", "image", "kind", "true", "predicted", "confidence", "label_xyxy", "pred_xyxy"])
    for k, m in enumerate(report.mistakes, start=1):
        writer.writerow([
            k, report.image_paths[m.image] if report.image_paths else m.image, m.kind,
            "" if m.true_class is None else report.names[m.true_class],
            "" if m.pred_class is None else report.names[m.pred_class],
            "" if m.confidence is None else f"{m.confidence:.4f}",
            "" if m.truth_xyxy is None else " ".join(f"{v:g}" for v in m.truth_xyxy),
            "" if m.pred_xyxy is None else " ".join(f"{v:g}" for v in m.pred_xyxy),
        ])
    return buffer.getvalue()


# --------------------------------------------------------------------------- I/O layer


def load_truth(image: Path, size_wh: tuple[int, int], names: Mapping[int, str]) -> Detections:
    """Ground truth of one image from its YOLO label file (no file = no boxes, as Ultralytics).

    Example:
        >>> # load_truth(Path("d/test/images/a.jpg"), (640, 480), {0: "neutral", 1: "smile"})
    """
    label = label_path_for(image)
    if not label.is_file():
        return Detections.empty(dict(names))
    rows = read_label_file(label, num_classes=len(names))
    if not rows:
        return Detections.empty(dict(names))
    xyxy = xywhn_to_xyxy(np.array([r.xywhn for r in rows]), size_wh)
    return Detections(xyxy, np.array([r.class_id for r in rows]), np.ones(len(rows)),
                      names=dict(names))


def default_eval_name(weights: str | Path, split: str) -> str:
    """``<run>-<split>`` for ``runs/<run>/weights/best.pt``, else ``<stem>-<split>``.

    Example:
        >>> default_eval_name("runs/smile/weights/best.pt", "test")
        'smile-test'
    """
    w = Path(weights)
    base = w.parent.parent.name if w.parent.name == "weights" and w.parent.parent.name else w.stem
    return f"{base}-{split}"


def evaluate_weights(
    weights: str | Path,
    data: str | Path,
    split: str = "test",
    *,
    conf: float = 0.001,
    iou: float = 0.7,
    imgsz: int | None = None,
    max_det: int = 300,
    batch: int = 16,
    face_conf: float = FACE_CONF,
    face_iou: float = FACE_IOU,
    threads: int | None = None,
    out: str | Path | None = None,
    name: str | None = None,
    plots: bool = True,
    compare_ultralytics: bool = False,
    classifier: str | Path | None = None,
    augment: bool = False,
) -> EvalReport:
    """Predict every image of a split with local weights, score it, write the report folder.

    Args:
        weights: A local detector ``.pt``.
        data: The data.yaml; ``split`` must be in it.
        split: ``train``, ``val`` or ``test``.
        conf: Lowest confidence kept for AP (0.001: the whole precision-recall curve).
        iou: NMS IoU (Ultralytics' validation default 0.7).
        imgsz: Inference size; default the size the weights were trained at (else 640).
        max_det: Most boxes per image.
        batch: Images per predict call.
        face_conf: Confidence shown to users (face accuracy, confusion matrix, ECE).
        face_iou: IoU a prediction needs with a labelled face.
        threads: torch threads (None keeps the current setting).
        out: Report folder; default ``runs/eval/<name>``.
        name: Default :func:`default_eval_name`.
        plots: Write the PNGs.
        compare_ultralytics: Also run Ultralytics' ``model.val()`` on the split and record its
            mAP50/mAP50-95 in ``meta["ultralytics_val"]`` (a cross-check of this code).
        classifier: Optional face-crop ``-cls`` model that re-classifies every box before scoring.
        augment: Ultralytics' test-time augmentation (the image also mirrored and at 0.83 and
            0.67 scale, boxes merged before NMS): about three times the inference work.

    Returns:
        The report, with ``meta`` (weights, data, split, seconds, out, ...).

    Raises:
        ModelError: weights missing / not a detector / classes differ from the data.
        DatasetError: bad data.yaml, missing split, bad label row, unreadable image.

    Example:
        >>> # r = evaluate_weights("runs/smile/weights/best.pt", "datasets/smile/data.yaml",
        >>> #                      imgsz=320)
        >>> # r.map50, r.face.shares()
    """
    import torch

    if Path(str(weights)).suffix.lower() != ".pt":
        raise ModelError(weights, "evaluation needs trained weights: a local .pt file")
    spec = load_data_yaml(data, require=(split,))
    yolo = load_yolo(weights)
    model_names = {int(k): str(v) for k, v in dict(yolo.names).items()}
    notes = []
    if len(model_names) != len(spec.names):
        raise ModelError(weights, f"has {len(model_names)} classes {list(model_names.values())} "
                                  f"but {spec.path} has {len(spec.names)} "
                                  f"{list(spec.names.values())}")
    if model_names != spec.names:
        notes.append(f"class names differ: weights {list(model_names.values())}, data "
                     f"{list(spec.names.values())}; matched by index, data names shown")
    if imgsz is None:
        # Scoring at another size than training measures a different detector.
        trained = yolo.overrides.get("imgsz") or 640
        imgsz = int(max(trained) if isinstance(trained, (list, tuple)) else trained)
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    used_threads = torch.get_num_threads()
    refiner = None
    if classifier is not None:
        from detector.refine import CropClassifier

        refiner = CropClassifier(classifier, model_names, box_convention=read_box_convention(yolo))
    def predict_batch(frames: list[np.ndarray]) -> list[Detections]:
        # Class-agnostic NMS as in live detection: one box (and one expression) per face.
        results = yolo.predict(frames, imgsz=imgsz, conf=conf, iou=iou, max_det=max_det,
                               agnostic_nms=True, augment=augment, verbose=False)
        dets = [Detections.from_ultralytics(r) for r in results]
        return dets if refiner is None else [refiner.refine(f, d) for f, d in zip(frames, dets, strict=True)]

    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        stack.callback(torch.set_num_threads, before)  # leave the caller's setting as it was
        stack.enter_context(offline_ultralytics())
        preds, truths, unlabelled, sizes, images = _predict_split(spec, split, predict_batch, batch)
    report = evaluate_detections(preds, truths, spec.names, face_conf=face_conf, face_iou=face_iou,
                                 image_wh=sizes)
    report.image_paths = [str(path) for path in images]
    seconds = time.perf_counter() - start
    if unlabelled:
        notes.append(f"{unlabelled} images have no label file and count as background images")
    import ultralytics

    out_dir = Path(out) if out else RUNS_DIR / "eval" / (name or default_eval_name(weights, split))
    report.meta = {
        "weights": str(Path(weights).resolve()),
        "classifier": str(Path(classifier).resolve()) if classifier is not None else None,
        "data": str(spec.path),
        "split": split,
        "imgsz": imgsz,
        "conf": conf,
        "nms_iou": iou,
        "max_det": max_det,
        "augment": augment,
        "threads": used_threads,
        "seconds": round(seconds, 2),
        "ultralytics": ultralytics.__version__,
        "out": str(out_dir.resolve()),
        "notes": notes,
    }
    if compare_ultralytics:
        report.meta["ultralytics_val"] = ultralytics_val(weights, spec.path, split, imgsz=imgsz,
                                                         conf=conf, iou=iou, batch=batch)
    report.save(out_dir, plots=plots)
    return report


def evaluate_predictor(
    predictor: Any,
    data: str | Path,
    split: str = "test",
    *,
    face_conf: float = FACE_CONF,
    face_iou: float = FACE_IOU,
    out: str | Path | None = None,
    name: str | None = None,
    plots: bool = True,
    meta: Mapping[str, Any] | None = None,
) -> EvalReport:
    """Score any frame detector (``predict(frame) -> Detections`` and ``names``) on a split.

    The same metrics and report folder as :func:`evaluate_weights`, for pipelines that are not
    one YOLO checkpoint: the two-stage face finder + CNN, a detector with a crop classifier, a
    model served elsewhere. Frames go in one at a time, as in live use. AP needs the full
    precision-recall curve, so the predictor should keep low-confidence boxes.

    Args:
        predictor: Has ``predict(frame_bgr) -> Detections`` and ``names`` (``{id: name}``), the
            same as the data's names.
        data: The data.yaml; ``split`` must be in it.
        split: ``train``, ``val`` or ``test``.
        face_conf: Confidence shown to users (face accuracy, confusion matrix, ECE).
        face_iou: IoU a prediction needs with a labelled face.
        out: Report folder; default ``runs/eval/<name>``.
        name: Default ``<predictor name>-<split>``.
        plots: Write the PNGs.
        meta: Extra facts for ``report.meta`` (weights used, settings, ...).

    Raises:
        ModelError: the predictor's classes differ from the data's.
        DatasetError: bad data.yaml, missing split, bad label row, unreadable image.

    Example:
        >>> # from detector.twostage import build_two_stage
        >>> # r = evaluate_predictor(build_two_stage(None, "weights/smile-neutral-cnn.pt"),
        >>> #                        "datasets/smile-neutral-scenes/data_crops.yaml")
        >>> # r.map50, r.face.shares()
    """

    spec = load_data_yaml(data, require=(split,))
    names = {int(k): str(v) for k, v in dict(predictor.names).items()}
    label = str(getattr(predictor, "name", type(predictor).__name__))
    if names != spec.names:
        raise ModelError(label, f"predicts {list(names.values())} but {spec.path} has {list(spec.names.values())}")
    start = time.perf_counter()

    def predict_batch(frames: list[np.ndarray]) -> list[Detections]:
        return [predictor.predict(f) for f in frames]

    preds, truths, unlabelled, sizes, images = _predict_split(spec, split, predict_batch, 1)
    report = evaluate_detections(preds, truths, spec.names, face_conf=face_conf, face_iou=face_iou,
                                 image_wh=sizes)
    report.image_paths = [str(path) for path in images]
    notes = [f"{unlabelled} images have no label file and count as background images"] if unlabelled else []
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in label).strip("-")
    out_dir = Path(out) if out else RUNS_DIR / "eval" / (name or f"{slug}-{split}")
    report.meta = {"predictor": label, "data": str(spec.path), "split": split,
                   "seconds": round(time.perf_counter() - start, 2), "out": str(out_dir.resolve()),
                   "notes": notes, **dict(meta or {})}
    report.save(out_dir, plots=plots)
    return report


def _predict_split(spec: Any, split: str, predict_batch: Callable[[list[np.ndarray]], list[Detections]],
                   batch: int
                   ) -> tuple[list[Detections], list[Detections], int, list[tuple[int, int]], list[Path]]:
    """Predictions, ground truths, the count of images without a label file, image sizes, and the
    image paths in that order."""
    import cv2
    from tqdm import tqdm

    images = spec.images(split)
    preds: list[Detections] = []
    truths: list[Detections] = []
    sizes: list[tuple[int, int]] = []
    unlabelled = 0
    with tqdm(total=len(images), desc=f"eval {split}", unit="img") as bar:
        for i in range(0, len(images), batch):
            chunk = images[i:i + batch]
            frames = []
            for path in chunk:
                frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if frame is None:
                    raise DatasetError(path, "cannot be read as an image")
                frames.append(frame)
                h, w = frame.shape[:2]
                sizes.append((w, h))
                truths.append(load_truth(path, (w, h), spec.names))
                unlabelled += not label_path_for(path).is_file()
            preds += predict_batch(frames)
            bar.update(len(chunk))
    return preds, truths, unlabelled, sizes, images


def ultralytics_val(weights: str | Path, data: str | Path, split: str, *, imgsz: int,
                    conf: float = 0.001, iou: float = 0.7, batch: int = 16) -> dict[str, float]:
    """Ultralytics' own ``model.val()`` mAP on a split, for cross-checking this module.

    Runs with plots off and its output folder in a temporary directory (it is not kept).

    Example:
        >>> # ultralytics_val("best.pt", "data.yaml", "test", imgsz=320)
        >>> # {'map50': 0.91, 'map50_95': 0.62, 'precision': ..., 'recall': ...}
    """
    import tempfile

    yolo = load_yolo(weights)
    with tempfile.TemporaryDirectory() as tmp, offline_ultralytics():
        try:
            m = yolo.val(data=str(data), split=split, imgsz=imgsz, conf=conf, iou=iou, batch=batch,
                         plots=False, save_json=False, verbose=False, project=tmp, name="val")
        except (SyntaxError, FileNotFoundError) as exc:
            # Ultralytics' dataset check (check_det_dataset) is stricter than ours: it wants
            # train and val keys even to score a test split.
            raise DatasetError(data, f"Ultralytics' model.val() refuses it: {str(exc).splitlines()[0]}") from exc
    return {"map50": float(m.box.map50), "map50_95": float(m.box.map),
            "precision": float(m.box.mp), "recall": float(m.box.mr)}
