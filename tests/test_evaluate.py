"""Evaluation metrics against hand-computed golden values, report files, and error paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detector.core import Detections
from detector.errors import DatasetError, ModelError
from detector.evaluate import (
    EvalReport,
    coco_ap,
    default_eval_name,
    evaluate_detections,
    evaluate_weights,
    expected_calibration_error,
    load_truth,
    mistakes_csv,
    mistakes_to_review,
)

GOLDEN = Path(__file__).parent / "golden"
CASES = json.loads((GOLDEN / "cases.json").read_text())
EXPECTED = json.loads((GOLDEN / "metrics.json").read_text())
TOL = EXPECTED["tolerance"]
NAMES = {int(k): v for k, v in CASES["names"].items()}


def _images(case: list[dict[str, Any]]) -> tuple[list[Detections], list[Detections]]:
    preds, truths = [], []
    for image in case:
        t = np.array(image["truths"], dtype=np.float64).reshape(-1, 5)
        p = np.array(image["preds"], dtype=np.float64).reshape(-1, 6)
        truths.append(Detections(t[:, :4], t[:, 4], np.ones(len(t)), names=NAMES))
        preds.append(Detections(p[:, :4], p[:, 4], p[:, 5], names=NAMES))
    return preds, truths


def _close(actual: float | None, expected: float | None) -> bool:
    if expected is None or actual is None:
        return actual is expected
    return abs(actual - expected) <= TOL


@pytest.mark.parametrize("case", sorted(CASES["cases"]))
def test_golden_metrics(case: str) -> None:
    preds, truths = _images(CASES["cases"][case])
    report = evaluate_detections(preds, truths, NAMES)
    want = EXPECTED["cases"][case]
    for key in ("map50", "map50_95", "precision", "recall", "f1", "f1_confidence", "ece"):
        assert _close(getattr(report, key), want[key]), (key, getattr(report, key), want[key])
    for key in ("ap50", "ap50_95"):
        got = [getattr(c, key) for c in report.per_class]
        assert all(_close(g, w) for g, w in zip(got, want[key], strict=True)), (key, got)
    for key, attr in (("class_precision", "precision"), ("class_recall", "recall"),
                      ("class_f1", "f1")):
        if key in want:
            got = [getattr(c, attr) for c in report.per_class]
            assert all(_close(g, w) for g, w in zip(got, want[key], strict=True)), (key, got)
    assert {k: getattr(report.face, k) for k in want["face"]} == want["face"]
    shares = report.face.shares()
    assert all(_close(shares[k], v) for k, v in want["shares"].items()), shares
    assert report.confusion.tolist() == want["confusion"]
    if "confusion_normalized" in want:
        np.testing.assert_allclose(report.confusion_normalized, want["confusion_normalized"],
                                   atol=TOL)


def test_face_shares_sum_to_one_and_match_confusion_rows() -> None:
    preds, truths = _images(CASES["cases"]["calibration"])
    report = evaluate_detections(preds, truths, NAMES)
    assert sum(report.face.shares().values()) == pytest.approx(1.0)
    nc = len(NAMES)
    # The confusion matrix is built from the same face matching: its class rows are the faces.
    assert report.confusion[:nc].sum() == report.face.faces
    assert np.trace(report.confusion[:nc, :nc]) == report.face.right


def test_coco_ap_hand_example() -> None:
    # TP, FP, TP of 2 truths: envelope 1 to recall 0.5 (51 points), 2/3 after (50 points).
    assert coco_ap(np.array([True, False, True]), 2) == pytest.approx((51 + 50 * 2 / 3) / 101)
    assert coco_ap(np.array([], dtype=bool), 3) == 0.0
    with pytest.raises(ValueError):
        coco_ap(np.array([True]), 0)


def test_ap_agrees_with_ultralytics_ap_per_class() -> None:
    """Same matches fed to Ultralytics' AP: only the interpolation differs (trapezoid vs sum)."""
    from ultralytics.utils.metrics import ap_per_class

    rng = np.random.default_rng(3)
    preds, truths = [], []
    for _ in range(40):
        n = int(rng.integers(1, 4))
        xy = np.arange(n)[:, None] * 40.0 + np.array([0, 0])
        t = np.hstack([xy, xy + 20])
        t_cls = rng.integers(0, 2, n)
        jitter = rng.normal(0, 3, (n, 4))
        p = np.hstack([t[:, :2] + jitter[:, :2], t[:, 2:] + jitter[:, 2:]])
        p[:, 2:] = np.maximum(p[:, 2:], p[:, :2] + 1)
        p_cls = np.where(rng.random(n) < 0.8, t_cls, 1 - t_cls)
        conf = rng.random(n)
        keep = rng.random(n) < 0.9
        truths.append(Detections(t, t_cls, np.ones(n), names=NAMES))
        preds.append(Detections(p[keep], p_cls[keep], conf[keep], names=NAMES))
    ours = evaluate_detections(preds, truths, NAMES)

    # Rebuild the per-prediction TP matrix with our matching and give it to Ultralytics.
    from detector.evaluate import IOU_THRESHOLDS, _match_greedy
    from detector.labels import box_iou_xyxy

    tps, confs, classes, targets = [], [], [], []
    for p, t in zip(preds, truths, strict=True):
        targets.append(t.class_id)
        for c in (0, 1):
            pc, tc = p[np.flatnonzero(p.class_id == c)], t[np.flatnonzero(t.class_id == c)]
            order = np.argsort(-pc.confidence, kind="stable")
            iou = box_iou_xyxy(pc.xyxy[order], tc.xyxy)
            tps.append(np.stack([_match_greedy(iou, th) for th in IOU_THRESHOLDS], axis=1)
                       if len(pc) else np.zeros((0, 10), bool))
            confs.append(pc.confidence[order])
            classes.append(pc.class_id[order])
    out = ap_per_class(np.concatenate(tps), np.concatenate(confs), np.concatenate(classes),
                       np.concatenate(targets))
    ap = out[5]  # (classes, 10)
    assert ours.map50 == pytest.approx(float(ap[:, 0].mean()), abs=0.01)
    assert ours.map50_95 == pytest.approx(float(ap.mean()), abs=0.01)


def test_coco_ap_weights_repeat_predictions() -> None:
    tp = np.array([True, False, True, False, True])
    weights = np.array([2, 1, 3, 1, 1])
    expanded = np.repeat(tp, weights)
    assert coco_ap(tp, 9, weights) == pytest.approx(coco_ap(expanded, 9))


def _face_images(right: int, wrong: int) -> tuple[list[Detections], list[Detections]]:
    # one labelled face per image, predicted with the right class or the other one
    box = np.array([[0, 0, 10, 10.0]])
    truths = [Detections(box, np.array([0]), np.ones(1)) for _ in range(right + wrong)]
    preds = [Detections(box, np.array([0 if i < right else 1]), np.array([0.9])) for i in range(right + wrong)]
    return preds, truths


def test_bootstrap_intervals_hold_the_estimate_and_shrink_with_more_images() -> None:
    small = evaluate_detections(*_face_images(36, 9), NAMES)          # 45 faces, 80 % right
    large = evaluate_detections(*_face_images(1600, 400), NAMES)      # 2,000 faces, 80 % right
    for r in (small, large):
        lo, hi = r.intervals["face_accuracy"]
        assert lo < 0.8 < hi
        lo, hi = r.intervals["map50"]
        assert lo <= r.map50 <= hi
    width = {k: r.intervals["face_accuracy"][1] - r.intervals["face_accuracy"][0]
             for k, r in (("small", small), ("large", large))}
    assert width["small"] > 3 * width["large"]     # ~1/sqrt(n): 45 against 2,000 faces
    assert 0.15 < width["small"] < 0.35             # binomial: 2 x 1.96 x sqrt(0.8 x 0.2 / 45) = 0.23
    again = evaluate_detections(*_face_images(36, 9), NAMES)
    assert again.intervals == small.intervals       # seeded
    assert evaluate_detections(*_face_images(36, 9), NAMES, bootstrap=0).intervals == {}
    perfect = evaluate_detections(*_face_images(20, 0), NAMES)
    assert perfect.intervals["face_accuracy"] == (1.0, 1.0)


def test_face_accuracy_by_face_size() -> None:
    # three 100-px-wide images: a 3 px face (right), a 30 px face (wrong), a 60 px face (missed)
    boxes = [np.array([[0, 0, 3, 3.0]]), np.array([[0, 0, 30, 30.0]]), np.array([[0, 0, 60, 60.0]])]
    truths = [Detections(b, np.array([0]), np.ones(1)) for b in boxes]
    preds = [Detections(boxes[0], np.array([0]), np.array([0.9])),
             Detections(boxes[1], np.array([1]), np.array([0.9])), Detections.empty()]
    r = evaluate_detections(preds, truths, NAMES, image_wh=[(100, 80)] * 3)
    table = {(b["lo"], b["hi"]): (b["faces"], b["right"], b["wrong"], b["missed"]) for b in r.face_by_size}
    assert table == {(0.0, 0.05): (1, 1, 0, 0), (0.05, 0.1): (0, 0, 0, 0), (0.1, 0.2): (0, 0, 0, 0),
                     (0.2, 0.4): (1, 0, 1, 0), (0.4, 1.0): (1, 0, 0, 1)}
    md = r.to_markdown()
    assert "| 0.20-0.40 | 1 | 0.0% | 100.0% | 0.0% |" in md and "| 0.05-0.10 |" not in md  # empty bins left out
    assert evaluate_detections(preds, truths, NAMES).face_by_size == []
    with pytest.raises(ValueError, match="2 image sizes for 3 images"):
        evaluate_detections(preds, truths, NAMES, image_wh=[(100, 80)] * 2)


def test_ece_example_and_empty() -> None:
    ece, bins = expected_calibration_error(np.array([0.95, 0.95, 0.55, 0.55]),
                                           np.array([True, True, True, False]))
    assert ece == pytest.approx(0.05)
    assert [b["count"] for b in bins] == [0, 0, 0, 0, 0, 2, 0, 0, 0, 2]
    assert expected_calibration_error(np.zeros(0), np.zeros(0, bool))[0] is None


def test_input_errors() -> None:
    t = Detections(np.array([[0, 0, 1, 1]]), np.array([0]), np.ones(1))
    with pytest.raises(ValueError, match="prediction sets"):
        evaluate_detections([t, t], [t], NAMES)
    bad = Detections(np.array([[0, 0, 1, 1]]), np.array([5]), np.ones(1))
    with pytest.raises(ValueError, match="class ids"):
        evaluate_detections([bad], [t], NAMES)
    # A list of names works as well as a mapping.
    assert evaluate_detections([t], [t], ["neutral", "smile"]).map50 == 1.0


def test_report_files(tmp_path: Path) -> None:
    preds, truths = _images(CASES["cases"]["one_wrong_class"])
    report = evaluate_detections(preds, truths, NAMES)
    report.meta = {"weights": "w.pt", "data": "d.yaml", "split": "test", "seconds": 1.0}
    out = report.save(tmp_path / "eval")
    names = sorted(p.name for p in out.iterdir())
    assert names == ["confusion_matrix.json", "confusion_matrix.png",
                     "confusion_matrix_normalized.png", "f1_curve.png", "mistakes.csv", "pr_curve.png",
                     "reliability.png", "report.json", "report.md"]
    data = json.loads((out / "report.json").read_text())
    assert data["weights"] == "w.pt" and data["split"] == "test"
    assert data["metrics"]["map50"] == pytest.approx(0.752475, abs=1e-6)
    assert data["face"]["shares"] == {"right": 0.75, "wrong": 0.25, "missed": 0.0}
    cm = json.loads((out / "confusion_matrix.json").read_text())
    assert cm["labels"] == ["neutral", "smile", "background"]
    assert cm["counts"] == [[2, 0, 0], [1, 1, 0], [0, 0, 0]]
    assert cm["normalized"][1] == [0.5, 0.5, 0.0]
    md = (out / "report.md").read_text()
    assert "| mAP50 | 0.752 (" in md and "| smile | 2 | 1 |" in md and "bootstrap over images" in md
    assert all((out / n).stat().st_size > 1000 for n in names if n.endswith(".png"))
    # Re-running into the same folder replaces it whole.
    report.save(out, plots=False)
    assert not (out / "pr_curve.png").exists()


# One image: a right face, a face boxed with the wrong class, a missed face, a box on no face.
MISTAKE_TRUTH = [[0, 0, 10, 10, 0], [20, 0, 30, 10, 1], [40, 0, 50, 10, 1]]
MISTAKE_PREDS = [[0, 0, 10, 10, 0, 0.9], [21, 0, 31, 10, 0, 0.7], [40, 0, 50, 10, 1, 0.1],
                 [80, 80, 90, 90, 1, 0.4]]


def _mistake_report() -> EvalReport:
    preds, truths = _images([{"truths": [[0, 0, 1, 1, 0]], "preds": [[0, 0, 1, 1, 0, 0.8]]},
                             {"truths": MISTAKE_TRUTH, "preds": MISTAKE_PREDS}])
    return evaluate_detections(preds, truths, NAMES)


def test_mistakes_name_each_wrong_missed_and_false_box() -> None:
    r = _mistake_report()
    got = [(m.image, m.kind, m.true_class, m.pred_class, m.confidence, m.truth_xyxy, m.pred_xyxy)
           for m in r.mistakes]
    assert got == [
        (1, "wrong", 1, 0, 0.7, (20.0, 0.0, 30.0, 10.0), (21.0, 0.0, 31.0, 10.0)),
        # The 0.1 box is under face_conf (0.25): the user never sees it, so the face is missed.
        (1, "missed", 1, None, None, (40.0, 0.0, 50.0, 10.0), None),
        (1, "false_box", None, 1, 0.4, None, (80.0, 80.0, 90.0, 90.0)),
    ]
    assert len(r.mistakes) == r.face.wrong + r.face.missed + r.face.false_boxes
    assert [m.kind for m in mistakes_to_review(r.mistakes)] == ["wrong", "false_box", "missed"]
    rows = mistakes_csv(r).splitlines()
    assert rows[1] == "1,1,wrong,smile,neutral,0.7000,20 0 30 10,21 0 31 10"
    assert rows[2] == "2,1,missed,smile,,,40 0 50 10,"
    r.image_paths = ["a.jpg", "b.jpg"]
    assert mistakes_csv(r).splitlines()[3] == "3,b.jpg,false_box,,smile,0.4000,,80 80 90 90"


def test_mistakes_sheet_shows_the_faces(tmp_path: Path) -> None:
    import cv2

    r = _mistake_report()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / name), np.full((100, 100, 3), 128, np.uint8))
    r.image_paths = [str(tmp_path / "a.png"), str(tmp_path / "b.png")]
    out = r.save(tmp_path / "eval")
    sheet = cv2.imread(str(out / "mistakes.png"))
    assert sheet is not None and sheet.shape == (28 + 160, 8 * 160, 3)  # 3 tiles on one row
    tiles = [sheet[28:, k * 160:(k + 1) * 160] for k in range(4)]

    def has(tile: np.ndarray, bgr: tuple[int, int, int]) -> bool:
        return bool(np.all(tile == bgr, axis=2).any())

    green, red = (0, 255, 0), (0, 0, 255)
    assert has(tiles[0], green) and has(tiles[0], red)  # wrong: label and prediction
    assert has(tiles[1], red) and not has(tiles[1], green)  # false box: prediction only
    assert has(tiles[2], green) and not has(tiles[2], red)  # missed: label only
    assert (tiles[3] == 255).all()  # an empty slot stays white
    assert "3 mistakes" in (out / "report.md").read_text()


def test_empty_report_still_writes(tmp_path: Path) -> None:
    report = evaluate_detections([], [], NAMES)
    assert isinstance(report, EvalReport) and report.images == 0 and report.map50 == 0.0
    report.save(tmp_path / "empty")
    assert json.loads((tmp_path / "empty" / "report.json").read_text())["metrics"]["ece"] is None


def test_load_truth_reads_yolo_labels(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    image = tmp_path / "images" / "a.jpg"
    (tmp_path / "labels" / "a.txt").write_text("1 0.5 0.5 0.5 0.5\n")
    truth = load_truth(image, (200, 100), NAMES)
    assert truth.xyxy.tolist() == [[50.0, 25.0, 150.0, 75.0]] and truth.labels == ["smile"]
    assert len(load_truth(tmp_path / "images" / "none.jpg", (10, 10), NAMES)) == 0
    (tmp_path / "labels" / "a.txt").write_text("7 0.5 0.5 0.5 0.5\n")
    with pytest.raises(DatasetError, match="a.txt: line 1"):
        load_truth(image, (200, 100), NAMES)


def test_default_eval_name() -> None:
    assert default_eval_name("runs/smile/weights/best.pt", "val") == "smile-val"
    assert default_eval_name("model.pt", "test") == "model-test"


def test_evaluate_weights_errors(tmp_path: Path, make_yolo_dataset) -> None:
    data = make_yolo_dataset(counts=(2, 2, 0))
    with pytest.raises(ModelError, match="local .pt"):
        evaluate_weights("yolo11n.yaml", data)
    with pytest.raises(DatasetError, match="data.yaml not found"):
        evaluate_weights("w.pt", tmp_path / "missing" / "data.yaml")
    # The split must be present (checked before any model is loaded).
    no_test = tmp_path / "no_test.yaml"
    no_test.write_text(data.read_text().replace("test: test/images\n", ""))
    with pytest.raises(DatasetError, match="no 'test:' split"):
        evaluate_weights("w.pt", no_test, "test")
    with pytest.raises(ModelError, match="not a local file"):
        evaluate_weights("yolo11n.pt", data, "val")


def test_ultralytics_val_refusal_is_a_dataset_error(tmp_path: Path, make_yolo_dataset) -> None:
    import yaml

    from detector.evaluate import ultralytics_val
    from detector.train import load_yolo

    data = make_yolo_dataset()
    spec = yaml.safe_load(Path(data).read_text())
    del spec["train"]
    test_only = tmp_path / "test_only.yaml"
    test_only.write_text(yaml.safe_dump(spec))
    weights = tmp_path / "w.pt"
    load_yolo("yolo11n.yaml").save(weights)
    with pytest.raises(DatasetError, match="test_only.yaml.*train"):
        ultralytics_val(weights, test_only, "test", imgsz=64)


def test_evaluate_weights_class_count_mismatch(tmp_path: Path, make_yolo_dataset) -> None:
    from detector.train import load_yolo

    data = make_yolo_dataset(counts=(2, 2, 0))
    weights = tmp_path / "coco80.pt"
    load_yolo("yolo11n.yaml").save(weights)  # 80 classes, untrained
    with pytest.raises(ModelError, match="80 classes"):
        evaluate_weights(weights, data, "val")


class _OracleDetector:
    """Reads each frame's own label file back: a predictor whose output is known exactly."""

    def __init__(self, labels: dict[bytes, Path], names: dict[int, str], flip_class: bool = False) -> None:
        self.labels, self.names, self.flip_class = labels, names, flip_class
        self.name = "oracle"

    def predict(self, frame: np.ndarray) -> Detections:
        from detector.evaluate import load_truth

        truth = load_truth(self.labels[frame.tobytes()[:4096]], frame.shape[1::-1], self.names)
        cls = 1 - truth.class_id if self.flip_class else truth.class_id
        return Detections(truth.xyxy, cls, np.full(len(cls), 0.9), None, self.names)


def _oracle(data_yaml: Path, flip_class: bool = False) -> _OracleDetector:
    import cv2

    from detector.train import load_data_yaml

    spec = load_data_yaml(data_yaml, require=("test",))
    labels = {cv2.imread(str(p)).tobytes()[:4096]: p for p in spec.images("test")}
    return _OracleDetector(labels, spec.names, flip_class)


def test_evaluate_predictor_scores_any_frame_detector(tmp_path: Path, make_yolo_dataset) -> None:
    from detector.evaluate import evaluate_predictor

    data = make_yolo_dataset()
    right = evaluate_predictor(_oracle(data), data, "test", out=tmp_path / "right", plots=False,
                               meta={"cnn": "x.pt"})
    assert right.map50 == pytest.approx(1.0) and right.face.shares()["right"] == pytest.approx(1.0)
    assert right.meta["predictor"] == "oracle" and right.meta["cnn"] == "x.pt"
    assert (tmp_path / "right" / "report.json").is_file()
    wrong = evaluate_predictor(_oracle(data, flip_class=True), data, "test", out=tmp_path / "wrong", plots=False)
    assert wrong.map50 == pytest.approx(0.0) and wrong.face.shares()["wrong"] == pytest.approx(1.0)
    # Every face is a mistake, and mistakes.csv names the image file it is in.
    rows = (tmp_path / "wrong" / "mistakes.csv").read_text().splitlines()[1:]
    assert len(rows) == wrong.instances and all(Path(row.split(",")[1]).is_file() for row in rows)


def test_evaluate_predictor_refuses_other_classes(tmp_path: Path, make_yolo_dataset) -> None:
    from detector.evaluate import evaluate_predictor

    data = make_yolo_dataset()
    oracle = _oracle(data)
    oracle.names = {0: "angry", 1: "happy"}
    with pytest.raises(ModelError, match="predicts"):
        evaluate_predictor(oracle, data, "test", out=tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_evaluate_weights_augment_reaches_ultralytics(tmp_path: Path, make_yolo_dataset, untrained_weights: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from ultralytics import YOLO

    seen: list[bool] = []
    original = YOLO.predict

    def spy(self, *args, **kwargs):
        seen.append(kwargs.get("augment", False))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(YOLO, "predict", spy)
    data = make_yolo_dataset(counts=(2, 3, 0))
    plain = evaluate_weights(untrained_weights, data, "val", imgsz=64, out=tmp_path / "plain", plots=False)
    assert seen and not any(seen)
    seen.clear()
    tta = evaluate_weights(untrained_weights, data, "val", imgsz=64, out=tmp_path / "tta", plots=False,
                           augment=True)
    assert seen and all(seen)
    assert (plain.meta["augment"], tta.meta["augment"]) == (False, True)
    assert json.loads((tmp_path / "tta" / "report.json").read_text())["augment"] is True
