"""The two-stage baseline: a face finder boxes faces, a small CNN classifies each 48x48 crop.

This is the older systems' design, kept as a baseline for the one-stage YOLO detector:

* stage one: :mod:`detector.faces` (YuNet from an ONNX file, or OpenCV's Haar cascade);
* stage two: :class:`ExpressionCNN`, a plain VGG-style network (Conv-BN-ReLU blocks, max-pool,
  dropout) on 48x48 grayscale crops, trained on FER2013 (seven classes, ``fer-cnn-7.pt``) or on
  neutral/smile (FER2013 happy/neutral plus the smile-neutral-faces photos,
  ``smile-neutral-cnn.pt``).

:class:`TwoStageDetector` has ``predict(frame) -> Detections``, ``track`` (a small IoU tracker
of its own, since Ultralytics' trackers only work inside a YOLO model) and ``names``, so the
detect loop, the session report and the benchmark use it unchanged.

Checkpoints are ``torch.save`` of a plain dict (architecture, class names, preprocessing,
fp16 weights, training and validation figures) and load with ``weights_only=True``.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from detector.core import Detections
from detector.errors import DatasetError, ModelError
from detector.faces import FaceFinder, make_face_finder
from detector.fileio import atomic_dir, atomic_write_bytes, atomic_write_json
from detector.labels import HUMAN_BOX_OFFSETS, box_iou_xyxy, to_human_box
from detector.paths import RUNS_DIR, WEIGHTS_DIR, default_face_model, shared_dir

FER_CLASSES = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
SMILE_NEUTRAL_CLASSES = ("neutral", "smile")
# FER2013 classes that become the two-class model's classes.
FER_TO_SMILE_NEUTRAL = {"happy": "smile", "neutral": "neutral"}
FER_WEIGHTS = WEIGHTS_DIR / "fer-cnn-7.pt"
SMILE_NEUTRAL_WEIGHTS = WEIGHTS_DIR / "smile-neutral-cnn.pt"
TASKS = ("fer7", "smile-neutral")
CHECKPOINT_FORMAT = "exprdet-expression-cnn"
CHECKPOINT_VERSION = 1


# ----------------------------------------------------------------------------- preprocessing
@dataclass(frozen=True)
class Preprocess:
    """How a face box becomes the CNN's input; stored in every checkpoint.

    Attributes:
        size: Side of the square grayscale input in pixels.
        grow: The crop is a square of side ``grow * max(box w, box h)`` around the box centre.
            FER2013 faces fill their frame: YuNet's box on upscaled FER2013 test images has a
            median height of 0.97 of the image (width 0.82), so 1.05 reproduces that framing.
        norm: ``per-image``: each crop is shifted to mean 0 and scaled to std 1, which removes
            the exposure and contrast differences between FER2013, photos and webcams.
        blur_sigma: Gaussian blur (pixels, at ``size``) applied to every crop before the CNN at
            inference. The shared copy of FER2013's *train* split is blurred (median Laplacian
            variance 6 against about 2,000 on its test split; a Gaussian of sigma 3 on test
            images gives 6.5). A CNN trained on it has only seen blurred faces: fed sharp test
            faces it scored 16 % (7 classes), fed them blurred at sigma 3, 51 %.

    Example:
        >>> Preprocess().to_dict()
        {'size': 48, 'grow': 1.05, 'norm': 'per-image', 'blur_sigma': 0.0}
    """

    size: int = 48
    grow: float = 1.05
    norm: str = "per-image"
    blur_sigma: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for the checkpoint."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocess:
        """Inverse of :meth:`to_dict`.

        Example:
            >>> Preprocess.from_dict({"size": 48, "grow": 1.2, "norm": "per-image"}).grow
            1.2
        """
        return cls(int(d["size"]), float(d["grow"]), str(d["norm"]), float(d.get("blur_sigma", 0.0)))


def face_crop(image: np.ndarray, xyxy: Sequence[float] | np.ndarray, size: int = 48,
              grow: float = 1.05) -> np.ndarray:
    """Cut a square, slightly grown grayscale crop around a face box and resize it.

    Parts of the square outside the image are filled by repeating the border, so faces at
    the frame edge keep their position in the crop.

    Args:
        image: BGR or grayscale ``uint8`` image.
        xyxy: Face box in pixels.
        size: Output side in pixels.
        grow: Side of the square as a multiple of the box's longer side.

    Returns:
        ``(size, size)`` ``uint8`` grayscale crop.

    Example:
        >>> img = np.zeros((100, 200, 3), np.uint8)
        >>> face_crop(img, [50, 20, 90, 80]).shape
        (48, 48)
    """
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    h, w = gray.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    side = max(x2 - x1, y2 - y1, 1.0) * grow
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    s = max(int(round(side)), 1)
    pad_l, pad_t = max(0, -left), max(0, -top)
    pad_r, pad_b = max(0, left + s - w), max(0, top + s - h)
    crop = gray[max(top, 0):min(top + s, h), max(left, 0):min(left + s, w)]
    if crop.size == 0:
        return np.zeros((size, size), np.uint8)
    if pad_l or pad_t or pad_r or pad_b:
        crop = cv2.copyMakeBorder(crop, pad_t, pad_b, pad_l, pad_r, cv2.BORDER_REPLICATE)
    # INTER_AREA averages when shrinking (no aliasing on a 300-pixel face); cubic when growing.
    interp = cv2.INTER_AREA if crop.shape[0] >= size else cv2.INTER_CUBIC
    return cv2.resize(crop, (size, size), interpolation=interp)


def standardize(batch: torch.Tensor) -> torch.Tensor:
    """Per-image standardisation of a ``(n, 1, h, w)`` float batch in [0, 1].

    Example:
        >>> x = standardize(torch.rand(2, 1, 48, 48))
        >>> [round(float(v), 3) for v in x.mean(dim=(1, 2, 3))]
        [0.0, 0.0]
    """
    mean = batch.mean(dim=(1, 2, 3), keepdim=True)
    # The floor keeps a flat (blank) crop from being blown up into noise.
    std = batch.std(dim=(1, 2, 3), keepdim=True).clamp_min(0.02)
    return (batch - mean) / std


def to_input(crops: np.ndarray) -> torch.Tensor:
    """``(n, h, w)`` uint8 crops to the standardised ``(n, 1, h, w)`` float tensor.

    Example:
        >>> to_input(np.zeros((3, 48, 48), np.uint8)).shape
        torch.Size([3, 1, 48, 48])
    """
    x = torch.from_numpy(np.ascontiguousarray(crops)).float().div_(255.0).unsqueeze(1)
    return standardize(x)


# ----------------------------------------------------------------------------- the network
@dataclass(frozen=True)
class Architecture:
    """Shape of :class:`ExpressionCNN`; stored in the checkpoint so loading needs no flags.

    Example:
        >>> Architecture().widths
        (24, 48, 96, 192)
    """

    # 24-base rather than the classic 32-base: 1.8x fewer multiply-adds, so about twice the
    # epochs fit the CPU budget (measured 178 vs 101 training images per CPU-second).
    widths: tuple[int, ...] = (24, 48, 96, 192)
    convs_per_block: int = 2
    fc: int = 256
    block_dropout: float = 0.1
    head_dropout: float = 0.4

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for the checkpoint (tuples become lists)."""
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Architecture:
        """Inverse of :meth:`to_dict`."""
        return cls(tuple(int(w) for w in d["widths"]), int(d["convs_per_block"]), int(d["fc"]),
                   float(d["block_dropout"]), float(d["head_dropout"]))


class ExpressionCNN(nn.Module):
    """Plain VGG-style CNN for small grayscale faces.

    Each block is ``convs_per_block`` times Conv3x3-BN-ReLU, then 2x2 max-pool and dropout;
    the first block has no dropout (it only sees edges). Four blocks take 48x48 to 3x3, then
    flatten, a fully connected layer, dropout and the classifier. About 1.1 M parameters at the
    default widths: small enough for a few ms per face on one CPU thread.

    Args:
        num_classes: Output classes.
        arch: Widths, depth and dropout.
        size: Input side (must be divisible by ``2 ** len(widths)``).

    Example:
        >>> net = ExpressionCNN(7)
        >>> net(torch.zeros(2, 1, 48, 48)).shape
        torch.Size([2, 7])
    """

    def __init__(self, num_classes: int, arch: Architecture | None = None, size: int = 48) -> None:
        super().__init__()
        arch = arch or Architecture()
        if size % (2 ** len(arch.widths)):
            raise ValueError(f"input size {size} is not divisible by 2**{len(arch.widths)}")
        layers: list[nn.Module] = []
        c_in = 1
        for i, width in enumerate(arch.widths):
            for _ in range(arch.convs_per_block):
                # No conv bias: the BatchNorm that follows has its own shift.
                layers += [nn.Conv2d(c_in, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                           nn.ReLU(inplace=True)]
                c_in = width
            layers.append(nn.MaxPool2d(2))
            if i > 0 and arch.block_dropout > 0:
                layers.append(nn.Dropout(arch.block_dropout))
        self.features = nn.Sequential(*layers)
        side = size // 2 ** len(arch.widths)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(c_in * side * side, arch.fc), nn.ReLU(inplace=True),
            nn.Dropout(arch.head_dropout), nn.Linear(arch.fc, num_classes))
        self.arch = arch
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(n, num_classes)`` of a standardised ``(n, 1, size, size)`` batch."""
        return self.head(self.features(x))


# ----------------------------------------------------------------------------- checkpoints
@dataclass
class LoadedCNN:
    """A checkpoint loaded for inference (eval mode)."""

    model: ExpressionCNN
    classes: tuple[str, ...]
    preprocess: Preprocess
    meta: dict[str, Any]
    path: Path | None = None

    @torch.no_grad()
    def probabilities(self, crops: np.ndarray, tta: bool = False, batch: int = 256) -> np.ndarray:
        """Softmax probabilities ``(n, classes)`` of ``(n, size, size)`` uint8 crops.

        ``tta`` averages with the mirrored crops (expressions are left-right symmetric enough).

        Example:
            >>> cnn = load_cnn("weights/fer-cnn-7.pt")  # doctest: +SKIP
            >>> cnn.probabilities(np.zeros((1, 48, 48), np.uint8)).shape  # doctest: +SKIP
            (1, 7)
        """
        sigma = self.preprocess.blur_sigma
        if sigma > 0 and len(crops):
            crops = np.stack([cv2.GaussianBlur(c, (0, 0), sigma) for c in crops])
        out = []
        for i in range(0, len(crops), batch):
            x = to_input(crops[i:i + batch])
            p = F.softmax(self.model(x), dim=1)
            if tta:
                p = (p + F.softmax(self.model(torch.flip(x, dims=[3])), dim=1)) / 2
            out.append(p.numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.classes)), np.float32)


def save_checkpoint(path: str | Path, model: ExpressionCNN, classes: Sequence[str],
                    preprocess: Preprocess, meta: dict[str, Any] | None = None) -> Path:
    """Write a checkpoint atomically: a dict of plain types and fp16 tensors.

    fp16 halves the file (about 2.2 MB at the default widths) and changes no prediction that
    matters; :func:`load_cnn` converts back to float32.

    Example:
        >>> import tempfile
        >>> p = save_checkpoint(Path(tempfile.mkdtemp()) / "c.pt", ExpressionCNN(2), ["a", "b"],
        ...                     Preprocess())
        >>> load_cnn(p).classes
        ('a', 'b')
    """
    import io

    state = {k: (v.half() if v.is_floating_point() else v).clone()
             for k, v in model.state_dict().items()}
    ckpt = {
        "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
        "classes": list(classes), "arch": model.arch.to_dict(), "preprocess": preprocess.to_dict(),
        "state_dict": state, "meta": _plain(meta or {}),
    }
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_cnn(path: str | Path) -> LoadedCNN:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``).

    Raises:
        ModelError: missing file, not a checkpoint of this kind, or weights that do not fit.

    Example:
        >>> try:
        ...     load_cnn("no/such.pt")
        ... except ModelError as exc:
        ...     print(exc.problem)
        CNN checkpoint not found
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(path, "CNN checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt/foreign file; all mean "bad file"
        raise ModelError(path, f"cannot read the CNN checkpoint ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0][:200] if str(exc) else ''})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ModelError(path, "not an expression-CNN checkpoint (expected one written by "
                               "`exprdet twostage train`)")
    if int(ckpt.get("version", 0)) > CHECKPOINT_VERSION:
        raise ModelError(path, f"checkpoint version {ckpt.get('version')} is newer than this code")
    try:
        classes = tuple(str(c) for c in ckpt["classes"])
        arch = Architecture.from_dict(ckpt["arch"])
        pre = Preprocess.from_dict(ckpt["preprocess"])
        model = ExpressionCNN(len(classes), arch, pre.size)
        model.load_state_dict({k: v.float() if v.is_floating_point() else v
                               for k, v in ckpt["state_dict"].items()})
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelError(path, f"checkpoint does not match the CNN ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0][:200]})") from None
    model.eval()
    return LoadedCNN(model, classes, pre, dict(ckpt.get("meta", {})), path)


def _plain(obj: Any) -> Any:
    """Reduce to the types ``torch.load(weights_only=True)`` accepts (and JSON too)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


# ----------------------------------------------------------------------------- data
@dataclass
class CropSet:
    """Face crops in memory: ``images`` ``(n, s, s)`` uint8, ``labels`` ``(n,)`` int64.

    ``groups`` (e.g. person ids) and ``source`` (dataset name per image) are optional.

    Example:
        >>> s = CropSet(np.zeros((2, 48, 48), np.uint8), np.array([0, 1]), ("a", "b"))
        >>> len(s), s.counts()
        (2, {'a': 1, 'b': 1})
    """

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    groups: np.ndarray | None = None
    source: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray | Sequence[int]) -> CropSet:
        """The rows at ``index`` (a copy).

        Example:
            >>> CropSet(np.zeros((3, 4, 4), np.uint8), np.array([0, 1, 1]), ("a", "b")).subset([2]).labels
            array([1])
        """
        idx = np.asarray(index, dtype=np.int64)
        return CropSet(self.images[idx], self.labels[idx], self.classes,
                       None if self.groups is None else self.groups[idx],
                       None if self.source is None else self.source[idx])

    def counts(self) -> dict[str, int]:
        """Images per class, in class order."""
        n = np.bincount(self.labels, minlength=len(self.classes))
        return {c: int(k) for c, k in zip(self.classes, n, strict=True)}

    @staticmethod
    def concat(sets: Sequence[CropSet]) -> CropSet:
        """Join sets with the same classes (``groups``/``source`` kept only when all have them).

        Example:
            >>> a = CropSet(np.zeros((1, 4, 4), np.uint8), np.array([0]), ("x",))
            >>> len(CropSet.concat([a, a]))
            2
        """
        classes = sets[0].classes
        if any(s.classes != classes for s in sets):
            raise ValueError("cannot join crop sets with different classes")
        groups = (np.concatenate([s.groups for s in sets])
                  if all(s.groups is not None for s in sets) else None)
        source = (np.concatenate([s.source for s in sets])
                  if all(s.source is not None for s in sets) else None)
        return CropSet(np.concatenate([s.images for s in sets]),
                       np.concatenate([s.labels for s in sets]), classes, groups, source)


def load_fer_folder(root: str | Path, split: str = "train",
                    class_map: dict[str, str] | None = None,
                    classes: Sequence[str] = FER_CLASSES, size: int = 48,
                    limit_per_class: int | None = None, seed: int = 0,
                    progress: bool = True) -> CropSet:
    """Read FER2013 in its folder layout (``<root>/<split>/<class>/*.jpg``) into memory.

    Args:
        root: The FER2013 folder (holding ``train/`` and ``test/``).
        split: ``train`` or ``test``.
        class_map: Folder class -> output class; folders not in it are skipped (e.g.
            :data:`FER_TO_SMILE_NEUTRAL`). ``None`` keeps the folder names.
        classes: Output classes, in label order.
        size: Images that are not ``size`` x ``size`` are resized.
        limit_per_class: Keep a seeded random sample of at most this many files per folder
            (tests and quick runs).
        seed: Seed of that sample.
        progress: Show a progress bar.

    Raises:
        DatasetError: missing folder, a class without images, or an unreadable image.

    Example:
        >>> fer = load_fer_folder("../shared/data/fer2013", "test")  # doctest: +SKIP
        >>> fer.images.shape  # doctest: +SKIP
        (7178, 48, 48)
    """
    base = Path(root) / split
    if not base.is_dir():
        raise DatasetError(base, "FER2013 split folder not found (expected <root>/<split>/<class>/*.jpg)")
    mapping = class_map or {c: c for c in classes}
    files: list[tuple[Path, int]] = []
    rng = np.random.default_rng(seed)
    for folder_class, out_class in mapping.items():
        if out_class not in classes:
            raise ValueError(f"class_map sends {folder_class!r} to {out_class!r}, not in {list(classes)}")
        folder = base / folder_class
        if not folder.is_dir():
            raise DatasetError(folder, "class folder not found")
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if not paths:
            raise DatasetError(folder, "no images in this class folder")
        if limit_per_class is not None and len(paths) > limit_per_class:
            keep = np.sort(rng.choice(len(paths), limit_per_class, replace=False))
            paths = [paths[i] for i in keep]
        files += [(p, classes.index(out_class)) for p in paths]
    images = np.empty((len(files), size, size), np.uint8)
    for i, (path, _) in enumerate(tqdm(files, desc=f"reading FER2013 {split}", unit="img",
                                       disable=not progress, leave=False)):
        img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise DatasetError(path, "unreadable image")
        if img.shape != (size, size):
            img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
        images[i] = img
    labels = np.array([c for _, c in files], np.int64)
    groups = np.array([p.name for p, _ in files])
    return CropSet(images, labels, tuple(classes), groups, np.full(len(files), "fer2013"))


def load_smile_neutral_faces(root: str | Path, face_model: str | Path, preprocess: Preprocess,
                             seed: int = 0) -> dict[str, CropSet]:
    """Box the smile-neutral-faces photos with YuNet, crop them and split them by person.

    The split is :func:`detector.recipes.smile_neutral_split` with ``(0.6, 0.2, 0.2)`` and
    ``seed``, exactly what the YOLO dataset recipe uses (persons sharing a near-identical photo
    are one group), so the test people here are the one-stage detector's test people. Photos
    YuNet finds no face in are left out, as the recipe does.

    Returns:
        ``{"train": ..., "val": ..., "test": ...}`` with person ids in ``groups``.

    Example:
        >>> sets = load_smile_neutral_faces("../shared/data/smile-neutral-faces",
        ...                                 "../shared/models/face_detection_yunet.onnx",
        ...                                 Preprocess())  # doctest: +SKIP
        >>> sorted(sets)  # doctest: +SKIP
        ['test', 'train', 'val']
    """
    from detector.faces import YuNetFaceFinder
    from detector.recipes import load_smile_neutral, smile_neutral_split

    root = Path(root)
    split_of, _ = smile_neutral_split(root, (0.6, 0.2, 0.2), seed)
    rows, _ = load_smile_neutral(root, YuNetFaceFinder(face_model))
    out: dict[str, list[tuple[np.ndarray, int, str]]] = {"train": [], "val": [], "test": []}
    for r in tqdm(rows, desc="cropping smile-neutral faces", unit="img", leave=False):
        img = cv2.imread(str(root / "images" / r["image"]), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise DatasetError(root / "images" / r["image"], "unreadable image")
        crop = face_crop(img, r["box"], preprocess.size, preprocess.grow)
        out[split_of[r["image"]]].append((crop, SMILE_NEUTRAL_CLASSES.index(r["expression"]),
                                         r["person"]))
    sets = {}
    for split, items in out.items():
        if not items:
            raise DatasetError(root, f"the person split left no images in {split}")
        sets[split] = CropSet(np.stack([c for c, _, _ in items]),
                              np.array([k for _, k, _ in items], np.int64), SMILE_NEUTRAL_CLASSES,
                              np.array([p for _, _, p in items]),
                              np.full(len(items), "smile-neutral-faces"))
    return sets


def stratified_split(labels: np.ndarray, frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded per-class split of indices into ``(keep, held_out)`` with ``frac`` held out.

    Example:
        >>> keep, held = stratified_split(np.array([0] * 10 + [1] * 10), 0.2, 0)
        >>> len(keep), len(held), int(np.bincount(np.array([0] * 10 + [1] * 10)[held])[1])
        (16, 4, 2)
    """
    rng = np.random.default_rng(seed)
    held: list[np.ndarray] = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        n = int(round(len(idx) * frac))
        if n:
            held.append(rng.choice(idx, n, replace=False))
    held_idx = np.sort(np.concatenate(held)) if held else np.zeros(0, np.int64)
    mask = np.ones(len(labels), bool)
    mask[held_idx] = False
    return np.flatnonzero(mask), held_idx


# ----------------------------------------------------------------------------- augmentation
def augment_batch(x: torch.Tensor, gen: torch.Generator, max_rotate_deg: float = 10.0,
                  max_shift: float = 0.08, scale: tuple[float, float] = (0.92, 1.08),
                  flip: bool = True) -> torch.Tensor:
    """Random mirror, small rotation, shift and zoom of a ``(n, 1, h, w)`` batch, in one warp.

    Deliberately mild and without erasing or heavy crops: the expression lives in small
    regions (mouth corners, brows) that a large crop or an erased patch would remove, which
    turns the label into noise. Borders are extended, not black, so no artificial edges appear.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> augment_batch(torch.rand(4, 1, 48, 48), g).shape
        torch.Size([4, 1, 48, 48])
    """
    n = x.shape[0]

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=gen)

    angle = uniform(-max_rotate_deg, max_rotate_deg) * math.pi / 180
    zoom = uniform(*scale)
    mirror = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0) if flip else torch.ones(n)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    # affine_grid maps output to input coordinates in [-1, 1]: shift 0.08 is 4 % of the side each way.
    theta = torch.stack([torch.stack([cos * mirror, -sin, uniform(-max_shift, max_shift)], 1),
                         torch.stack([sin * mirror, cos, uniform(-max_shift, max_shift)], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


# ----------------------------------------------------------------------------- training
@dataclass
class TrainConfig:
    """Training knobs; the defaults trained the shipped ``fer-cnn-7.pt``.

    Attributes:
        epochs: Planned epochs (the cosine schedule spans them).
        max_minutes: Wall-clock budget. The schedule then anneals by whichever of steps or
            time is further along, so a budget cut still ends at a low learning rate instead
            of stopping mid-schedule.
        batch: Batch size.
        optimizer: ``adamw`` (default) or ``sgd`` (Nesterov momentum 0.9). On FER2013 AdamW
            at 1e-3 reached after one epoch the validation accuracy SGD at 0.02 needed three
            for (33.8 % vs 33.7 %), which matters when the budget is a few dozen epochs.
        lr: Peak learning rate, reached after a linear warm-up of ``warmup_epochs``, then cosine
            to zero. AdamW at 3e-3 and SGD at 0.05 collapsed to predicting the majority class;
            use about 0.02 with ``sgd``.
        weight_decay: Decay of conv and linear weights (not of BatchNorm or biases); decoupled
            for AdamW, L2 for SGD (use about 5e-4 there).
        label_smoothing: FER2013's labels are noisy; smoothing keeps the net from memorising them.
        class_weight_power: Loss weight of a class is ``(n_max / n_class) ** power``
            (0 = none, 1 = inverse frequency); 0.5 lifts disgust without wrecking the others.
        val_frac: Held-out share of the training images (seeded, per class) when no
            validation set is given.
        patience: Stop after this many epochs without a better validation accuracy
            (``None`` = never).
        seed: Seeds the split, the shuffling, the augmentation and the initial weights.
        threads: torch CPU threads.
        init_from: Start from this checkpoint (its architecture replaces ``arch``; its last
            layer is re-learnt when the classes differ): the neutral/smile CNN starts from the
            FER2013 one.
        arch: Network widths and dropout.
    """

    epochs: int = 30
    max_minutes: float | None = None
    batch: int = 64
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.01
    label_smoothing: float = 0.1
    class_weight_power: float = 0.5
    warmup_epochs: float = 0.25
    val_frac: float = 0.1
    patience: int | None = 8
    seed: int = 0
    threads: int = 1
    init_from: str | None = None
    arch: Architecture = field(default_factory=Architecture)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for the checkpoint and the history file)."""
        d = asdict(self)
        d["arch"] = self.arch.to_dict()
        return d


@dataclass
class CnnTrainResult:
    """What :func:`train_cnn` did: the best checkpoint and its validation figures.

    Not :class:`detector.train.TrainResult`, which describes an Ultralytics run folder.
    """

    weights: Path
    best_epoch: int
    val_accuracy: float
    val_macro_f1: float
    epochs_run: int
    minutes: float
    stopped_by: str
    history: list[dict[str, float]]
    train_counts: dict[str, int]
    val_counts: dict[str, int]


def class_weights(labels: np.ndarray, num_classes: int, power: float) -> torch.Tensor:
    """Loss weights ``(n_max / n_c) ** power``, rescaled so the average image weighs 1.

    Example:
        >>> class_weights(np.array([0, 0, 0, 1]), 2, 1.0).tolist()
        [0.6666666865348816, 2.0]
    """
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    w = np.where(counts > 0, (counts.max() / np.maximum(counts, 1)) ** power, 0.0)
    w *= len(labels) / float((w * counts).sum())
    return torch.tensor(w, dtype=torch.float32)


def train_cnn(train: CropSet, out: str | Path, config: TrainConfig | None = None,
              val: CropSet | None = None, preprocess: Preprocess | None = None,
              meta: dict[str, Any] | None = None, progress: bool = True,
              log: Callable[[str], None] | None = print) -> CnnTrainResult:
    """Train :class:`ExpressionCNN` on in-memory crops; the best epoch's checkpoint goes to ``out``.

    Validation accuracy picks the epoch (never the test set). The checkpoint is rewritten
    atomically at every improvement, so an interrupted run still leaves its best model, and a
    ``<out stem>.history.json`` beside it records every epoch.

    Args:
        train: Training crops (``preprocess.size`` square).
        out: Checkpoint path.
        config: Knobs (:class:`TrainConfig`).
        val: Validation crops; ``None`` holds out ``config.val_frac`` of ``train`` (seeded).
        preprocess: Stored in the checkpoint (crop framing for live use).
        meta: Extra facts to store in the checkpoint (data sources, ...).
        progress: Progress bar per epoch.
        log: Where the one-line epoch summaries go (``None`` = nowhere).

    Example:
        >>> fer = load_fer_folder("../shared/data/fer2013", limit_per_class=10)  # doctest: +SKIP
        >>> r = train_cnn(fer, "runs/tiny.pt", TrainConfig(epochs=1))  # doctest: +SKIP
        >>> load_cnn(r.weights).classes  # doctest: +SKIP
        ('angry', 'disgust', 'fear', 'happy', 'neutral', 'sad', 'surprise')
    """
    cfg = config or TrainConfig()
    pre = preprocess or Preprocess()
    out = Path(out)
    if train.images.shape[1:] != (pre.size, pre.size):
        raise ValueError(f"crops are {train.images.shape[1:]}, preprocess expects {pre.size}")
    if val is None:
        keep, held = stratified_split(train.labels, cfg.val_frac, cfg.seed)
        train, val = train.subset(keep), train.subset(held)
    if len(train) == 0 or len(val) == 0:
        raise DatasetError(None, f"need training and validation images, got {len(train)} and {len(val)}")
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    classes = train.classes
    if cfg.init_from:
        # The starting checkpoint fixes the architecture (layer names depend on it).
        cfg = replace(cfg, arch=load_cnn(cfg.init_from).model.arch)
    model = ExpressionCNN(len(classes), cfg.arch, pre.size)
    if cfg.init_from:
        _init_features(model, cfg.init_from, classes)
    # channels_last measured ~15-30 % faster for these small convs on a single CPU thread.
    model = model.to(memory_format=torch.channels_last)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "adamw":
        opt: torch.optim.Optimizer = torch.optim.AdamW(groups, lr=cfg.lr)
    elif cfg.optimizer == "sgd":
        opt = torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, nesterov=True)
    else:
        raise ValueError(f"optimizer must be adamw or sgd, got {cfg.optimizer!r}")
    loss_fn = nn.CrossEntropyLoss(weight=class_weights(train.labels, len(classes), cfg.class_weight_power),
                                  label_smoothing=cfg.label_smoothing)
    images = torch.from_numpy(train.images)
    labels = torch.from_numpy(train.labels)
    steps_per_epoch = max(1, len(train) // cfg.batch)  # drop_last: BN dislikes a 3-image batch
    total_steps = steps_per_epoch * cfg.epochs
    warmup = max(1, int(cfg.warmup_epochs * steps_per_epoch))
    budget_s = cfg.max_minutes * 60 if cfg.max_minutes else None
    start = time.perf_counter()
    best_acc, best_f1, best_epoch, since_best = -1.0, 0.0, 0, 0
    history: list[dict[str, float]] = []
    stopped_by, step, epoch = "epochs", 0, 0
    run_meta = {**(meta or {}), "config": cfg.to_dict(), "train_counts": train.counts(),
                "val_counts": val.counts()}

    def progress_frac() -> float:
        frac = step / total_steps
        if budget_s:
            frac = max(frac, (time.perf_counter() - start) / budget_s)
        return min(frac, 1.0)

    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = torch.from_numpy(rng.permutation(len(train)))
        loss_sum, seen, done = 0.0, 0, False
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch}/{cfg.epochs}", unit="batch",
                   disable=not progress, leave=False)
        for b in bar:
            p = progress_frac()
            if p >= 1.0:
                done = True
                break
            lr = cfg.lr * min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * p))
            for group in opt.param_groups:
                group["lr"] = lr
            idx = order[b * cfg.batch:(b + 1) * cfg.batch]
            x = images[idx].float().div_(255.0).unsqueeze(1)
            x = standardize(augment_batch(x, gen)).contiguous(memory_format=torch.channels_last)
            loss = loss_fn(model(x), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            loss_sum += loss.item() * len(idx)
            seen += len(idx)
            if b % 20 == 0:
                bar.set_postfix(loss=f"{loss_sum / max(seen, 1):.3f}", lr=f"{lr:.4f}")
        bar.close()
        if seen == 0:
            break
        metrics = classification_metrics(val.labels, _predict(model, val.images), classes)
        minutes = (time.perf_counter() - start) / 60
        history.append({"epoch": epoch, "train_loss": round(loss_sum / seen, 4),
                        "val_accuracy": round(metrics["accuracy"], 4),
                        "val_macro_f1": round(metrics["macro_f1"], 4),
                        "lr": round(lr, 6), "minutes": round(minutes, 2)})
        improved = metrics["accuracy"] > best_acc
        if improved:
            best_acc, best_f1, best_epoch, since_best = metrics["accuracy"], metrics["macro_f1"], epoch, 0
            save_checkpoint(out, model, classes, pre, {**run_meta, "best_epoch": epoch,
                                                       "val_accuracy": best_acc, "val_macro_f1": best_f1,
                                                       "minutes_to_best": round(minutes, 2)})
        else:
            since_best += 1
        if log is not None:
            log(f"epoch {epoch}: loss {loss_sum / seen:.3f}  val acc {metrics['accuracy']:.4f}  "
                f"macro-F1 {metrics['macro_f1']:.4f}  lr {lr:.4f}  {minutes:.1f} min"
                + ("  *" if improved else ""))
        atomic_write_json(out.with_name(out.stem + ".history.json"),
                          {"config": cfg.to_dict(), "history": history})
        if done or progress_frac() >= 1.0:
            stopped_by = "time budget" if budget_s and step < total_steps else "epochs"
            break
        if cfg.patience is not None and since_best >= cfg.patience:
            stopped_by = "early stop"
            break
    minutes = (time.perf_counter() - start) / 60
    result = CnnTrainResult(out, best_epoch, best_acc, best_f1, len(history), round(minutes, 2), stopped_by,
                            history, train.counts(), val.counts())
    # Record the whole run's length in the checkpoint (the weights are those of the best epoch).
    best = load_cnn(out)
    save_checkpoint(out, best.model, classes, pre, {**best.meta, "epochs_run": len(history),
                                                     "train_minutes": round(minutes, 2),
                                                     "stopped_by": stopped_by})
    return result


def _init_features(model: ExpressionCNN, path: str | Path, classes: Sequence[str]) -> None:
    """Start from a checkpoint's weights; its classifier layer only when the classes are the same."""
    src = load_cnn(path)
    if src.model.arch != model.arch:
        raise ModelError(path, "init checkpoint has a different architecture")
    state = src.model.state_dict()
    if src.classes != tuple(classes):
        # The last layer maps to other classes: it is re-learnt from its fresh initialisation.
        last = f"head.{len(model.head) - 1}."
        state = {k: v for k, v in state.items() if not k.startswith(last)}
    model.load_state_dict(state, strict=False)


@torch.no_grad()
def _predict(model: ExpressionCNN, images: np.ndarray, tta: bool = False, batch: int = 256) -> np.ndarray:
    """Argmax class of every crop (model switched to eval mode)."""
    model.eval()
    out = []
    for i in range(0, len(images), batch):
        x = to_input(images[i:i + batch])
        logits = F.softmax(model(x), dim=1)
        if tta:
            logits = logits + F.softmax(model(torch.flip(x, dims=[3])), dim=1)
        out.append(logits.argmax(1).numpy())
    return np.concatenate(out) if out else np.zeros(0, np.int64)


# ----------------------------------------------------------------------------- evaluation
def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix.

    ``confusion[i][j]`` counts images of true class ``i`` predicted as ``j``.

    Example:
        >>> m = classification_metrics(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), ["a", "b"])
        >>> m["accuracy"], m["per_class"]["b"]["precision"], m["confusion"]
        (0.75, 0.6667, [[1, 1], [0, 2]])
    """
    k = len(classes)
    cm = np.zeros((k, k), np.int64)
    np.add.at(cm, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(1)
    predicted = cm.sum(0)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros(k), where=support > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(k), where=(precision + recall) > 0)
    present = support > 0
    return {
        "n": int(cm.sum()),
        "accuracy": float(tp.sum() / max(cm.sum(), 1)),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": {c: {"precision": round(float(precision[i]), 4), "recall": round(float(recall[i]), 4),
                          "f1": round(float(f1[i]), 4), "support": int(support[i])}
                      for i, c in enumerate(classes)},
        "confusion": cm.tolist(),
    }


@dataclass
class EvalSet:
    """One named test set for :func:`evaluate_cnn`."""

    name: str
    crops: CropSet
    description: str = ""


def evaluate_cnn(weights: str | Path, sets: Sequence[EvalSet], out: str | Path | None = None,
                 plots: bool = True, threads: int | None = None) -> dict[str, Any]:
    """Score a checkpoint on labelled crops; with ``out`` write report.json, report.md and PNGs.

    Each set gets accuracy (plain, and with mirrored-crop averaging as ``accuracy_tta``),
    macro-F1, per-class precision/recall/F1 and a confusion matrix (``confusion_<set>.png``,
    rows normalised to recall, counts printed).

    Example:
        >>> fer = load_fer_folder("../shared/data/fer2013", "test")  # doctest: +SKIP
        >>> r = evaluate_cnn("weights/fer-cnn-7.pt", [EvalSet("fer2013-test", fer)], "runs/x")  # doctest: +SKIP
        >>> round(r["sets"][0]["accuracy"], 3)  # doctest: +SKIP
        0.66
    """
    if threads is not None:
        torch.set_num_threads(threads)
    cnn = load_cnn(weights)
    report: dict[str, Any] = {"weights": str(weights), "classes": list(cnn.classes),
                              "preprocess": cnn.preprocess.to_dict(), "train": cnn.meta, "sets": []}
    predictions = []
    for s in sets:
        if s.crops.classes != cnn.classes:
            raise ModelError(weights, f"model classes {list(cnn.classes)} differ from the "
                                      f"{s.name} classes {list(s.crops.classes)}")
        t0 = time.perf_counter()
        probs = cnn.probabilities(s.crops.images)
        probs_tta = cnn.probabilities(s.crops.images, tta=True)
        seconds = time.perf_counter() - t0
        predictions.append(probs.argmax(1))
        m = classification_metrics(s.crops.labels, predictions[-1], cnn.classes)
        m_tta = classification_metrics(s.crops.labels, probs_tta.argmax(1), cnn.classes)
        report["sets"].append({"name": s.name, "description": s.description, **m,
                               "accuracy_tta": m_tta["accuracy"], "macro_f1_tta": m_tta["macro_f1"],
                               "ms_per_crop": round(1000 * seconds / max(3 * len(s.crops), 1), 3),
                               "confusion_png": f"confusion_{_slug(s.name)}.png"})
    if out is not None:
        out = Path(out)
        with atomic_dir(out) as tmp:
            if plots:
                for s in report["sets"]:
                    plot_confusion(s["confusion"], report["classes"], tmp / s["confusion_png"],
                                   title=f"{s['name']}: accuracy {100 * s['accuracy']:.1f} %")
            for s, p in zip(sets, predictions, strict=True):
                write_predictions_csv(tmp / f"predictions_{_slug(s.name)}.csv",
                                      s.crops.groups if s.crops.groups is not None else range(len(s.crops)),
                                      s.crops.labels, p, cnn.classes)
            atomic_write_json(tmp / "report.json", _plain(report))
            (tmp / "report.md").write_text(format_report_md(report))
        report["out"] = str(out)
    return report


def plot_confusion(cm: Sequence[Sequence[int]], classes: Sequence[str], path: str | Path,
                   title: str = "") -> Path:
    """Confusion-matrix PNG: colour = share of the true class (recall), text = counts.

    Example:
        >>> import tempfile
        >>> plot_confusion([[3, 1], [0, 4]], ["a", "b"], Path(tempfile.mkdtemp()) / "c.png").suffix
        '.png'
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a = np.asarray(cm, np.float64)
    norm = a / np.maximum(a.sum(1, keepdims=True), 1)
    k = len(classes)
    fig, ax = plt.subplots(figsize=(1.1 * k + 2.2, 1.0 * k + 1.8), dpi=100)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{int(a[i, j])}\n{100 * norm[i, j]:.0f}%", ha="center", va="center",
                    fontsize=8, color="white" if norm[i, j] > 0.55 else "black")
    ax.set_xticks(range(k), classes, rotation=35, ha="right")
    ax.set_yticks(range(k), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def format_report_md(report: dict[str, Any]) -> str:
    """Markdown of an :func:`evaluate_cnn` report: one accuracy table and per-class table per set.

    Example:
        >>> r = {"weights": "w.pt", "classes": ["a", "b"], "train": {}, "sets": [dict(
        ...     name="t", description="", accuracy=0.75, accuracy_tta=0.8, macro_f1=0.7, macro_f1_tta=0.7,
        ...     n=4, ms_per_crop=1.0, confusion=[[1, 1], [0, 2]], confusion_png="c.png",
        ...     per_class={c: dict(precision=1.0, recall=0.5, f1=0.67, support=2) for c in "ab"})]}
        >>> "| t | 4 | **75.0 %**" in format_report_md(r)
        True
    """
    lines = [f"# Expression CNN evaluation: `{Path(report['weights']).name}`", ""]
    t = report.get("train") or {}
    if t:
        lines += [f"Trained {t.get('epochs_run', '?')} epochs in {t.get('train_minutes', '?')} min "
                  f"(best epoch {t.get('best_epoch', '?')}, validation accuracy "
                  f"{100 * float(t.get('val_accuracy', 0)):.1f} %, stopped by {t.get('stopped_by', '?')}).", ""]
    lines += ["| test set | images | accuracy | accuracy (mirror TTA) | macro-F1 | ms/crop (1 thread) |",
              "|---|---:|---:|---:|---:|---:|"]
    for s in report["sets"]:
        lines.append(f"| {s['name']} | {s['n']} | **{100 * s['accuracy']:.1f} %** | "
                     f"{100 * s['accuracy_tta']:.1f} % | {s['macro_f1']:.3f} | {s['ms_per_crop']:.2f} |")
    for s in report["sets"]:
        lines += ["", f"## {s['name']}", ""]
        if s.get("description"):
            lines += [s["description"], ""]
        lines += ["| class | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
        for c, v in s["per_class"].items():
            lines.append(f"| {c} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |")
        classes = report["classes"]
        lines += ["", "Confusion matrix (rows: true, columns: predicted):", "",
                  "| true \\ pred | " + " | ".join(classes) + " |",
                  "|---|" + "---:|" * len(classes)]
        for c, row in zip(classes, s["confusion"], strict=True):
            lines.append(f"| {c} | " + " | ".join(str(v) for v in row) + " |")
        lines += ["", f"![confusion matrix]({s['confusion_png']})"]
    return "\n".join(lines) + "\n"


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")


# ----------------------------------------------------------------------------- task recipes
def task_classes(task: str) -> tuple[str, ...]:
    """Classes of a task name (``fer7`` or ``smile-neutral``).

    Example:
        >>> task_classes("smile-neutral")
        ('neutral', 'smile')
    """
    if task == "fer7":
        return FER_CLASSES
    if task == "smile-neutral":
        return SMILE_NEUTRAL_CLASSES
    raise ValueError(f"unknown task {task!r}; choose from {TASKS}")


def training_data(task: str, shared: str | Path | None = None, preprocess: Preprocess | None = None,
                  seed: int = 0, face_model: str | Path | None = None, limit_per_class: int | None = None,
                  val_frac: float = 0.1, progress: bool = True) -> tuple[CropSet, CropSet, dict[str, Any]]:
    """The training and validation crops of a task, and a description of where they came from.

    ``fer7``: FER2013 train, ``val_frac`` held out per class (seeded). ``smile-neutral``: FER2013
    train happy->smile and neutral->neutral (same hold-out) plus the smile-neutral-faces photos of
    the person split's train people (training) and val people (validation); its test people
    are never read here.

    Example:
        >>> train, val, about = training_data("fer7")  # doctest: +SKIP
    """
    pre = preprocess or Preprocess()
    shared = Path(shared) if shared is not None else shared_dir()
    fer_root = shared / "data" / "fer2013"
    classes = task_classes(task)
    class_map = None if task == "fer7" else FER_TO_SMILE_NEUTRAL
    fer = load_fer_folder(fer_root, "train", class_map, classes, pre.size, limit_per_class, seed, progress)
    keep, held = stratified_split(fer.labels, val_frac, seed)
    train, val = fer.subset(keep), fer.subset(held)
    about: dict[str, Any] = {"task": task, "fer2013": str(fer_root), "seed": seed,
                             "fer2013_train": len(train), "fer2013_val": len(val)}
    if task == "smile-neutral":
        sn = load_smile_neutral_faces(shared / "data" / "smile-neutral-faces",
                                      face_model or _require_face_model(shared), pre, seed)
        train, val = CropSet.concat([train, sn["train"]]), CropSet.concat([val, sn["val"]])
        about.update({"smile_neutral_faces_train": len(sn["train"]), "smile_neutral_faces_val": len(sn["val"]),
                      "smile_neutral_faces_test_people_excluded": int(len(set(sn["test"].groups.tolist())))})
    return train, val, about


def test_sets(classes: Sequence[str], shared: str | Path | None = None, preprocess: Preprocess | None = None,
              seed: int = 0, face_model: str | Path | None = None,
              progress: bool = True) -> list[EvalSet]:
    """The test sets that fit a model's classes.

    Seven FER classes: FER2013 test. Neutral/smile: FER2013 test happy/neutral, and the
    smile-neutral-faces photos of the person split's test people.

    Example:
        >>> [s.name for s in test_sets(FER_CLASSES)]  # doctest: +SKIP
        ['fer2013-test']
    """
    pre = preprocess or Preprocess()
    shared = Path(shared) if shared is not None else shared_dir()
    fer_root = shared / "data" / "fer2013"
    classes = tuple(classes)
    if classes == FER_CLASSES:
        return [EvalSet("fer2013-test", load_fer_folder(fer_root, "test", None, classes, pre.size,
                                                        progress=progress),
                        "FER2013 public test split (7,178 images, 48x48 grayscale), all seven classes.")]
    if classes == SMILE_NEUTRAL_CLASSES:
        fer = load_fer_folder(fer_root, "test", FER_TO_SMILE_NEUTRAL, classes, pre.size, progress=progress)
        sn = load_smile_neutral_faces(shared / "data" / "smile-neutral-faces",
                                      face_model or _require_face_model(shared), pre, seed)
        people = len(set(sn["test"].groups.tolist()))
        return [EvalSet("fer2013-test-happy-neutral", fer,
                        "FER2013 public test split, happy (as smile) and neutral only."),
                EvalSet("smile-neutral-faces-test-people", sn["test"],
                        f"smile-neutral-faces photos of the {people} test people of "
                        f"recipes.smile_neutral_split(0.6/0.2/0.2, seed={seed}), the YOLO "
                        "detector's test people, cropped from YuNet boxes.")]
    raise ValueError(f"no test sets for classes {list(classes)}")


def _require_face_model(shared: Path) -> Path:
    path = shared / "models" / "face_detection_yunet.onnx"
    if not path.is_file():
        raise ModelError(path, "YuNet model needed to crop the smile-neutral-faces photos; pass --face-model")
    return path


# ----------------------------------------------------------------------------- live pipeline
class IouTracker:
    """Greedy IoU matching of boxes to the previous frame's tracks; ids start at 1.

    Enough for the two-stage pipeline's use (a few faces, a fixed camera): a box continues the
    track it overlaps most (IoU >= ``iou_threshold``); a track survives ``max_lost`` frames
    without a box, so a face the finder misses once keeps its id.

    Example:
        >>> t = IouTracker()
        >>> t.update(np.array([[0, 0, 10, 10]])).tolist(), t.update(np.array([[1, 0, 11, 10]])).tolist()
        ([1], [1])
    """

    def __init__(self, iou_threshold: float = 0.3, max_lost: int = 15) -> None:
        self.iou_threshold = iou_threshold
        self.max_lost = max_lost
        self.reset()

    def reset(self) -> None:
        """Forget all tracks; the next id is 1."""
        self._boxes: dict[int, np.ndarray] = {}
        self._lost: dict[int, int] = {}
        self._next = 1

    def update(self, xyxy: np.ndarray) -> np.ndarray:
        """Track ids ``(n,)`` for this frame's boxes ``(n, 4)``."""
        xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
        ids = np.full(len(xyxy), -1, np.int64)
        track_ids = list(self._boxes)
        if track_ids and len(xyxy):
            iou = box_iou_xyxy(xyxy, np.stack([self._boxes[t] for t in track_ids]))
            pairs = sorted(((iou[i, j], i, j) for i in range(len(xyxy)) for j in range(len(track_ids))
                            if iou[i, j] >= self.iou_threshold), reverse=True)
            used: set[int] = set()
            for _, i, j in pairs:
                if ids[i] < 0 and j not in used:
                    ids[i] = track_ids[j]
                    used.add(j)
        for i in np.flatnonzero(ids < 0):
            ids[i] = self._next
            self._next += 1
        seen = set(ids.tolist())
        for t in track_ids:
            if t not in seen:
                self._lost[t] = self._lost.get(t, 0) + 1
                if self._lost[t] > self.max_lost:
                    del self._boxes[t], self._lost[t]
        for i, t in enumerate(ids.tolist()):
            self._boxes[t] = xyxy[i]
            self._lost[t] = 0
        return ids


class TwoStageDetector:
    """Face finder + expression CNN behind the :class:`~detector.inference.FrameDetector` interface.

    Boxes are the face finder's; class and confidence are the CNN's arg-max and softmax
    probability on the squared, slightly grown 48x48 grayscale crop. Everything is loaded once.

    Args:
        face_finder: A :class:`~detector.faces.FaceFinder`, or a YuNet ``.onnx`` path, or
            ``None`` for OpenCV's Haar cascade.
        cnn_weights: A checkpoint from ``exprdet twostage train`` (e.g. ``weights/fer-cnn-7.pt``).
        conf: Drop faces whose class probability is below this.
        tta: Average with the mirrored crop (about +0.5 pt accuracy, 2x the CNN time).
        threads: torch CPU threads (``None`` keeps the current setting).
        max_faces: Classify at most this many faces per frame (largest first).
        box_offsets: Report each face box grown by these ``(left, top, right, bottom)`` shifts
            (:func:`~detector.labels.to_human_box`); the crop still comes from the finder's box.
            ``None`` reports the finder's boxes.

    Raises:
        ModelError: the face model or the checkpoint is missing or unloadable.

    Example:
        >>> det = TwoStageDetector("../shared/models/face_detection_yunet.onnx",
        ...                        "weights/fer-cnn-7.pt")  # doctest: +SKIP
        >>> det.predict(cv2.imread("photo.jpg")).labels  # doctest: +SKIP
        ['happy']
    """

    def __init__(self, face_finder: FaceFinder | str | Path | None, cnn_weights: str | Path = FER_WEIGHTS,
                 *, conf: float = 0.0, tta: bool = False, threads: int | None = None,
                 max_faces: int | None = None,
                 box_offsets: tuple[float, float, float, float] | None = None) -> None:
        if not 0.0 <= conf <= 1.0:
            raise ValueError(f"conf must lie in [0, 1], got {conf}")
        # A path (str has a .find method too, so test for paths, not for "find").
        self.finder: FaceFinder = (make_face_finder(face_finder) if face_finder is None
                                   or isinstance(face_finder, (str, Path)) else face_finder)
        self.cnn = load_cnn(cnn_weights)
        self.names: dict[int, str] = dict(enumerate(self.cnn.classes))
        self.conf = conf
        self.tta = tta
        self.max_faces = max_faces
        self.box_offsets = box_offsets
        self.tracker = IouTracker()
        if threads is not None:
            self.set_threads(threads)
        # One warm-up call: the first conv pass allocates oneDNN primitives.
        self.cnn.probabilities(np.zeros((1, self.cnn.preprocess.size, self.cnn.preprocess.size), np.uint8))

    @property
    def name(self) -> str:
        """Short label for reports, e.g. ``yunet + fer-cnn-7``."""
        stem = Path(self.cnn.path).stem if self.cnn.path else "cnn"
        return f"{self.finder.name} + {stem}"

    def predict(self, frame_bgr: np.ndarray) -> Detections:
        """Box faces and classify each one.

        Example:
            >>> det.predict(np.zeros((480, 640, 3), np.uint8)).xyxy.shape  # doctest: +SKIP
            (0, 4)
        """
        if not isinstance(frame_bgr, np.ndarray) or frame_bgr.ndim not in (2, 3):
            raise ValueError("expected an (h, w) or (h, w, 3) uint8 image")
        frame = frame_bgr if frame_bgr.ndim == 2 or frame_bgr.shape[2] == 3 else frame_bgr[:, :, :3]
        xyxy, _ = self.finder.find(frame)
        if self.max_faces is not None:
            xyxy = xyxy[:self.max_faces]
        if len(xyxy) == 0:
            return Detections.empty(self.names)
        pre = self.cnn.preprocess
        # Gray once for all faces, not once per crop.
        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        crops = np.stack([face_crop(gray, b, pre.size, pre.grow) for b in xyxy])
        probs = self.cnn.probabilities(crops, tta=self.tta)
        cls = probs.argmax(1)
        conf = probs[np.arange(len(cls)), cls].clip(0.0, 1.0)
        keep = conf >= self.conf
        if self.box_offsets is not None:
            xyxy = to_human_box(xyxy, (frame.shape[1], frame.shape[0]), self.box_offsets).astype(np.float32)
        return Detections(xyxy[keep], cls[keep], conf[keep], None, self.names)

    def track(self, frame_bgr: np.ndarray) -> Detections:
        """:meth:`predict` plus ids from the IoU tracker (ids start at 1, never -1).

        Example:
            >>> det.track(frame).tracker_id  # doctest: +SKIP
            array([1])
        """
        d = self.predict(frame_bgr)
        d.tracker_id = self.tracker.update(d.xyxy)
        return d

    def reset_tracker(self) -> None:
        """Forget all tracks (call between unrelated sources).

        Example:
            >>> det.reset_tracker()  # doctest: +SKIP
        """
        self.tracker.reset()

    def set_threads(self, threads: int) -> None:
        """Set torch's CPU threads (the CNN; YuNet/Haar use OpenCV's own pool).

        Example:
            >>> det.set_threads(1)  # doctest: +SKIP
        """
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)


def build_two_stage(face_model: str | Path | None = None, cnn_weights: str | Path | None = None,
                    threads: int | None = None, tta: bool = False) -> TwoStageDetector:
    """The two-stage pipeline with the defaults of ``exprdet detect --pipeline two-stage``.

    With YuNet the reported boxes are in the human convention of the project's labels
    (:data:`~detector.labels.HUMAN_BOX_OFFSETS`), so they are scored like the one-stage model's.

    Args:
        face_model: A YuNet ``.onnx`` path, ``"haar"`` for OpenCV's cascade, or ``None`` for the
            shared YuNet model when present (Haar otherwise).
        cnn_weights: CNN checkpoint; ``None`` is ``weights/fer-cnn-7.pt``.
        threads: torch CPU threads for the CNN.
        tta: Average each face with its mirror image.

    Raises:
        ModelError: a model file is missing or unloadable.

    Example:
        >>> det = build_two_stage(None, "weights/smile-neutral-cnn.pt")  # doctest: +SKIP
        >>> det.names  # doctest: +SKIP
        {0: 'neutral', 1: 'smile'}
    """
    if face_model is None:
        finder_arg: str | Path | None = default_face_model()
    elif str(face_model).lower() == "haar":
        finder_arg = None
    else:
        finder_arg = face_model
    # The offsets were measured for YuNet; Haar's boxes are another shape, reported as they are.
    offsets = HUMAN_BOX_OFFSETS if finder_arg is not None else None
    return TwoStageDetector(finder_arg, cnn_weights or FER_WEIGHTS, threads=threads, tta=tta, box_offsets=offsets)


def build_default() -> TwoStageDetector:
    """YuNet (shared model) + ``weights/fer-cnn-7.pt``: the benchmark's two-stage row.

    Raises:
        ModelError: the YuNet model or the CNN weights are missing.

    Example:
        >>> det = build_default()  # doctest: +SKIP
        >>> det.name  # doctest: +SKIP
        'yunet + fer-cnn-7'
    """
    face = default_face_model()
    if face is None:
        raise ModelError(shared_dir() / "models" / "face_detection_yunet.onnx", "YuNet model not found")
    return TwoStageDetector(face, FER_WEIGHTS, box_offsets=HUMAN_BOX_OFFSETS)


def build_smile_neutral() -> TwoStageDetector:
    """YuNet (shared model) + ``weights/smile-neutral-cnn.pt``: the two-stage pipeline with the
    one-stage detector's classes, for ``exprdet bench --pipeline`` and side-by-side comparisons.

    Raises:
        ModelError: the YuNet model or the CNN weights are missing.

    Example:
        >>> det = build_smile_neutral()  # doctest: +SKIP
        >>> det.names  # doctest: +SKIP
        {0: 'neutral', 1: 'smile'}
    """
    face = default_face_model()
    if face is None:
        raise ModelError(shared_dir() / "models" / "face_detection_yunet.onnx", "YuNet model not found")
    return TwoStageDetector(face, SMILE_NEUTRAL_WEIGHTS, box_offsets=HUMAN_BOX_OFFSETS)


# ----------------------------------------------------------------------------- command helpers
def default_weights(task: str) -> Path:
    """Shipped checkpoint path of a task.

    Example:
        >>> default_weights("fer7").name
        'fer-cnn-7.pt'
    """
    task_classes(task)
    return FER_WEIGHTS if task == "fer7" else SMILE_NEUTRAL_WEIGHTS


def default_report_dir(weights: str | Path) -> Path:
    """``runs/twostage/<weights stem>-eval``.

    Example:
        >>> default_report_dir("weights/fer-cnn-7.pt").name
        'fer-cnn-7-eval'
    """
    return RUNS_DIR / "twostage" / f"{Path(weights).stem}-eval"


def write_predictions_csv(path: str | Path, names: Sequence[Any], labels: np.ndarray, preds: np.ndarray,
                          classes: Sequence[str]) -> Path:
    """Per-image predictions as CSV (for error analysis), atomically.

    Example:
        >>> import tempfile
        >>> p = write_predictions_csv(Path(tempfile.mkdtemp()) / "p.csv", ["a.jpg"], np.array([0]),
        ...                           np.array([1]), ["x", "y"])
        >>> p.read_text().splitlines()[1]
        'a.jpg,x,y'
    """
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["image", "true", "predicted"])
    for n, t, p in zip(names, labels, preds, strict=True):
        w.writerow([n, classes[int(t)], classes[int(p)]])
    return atomic_write_bytes(path, buf.getvalue().encode())


def dumps_summary(report: dict[str, Any]) -> str:
    """One line per test set: name, images, accuracy (and TTA), macro-F1.

    Example:
        >>> dumps_summary({"sets": [{"name": "t", "n": 4, "accuracy": 0.75, "accuracy_tta": 0.8,
        ...                          "macro_f1": 0.7}]})
        't: 4 images, accuracy 75.0 % (mirror TTA 80.0 %), macro-F1 0.700'
    """
    return "\n".join(f"{s['name']}: {s['n']} images, accuracy {100 * s['accuracy']:.1f} % "
                     f"(mirror TTA {100 * s['accuracy_tta']:.1f} %), macro-F1 {s['macro_f1']:.3f}"
                     for s in report["sets"])

