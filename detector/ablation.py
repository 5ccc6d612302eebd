"""Dataset-size ablation: nested random subsets of one train split, everything else identical.

The question "how much do 899 labelled images buy over 569?" is answered by training the same
model with the same hyperparameters on growing subsets of one training pool and scoring every
run on the *same* validation and test split:

* **Nested subsets.** For each seed there is one seeded permutation of the train split's
  source images; a subset of size N is its first N. So the 569 are inside the 899, and the
  difference between two sizes is only the extra images (:func:`nested_subsets`).
* **Sizes count source images, before flips.** ``exprdet build`` writes a mirrored
  ``<stem>_flip.<ext>`` copy of every train image; a subset of N sources takes their flip
  copies along, so N sources are up to 2N training images (:func:`train_sources`).
* **Groups.** With ``grouped=True`` the permutation is over groups (video, person, original
  picture, from the dataset's ``manifest.csv``): a subset is whole groups plus at most one
  partial group at the boundary, so frames of one video come in together.
* **No copies.** Each run writes a list of its train images (Ultralytics reads a ``.txt`` of
  image paths as ``train:``) and its own ``data.yaml`` with the dataset's val/test.
* **Resumable.** A run whose ``result.json`` exists is read back, not retrained; an interrupted
  training continues from its ``last.pt``; more seeds or sizes can be added later to the same
  output folder. Hyperparameters are stored in ``ablation.json`` and must not change.
* **Outputs.** ``ablation.md`` / ``ablation.csv`` (mean and spread over seeds of mAP50,
  mAP50-95, precision, recall, F1 and face accuracy per dataset and size) and ``ablation.png``
  (each metric against the number of source images); the tables are rewritten after every run.

Training and evaluation are injected (``train_fn``, ``eval_fn``; defaults
:func:`detector.train.train` and :func:`detector.evaluate.evaluate_weights`), so tests can count
calls without training.

Example:
    >>> nested_subsets([f"img{i}" for i in range(6)], [2, 4], seed=0)
    {2: ['img4', 'img2'], 4: ['img4', 'img2', 'img1', 'img0']}
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import re
import statistics
import sys
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from tqdm import tqdm

from detector.errors import DatasetError, DetectorError
from detector.fileio import atomic_write_json, atomic_write_text
from detector.paths import RUNS_DIR

# (key in EvalReport.to_dict()["metrics"], column title)
METRICS: tuple[tuple[str, str], ...] = (
    ("map50", "mAP50"), ("map50_95", "mAP50-95"), ("precision", "precision"),
    ("recall", "recall"), ("f1", "F1"), ("face_accuracy", "face accuracy"))
# The reference system's README figures (YOLOv5, 50 epochs; its test images were frames of the
# training videos, i.e. a leaky split). Only these three were reported.
REFERENCE: dict[int, dict[str, float]] = {
    569: {"map50": 0.990, "precision": 0.938, "recall": 0.979},
    899: {"map50": 0.996, "precision": 0.972, "recall": 0.990},
}
CONFIG_NAME = "ablation.json"
RESULT_NAME = "result.json"
FLIP_SUFFIX = "_flip"
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

Size = int | Literal["all"]


# --------------------------------------------------------------------------- pure parts


def parse_sizes(text: str) -> list[Size]:
    """Parse ``"569,899"`` into sizes (positive integers, or ``all`` = the whole train split).

    Sizes are returned sorted (``all`` last) without duplicates.

    Raises:
        ValueError: Empty, non-integer, zero or negative sizes.

    Example:
        >>> parse_sizes("899,569"), parse_sizes("100, all")
        ([569, 899], [100, 'all'])
    """
    out: set[int] = set()
    want_all = False
    parts = [p.strip() for p in str(text).split(",")]
    if not any(parts):
        raise ValueError("no dataset size given (e.g. --sizes 569,899)")
    for part in parts:
        if part.lower() == "all":
            want_all = True
            continue
        try:
            value = int(part)
        except ValueError:
            raise ValueError(f"dataset sizes must be whole numbers of images (or all), got "
                             f"{part!r} in {text!r}") from None
        if value < 1:
            raise ValueError(f"dataset sizes must be at least 1, got {value}")
        out.add(value)
    sizes: list[Size] = sorted(out)
    if want_all:
        sizes.append("all")
    return sizes


def resolve_sizes(sizes: Sequence[Size], available: int, where: str | Path | None = None) -> list[int]:
    """Turn ``all`` into ``available`` and check every size fits; sorted, unique.

    Raises:
        DatasetError: A size larger than ``available`` (naming ``where``).

    Example:
        >>> resolve_sizes([569, "all"], 899)
        [569, 899]
    """
    resolved = sorted({available if s == "all" else int(s) for s in sizes})
    too_big = [s for s in resolved if s > available]
    if too_big:
        raise DatasetError(where, f"size {too_big[0]} is larger than the {available} source images "
                                  "of its train split (flip copies are not counted; use a size up "
                                  "to that, or all)")
    return resolved


def nested_subsets(keys: Sequence[str], sizes: Sequence[int], seed: int = 0,
                   groups: Sequence[str] | None = None) -> dict[int, list[str]]:
    """Nested random subsets: one seeded permutation of ``keys``, each subset one of its prefixes.

    The result depends only on the set of keys (and groups), the sizes and the seed, not on
    the input order; the input is not modified. Without ``groups`` the keys themselves are
    shuffled. With ``groups`` (parallel to ``keys``) the groups are shuffled and each group's
    keys follow each other (shuffled within the group, same seed), so every subset is made of
    whole groups except at most one partial group at its end.

    Args:
        keys: Unique ids of the source images.
        sizes: Subset sizes, each in ``1..len(keys)``.
        seed: Seed of the permutation.
        groups: Optional group of each key.

    Returns:
        ``{size: keys in permutation order}`` for every size; a smaller subset is a prefix of
        every larger one.

    Raises:
        ValueError: Duplicate keys, ``groups`` of another length, or a size out of range.

    Example:
        >>> subs = nested_subsets(list("abcdefgh"), [3, 6], seed=1)
        >>> subs[6][:3] == subs[3]
        True
        >>> nested_subsets(list("abcdef"), [4], seed=0, groups=list("xxyyzz"))  # groups x, z
        {4: ['b', 'a', 'e', 'f']}
    """
    if len(set(keys)) != len(keys):
        raise ValueError("keys must be unique")
    if groups is not None and len(groups) != len(keys):
        raise ValueError("groups must be parallel to keys")
    n = len(keys)
    for size in sizes:
        if not 1 <= int(size) <= n:
            raise ValueError(f"subset size {size} is outside 1..{n}")
    rng = random.Random(seed)
    if groups is None:
        order = sorted(keys)
        rng.shuffle(order)
    else:
        members: dict[str, list[str]] = defaultdict(list)
        for key, group in zip(keys, groups, strict=True):
            members[group].append(key)
        group_order = sorted(members)
        rng.shuffle(group_order)
        order = []
        for group in group_order:
            inside = sorted(members[group])
            rng.shuffle(inside)  # a partial boundary group is a random part, not its first frames
            order += inside
    return {int(s): order[:int(s)] for s in sorted(set(sizes))}


def mean_spread(values: Sequence[float | None]) -> dict[str, float | int | None]:
    """Mean, sample standard deviation (``None`` below two values), min, max, n of the non-None values.

    Example:
        >>> mean_spread([0.5, 0.7, None])
        {'mean': 0.6, 'std': 0.141421, 'min': 0.5, 'max': 0.7, 'n': 2}
    """
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not vals:
        return {"mean": None, "std": None, "min": None, "max": None, "n": 0}
    std = round(statistics.stdev(vals), 6) if len(vals) > 1 else None
    return {"mean": round(statistics.fmean(vals), 6), "std": std, "min": min(vals),
            "max": max(vals), "n": len(vals)}


# --------------------------------------------------------------------------- train sources


@dataclass(frozen=True)
class TrainSource:
    """One labelled source image of a train split, with the flip copies made from it.

    Attributes:
        key: Id of the source (its own image path, or ``pool/source_image`` from the manifest).
        files: Absolute image paths: the source image first, then its flip copies.
        group: Leakage group (video, person, picture) from the manifest; else ``key``.

    Example:
        >>> TrainSource("a", ("/d/train/images/a.jpg", "/d/train/images/a_flip.jpg"), "v1").files[1]
        '/d/train/images/a_flip.jpg'
    """

    key: str
    files: tuple[str, ...]
    group: str


def _read_manifest(path: Path) -> dict[str, tuple[str, str, bool]]:
    """``{absolute image path: (source key, group, is_flip)}`` for the train rows of a build manifest."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        need = ("split", "image", "group", "source_image")
        missing = [c for c in need if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(path, f"missing column(s) {', '.join(missing)} (expected the "
                                     "manifest.csv that exprdet build writes)")
        out: dict[str, tuple[str, str, bool]] = {}
        for row in reader:
            if row["split"] != "train":
                continue
            image = str((path.parent / "train" / "images" / row["image"]).resolve())
            source = f"{row.get('pool', '')}/{row['source_image']}"
            out[image] = (source, row["group"] or source, row.get("flip", "0") == "1")
    return out


def _find_manifest(spec: Any, images: Sequence[str]) -> dict[str, tuple[str, str, bool]] | None:
    candidates = [spec.path.parent / "manifest.csv"]
    candidates += [p.parent.parent / "manifest.csv" for p in spec.splits["train"]
                   if p.is_dir() and p.name == "images"]
    for path in dict.fromkeys(candidates):
        if not path.is_file():
            continue
        rows = _read_manifest(path)
        covered = sum(1 for i in images if i in rows)
        if covered == len(images):
            return rows
        if covered:
            missing = next(i for i in images if i not in rows)
            raise DatasetError(path, f"does not list train image {missing}; was the dataset "
                                     "changed after it was built? Rebuild it")
    return None


def train_sources(data: str | Path) -> list[TrainSource]:
    """The source images of a data.yaml's train split, each with its ``_flip`` copies.

    Flip copies and groups come from the ``manifest.csv`` that ``exprdet build`` writes next
    to ``data.yaml`` (or two levels above a ``train/images`` folder). Without one, an image
    ``X_flip.ext`` whose ``X.ext`` is also in the split is taken as X's flip copy and every
    source is its own group.

    Raises:
        DatasetError: Bad data.yaml, no train images, a train list that repeats an image
            (a balanced list: ablate the plain data.yaml), or a manifest that does not match.

    Example:
        >>> # [s.files for s in train_sources("datasets/expressions/data.yaml")][:1]
        >>> # [('.../train/images/smile-neutral__AJ_Lamas_0001.jpg', '.../..._0001_flip.jpg')]
    """
    from detector.train import load_data_yaml

    spec = load_data_yaml(data, require=("train",))
    images = [str(p.resolve()) for p in spec.images("train")]
    if len(set(images)) != len(images):
        raise DatasetError(spec.path, "its train split lists some images more than once (a "
                                      "balanced list?); ablate the plain data.yaml instead")
    manifest = _find_manifest(spec, images)
    by_key: dict[str, list[tuple[bool, str]]] = defaultdict(list)
    group_of: dict[str, str] = {}
    if manifest is not None:
        for image in images:
            key, group, flip = manifest[image]
            by_key[key].append((flip, image))
            group_of[key] = group
    else:
        present = set(images)
        for image in images:
            p = Path(image)
            original = p.with_name(p.stem[:-len(FLIP_SUFFIX)] + p.suffix)
            if p.stem.endswith(FLIP_SUFFIX) and str(original) in present:
                by_key[str(original)].append((True, image))
            else:
                by_key[image].append((False, image))
                group_of[image] = image
    return [TrainSource(key, tuple(f for _, f in sorted(files)), group_of.get(key, key))
            for key, files in sorted(by_key.items())]


# --------------------------------------------------------------------------- settings, records


@dataclass(frozen=True)
class AblationSettings:
    """Everything that must be identical across the runs of one ablation.

    Attributes:
        model: Model config or local ``.pt`` (``yolo11n.yaml``, ``yolov5n.yaml``, ...).
        epochs: Training epochs.
        batch: Batch size.
        imgsz: Training and evaluation image size.
        overrides: Other Ultralytics training options (``key=value``).
        grouped: Subsets are whole groups (see :func:`nested_subsets`).
        split: Split every run is scored on (``test``; ``val`` picks ``best.pt``).
        backbone: A local ``-cls`` checkpoint whose matching layers start every run (as
            ``exprdet train --backbone``). The reference system started from pretrained weights;
            from scratch, a nano detector stays at chance between the classes for tens of epochs
            on a thousand photos. It must not have seen the test people.

    Example:
        >>> AblationSettings(epochs=2).to_dict()["epochs"]
        2
    """

    model: str = "yolo11n.yaml"
    epochs: int = 50
    batch: int = 16
    imgsz: int = 640
    overrides: Mapping[str, Any] = field(default_factory=dict)
    grouped: bool = False
    split: str = "test"
    backbone: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the overrides sorted (the form stored and compared)."""
        d = asdict(self)
        d["overrides"] = dict(sorted(dict(self.overrides).items()))
        if d["backbone"] is None:
            del d["backbone"]  # ablations stored before the option existed still compare equal
        return d


@dataclass
class RunRecord:
    """One finished run: which subset, where its files are, what the evaluation measured.

    Attributes:
        dataset: Dataset label.
        size: Source images in the subset (before flip copies).
        seed: Subset permutation seed and Ultralytics training seed.
        run: Run folder name (``<dataset>-n<size>-s<seed>``).
        train_images: Training images (sources plus flip copies).
        groups: Distinct groups in the subset.
        metrics: ``map50, map50_95, precision, recall, f1, face_accuracy`` (+ ``ece``).
        weights: The evaluated ``best.pt``.
        report: The evaluation folder (report.json / report.md / plots).
        train_seconds: Training wall time of this call (0 when it was already trained).
        data: The run's data.yaml.

    Example:
        >>> RunRecord("d", 569, 0, "d-n569-s0", 1138, 569, {"map50": 0.9}).metrics["map50"]
        0.9
    """

    dataset: str
    size: int
    seed: int
    run: str
    train_images: int
    groups: int
    metrics: dict[str, float | None]
    weights: str = ""
    report: str = ""
    train_seconds: float = 0.0
    data: str = ""


@dataclass
class AblationResult:
    """What :func:`run_ablation` did and wrote.

    Attributes:
        out: The ablation folder.
        records: Every finished run in the folder (this call's and earlier ones).
        trained: Runs trained (or continued) by this call.
        evaluated: Runs evaluated by this call.
        pending: Runs planned but not finished (only with ``dry_run``).
        rows: The summary rows (see :func:`summarize`).
        table_md, table_csv, plot: Output files.
    """

    out: Path
    records: list[RunRecord]
    trained: list[str]
    evaluated: list[str]
    pending: list[str]
    rows: list[dict[str, Any]]
    table_md: Path
    table_csv: Path
    plot: Path | None


TrainFn = Callable[..., Any]
EvalFn = Callable[..., Any]


def run_name(dataset: str, size: int, seed: int) -> str:
    """Folder name of one run.

    Example:
        >>> run_name("expressions", 569, 0)
        'expressions-n569-s0'
    """
    return f"{dataset}-n{size}-s{seed}"


def dataset_label(spec: str) -> tuple[str, Path]:
    """Split ``NAME=PATH`` (or a bare PATH, named after its folder) into a label and a path.

    Raises:
        DetectorError: A label that is not a plain file-name-safe word.

    Example:
        >>> dataset_label("leaky=datasets/x-leaky/data.yaml")
        ('leaky', PosixPath('datasets/x-leaky/data.yaml'))
        >>> dataset_label("datasets/expressions/data.yaml")[0]
        'expressions'
    """
    name, sep, path = spec.partition("=")
    if not sep:
        name, path = "", spec
    p = Path(path)
    label = name or (p.parent.name if p.suffix.lower() in (".yaml", ".yml") else p.name) or "data"
    if not _LABEL.match(label):
        raise DetectorError(None, f"dataset label {label!r} must be letters, digits, '.', '_' or "
                                  "'-' (give one as NAME=PATH)")
    return label, p


def run_data_yaml(spec: Any, train_list: Path) -> str:
    """data.yaml of one run: its train list, the dataset's val/test (absolute), the dataset's names.

    Example:
        >>> # run_data_yaml(load_data_yaml("datasets/x/data.yaml"), Path("runs/a/train.txt"))
    """
    body: dict[str, Any] = {"train": str(train_list.resolve())}
    for split in ("val", "test"):
        if split in spec.splits:
            paths = [str(p) for p in spec.splits[split]]
            body[split] = paths[0] if len(paths) == 1 else paths
    body["nc"] = len(spec.names)
    body["names"] = dict(spec.names)
    head = (f"# Written by `exprdet ablate` from {spec.path}: train = a nested subset (list file), "
            "val/test = the dataset's own.\n")
    return head + yaml.safe_dump(body, sort_keys=False, allow_unicode=True)


def _check_config(path: Path, settings: AblationSettings,
                  datasets: Mapping[str, Path]) -> dict[str, Any]:
    """Merge this call into ``ablation.json``; refuse changed hyperparameters or dataset paths."""
    config: dict[str, Any] = {"settings": settings.to_dict(), "datasets": {}}
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise DatasetError(path, f"not valid JSON ({exc})") from None
        if old.get("settings") != config["settings"]:
            before, now = old.get("settings", {}), config["settings"]
            diff = [f"{k}: {before.get(k)!r} before, {now.get(k)!r} now"
                    for k in sorted(set(before) | set(now)) if before.get(k) != now.get(k)]
            raise DetectorError(path, "this ablation was run with other settings ("
                                      + "; ".join(diff) + "); every run of an ablation must use "
                                      "identical hyperparameters: use another --out")
        config["datasets"] = dict(old.get("datasets", {}))
    for label, data in datasets.items():
        known = config["datasets"].get(label)
        if known is not None and known != str(data):
            raise DetectorError(path, f"dataset label {label!r} was {known} before, now {data}; "
                                      "give it another name (NAME=PATH)")
        config["datasets"][label] = str(data)
    return config


# --------------------------------------------------------------------------- summary outputs


def summarize(records: Sequence[RunRecord], order: Sequence[str] = ()) -> list[dict[str, Any]]:
    """One row per (dataset, size): seeds, mean train images, and mean/spread of every metric.

    Rows follow ``order`` (dataset labels; others after, sorted) then size.

    Example:
        >>> recs = [RunRecord("d", 10, s, "", 20, 10, {"map50": v}) for s, v in ((0, .5), (1, .7))]
        >>> row = summarize(recs)[0]
        >>> row["seeds"], row["map50"]["mean"], row["map50"]["std"]
        ([0, 1], 0.6, 0.141421)
    """
    by: dict[tuple[str, int], list[RunRecord]] = defaultdict(list)
    for r in records:
        by[r.dataset, r.size].append(r)
    rank = {d: i for i, d in enumerate(order)}
    rows = []
    for (dataset, size), runs in sorted(by.items(), key=lambda kv: (
            rank.get(kv[0][0], len(rank)), kv[0][0], kv[0][1])):
        runs = sorted(runs, key=lambda r: r.seed)
        row: dict[str, Any] = {"dataset": dataset, "train_sources": size,
                               "train_images": round(statistics.fmean(r.train_images for r in runs)),
                               "seeds": [r.seed for r in runs]}
        for key, _ in METRICS:
            row[key] = mean_spread([r.metrics.get(key) for r in runs])
        rows.append(row)
    return rows


def _cell(stat: Mapping[str, Any]) -> str:
    if stat["mean"] is None:
        return "-"
    text = f"{100 * stat['mean']:.1f}"
    if stat["std"] is not None:
        text += f" ± {100 * stat['std']:.1f}"
    return text


def table_markdown(rows: Sequence[Mapping[str, Any]], settings: AblationSettings | None = None,
                   reference: bool = True) -> str:
    """The ablation table in Markdown: percent, ``mean ± sample std over seeds``.

    Example:
        >>> rows = summarize([RunRecord("d", 10, 0, "", 20, 10, {"map50": 0.5})])
        >>> table_markdown(rows, reference=False).splitlines()[-1]
        '| d | 10 | 20 | 1 | 50.0 | - | - | - | - | - |'
    """
    lines = []
    if settings is not None:
        s = settings.to_dict()
        over = " ".join(f"{k}={v}" for k, v in s["overrides"].items()) or "none"
        lines += [f"Model `{s['model']}`, {s['epochs']} epochs, batch {s['batch']}, imgsz "
                  f"{s['imgsz']}, overrides: {over}; subsets "
                  f"{'of whole groups' if s['grouped'] else 'of images'}; scored on the "
                  f"`{s['split']}` split with `best.pt`. Percent; mean ± sample standard "
                  "deviation over seeds.", ""]
    head = ["dataset", "train sources", "train images", "seeds"] + [t for _, t in METRICS]
    lines += ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for row in rows:
        cells = [row["dataset"], str(row["train_sources"]), str(row["train_images"]),
                 str(len(row["seeds"]))] + [_cell(row[k]) for k, _ in METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    if reference:
        lines += ["", "Reference system (YOLOv5, 50 epochs; test images were frames of the "
                      "training videos, i.e. a leaky split; only these metrics were published):",
                  "", "| dataset | images | mAP50 | precision | recall |", "|---|---:|---:|---:|---:|"]
        for size, ref in REFERENCE.items():
            lines.append(f"| reference | {size} | {100 * ref['map50']:.1f} | "
                         f"{100 * ref['precision']:.1f} | {100 * ref['recall']:.1f} |")
    return "\n".join(lines) + "\n"


def table_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """The ablation table as CSV: fractions (not percent), mean/std/min/max/n per metric.

    Example:
        >>> rows = summarize([RunRecord("d", 10, 0, "", 20, 10, {"map50": 0.5})])
        >>> table_csv(rows).splitlines()[1].split(",")[:7]
        ['d', '10', '20', '0', '0.5', '', '0.5']
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    head = ["dataset", "train_sources", "train_images", "seeds"]
    for key, _ in METRICS:
        head += [f"{key}_{s}" for s in ("mean", "std", "min", "max", "n")]
    writer.writerow(head)
    for row in rows:
        cells = [row["dataset"], row["train_sources"], row["train_images"],
                 " ".join(map(str, row["seeds"]))]
        for key, _ in METRICS:
            cells += ["" if row[key][s] is None else row[key][s]
                      for s in ("mean", "std", "min", "max", "n")]
        writer.writerow(cells)
    return buf.getvalue()


def plot_ablation(rows: Sequence[Mapping[str, Any]], records: Sequence[RunRecord],
                  path: str | Path, reference: bool = True) -> Path:
    """Each metric against the number of train source images: mean with ±std bars per dataset,
    every seed as a dot, the reference system's published points as black crosses (when its
    sizes, 569 and 899, are within the plotted range).

    Uses matplotlib's object API (no GUI backend, no downloads). A log x axis when the sizes
    span 5x or more (a learning curve), linear otherwise; ticks at the measured sizes.

    Example:
        >>> # plot_ablation(summarize(records), records, "runs/ablate/x/ablation.png")
    """
    from matplotlib.figure import Figure

    path = Path(path)
    fig = Figure(figsize=(13, 7.5))
    axes = fig.subplots(2, 3).ravel()
    sizes = sorted({r["train_sources"] for r in rows}) or [1]
    log = sizes[-1] / max(sizes[0], 1) >= 5
    # Crosses at 569/899 beside a test's 10..50 would only stretch the axis.
    show_ref = reference and any(sizes[0] / 2 <= n <= sizes[-1] * 2 for n in REFERENCE)
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    colours = [f"C{i % 10}" for i in range(len(datasets))]
    for ax, (key, title) in zip(axes, METRICS, strict=True):
        for dataset, colour in zip(datasets, colours, strict=True):
            mine = [r for r in rows if r["dataset"] == dataset and r[key]["mean"] is not None]
            if not mine:
                continue
            xs = [r["train_sources"] for r in mine]
            ys = [100 * r[key]["mean"] for r in mine]
            err = [100 * (r[key]["std"] or 0.0) for r in mine]
            ax.errorbar(xs, ys, yerr=err, marker="o", color=colour, capsize=3, label=dataset)
            dots = [(r.size, 100 * r.metrics[key]) for r in records
                    if r.dataset == dataset and r.metrics.get(key) is not None]
            if dots:
                ax.scatter(*zip(*dots, strict=True), s=10, color=colour, alpha=0.5)
        if show_ref:
            ref = [(n, 100 * v[key]) for n, v in REFERENCE.items() if key in v]
            if ref:
                ax.scatter(*zip(*ref, strict=True), marker="x", color="black", s=40,
                           label="reference (leaky split)")
        if log:
            ax.set_xscale("log")
            ax.minorticks_off()
        ax.set_xticks(sizes, [str(n) for n in sizes])
        ax.set(title=title, xlabel="train source images (before flips)", ylabel="%")
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="upper center", ncol=min(len(labels), 6), fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def read_records(out: str | Path) -> list[RunRecord]:
    """Every finished run under ``<out>/runs/*/result.json``.

    Example:
        >>> # [r.run for r in read_records("runs/ablate/expressions")]
    """
    records = []
    for path in sorted(Path(out).glob(f"runs/*/{RESULT_NAME}")):
        try:
            raw = json.loads(path.read_text())
            records.append(RunRecord(**raw["record"]))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DatasetError(path, f"is not a result written by exprdet ablate ({exc}); "
                                     "delete it to rerun that run") from None
    return records


def write_outputs(out: Path, records: Sequence[RunRecord], settings: AblationSettings,
                  order: Sequence[str] = (), plot: bool = True) -> tuple[list[dict[str, Any]], Path | None]:
    """(Re)write ablation.md, ablation.csv and ablation.png from ``records``; return rows and plot.

    Example:
        >>> # write_outputs(Path("runs/ablate/x"), read_records("runs/ablate/x"), settings)
    """
    rows = summarize(records, order)
    atomic_write_text(out / "ablation.md", "# Dataset-size ablation\n\n"
                      + table_markdown(rows, settings))
    atomic_write_text(out / "ablation.csv", table_csv(rows))
    png = None
    if plot and rows:
        tmp = out / ".ablation.tmp.png"
        plot_ablation(rows, records, tmp)
        png = tmp.replace(out / "ablation.png")
    return rows, png


# --------------------------------------------------------------------------- the ablation


def _default_train(*args: Any, **kwargs: Any) -> Any:
    from detector.train import train

    return train(*args, **kwargs)


def _default_eval(*args: Any, **kwargs: Any) -> Any:
    from detector.evaluate import evaluate_weights

    return evaluate_weights(*args, **kwargs)


def run_ablation(
    datasets: Mapping[str, str | Path] | str | Path,
    sizes: Sequence[Size],
    *,
    seeds: Sequence[int] = (0,),
    out: str | Path | None = None,
    settings: AblationSettings | None = None,
    threads: int | None = None,
    dry_run: bool = False,
    train_fn: TrainFn | None = None,
    eval_fn: EvalFn | None = None,
    plots: bool = True,
    progress: bool = True,
) -> AblationResult:
    """Train and score one model per (dataset, size, seed) on nested subsets; resumable.

    Every input is checked before anything trains: each data.yaml (train, val and the scored
    split must exist), every size against each dataset's number of train source images, and
    the settings against the folder's ``ablation.json``. Then, per run:
    ``<out>/runs/<dataset>-n<size>-s<seed>/`` gets ``train.txt`` (the subset's images, flip
    copies included) and ``data.yaml``; a run with a ``result.json`` is read back; a run with a
    ``train/weights/last.pt`` is continued (``resume=True``; a finished training returns at
    once); otherwise it trains from the start. ``best.pt`` is scored on ``settings.split`` and
    ``result.json`` written. The tables are rewritten after every run, the plot at the end.

    Args:
        datasets: ``{label: data.yaml}`` or one data.yaml (label = its folder name).
        sizes: Source-image counts (before flips), or ``"all"``.
        seeds: One nested permutation and one training seed each.
        out: Ablation folder; default ``runs/ablate/<first label>``.
        settings: Hyperparameters shared by all runs (:class:`AblationSettings`).
        threads: torch threads for training and evaluation (None: unchanged).
        dry_run: Write the subset lists and data.yamls, tables from finished runs, train nothing.
        train_fn: Called as ``train_fn(data, model, epochs=, batch=, imgsz=, threads=, seed=,
            name="train", project=<run folder>, resume=, overrides=)``; returns an object with
            ``best`` and ``seconds`` (default :func:`detector.train.train`).
        eval_fn: Called as ``eval_fn(weights, data, split, imgsz=, threads=, out=, plots=)``;
            returns an object whose ``to_dict()["metrics"]`` has the metric keys (default
            :func:`detector.evaluate.evaluate_weights`).
        plots: Write ablation.png (and the evaluation plots).
        progress: Progress bar over the runs.

    Returns:
        An :class:`AblationResult`.

    Raises:
        DatasetError: Bad data.yaml, a size larger than a train split, a dataset changed under
            a started run. DetectorError: settings differing from the folder's earlier runs.

    Example:
        >>> # run_ablation({"expressions": "datasets/expressions/data.yaml"}, [569, 899],
        >>> #              seeds=[0], settings=AblationSettings(epochs=50, imgsz=320))
    """
    from detector.train import load_data_yaml

    settings = settings or AblationSettings()
    train_fn = train_fn or _default_train
    eval_fn = eval_fn or _default_eval
    if isinstance(datasets, (str, Path)):
        label, path = dataset_label(str(datasets))
        datasets = {label: path}
    if not datasets:
        raise DatasetError(None, "no dataset given")
    if not sizes:
        raise ValueError("no dataset size given")
    if not seeds:
        raise ValueError("no seed given")
    labels = list(datasets)
    out_dir = Path(out) if out is not None else RUNS_DIR / "ablate" / labels[0]

    # 1. every check before any training
    plans: list[tuple[str, Any, list[TrainSource], int, int]] = []
    resolved_paths: dict[str, Path] = {}
    for label, data in datasets.items():
        if not _LABEL.match(label):
            raise DetectorError(None, f"dataset label {label!r} must be letters, digits, '.', '_' "
                                      "or '-'")
        spec = load_data_yaml(data, require=("train", "val", settings.split))
        resolved_paths[label] = spec.path
        sources = train_sources(spec.path)
        if settings.grouped and all(s.group == s.key for s in sources) and len(sources) > 1:
            print(f"note: {spec.path} has no manifest.csv with groups; grouped subsets are "
                  "subsets of images", file=sys.stderr)
        for size in resolve_sizes(sizes, len(sources), spec.path):
            for seed in seeds:
                plans.append((label, spec, sources, size, int(seed)))
    config = _check_config(out_dir / CONFIG_NAME, settings, resolved_paths)
    atomic_write_json(out_dir / CONFIG_NAME, config)
    order = list(config["datasets"])
    for path in sorted(out_dir.glob(f"runs/*/{RESULT_NAME}")):
        try:
            stored = json.loads(path.read_text()).get("settings")
        except json.JSONDecodeError:
            stored = None
        if stored != settings.to_dict():
            raise DetectorError(path, "was not made with this ablation's settings "
                                      f"({CONFIG_NAME}); delete that run folder or use another --out")

    # 2. subsets: one permutation per (dataset, seed), every size a prefix of it
    subsets: dict[tuple[str, int], dict[int, list[str]]] = {}
    for label, _spec, sources, _size, seed in plans:
        if (label, seed) not in subsets:
            sizes_here = sorted({p[3] for p in plans if p[0] == label and p[4] == seed})
            subsets[label, seed] = nested_subsets(
                [s.key for s in sources], sizes_here, seed,
                [s.group for s in sources] if settings.grouped else None)

    trained: list[str] = []
    evaluated: list[str] = []
    pending: list[str] = []
    bar = tqdm(plans, desc="ablation", unit="run", disable=not progress or None, file=sys.stderr)
    for label, spec, sources, size, seed in bar:
        name = run_name(label, size, seed)
        bar.set_postfix_str(name)
        run_dir = out_dir / "runs" / name
        if (run_dir / RESULT_NAME).is_file():
            continue  # finished earlier: read back below, never retrained
        by_key = {s.key: s for s in sources}
        chosen = [by_key[k] for k in subsets[label, seed][size]]
        files = [f for s in chosen for f in s.files]
        listing = "\n".join(files) + "\n"
        train_list = run_dir / "train.txt"
        if train_list.is_file() and train_list.read_text() != listing:
            raise DatasetError(train_list, "the dataset changed since this run started (its subset "
                                           "differs now); delete this run folder or use another --out")
        atomic_write_text(train_list, listing)
        run_yaml = atomic_write_text(run_dir / "data.yaml", run_data_yaml(spec, train_list))
        if dry_run:
            pending.append(name)
            continue
        last = run_dir / "train" / "weights" / "last.pt"
        common = {"epochs": settings.epochs, "batch": settings.batch, "imgsz": settings.imgsz,
                  "threads": threads, "seed": seed, "name": "train", "project": run_dir}
        if last.is_file():
            result = train_fn(run_yaml, settings.model, resume=True, overrides={}, **common)
        else:
            # exist_ok: a training that died before its first checkpoint left an empty folder;
            # reuse it rather than let Ultralytics start "train-2".
            extra = {"backbone": settings.backbone} if settings.backbone else {}
            result = train_fn(run_yaml, settings.model, resume=False,
                              overrides={**dict(settings.overrides), "exist_ok": True}, **common, **extra)
        trained.append(name)
        report = eval_fn(result.best, run_yaml, settings.split, imgsz=settings.imgsz,
                         threads=threads, out=run_dir / "eval", plots=plots)
        evaluated.append(name)
        metrics = dict(report.to_dict()["metrics"])
        record = RunRecord(label, size, seed, name, len(files), len({s.group for s in chosen}),
                           metrics, str(result.best), str(run_dir / "eval"),
                           round(float(getattr(result, "seconds", 0.0)), 1), str(run_yaml))
        atomic_write_json(run_dir / RESULT_NAME, {"record": asdict(record),
                                                  "settings": settings.to_dict(),
                                                  "source_data": str(spec.path)})
        # The tables after every run show a long ablation's progress; the plot waits for the end.
        write_outputs(out_dir, read_records(out_dir), settings, order, plot=False)
    records = read_records(out_dir)
    rows, png = write_outputs(out_dir, records, settings, order, plots)
    return AblationResult(out_dir, records, trained, evaluated, pending, rows,
                          out_dir / "ablation.md", out_dir / "ablation.csv", png)
