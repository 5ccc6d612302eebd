"""Train Ultralytics YOLO detectors (and crop classifiers) fully offline.

Everything here refuses to download: models are built from a ``.yaml`` config or loaded from a
local ``.pt`` path, data.yaml files are checked before Ultralytics starts, and
:func:`offline_ultralytics` switches off the code paths in Ultralytics that would otherwise reach
the network (font download, pip update check, telemetry, Platform streaming).

Example:
    >>> # result = train("datasets/smile/data.yaml", "yolo11n.yaml", epochs=50, imgsz=320)
    >>> # print(result.best)
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import io
import os
import pickle
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import yaml

from detector.errors import DatasetError, DetectorError, ModelError
from detector.fileio import IMAGE_SUFFIXES, atomic_write_bytes
from detector.labels import BOX_CONVENTION_OFFSETS
from detector.paths import RUNS_DIR

# Read once when Ultralytics is first imported: with it set, Ultralytics skips its DNS probe,
# PyPI version check and telemetry. Project policy is that nothing downloads at run time.
os.environ.setdefault("YOLO_OFFLINE", "1")

DEFAULT_MODEL = "yolo11n.yaml"
DEFAULT_CLASSIFIER = "yolo11n-cls.yaml"
SPLITS = ("train", "val", "test")

# Options that have their own argument in train(); taking them from `overrides` too would make
# two sources of truth for one setting.
RESERVED_OVERRIDES = frozenset(
    {"data", "model", "epochs", "batch", "imgsz", "seed", "name", "project", "resume", "mode",
     "task", "save_dir"})
# Override keys whose value may name a weights file: a bare name there would be downloaded.
WEIGHT_OVERRIDES = ("pretrained", "distill_model")
# Gentle augmentation for face-crop classifiers: RandAugment and random erasing destroy the
# mouth region the expression lives in, and large crops-of-crops cut faces in half.
CLASSIFIER_AUGMENT: dict[str, Any] = {"auto_augment": None, "erasing": 0.0, "scale": 0.1}


@dataclass(frozen=True)
class TrainResult:
    """Where a finished training put its outputs.

    Attributes:
        best: ``weights/best.pt`` (best validation fitness).
        last: ``weights/last.pt`` (the checkpoint ``--resume`` continues from).
        run_dir: The run folder (``<project>/<name>``; Ultralytics appends ``-2``, ``-3`` ... when
            the name is taken and this is not a resume).
        seconds: Wall time of the training call (0 when a resume found the run already finished).
        threads: torch intra-op threads used during training.

    Example:
        >>> r = TrainResult(Path("runs/a/weights/best.pt"), Path("runs/a/weights/last.pt"),
        ...                 Path("runs/a"), 61.5, 2)
        >>> r.best.name
        'best.pt'
    """

    best: Path
    last: Path
    run_dir: Path
    seconds: float
    threads: int


# --------------------------------------------------------------------------- offline guard


def _local_font(font: str = "Arial.ttf") -> Path:
    """Stand-in for ``ultralytics.utils.checks.check_font`` that never touches the network.

    Ultralytics asks for Arial.ttf in ``check_det_dataset`` (every train/val) and in its PIL
    annotator, and fetches it from GitHub when it is not in its config folder. Any TrueType font
    draws labels just as well, so use one already on disk: the user's own copy if present, else
    DejaVu Sans, which ships inside matplotlib (a dependency).
    """
    from matplotlib import font_manager
    from ultralytics.utils import USER_CONFIG_DIR

    own = USER_CONFIG_DIR / Path(font).name
    if own.exists():
        return own
    return Path(font_manager.findfont("DejaVu Sans", fallback_to_default=True))


@contextlib.contextmanager
def offline_ultralytics() -> Iterator[None]:
    """Run Ultralytics with every network path switched off; restores everything on exit.

    Paths found by reading ultralytics 8.4 (and what happens to each here):

    * ``check_font`` (data/utils.py ``check_det_dataset``, utils/plotting.py ``Annotator``):
      an HTTP HEAD (3 s timeout) then a download of Arial.ttf -> replaced by a local font.
    * ``checks.check_pip_update_available`` (``Model.train``): queries PyPI when ``ONLINE``;
      ``checks.check_requirements`` auto-installs missing packages when ``ONLINE`` ->
      ``checks.ONLINE`` is patched to False and ``YOLO_OFFLINE=1`` is set for code that asks again.
    * telemetry events (utils/events.py) -> disabled.
    * Platform streaming callbacks (utils/callbacks/platform.py) start when
      ``ULTRALYTICS_API_KEY`` is set -> unset for the duration.
    * AMP check (downloads yolo26n.pt) -> only on CUDA; CPU returns before it.
    * weights by bare name (``attempt_download_asset``) -> prevented by :func:`check_model_source`.

    Example:
        >>> with offline_ultralytics():
        ...     import ultralytics.utils.checks as checks
        ...     checks.ONLINE
        False
    """
    import ultralytics.data.utils as data_utils
    import ultralytics.utils.checks as checks
    import ultralytics.utils.events as events
    import ultralytics.utils.plotting as plotting

    with contextlib.ExitStack() as stack:
        # patch.dict restores both keys exactly as they were (present or absent) on exit.
        stack.enter_context(mock.patch.dict(os.environ, {"YOLO_OFFLINE": "1"}))
        os.environ.pop("ULTRALYTICS_API_KEY", None)
        stack.enter_context(mock.patch.object(data_utils, "check_font", _local_font))
        stack.enter_context(mock.patch.object(plotting, "check_font", _local_font))
        stack.enter_context(mock.patch.object(checks, "ONLINE", False))
        stack.enter_context(mock.patch.object(events.events, "enabled", False))
        yield


def cpu_supports_bf16() -> bool:
    """True when this CPU has native bfloat16 instructions (AVX512-BF16 or AMX) for oneDNN.

    Example:
        >>> isinstance(cpu_supports_bf16(), bool)
        True
    """
    import torch

    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


@contextlib.contextmanager
def cpu_bf16_autocast() -> Iterator[None]:
    """Let Ultralytics' ``amp="bf16"`` train on the CPU: forward and loss under bfloat16 autocast.

    Ultralytics 8.4 accepts ``amp="bf16"`` but its ``autocast`` helper refuses bfloat16 on any
    device but CUDA. Inside this context the trainer's helper returns ``torch.autocast("cpu",
    dtype=torch.bfloat16)`` for the CPU instead; other devices and dtypes go to the original.
    No gradient scaler is needed (Ultralytics already disables it for bf16), weights and the
    optimizer stay float32, and validation runs in float32 (its autocast is fp16-only).

    Example:
        >>> with cpu_bf16_autocast():
        ...     import ultralytics.engine.trainer as tr
        ...     import torch
        ...     with tr.autocast(torch.bfloat16, device="cpu"):
        ...         torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype
        torch.bfloat16
    """
    import torch
    import ultralytics.engine.trainer as trainer_module

    original = trainer_module.autocast

    def autocast(enabled: bool | torch.dtype, device: str = "cuda") -> Any:
        if device == "cpu" and enabled is torch.bfloat16:
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return original(enabled, device=device)

    with mock.patch.object(trainer_module, "autocast", autocast):
        yield


# --------------------------------------------------------------------------- data.yaml


@dataclass(frozen=True)
class DataYaml:
    """A checked YOLO data.yaml with its split paths resolved the way Ultralytics resolves them.

    Attributes:
        path: The data.yaml file.
        root: Dataset root (``path:`` key, else the yaml's folder).
        names: Class index to name.
        splits: Split name to the resolved image folders / list files it names.

    Example:
        >>> # spec = load_data_yaml("datasets/smile/data.yaml", require=("test",))
        >>> # spec.images("test")[:1]
    """

    path: Path
    root: Path
    names: dict[int, str]
    splits: dict[str, list[Path]]

    def images(self, split: str) -> list[Path]:
        """Image files of a split, sorted, as Ultralytics lists them (folders searched recursively,
        ``.txt`` files read as one image path per line, ``./`` relative to the list file).

        Example:
            >>> # load_data_yaml("data.yaml").images("val")
        """
        if split not in self.splits:
            raise DatasetError(self.path, f"has no {split!r} split (has {', '.join(self.splits)})")
        found: list[Path] = []
        for source in self.splits[split]:
            if source.is_dir():
                found += [p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES]
            else:
                for line in source.read_text(encoding="utf-8-sig").splitlines():
                    line = line.strip()
                    if not line:
                        continue
                    p = source.parent / line[2:] if line.startswith("./") else Path(line)
                    if p.suffix.lower() in IMAGE_SUFFIXES:
                        found.append(p)
        return sorted(found)


def label_path_for(image: str | Path) -> Path:
    """The label file Ultralytics reads for an image: last ``/images/`` -> ``/labels/``, ``.txt``.

    Example:
        >>> label_path_for("d/test/images/a.jpg").as_posix()
        'd/test/labels/a.txt'
    """
    s = os.fspath(image)
    sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    return Path(sb.join(s.rsplit(sa, 1)).rsplit(".", 1)[0] + ".txt")


def _names_from(raw: Mapping[str, Any], path: Path) -> dict[int, str]:
    names = raw.get("names")
    nc = raw.get("nc")
    if names is None:
        if nc is None:
            raise DatasetError(path, "needs 'names:' (a list of class names) or 'nc:'")
        if not isinstance(nc, int) or nc < 1:
            raise DatasetError(path, f"'nc: {nc}' must be a positive integer")
        return {i: f"class_{i}" for i in range(nc)}
    if isinstance(names, list):
        out = {i: str(n) for i, n in enumerate(names)}
    elif isinstance(names, dict):
        try:
            out = {int(k): str(v) for k, v in names.items()}
        except (TypeError, ValueError):
            raise DatasetError(path, "'names:' keys must be class indices 0..n-1") from None
        if sorted(out) != list(range(len(out))):
            raise DatasetError(path, "'names:' keys must be class indices 0..n-1")
    else:
        raise DatasetError(path, "'names:' must be a list or a mapping of index to name")
    if not out:
        raise DatasetError(path, "'names:' is empty")
    if nc is not None and nc != len(out):
        raise DatasetError(path, f"'nc: {nc}' does not match the {len(out)} names")
    return out


def load_data_yaml(data: str | Path, require: Sequence[str] = ("train", "val")) -> DataYaml:
    """Read and check a YOLO data.yaml; raise DatasetError naming it on any problem.

    Paths resolve exactly as in Ultralytics' ``check_det_dataset`` so the check and the training
    agree: root = ``path:`` (a relative one that does not exist is taken under Ultralytics'
    ``datasets_dir``) or the yaml's folder; a split that does not exist and starts with ``../``
    is retried without it (the Roboflow export layout).

    Args:
        data: The data.yaml file.
        require: Splits that must be present and exist on disk (with at least one image).

    Returns:
        The checked :class:`DataYaml`.

    Raises:
        DatasetError: missing/unreadable file, bad names, missing split key or folder, no images.

    Example:
        >>> # load_data_yaml("../shared/data/roboflow-facial-emotion-7/data.yaml").names[3]
        >>> # 'happy'
    """
    path = Path(data)
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise DatasetError(path, "expected a data.yaml file (YOLO dataset description)")
    if not path.is_file():
        raise DatasetError(path, "data.yaml not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DatasetError(path, f"not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise DatasetError(path, "must be a YAML mapping with train/val/names keys")
    names = _names_from(raw, path)
    if "val" not in raw and "validation" in raw:
        raw["val"] = raw["validation"]
    root = Path(raw.get("path") or path.parent)
    if not root.exists() and not root.is_absolute():
        from ultralytics.utils import DATASETS_DIR

        root = (DATASETS_DIR / root).resolve()
    splits: dict[str, list[Path]] = {}
    for key in (*SPLITS, *(r for r in require if r not in SPLITS)):
        value = raw.get(key)
        if not value:
            continue
        items = value if isinstance(value, list) else [value]
        resolved = []
        for item in items:
            p = (root / str(item)).resolve()
            if not p.exists() and str(item).startswith("../"):
                p = (root / str(item)[3:]).resolve()
            resolved.append(p)
        splits[key] = resolved
    spec = DataYaml(path.resolve(), root, names, splits)
    for key in require:
        if key not in splits:
            have = ", ".join(splits) or "none"
            raise DatasetError(path, f"no '{key}:' split (splits present: {have})")
        for p in splits[key]:
            if not p.exists():
                raise DatasetError(path, f"'{key}:' path {p} does not exist")
        if not spec.images(key):
            raise DatasetError(path, f"'{key}:' has no images ({', '.join(map(str, splits[key]))})")
    return spec


# --------------------------------------------------------------------------- models


def check_model_source(model: str | Path) -> str:
    """Check that a model can be built without downloading anything; return what to give YOLO().

    Accepted: a built-in or local ``.yaml`` config (``yolo11n.yaml``, ``yolov8n.yaml``,
    ``yolov5n.yaml``, ``my.yaml``) or the path of a local ``.pt`` file.

    Raises:
        ModelError: a URL, a ``.pt`` that is not a local file (Ultralytics would try to download a
            bare name such as ``yolo11n.pt``), an unknown config, or any other kind of name.

    Example:
        >>> check_model_source("yolo11n.yaml")
        'yolo11n.yaml'
        >>> check_model_source("yolo11n.pt")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        detector.errors.ModelError: yolo11n.pt: not a local file, and nothing is downloaded ...
    """
    text = str(model)
    if "://" in text:
        raise ModelError(model, "URLs are not accepted: nothing is downloaded at run time; "
                                "give a local .pt path or a .yaml config")
    path = Path(text)
    suffix = path.suffix.lower()
    if suffix == ".pt":
        if path.is_file():
            return str(path.resolve())
        raise ModelError(model, "not a local file, and nothing is downloaded at run time; build a "
                                "model from a config such as yolo11n.yaml (trains from scratch) "
                                "or give the path of a local .pt")
    if suffix in (".yaml", ".yml"):
        if path.is_file():
            return str(path.resolve())
        from ultralytics.nn.tasks import yaml_model_load

        try:
            yaml_model_load(text)  # resolves built-in configs; only a URL would download
        except FileNotFoundError:
            raise ModelError(model, "no such model config: not a local file nor a built-in "
                                    "Ultralytics config (e.g. yolo11n.yaml, yolov8n.yaml, "
                                    "yolov5n.yaml)") from None
        return text
    raise ModelError(model, "expected a model config ending in .yaml (e.g. yolo11n.yaml) or the "
                            "path of a local .pt weights file")


def load_yolo(model: str | Path, task: str | None = "detect") -> Any:
    """Build or load an Ultralytics ``YOLO`` without downloading; check it is a ``task`` model.

    Example:
        >>> load_yolo("yolo11n.yaml").task
        'detect'
    """
    source = check_model_source(model)
    from ultralytics import YOLO

    try:
        with offline_ultralytics():
            yolo = YOLO(source)
    except (RuntimeError, OSError, ValueError, KeyError, AttributeError, TypeError,
            ModuleNotFoundError) as exc:
        # A truncated file, a non-Ultralytics pickle, a checkpoint from an unknown version.
        raise ModelError(model, f"cannot be loaded by Ultralytics: {exc}") from None
    if task is not None and yolo.task != task:
        hint = " (use it as --backbone to start a detector from it)" if yolo.task == "classify" \
            else ""
        raise ModelError(model, f"is a {yolo.task} model, expected {task}{hint}")
    return yolo


# Checkpoint key naming the face-box convention a model learned from: "human" (hand-drawn
# boxes, :data:`~detector.labels.HUMAN_BOX_OFFSETS`) or "yunet" (YuNet's tighter boxes). A
# crop classifier and a detector that learned different conventions need the boxes mapped.
BOX_CONVENTION_KEY = "exprdet_box_convention"
BOX_CONVENTIONS = tuple(BOX_CONVENTION_OFFSETS)


def read_box_convention(model: Any) -> str | None:
    """The box convention recorded in a loaded ``YOLO``'s checkpoint, or None if it has none.

    Example:
        >>> read_box_convention(load_yolo("yolo11n.yaml")) is None
        True
    """
    ckpt = getattr(model, "ckpt", None)
    value = ckpt.get(BOX_CONVENTION_KEY) if isinstance(ckpt, dict) else None
    return value if value in BOX_CONVENTIONS else None


def tag_box_convention(weights: str | Path, convention: str) -> Path:
    """Record which face-box convention a ``.pt`` checkpoint learned from (rewritten atomically).

    Args:
        weights: A local Ultralytics ``.pt``.
        convention: ``"human"`` or ``"yunet"``.

    Raises:
        ModelError: not a loadable checkpoint dict.
        ValueError: unknown convention.

    Example:
        >>> # tag_box_convention("weights/smile-neutral-cls.pt", "yunet")
    """
    import torch

    if convention not in BOX_CONVENTIONS:
        raise ValueError(f"convention must be one of {BOX_CONVENTIONS}, got {convention!r}")
    path = Path(weights)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        raise ModelError(path, f"cannot be read as a checkpoint: {exc}") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise ModelError(path, "is not an Ultralytics checkpoint (no 'model' entry)")
    ckpt[BOX_CONVENTION_KEY] = convention
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    return atomic_write_bytes(path, buf.getvalue())


def build_detector(model: str | Path, backbone: str | Path | None = None, seed: int = 0) -> Any:
    """Build (or load) a detector to train, with a classifier's backbone loaded into it if given.

    The random initial weights depend on ``seed`` alone. Ultralytics seeds its trainer, but a
    model that holds a loaded checkpoint is copied into the trainer *whole*, so with a backbone
    the neck and head keep the initial weights drawn here, before any seeding: two runs of
    one command with ``seed=0`` started from different heads (session 13: cosine similarity
    ~0.0 between the head weights of v7 and its rerun). Torch's global random state is left as it was.

    Raises:
        ModelError: a model or backbone that would need a download, cannot be loaded, is not a
            ``.pt``, or shares no layer with the detector.

    Example:
        >>> a, b = build_detector("yolo11n.yaml", seed=1), build_detector("yolo11n.yaml", seed=1)
        >>> bool((a.model.model[-1].cv2[0][0].conv.weight == b.model.model[-1].cv2[0][0].conv.weight).all())
        True
    """
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yolo = load_yolo(model)
    if backbone is None:
        return yolo
    source = check_model_source(backbone)
    if not source.endswith(".pt"):
        raise ModelError(backbone, "a backbone must be a local .pt checkpoint")
    matching, _ = count_matching_layers(yolo, source)
    if matching == 0:
        raise ModelError(backbone, f"no layer matches {model} by name and shape; use a "
                                   "classifier of the same family and scale (e.g. "
                                   "yolo11n-cls for yolo11n)")
    with offline_ultralytics():
        yolo.load(source)
    return yolo


def count_matching_layers(yolo: Any, weights: str | Path) -> tuple[int, int]:
    """Tensors of ``weights`` whose name and shape match ``yolo``'s: ``(matching, total)``.

    This is what ``YOLO(yaml).load(pt)`` transfers; a classification checkpoint of the same
    family and scale shares the backbone with the detector.

    Example:
        >>> # count_matching_layers(load_yolo("yolo11n.yaml"), "runs/cls/weights/best.pt")
        >>> # (180, 230)
    """
    from ultralytics.nn.tasks import load_checkpoint

    with offline_ultralytics():
        src, _ = load_checkpoint(str(weights))
    csd = src.float().state_dict()
    dsd = yolo.model.state_dict()
    matching = sum(1 for k, v in csd.items() if k in dsd and dsd[k].shape == v.shape)
    return matching, len(csd)


# --------------------------------------------------------------------------- overrides


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """Parse ``key=value`` strings (values as YAML scalars); check keys are Ultralytics options.

    Raises:
        DetectorError: malformed pair, unknown option (with a suggestion), or an option that
            has its own argument (epochs, batch, imgsz, ...).

    Example:
        >>> parse_overrides(["mosaic=0.5", "fliplr=0.5", "cos_lr=true", "optimizer=SGD", "auto_augment=None"])
        {'mosaic': 0.5, 'fliplr': 0.5, 'cos_lr': True, 'optimizer': 'SGD', 'auto_augment': None}
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise DetectorError(None, f"override {pair!r} must look like key=value")
        if value.strip().lower() in ("", "none", "null"):
            # `yolo` itself reads none/None as None (auto_augment=None); YAML alone would keep "None".
            out[key] = None
            continue
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            out[key] = value
    check_overrides(out)
    return out


def check_overrides(overrides: Mapping[str, Any]) -> None:
    """Reject override keys Ultralytics does not know, reserved keys, and weight names to download.

    Example:
        >>> check_overrides({"mosaic": 0.5})
    """
    from ultralytics.cfg import DEFAULT_CFG_DICT

    for key, value in overrides.items():
        if key in RESERVED_OVERRIDES:
            raise DetectorError(None, f"'{key}' has its own argument; do not pass it as {key}=...")
        if key not in DEFAULT_CFG_DICT:
            close = difflib.get_close_matches(key, list(DEFAULT_CFG_DICT), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise DetectorError(None, f"unknown Ultralytics option '{key}'{hint}")
        if key in WEIGHT_OVERRIDES and isinstance(value, str):
            check_model_source(value)
    from ultralytics.cfg import check_cfg

    try:
        # Ultralytics' own type and range checks, here rather than as a traceback minutes into a run.
        check_cfg(dict(overrides), hard=True)
    except (TypeError, ValueError) as exc:
        raise DetectorError(None, f"bad Ultralytics option value: {exc}") from None


# --------------------------------------------------------------------------- training


def _apply_threads(yolo: Any, threads: int | None) -> int:
    """Set torch threads now and again at each epoch start, so nothing in between can undo it."""
    import torch

    if threads is None:
        return torch.get_num_threads()
    if threads < 1:
        raise DetectorError(None, f"--threads must be at least 1, got {threads}")

    def pin(_: Any) -> None:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)

    torch.set_num_threads(threads)
    # Ultralytics exports OMP_NUM_THREADS=1 at import (so torch imported after it uses one
    # thread); re-pinning per epoch keeps the user's choice whatever runs in between.
    yolo.add_callback("on_pretrain_routine_start", pin)
    yolo.add_callback("on_train_epoch_start", pin)
    return threads


def unfreeze_callback(after: float, keep_frozen: int = 0) -> Callable[[Any], None]:
    """An ``on_train_epoch_start`` callback that unfreezes a frozen backbone part-way through a run.

    A backbone loaded from a crop classifier and frozen (``freeze=N``) lets the class head learn
    from the first epoch, but it learnt faces at the classifier's size only; training it end to
    end for the rest of the run adapts it to the detector's face sizes. From the first epoch
    ``e >= after * epochs`` (``epochs`` as the trainer plans them then, which a ``time`` cap
    re-estimates every epoch), layers ``keep_frozen`` .. ``freeze - 1`` train and their batch
    norms update again. Also right after ``--resume``, which re-freezes at set-up.

    Args:
        after: Fraction of the run, in ``[0, 1]``, after which the backbone trains.
        keep_frozen: Layers ``0 .. keep_frozen - 1`` stay frozen (the stride-2/4 stem is the
            costliest to train and the least specific to faces).

    Returns:
        The callback, to pass as ``callbacks={"on_train_epoch_start": cb}`` to :func:`train`.

    Example:
        >>> cb = unfreeze_callback(0.5, keep_frozen=3)
        >>> callable(cb)
        True
    """
    if not 0.0 <= after <= 1.0:
        raise DetectorError(None, f"unfreeze 'after' must be a fraction in [0, 1], got {after}")
    if keep_frozen < 0:
        raise DetectorError(None, f"keep_frozen must be >= 0, got {keep_frozen}")

    def unfreeze(trainer: Any) -> None:
        if trainer.epoch < after * trainer.epochs:
            return
        keep = [f"model.{i}." for i in range(keep_frozen)]
        names = [n for n in trainer.freeze_layer_names if not n.startswith("model.") or n in keep]
        if names == list(trainer.freeze_layer_names):
            return
        # The optimizer was built over every parameter, frozen or not, so setting requires_grad
        # is enough; the trainer's own list decides which batch norms stay in eval mode.
        trainer.freeze_layer_names = names
        for k, v in trainer.model.named_parameters():
            if not any(n in k for n in names) and v.dtype.is_floating_point:
                v.requires_grad = True
        from ultralytics.utils import LOGGER

        LOGGER.info(f"unfreeze: epoch {trainer.epoch + 1} of {trainer.epochs}, layers {keep_frozen}+ train now")

    return unfreeze


def seconds_at_epoch(results_csv: str, epoch: int) -> float | None:
    """The ``time`` column of ``results.csv`` (text) at ``epoch`` (1-based); None if no row has it.

    Ultralytics writes one row per finished epoch with the seconds since the run started. A run
    interrupted and resumed can repeat an epoch (its row was written, its checkpoint was not), so
    the last row of that epoch counts.

    Example:
        >>> seconds_at_epoch("epoch,time,train/box_loss\n1,213.4,2.6\n2,391.9,1.9\n", 2)
        391.9
        >>> seconds_at_epoch("epoch,time\n1,213.4\n", 2) is None
        True
    """
    found = None
    for row in csv.DictReader(io.StringIO(results_csv)):
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        try:
            if int(float(row.get("epoch", ""))) == epoch:
                found = float(row["time"])
        except (KeyError, ValueError):
            continue
    return found


def keep_time_budget(trainer: Any) -> None:
    """An ``on_train_epoch_start`` callback that keeps a resumed run's ``time`` cap for the whole run.

    Ultralytics restarts the clock of ``time=`` (hours) when a run resumes, so an interrupted
    capped run trains up to its full budget again; given the remaining time instead, it re-plans
    ``epochs`` as a count of the epochs still to come but compares it with the absolute epoch
    index, and stops after one epoch. At the first epoch of a resumed capped run this callback
    moves the trainer's start time back by the seconds the run had already trained (the
    ``time`` column of ``results.csv`` at the checkpoint's epoch) and counts epochs from the
    first one, so Ultralytics' own re-planning (mean epoch time over the whole run, ``epochs``
    and the learning-rate schedule as absolute numbers) and its stop check see the whole run.
    The interrupted, unsaved part of an epoch is not counted. It does nothing at any other epoch,
    for runs without ``time`` and for runs that start from epoch 0. :func:`train` and
    :func:`train_classifier` add it to every resume.

    Example:
        >>> # yolo.add_callback("on_train_epoch_start", keep_time_budget)
    """
    # Only the resumed run's first epoch has epoch == start_epoch > 0; once acted on, start_epoch
    # is 0, so later epochs (and a redone first one) leave the clock alone.
    if not getattr(trainer.args, "time", None) or trainer.start_epoch <= 0 or trainer.epoch != trainer.start_epoch:
        return
    from ultralytics.utils import LOGGER

    csv_path = Path(trainer.csv)
    try:
        text = csv_path.read_text(encoding="utf-8")
    except OSError:
        text = ""
    seconds = seconds_at_epoch(text, trainer.start_epoch)
    if seconds is None:
        LOGGER.warning(f"time budget: {csv_path} has no time for epoch {trainer.start_epoch}, so the "
                       f"{trainer.args.time} h cap starts again from this resume")
        return
    trainer.train_time_start -= seconds
    # The loop has already taken its first epoch from start_epoch; from here on Ultralytics
    # uses it only as the origin of its mean epoch time, which must cover the whole run.
    trainer.start_epoch = 0
    LOGGER.info(f"time budget: {seconds / 3600:.3f} of {trainer.args.time} h already trained "
                f"before this resume")


def _checkpoint_to_resume(run_dir: Path) -> Path | None:
    """``last.pt`` to continue; None when that run already finished."""
    last = run_dir / "weights" / "last.pt"
    if not last.is_file():
        raise ModelError(last, "no checkpoint to resume (check --name/--project, or start "
                               "without --resume)")
    return last if _is_resumable(last) else None


def _fit(yolo: Any, args: Mapping[str, Any], threads: int | None,
         callbacks: Mapping[str, Callable[[Any], None]] | None) -> int:
    """Run ``yolo.train(**args)`` offline with our threads and callbacks; return the threads used."""
    import torch

    before = torch.get_num_threads()
    used_threads = _apply_threads(yolo, threads)
    for event, func in (callbacks or {}).items():
        yolo.add_callback(event, func)
    if args.get("resume"):
        yolo.add_callback("on_train_epoch_start", keep_time_budget)
    try:
        with offline_ultralytics(), (cpu_bf16_autocast() if args.get("amp") == "bf16"
                                     else contextlib.nullcontext()):
            yolo.train(**args)
    except FileNotFoundError as exc:
        # Ultralytics deletes and rewrites <split>/labels.cache while it scans a dataset; a second
        # run started at the same moment on the same data finds it gone (seen in session 13).
        if not str(exc.filename or "").endswith(".cache"):
            raise
        raise DatasetError(exc.filename, "this label cache vanished while it was written: another "
                                         "training run is probably scanning the same dataset; start "
                                         "runs on one dataset one after the other") from None
    finally:
        torch.set_num_threads(before)  # the caller's setting, not ours, after we return
    return used_threads


def _is_resumable(last: Path) -> bool:
    import torch

    # Metadata only: a finished run's last.pt has epoch -1 and no optimizer state.
    ckpt = torch.load(last, map_location="cpu", weights_only=False)
    return bool(ckpt.get("epoch", -1) >= 0 and ckpt.get("optimizer") is not None)


def train(
    data: str | Path | None,
    model: str | Path = DEFAULT_MODEL,
    *,
    epochs: int = 50,
    batch: int = 16,
    imgsz: int = 640,
    threads: int | None = None,
    seed: int = 0,
    name: str | None = None,
    project: str | Path | None = None,
    resume: bool = False,
    backbone: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    callbacks: Mapping[str, Callable[[Any], None]] | None = None,
) -> TrainResult:
    """Train a YOLO detector offline; return where best.pt and last.pt are.

    Args:
        data: A YOLO data.yaml (checked before Ultralytics starts). Optional when resuming
            (the checkpoint remembers it).
        model: ``yolo11n.yaml`` / ``yolov8n.yaml`` / ``yolov5n.yaml`` (random init) or a local
            ``.pt`` detector to fine-tune.
        epochs: Epochs (reference default 50).
        batch: Batch size (reference default 16).
        imgsz: Training image size.
        threads: torch threads; None keeps the current setting.
        seed: Random seed (Ultralytics ``deterministic=True`` stays on).
        name: Run name; default the model's stem (``yolo11n``). The run goes to
            ``<project>/<name>``, or ``<name>-2`` ... when that exists and this is not a resume.
        project: Folder of runs; default the repository's ``runs/``.
        resume: Continue ``<project>/<name>/weights/last.pt`` after an interruption, with the
            settings saved in it (``overrides`` may change what Ultralytics allows on resume:
            batch, imgsz, workers, patience, ...). A run that already finished is returned as is.
            A ``time`` cap stays one budget for the whole run (:func:`keep_time_budget`).
        backbone: A local classification ``.pt`` whose matching layers (same name and shape) are
            loaded into the detector built from ``model`` before training.
        overrides: Other Ultralytics training options, e.g. ``{"mosaic": 0.5, "erasing": 0}``.
        callbacks: Ultralytics callbacks by event name (``on_fit_epoch_end``, ...), each called
            with the trainer; for progress reporting or stopping early.

    Returns:
        A :class:`TrainResult`.

    Raises:
        DatasetError: bad data.yaml. ModelError: a model/backbone that would need a download,
        cannot be loaded, or shares no layer with the detector; nothing to resume.
        DetectorError: bad override.

    Example:
        >>> # r = train("datasets/smile/data.yaml", "yolo11n.yaml", imgsz=320, threads=2,
        >>> #           overrides={"mosaic": 0.5, "fliplr": 0.5})
        >>> # r.best
        >>> # PosixPath('/work/main/runs/yolo11n/weights/best.pt')
    """
    overrides = dict(overrides or {})
    check_overrides(overrides)
    if not resume:  # cheap checks first: a typo in a name should not wait for a dataset scan
        check_model_source(model)
        if backbone is not None:
            check_model_source(backbone)
    project_dir = Path(project or RUNS_DIR).resolve()  # Ultralytics nests relative projects
    name = name or Path(str(model)).stem
    if data is None and not resume:
        raise DatasetError(None, "a data.yaml is required (only --resume can do without)")
    if data is not None:
        load_data_yaml(data, require=("train", "val"))
        data = str(Path(data).resolve())

    if resume:
        run_dir = project_dir / name
        last = _checkpoint_to_resume(run_dir)
        if last is None:
            return _finished_run(run_dir)
        yolo = load_yolo(last)
        args: dict[str, Any] = {"resume": True, "save_dir": str(run_dir), **overrides}
        if data is not None:
            args["data"] = data
    else:
        yolo = build_detector(model, backbone, seed)
        args = {"data": data, "epochs": epochs, "batch": batch, "imgsz": imgsz, "seed": seed,
                "project": str(project_dir), "name": name, **overrides}

    return _timed_fit(yolo, args, threads, callbacks)


def _finished_run(run_dir: Path) -> TrainResult:
    # Re-running a finished pipeline step is safe: report the run instead of retraining.
    import torch

    return TrainResult(run_dir / "weights" / "best.pt", run_dir / "weights" / "last.pt", run_dir, 0.0,
                       torch.get_num_threads())


def _timed_fit(yolo: Any, args: dict[str, Any], threads: int | None,
               callbacks: Mapping[str, Callable[[Any], None]] | None) -> TrainResult:
    start = time.perf_counter()
    used_threads = _fit(yolo, args, threads, callbacks)
    seconds = time.perf_counter() - start
    trainer = yolo.trainer
    return TrainResult(Path(trainer.best), Path(trainer.last), Path(trainer.save_dir), seconds, used_threads)


def check_classify_folder(data: str | Path) -> Path:
    """Check an ImageFolder dataset: ``train/<class>/*`` and ``val/`` (or ``valid/``, ``test/``).

    Checked here because Ultralytics, given anything else, downloads (a bare name) or splits the
    folder in place (no ``train/``), which would modify the source data.

    Example:
        >>> # check_classify_folder("../shared/data/fer2013")
    """
    root = Path(data)
    if not root.is_dir():
        raise DatasetError(root, "classification data must be a folder with train/<class>/ images")
    train_dir = root / "train"
    if not train_dir.is_dir() or not any(p.is_dir() for p in train_dir.iterdir()):
        raise DatasetError(root, "needs train/<class>/ folders of images")
    if not any((root / s).is_dir() for s in ("val", "valid", "validation", "test")):
        raise DatasetError(root, "needs a val/ (or valid/, validation/, test/) folder")
    return root.resolve()


def train_classifier(
    data: str | Path,
    model: str | Path = DEFAULT_CLASSIFIER,
    *,
    epochs: int = 30,
    batch: int = 64,
    imgsz: int = 64,
    threads: int | None = None,
    seed: int = 0,
    name: str | None = None,
    project: str | Path | None = None,
    resume: bool = False,
    overrides: Mapping[str, Any] | None = None,
    callbacks: Mapping[str, Callable[[Any], None]] | None = None,
) -> TrainResult:
    """Train a YOLO classifier (expression of a face crop) on an ImageFolder; return where best.pt is.

    Augmentation defaults to :data:`CLASSIFIER_AUGMENT` (``auto_augment=None, erasing=0.0,
    scale=0.1``); ``overrides`` wins over them. With ``resume`` the run
    ``<project>/<name>`` continues from its ``last.pt`` with the settings saved in it; a run
    that already finished is returned as is (``seconds`` 0). ``callbacks`` as in :func:`train`.
    Returns a :class:`TrainResult`, as :func:`train` does, so pipelines time both alike.

    Example:
        >>> # r = train_classifier("../shared/data/fer2013", imgsz=48, epochs=20, threads=2)
        >>> # r.best, r.seconds
    """

    root = check_classify_folder(data)
    merged = {**CLASSIFIER_AUGMENT, **dict(overrides or {})}
    check_overrides(merged)
    project_dir = Path(project or RUNS_DIR).resolve()
    name = name or Path(str(model)).stem
    if resume:
        run_dir = project_dir / name
        last = _checkpoint_to_resume(run_dir)
        if last is None:
            return _finished_run(run_dir)
        yolo = load_yolo(last, task="classify")
        args: dict[str, Any] = {"resume": True, "save_dir": str(run_dir), "data": str(root)}
    else:
        yolo = load_yolo(model, task="classify")
        args = {"data": str(root), "epochs": epochs, "batch": batch, "imgsz": imgsz, "seed": seed,
                "project": str(project_dir), "name": name, **merged}
    return _timed_fit(yolo, args, threads, callbacks)


def write_synthetic_dataset(root: str | Path, counts: tuple[int, int, int] = (24, 8, 8),
                            size: int = 64, seed: int = 0) -> Path:
    """Write a tiny 2-class YOLO dataset for smoke tests and speed measurements; return data.yaml.

    Class 0 ``neutral`` is a bright square, class 1 ``smile`` a dark disc, on a mid-grey noisy
    background, one or two objects per image (side 1/4 to 1/2 of the image). Layout:
    ``root/{train,val,test}/{images,labels}`` and ``root/data.yaml``. Deterministic per seed.

    Example:
        >>> import tempfile
        >>> data = write_synthetic_dataset(tempfile.mkdtemp(), counts=(2, 1, 1))
        >>> load_data_yaml(data).names
        {0: 'neutral', 1: 'smile'}
    """
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    base = Path(root)
    for split, n in zip(SPLITS, counts, strict=True):
        (base / split / "images").mkdir(parents=True, exist_ok=True)
        (base / split / "labels").mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img = rng.normal(128, 12, (size, size, 3)).clip(0, 255).astype(np.uint8)
            rows = []
            taken: list[tuple[int, int, int]] = []
            for _ in range(int(rng.integers(1, 3))):
                s = int(rng.integers(size // 4, size // 2))
                for _try in range(20):
                    x, y = (int(v) for v in rng.integers(0, size - s, 2))
                    if all(x + s <= a or a + c <= x or y + s <= b or b + c <= y
                           for a, b, c in taken):
                        break
                else:
                    continue  # no free place: one object is enough
                taken.append((x, y, s))
                cls = int(rng.integers(0, 2))
                if cls == 0:
                    cv2.rectangle(img, (x, y), (x + s - 1, y + s - 1), (240, 240, 240), -1)
                else:
                    cv2.circle(img, (x + s // 2, y + s // 2), s // 2, (15, 15, 15), -1)
                rows.append(f"{cls} {(x + s / 2) / size:.6f} {(y + s / 2) / size:.6f} "
                            f"{s / size:.6f} {s / size:.6f}")
            cv2.imwrite(str(base / split / "images" / f"{split}_{i:03d}.png"), img)
            label = base / split / "labels" / f"{split}_{i:03d}.txt"
            label.write_text("\n".join(rows) + "\n")
    data = base / "data.yaml"
    data.write_text(f"path: {base.resolve()}\ntrain: train/images\nval: val/images\n"
                    + ("test: test/images\n" if counts[2] else "")
                    + "names:\n  0: neutral\n  1: smile\n")
    return data
