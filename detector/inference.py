"""Load an expression model once and turn BGR frames into :class:`~detector.core.Detections`.

:class:`ExpressionDetector` wraps an Ultralytics YOLO model (``.pt`` weights, a ``.yaml``
architecture, or an ONNX/OpenVINO export). Anything that has ``predict(frame) -> Detections``
(a :class:`FrameDetector`) can stand in for it in the detect loop and the benchmark, e.g. the
later two-stage face-finder + classifier pipeline or the scripted fake in the tests.

Nothing here downloads or pip-installs: bare hub names (``yolo11n.pt``) are refused, and
Ultralytics' run-time ``pip install`` of missing requirements is switched off.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np

from detector.core import Detections
from detector.errors import ModelError
from detector.fileio import atomic_file
from detector.paths import DEFAULT_WEIGHTS

MODEL_SUFFIXES = (".pt", ".onnx", ".yaml", ".yml")
TRACKERS = ("bytetrack", "botsort")
# Errors torch.load / Ultralytics raise for a corrupt, truncated or foreign weights file.
_LOAD_ERRORS = (RuntimeError, ValueError, EOFError, KeyError, AttributeError, TypeError,
                pickle.UnpicklingError, ModuleNotFoundError, OSError)


@runtime_checkable
class FrameDetector(Protocol):
    """Anything that boxes expressions in one BGR frame (the detect loop's and bench's input)."""

    def predict(self, frame_bgr: np.ndarray) -> Detections:
        """Return the detections of one frame."""
        ...


def _ultralytics() -> Any:
    """Import Ultralytics with downloads, telemetry and run-time installs switched off.

    Importing lazily keeps ``import detector.inference`` cheap (no torch) for the CLI help and
    for code that only needs :func:`resolve_weights`.
    """
    # YOLO_OFFLINE stops DNS probes, hub calls and telemetry; must be set before the import.
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ["YOLO_AUTOINSTALL"] = "false"
    import ultralytics
    from ultralytics.utils import checks

    # The module may have been imported earlier (by another command) with auto-install on;
    # checks.py copies the flag at import, so switch it off where it is read.
    checks.AUTOINSTALL = False
    return ultralytics


@contextlib.contextmanager
def _quiet_ultralytics() -> Iterator[None]:
    """Hide Ultralytics' info chatter (export banners, "Loading ...") while keeping warnings."""
    from ultralytics.utils import LOGGER

    level = LOGGER.level
    LOGGER.setLevel(logging.WARNING)
    try:
        yield
    finally:
        LOGGER.setLevel(level)


def resolve_weights(weights: str | Path) -> Path:
    """Check that ``weights`` names a local model file (or an architecture yaml) without loading it.

    A bare name that is not a local file (``yolo11n.pt``) would make Ultralytics download it,
    so it is refused. The shipped default gets a hint about ``--weights``.

    Raises:
        ModelError: missing file, bare hub name or unsupported suffix.

    Example:
        >>> resolve_weights("yolo11n.yaml")
        PosixPath('yolo11n.yaml')
        >>> try:
        ...     resolve_weights("yolo11n.pt")
        ... except ModelError as exc:
        ...     print(exc.problem[:48])
        not a local file, and downloading weights is off
    """
    path = Path(weights)
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        # Ultralytics resolves bundled architecture names (yolo11n.yaml) from its own package.
        return path
    if path.exists():
        if path.is_dir() and path.name.endswith("_openvino_model"):
            return path
        if path.is_dir():
            raise ModelError(path, "is a folder, expected a .pt or .onnx weights file")
        if suffix not in MODEL_SUFFIXES:
            raise ModelError(path, f"unsupported weights type {suffix or '(no suffix)'}; "
                                   "expected .pt, .onnx or .yaml")
        return path
    if path.resolve() == DEFAULT_WEIGHTS.resolve():
        raise ModelError(path, "the shipped model is not there yet; pass --weights PATH to a "
                               "local .pt or .onnx file (or train it with `exprdet train`)")
    if len(path.parts) == 1:
        raise ModelError(path, "not a local file, and downloading weights is off: use a .yaml "
                               "or a path to a local .pt/.onnx file (a .yaml builds an "
                               "untrained model)")
    raise ModelError(path, "weights file not found")


# Live NMS IoU. The shipped detector (measured on v4, whose labels mixed two box conventions)
# sometimes puts a second, looser box around a face, overlapping the first by IoU 0.5-0.7,
# which Ultralytics' 0.7 keeps. With 0.5 the false boxes of the three test sets drop 46 -> 26
# (photos), 62 -> 42 (composites), 35 -> 24 (real scenes) with the same face accuracy
# (`exprdet eval --iou 0.5`, session 6). `exprdet eval` keeps 0.7 for mAP: there the suppressed
# box is sometimes a useful second guess (photos mAP50 0.855 at 0.7, 0.844 at 0.5).
LIVE_NMS_IOU = 0.5


class ExpressionDetector:
    """An expression model loaded once; ``predict``/``track`` one BGR frame at a time.

    Args:
        weights: Local ``.pt``/``.onnx`` file, an OpenVINO export folder, or an architecture
            ``.yaml`` (untrained; pipeline checks only).
        conf: Minimum confidence of a returned box.
        imgsz: Inference size in pixels (square letterbox); ``None`` uses the size a ``.pt`` was
            trained at (else 640). ONNX/OpenVINO exports are fixed-size: their own size is used.
        device: Torch device string (``"cpu"``).
        threads: CPU threads for inference (torch or ONNX Runtime); ``None`` keeps the default.
        iou: NMS IoU threshold (default :data:`LIVE_NMS_IOU`).
        tracker: ``"bytetrack"`` or ``"botsort"`` (no ReID, so nothing is downloaded).
        classifier: Optional face-crop ``-cls`` model that re-classifies every box
            (see :mod:`detector.refine`); ``None`` keeps the detector's own classes.

    Raises:
        ModelError: the weights are missing, refused (hub name) or cannot be loaded.

    Example:
        >>> det = ExpressionDetector("weights/smile-neutral-yolo11n.pt")  # doctest: +SKIP
        >>> dets = det.predict(cv2.imread("photo.jpg"))  # doctest: +SKIP
        >>> dets.labels  # doctest: +SKIP
        ['smile']
    """

    def __init__(self, weights: str | Path = DEFAULT_WEIGHTS, conf: float = 0.25, imgsz: int | None = None,
                 device: str = "cpu", threads: int | None = None, iou: float = LIVE_NMS_IOU,
                 tracker: str = "bytetrack", classifier: str | Path | None = None) -> None:
        if not 0.0 <= conf <= 1.0:
            raise ValueError(f"conf must lie in [0, 1], got {conf}")
        if tracker not in TRACKERS:
            raise ValueError(f"tracker must be one of {TRACKERS}, got {tracker!r}")
        self.weights = resolve_weights(weights)
        self.conf = conf
        self.imgsz = 640 if imgsz is None else int(imgsz)
        self.device = device
        self.iou = iou
        self.tracker = tracker
        self.threads = threads
        ul = _ultralytics()
        suffix = self.weights.suffix.lower()
        self.backend = ("onnx" if suffix == ".onnx" else
                        "openvino" if self.weights.is_dir() else "pytorch")
        try:
            with _quiet_ultralytics():
                self.model = ul.YOLO(str(self.weights), task="detect")
        except _LOAD_ERRORS as exc:
            raise ModelError(self.weights,
                             f"cannot load the model ({type(exc).__name__}: {exc})") from None
        if self.backend != "pytorch":
            self.imgsz = _export_imgsz(self.weights, self.imgsz)
        elif imgsz is None:
            # A model is most accurate at the size it was trained at (the shipped one: 320).
            trained = self.model.overrides.get("imgsz") or 640
            self.imgsz = int(max(trained) if isinstance(trained, (list, tuple)) else trained)
        self._tracker_dir = Path(tempfile.mkdtemp(prefix="exprdet-tracker-"))
        weakref.finalize(self, shutil.rmtree, self._tracker_dir, True)
        self._tracker_cfg = _write_tracker_cfg(self._tracker_dir, tracker, conf)
        self.refiner: Any = None  # set after the warm-up below, which must not classify
        # The first call builds Ultralytics' predictor (fuses layers, creates the ONNX session,
        # warms up): done here so the frame loop never pays for it. Building it also resets
        # torch's thread count, which is why threads are set after it.
        with _quiet_ultralytics():
            self.predict(np.zeros((64, 64, 3), np.uint8))
        self.names: dict[int, str] = {int(k): str(v) for k, v in dict(self.model.names).items()}
        if classifier is not None:
            from detector.refine import CropClassifier
            from detector.train import read_box_convention

            # The classifier maps this detector's boxes to the crops it learned from (the shipped
            # pair: human-drawn boxes, YuNet crops); an ONNX/OpenVINO export records no convention.
            self.refiner = CropClassifier(classifier, self.names, box_convention=read_box_convention(self.model))
        if threads is not None:
            self.set_threads(threads)

    @property
    def name(self) -> str:
        """Short label for reports, e.g. ``pytorch`` or ``onnx``."""
        return self.backend

    def _run(self, frame_bgr: np.ndarray, mode: str) -> Detections:
        frame = _as_bgr(frame_bgr)
        # Class-agnostic NMS: a face has one expression, so a smile box and a neutral box on the
        # same face must not both survive.
        kwargs: dict[str, Any] = dict(conf=self.conf, iou=self.iou, imgsz=self.imgsz, agnostic_nms=True,
                                      device=self.device, verbose=False,
                                      tracker=str(self._tracker_cfg))
        if mode == "track":
            # persist=True keeps track ids across calls; reset_tracker() starts a new source.
            result = self.model.track(frame, persist=True, **kwargs)[0]
        else:
            # Passing tracker= here too keeps Ultralytics from rebuilding its predictor when a
            # caller alternates predict and track (the tracker path is a predictor set-up key).
            result = self.model.predict(frame, **kwargs)[0]
        detections = Detections.from_ultralytics(result)
        if self.refiner is not None:
            detections = self.refiner.refine(frame, detections)
        return detections

    def predict(self, frame_bgr: np.ndarray) -> Detections:
        """Detect expressions in one BGR (or grayscale) frame.

        Example:
            >>> det.predict(np.zeros((480, 640, 3), np.uint8)).xyxy.shape  # doctest: +SKIP
            (0, 4)
        """
        return self._run(frame_bgr, "predict")

    def track(self, frame_bgr: np.ndarray) -> Detections:
        """Detect and track: every returned box has a ``tracker_id``.

        Boxes the tracker has not confirmed yet (Ultralytics returns them without an id while it
        holds no track) get id ``-1`` so downstream code can tell them apart.

        Example:
            >>> dets = det.track(frame)  # doctest: +SKIP
            >>> dets.tracker_id  # doctest: +SKIP
            array([1])
        """
        dets = self._run(frame_bgr, "track")
        if dets.tracker_id is None:
            dets.tracker_id = np.full(len(dets), -1, np.int64)
        return dets

    def reset_tracker(self) -> None:
        """Forget all tracks (call between unrelated sources); ids restart at 1.

        Example:
            >>> det.reset_tracker()  # doctest: +SKIP
        """
        predictor = getattr(self.model, "predictor", None)
        for tracker in getattr(predictor, "trackers", None) or []:
            tracker.reset()

    def set_threads(self, threads: int) -> None:
        """Set the CPU threads used by inference (torch, or ONNX Runtime for an ONNX model).

        Example:
            >>> det.set_threads(1)  # doctest: +SKIP
        """
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.threads = threads
        if self.backend == "onnx":
            _set_onnx_threads(self.model, self.weights, threads)
        else:
            import torch

            torch.set_num_threads(threads)


def _as_bgr(frame: np.ndarray) -> np.ndarray:
    if not isinstance(frame, np.ndarray) or frame.ndim not in (2, 3):
        raise ValueError("expected an (h, w) or (h, w, 3) uint8 image")
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    return frame


def _write_tracker_cfg(folder: Path, tracker: str, conf: float) -> Path:
    """Copy Ultralytics' bundled tracker yaml with thresholds no higher than ``conf``.

    The stock thresholds (0.25) would silently drop every track when the user lowers ``--conf``;
    tying them to ``conf`` makes "what is shown" and "what is tracked" the same boxes.
    """
    import yaml
    from ultralytics.utils.checks import check_yaml

    cfg = yaml.safe_load(Path(check_yaml(f"{tracker}.yaml")).read_text())
    for key in ("track_high_thresh", "new_track_thresh"):
        cfg[key] = min(float(cfg[key]), conf)
    cfg["track_low_thresh"] = min(float(cfg["track_low_thresh"]), conf * 0.4)
    # ReID would fetch a classifier from the hub; keep the motion-only matcher.
    if "with_reid" in cfg:
        cfg["with_reid"] = False
    if "gmc_method" in cfg:
        # Camera-motion compensation costs ~10 ms/frame and classrooms are filmed from a tripod.
        cfg["gmc_method"] = "none"
    path = folder / f"{tracker}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _export_imgsz(path: Path, requested: int) -> int:
    """The fixed input size recorded in an ONNX/OpenVINO export's metadata (else ``requested``)."""
    meta: dict[str, str] = {}
    if path.suffix.lower() == ".onnx":
        import onnx

        model = onnx.load(str(path), load_external_data=False)
        meta = {p.key: p.value for p in model.metadata_props}
    elif (path / "metadata.yaml").exists():
        import yaml

        loaded = yaml.safe_load((path / "metadata.yaml").read_text()) or {}
        meta = {k: str(v) for k, v in loaded.items()}
    value = meta.get("imgsz")
    if not value:
        return requested
    digits = [int(v) for v in value.strip("[]() ").replace(",", " ").split() if v.isdigit()]
    return digits[0] if digits else requested


def _set_onnx_threads(model: Any, path: Path, threads: int) -> None:
    """Rebuild the ONNX Runtime session with ``threads`` intra-op threads.

    Ultralytics creates the session with default options and exposes no thread setting, so the
    session inside its ONNX backend is replaced (same model, same outputs).
    """
    import onnxruntime as ort

    backend = getattr(getattr(getattr(model, "predictor", None), "model", None), "backend", None)
    if backend is None or not hasattr(backend, "session"):
        raise ModelError(path, "cannot set threads: unexpected Ultralytics ONNX backend layout")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    backend.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def build_untrained_weights(path: str | Path, names: Sequence[str] = ("neutral", "smile"),
                            cfg: str = "yolo11n.yaml") -> Path:
    """Save an untrained YOLO model with ``names`` as a normal Ultralytics ``.pt`` checkpoint.

    For tests and pipeline-speed checks only: its detections are meaningless, its speed is
    that of the trained model with the same architecture.

    Example:
        >>> import tempfile
        >>> p = build_untrained_weights(Path(tempfile.mkdtemp()) / "tiny.pt")  # doctest: +SKIP
        >>> ExpressionDetector(p, imgsz=128).names  # doctest: +SKIP
        {0: 'neutral', 1: 'smile'}
    """
    ul = _ultralytics()
    from ultralytics.nn.tasks import DetectionModel

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _quiet_ultralytics():
        model = ul.YOLO(cfg)
        net = DetectionModel(cfg, nc=len(names), verbose=False)
    net.names = dict(enumerate(names))
    net.args = model.model.args
    net.task = "detect"
    model.model = net
    # Model.save writes the same checkpoint layout training does, so YOLO(path) loads it.
    with atomic_file(path, suffix=".pt") as tmp:
        model.save(str(tmp))
    return path


def export_onnx(weights: str | Path, imgsz: int, out_dir: str | Path) -> Path:
    """Export ``weights`` to a fixed-size ONNX file in ``out_dir`` (offline; nothing installed).

    The ``.pt`` is copied into ``out_dir`` first because Ultralytics writes the export beside
    its input, and the user's weights folder must not gain files as a side effect.

    Example:
        >>> export_onnx("weights/smile-neutral-yolo11n.pt", 320, "/tmp/x")  # doctest: +SKIP
        PosixPath('/tmp/x/smile-neutral-yolo11n-320.onnx')
    """
    return _export(weights, imgsz, out_dir, "onnx")


def export_openvino(weights: str | Path, imgsz: int, out_dir: str | Path) -> Path:
    """Export ``weights`` to an OpenVINO folder (only when the ``openvino`` package is installed).

    Example:
        >>> export_openvino("w.pt", 320, "/tmp/x")  # doctest: +SKIP
    """
    return _export(weights, imgsz, out_dir, "openvino")


def _export(weights: str | Path, imgsz: int, out_dir: str | Path, fmt: str) -> Path:
    src = resolve_weights(weights)
    if src.suffix.lower() != ".pt":
        raise ModelError(src, f"{fmt} export needs .pt weights")
    ul = _ultralytics()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    copy = out_dir / f"{src.stem}-{imgsz}.pt"
    shutil.copyfile(src, copy)
    try:
        with _quiet_ultralytics():
            exported = ul.YOLO(str(copy)).export(format=fmt, imgsz=imgsz, dynamic=False,
                                                 simplify=True, device="cpu", verbose=False)
    except _LOAD_ERRORS as exc:
        raise ModelError(src, f"{fmt} export failed ({type(exc).__name__}: {exc})") from None
    finally:
        copy.unlink(missing_ok=True)
    if not exported or not Path(exported).exists():
        raise ModelError(src, f"{fmt} export produced no file (a requirement may be missing; "
                              "nothing is installed at run time)")
    return Path(exported)
