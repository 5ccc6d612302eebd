"""Session 34: can v9's photo mistakes be voted away? Per-face class scores of detectors and classifiers.

For every labelled face of the validation photos, the detector's box that overlaps it most confidently
(IoU >= 0.5, class-agnostic NMS at 0.5 as live detection uses) keeps *both* class scores of its anchor, not
only the winning one; a crop classifier scores the same box. Then it prints each model alone, a detector
averaged with a classifier at several weights, detectors averaged with each other, and v9's decision
threshold moved:

    python docs/experiments/ensemble_probe.py                 # the session-34 table (~7 min, 2 cores)
    python docs/experiments/ensemble_probe.py --limit 100     # a quick look on the first 100 photos

Scores are cached in runs/probe/<name>.npy (delete to recompute). Validation people only; no test set.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

PHOTOS = Path("datasets/smile-neutral-scenes/val_crops/images")
OUT = Path("runs/probe")
# name -> (detector weights, crop classifier weights or None). b33/b34 are session 31/32's candidates.
PROBES = {
    "v9+cls": ("weights/smile-neutral-yolo11n.pt", "weights/smile-neutral-cls.pt"),
    "v9+b34cls": ("weights/smile-neutral-yolo11n.pt", "runs/b34/classifier/weights/best.pt"),
    "b33": ("runs/b33/finetune/weights/best.pt", None),
    "b34": ("runs/b34/finetune/weights/best.pt", None),
}
# Columns of a probe's rows.
GT, DET_N, DET_S, CLS_N, CLS_S = 1, 2, 3, 4, 5


def smile_share(neutral: np.ndarray, smile: np.ndarray) -> np.ndarray:
    """A detector anchor's two sigmoid class scores as one smile probability (NaN where the face was missed).

    Example:
        >>> smile_share(np.array([0.2, 0.9]), np.array([0.6, 0.1])).round(2).tolist()
        [0.75, 0.1]
    """
    return smile / (neutral + smile + 1e-9)


def accuracy(p_smile: np.ndarray, gt: np.ndarray, threshold: float = 0.5) -> float:
    """Share of faces whose ``p_smile > threshold`` call matches ``gt`` (1 = smile); a missed face (NaN) is wrong.

    Example:
        >>> accuracy(np.array([0.9, 0.2, np.nan, 0.6]), np.array([1, 0, 1, 0]))
        0.5
    """
    called = np.where(np.isnan(p_smile), -1, (p_smile > threshold).astype(int))
    return float((called == gt).mean())


def score_faces(detector: str, classifier: str | None, images: Sequence[Path]) -> np.ndarray:
    """Rows ``(image index, true class, det neutral, det smile, cls neutral, cls smile)``, one per labelled face."""
    import cv2
    import torch
    from tqdm import tqdm
    from ultralytics import YOLO
    from ultralytics.data.augment import LetterBox
    from ultralytics.utils.nms import non_max_suppression

    from detector.labels import box_iou_xyxy, letterbox_params, read_label_file, xywhn_to_xyxy
    from detector.refine import CropClassifier
    from detector.train import read_box_convention

    torch.set_num_threads(2)
    yolo = YOLO(detector)
    net = yolo.model.eval()
    clf = (CropClassifier(classifier, {0: "neutral", 1: "smile"}, box_convention=read_box_convention(yolo))
           if classifier else None)
    letterbox = LetterBox((320, 320), auto=False)
    rows = []
    for k, path in enumerate(tqdm(images, desc=Path(detector).parent.parent.name or detector)):
        image = cv2.imread(str(path))
        h, w = image.shape[:2]
        x = torch.from_numpy(letterbox(image=image)[:, :, ::-1].copy()).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            raw = net(x)[0]
        kept, idx = non_max_suppression(raw, 0.001, 0.5, agnostic=True, max_det=50, return_idxs=True)
        boxes = kept[0][:, :4].numpy().astype(np.float64)
        conf = kept[0][:, 4].numpy()
        scores = raw[0, 4:, idx[0]].T.numpy()
        scale, pad_x, pad_y = letterbox_params((w, h), (320, 320))
        boxes[:, [0, 2]] = (boxes[:, [0, 2]] - pad_x) / scale
        boxes[:, [1, 3]] = (boxes[:, [1, 3]] - pad_y) / scale
        for label in read_label_file(path.parent.parent / "labels" / f"{path.stem}.txt"):
            truth = xywhn_to_xyxy(np.array(label.xywhn), (w, h))
            hits = np.flatnonzero(box_iou_xyxy(boxes, truth)[:, 0] >= 0.5) if len(boxes) else np.array([], int)
            if len(hits) == 0:
                rows.append((k, label.class_id, np.nan, np.nan, np.nan, np.nan))
                continue
            j = hits[np.argmax(conf[hits])]
            cls = clf.probs(image, boxes[j:j + 1])[0] if clf else (np.nan, np.nan)
            rows.append((k, label.class_id, scores[j, 0], scores[j, 1], cls[0], cls[1]))
    return np.array(rows, dtype=np.float64)


def report(probes: dict[str, np.ndarray]) -> str:
    """The probe's tables as text."""
    lines = []
    gt = next(iter(probes.values()))[:, GT]
    det = {name.split("+")[0]: smile_share(a[:, DET_N], a[:, DET_S]) for name, a in probes.items()}
    lines.append(f"{len(gt)} validation faces; alone (neutral / smile faces right):")
    for name, p in det.items():
        lines.append(f"  {name:10s} {100 * accuracy(p, gt):.1f} %  ({100 * accuracy(p[gt == 0], gt[gt == 0]):.1f}"
                     f" / {100 * accuracy(p[gt == 1], gt[gt == 1]):.1f})")
    for name, a in probes.items():
        if "+" not in name:
            continue
        p_det, p_cls = det[name.split("+")[0]], a[:, CLS_S] / (a[:, CLS_N] + a[:, CLS_S])
        both_wrong = int((((p_det > 0.5) != gt) & ((p_cls > 0.5) != gt)).sum())
        mixes = "  ".join(f"{w:.1f}: {100 * accuracy(w * p_det + (1 - w) * p_cls, gt):.1f}"
                          for w in (0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0))
        lines.append(f"{name}: classifier alone {100 * accuracy(p_cls, gt):.1f} %, both wrong on {both_wrong}, "
                     f"disagree on {int(((p_det > 0.5) != (p_cls > 0.5)).sum())}")
        lines.append(f"  detector weight -> % right  {mixes}")
    detectors = [n for n in det if n != "v9"]
    if "v9" in det and len(detectors) >= 2:
        combos = [["v9", *detectors], detectors, *[["v9", d] for d in detectors]]
        for combo in combos:
            lines.append(f"mean of {' + '.join(combo)}: "
                         f"{100 * accuracy(np.mean([det[n] for n in combo], axis=0), gt):.1f} %")
    if "v9" in det:
        moved = "  ".join(f"{t:.2f}: {100 * accuracy(det['v9'], gt, t):.1f}" for t in (0.3, 0.4, 0.5, 0.6))
        lines.append(f"v9 threshold -> % right  {moved}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N photos (cached apart)")
    args = parser.parse_args(argv)
    images = sorted(PHOTOS.glob("*.jpg"))[: args.limit]
    if not images:
        print(f"error: {PHOTOS}: no photos; build it with `exprdet ship --data-only`", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    probes = {}
    for name, (detector, classifier) in PROBES.items():
        missing = [p for p in (detector, classifier) if p and not Path(p).is_file()]
        if missing:
            print(f"skipping {name}: {', '.join(missing)} not on this machine", file=sys.stderr)
            continue
        cache = OUT / f"{name}{'' if args.limit is None else f'-first{args.limit}'}.npy"
        if not cache.is_file():
            tmp = cache.with_suffix(".tmp.npy")
            np.save(tmp, score_faces(detector, classifier, images))
            tmp.replace(cache)
        probes[name] = np.load(cache)
    print(report(probes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
