"""Roboflow YOLO exports (folder or .zip) to a *pool*: copied images, checked labels, a report.

Pool format (read by the dataset builder)::

    <pool>/images/<name>.<ext>   copied byte for byte; names unique within the pool (by stem)
    <pool>/labels/<name>.txt     YOLO rows with the pool's class ids; empty file = background
    <pool>/pool.yaml             names: [...]; source: free text; kind: roboflow
    <pool>/manifest.csv          image,group,source_split,class_names
    <pool>/import_report.json    counts per split and class, every problem with file and line

Every label row goes through :func:`detector.labels.parse_yolo_line`. Polygon rows become
their bounding box (counted). Rows that stay invalid are listed in the report with file, line
and reason; the image they belong to is left out of the pool, because a partly labelled image
would teach the model that the unlabelled face is background. With ``strict=True`` the first
invalid row or unreadable image raises :class:`~detector.errors.DatasetError` instead and
nothing is written.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import shutil
import socket
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml
from tqdm import tqdm

from detector.errors import DatasetError, SourceError
from detector.fileio import IMAGE_SUFFIXES, atomic_dir, atomic_write_json, list_images
from detector.labels import LabelRowError, format_yolo_line, parse_yolo_line
from detector.paths import DATASETS_DIR

REPORT_NAME = "import_report.json"
POOL_COLUMNS = ("image", "group", "source_split", "class_names")
# data.yaml key -> split name in the pool, in import order.
SPLITS = ("train", "val", "test")
# Folder names Roboflow and others use for each split, tried when a data.yaml path is stale.
SPLIT_FOLDERS = {"train": ("train",), "val": ("valid", "val"), "test": ("test",)}
# `<original-stem>_<ext>.rf.<hash>` -- Roboflow's export names; augmented copies of one
# source picture share the part before `.rf.`.
_RF_STEM = re.compile(r"^(?P<group>.+)\.rf\.[0-9A-Za-z]+$")
_DOWNLOAD_SPEC = re.compile(r"^(?P<ws>[\w.-]+)/(?P<project>[\w.-]+)/(?P<version>\d+)$")
DOWNLOAD_FORMAT = "yolov11"
ROBOFLOW_HOST = "api.roboflow.com"


@dataclass(frozen=True)
class InvalidRow:
    """A label row that could not be used (``line`` is 0 when the whole file is unreadable)."""

    file: str
    line: int
    reason: str


@dataclass
class SplitStats:
    """Counts for one split of the export."""

    images: int = 0
    imported: int = 0
    background: int = 0
    background_no_label_file: int = 0
    boxes: int = 0
    polygons_converted: int = 0
    invalid_rows: int = 0
    images_skipped_invalid: int = 0
    images_only_dropped_classes: int = 0
    unreadable_images: int = 0
    rows_dropped: dict[str, int] = field(default_factory=dict)
    boxes_per_class: dict[str, int] = field(default_factory=dict)
    images_per_class: dict[str, int] = field(default_factory=dict)


@dataclass
class ImportReport:
    """Everything :func:`import_roboflow` found; written to ``<pool>/import_report.json``."""

    source: str
    data_yaml: str
    pool: str
    kind: str
    source_names: list[str]
    names: list[str]
    class_map: dict[str, str | None]
    drop_others: bool
    splits: dict[str, SplitStats] = field(default_factory=dict)
    invalid_rows: list[InvalidRow] = field(default_factory=list)
    unreadable_images: list[dict[str, str]] = field(default_factory=list)
    background_images: list[str] = field(default_factory=list)
    missing_classes: dict[str, list[str]] = field(default_factory=dict)
    labels_without_image: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def problems(self) -> int:
        """Invalid rows plus unreadable images: non-zero means the pool is incomplete."""
        return len(self.invalid_rows) + len(self.unreadable_images)

    @property
    def totals(self) -> dict[str, int]:
        """Integer counters summed over splits."""
        out: Counter[str] = Counter()
        for stats in self.splits.values():
            out.update({k: v for k, v in asdict(stats).items() if isinstance(v, int)})
        return dict(out)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with totals first after the header fields.

        Example:
            >>> r = ImportReport("x", "x/data.yaml", "p", "roboflow", ["a"], ["a"], {}, False)
            >>> r.to_dict()["totals"], r.to_dict()["problems"]
            ({}, 0)
        """
        data = asdict(self)
        data["problems"] = self.problems
        data["totals"] = self.totals
        return data


@dataclass(frozen=True)
class DataYaml:
    """The parts of a data.yaml the importer uses: class names and split folders."""

    path: Path
    names: list[str]
    splits: dict[str, list[str]]
    root_hint: str | None = None


def roboflow_group(file_name: str) -> str:
    """Leakage group of an exported file: the ``<original-stem>_<ext>`` part of Roboflow names.

    Augmented copies of one source picture share it; other names are their own group (stem).

    Example:
        >>> roboflow_group("1-10-_jpg.rf.31209fb5b575382e4b0b74e89ce287d5.jpg")
        '1-10-_jpg'
        >>> roboflow_group("holiday.png")
        'holiday'
    """
    stem = Path(file_name).stem
    match = _RF_STEM.match(stem)
    return match.group("group") if match else stem


def parse_class_map(items: Sequence[str]) -> dict[str, str | None]:
    """Parse ``SRC=DST`` items into a mapping; an empty ``DST`` (``disgust=``) drops ``SRC``.

    Example:
        >>> parse_class_map(["happy=smile", "neutral=neutral", "disgust="])
        {'happy': 'smile', 'neutral': 'neutral', 'disgust': None}
    """
    out: dict[str, str | None] = {}
    for item in items:
        src, sep, dst = item.partition("=")
        src, dst = src.strip(), dst.strip()
        if not sep or not src:
            raise ValueError(f"class mapping {item!r} is not SRC=DST (e.g. happy=smile)")
        if src in out and out[src] != (dst or None):
            raise ValueError(f"class {src!r} is mapped twice ({out[src]!r} and {dst!r})")
        out[src] = dst or None
    return out


def plan_classes(source_names: Sequence[str], class_map: Mapping[str, str | None] | None = None,
                 drop_others: bool = False) -> tuple[list[str], list[int | None]]:
    """Pool class names and, per source class id, the pool class id (``None`` = dropped).

    Mapped targets come first in the order of ``class_map``; unmapped classes follow in
    source order under their own name unless ``drop_others``. Several sources may map to one
    target. Unknown source names raise ValueError.

    Example:
        >>> plan_classes(["angry", "happy", "neutral"], {"happy": "smile"})
        (['smile', 'angry', 'neutral'], [1, 0, 2])
        >>> plan_classes(["angry", "happy", "neutral"], {"happy": "smile", "neutral": "neutral"},
        ...              drop_others=True)
        (['smile', 'neutral'], [None, 0, 1])
    """
    class_map = dict(class_map or {})
    unknown = [s for s in class_map if s not in source_names]
    if unknown:
        raise ValueError(f"class(es) {', '.join(map(repr, unknown))} not in the export's names "
                         f"{list(source_names)}")
    names: list[str] = []
    for target in class_map.values():
        if target is not None and target not in names:
            names.append(target)
    for src in source_names:
        if src not in class_map and not drop_others and src not in names:
            names.append(src)
    ids: list[int | None] = []
    for src in source_names:
        target = class_map.get(src, None if drop_others else src)
        ids.append(None if target is None else names.index(target))
    if not names:
        raise ValueError("the class mapping drops every class")
    return names, ids


def parse_download_spec(spec: str) -> tuple[str, str, int]:
    """Split ``WORKSPACE/PROJECT/VERSION``.

    Example:
        >>> parse_download_spec("workenv-dayet/facial-emotion-dataset-7g1jd-hipbk/3")
        ('workenv-dayet', 'facial-emotion-dataset-7g1jd-hipbk', 3)
    """
    match = _DOWNLOAD_SPEC.match(spec.strip())
    if not match:
        raise ValueError(f"{spec!r} is not WORKSPACE/PROJECT/VERSION (e.g. my-ws/faces/3)")
    return match["ws"], match["project"], int(match["version"])


def find_data_yaml(root: str | Path) -> Path:
    """The export's data.yaml: at ``root`` or in its only sub-folder (how zips often unpack).

    Example:
        >>> find_data_yaml("../shared/data/roboflow-facial-emotion-7").name  # doctest: +SKIP
        'data.yaml'
    """
    root = Path(root)
    if not root.exists():
        raise DatasetError(root, "does not exist")
    if not root.is_dir():
        raise DatasetError(root, "is not a folder or a .zip file")
    if (root / "data.yaml").is_file():
        return root / "data.yaml"
    entries = [p for p in root.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    if not entries:
        raise DatasetError(root, "is empty; expected a Roboflow YOLO export with data.yaml")
    subdirs = [p for p in entries if p.is_dir()]
    if len(entries) == 1 and subdirs and (subdirs[0] / "data.yaml").is_file():
        return subdirs[0] / "data.yaml"
    raise DatasetError(root, "no data.yaml found; expected a Roboflow YOLO export "
                             "(data.yaml with train/valid/test folders of images and labels)")


def read_data_yaml(path: str | Path) -> DataYaml:
    """Parse a YOLO data.yaml: ``names`` as list or ``{id: name}``, split paths as str or list.

    Example:
        >>> spec = read_data_yaml("export/data.yaml")  # doctest: +SKIP
        >>> spec.names[:2], spec.splits["val"]  # doctest: +SKIP
        (['angry', 'disgust'], ['../valid/images'])
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc
        raise DatasetError(path, f"{where}not valid YAML ({problem})") from None
    except UnicodeDecodeError:
        raise DatasetError(path, "not a UTF-8 text file") from None
    if not isinstance(data, dict):
        raise DatasetError(path, "expected a mapping with names and train/val/test paths")
    raw_names = data.get("names")
    if isinstance(raw_names, dict):
        try:
            by_id = {int(k): str(v) for k, v in raw_names.items()}
        except (TypeError, ValueError):
            raise DatasetError(path, "names: keys must be class ids 0..n-1") from None
        if sorted(by_id) != list(range(len(by_id))):
            raise DatasetError(path, f"names: class ids must be 0..{len(by_id) - 1}, "
                                     f"got {sorted(by_id)}")
        names = [by_id[i] for i in range(len(by_id))]
    elif isinstance(raw_names, list) and raw_names:
        names = [str(n) for n in raw_names]
    else:
        raise DatasetError(path, "names: missing or empty (expected a list or {id: name})")
    if len(set(names)) != len(names):
        dup = sorted(n for n, c in Counter(names).items() if c > 1)
        raise DatasetError(path, f"names: duplicate class name(s) {dup}")
    nc = data.get("nc")
    if nc is not None and nc != len(names):
        raise DatasetError(path, f"nc is {nc} but names lists {len(names)} classes")
    splits: dict[str, list[str]] = {}
    for key in SPLITS:
        value = data.get(key, data.get("valid") if key == "val" else None)
        if value is None:
            continue
        entries = value if isinstance(value, list) else [value]
        if not all(isinstance(e, str) and e.strip() for e in entries):
            raise DatasetError(path, f"{key}: expected a folder path or a list of them")
        splits[key] = [e.strip() for e in entries]
    if not splits:
        raise DatasetError(path, "no train/val/test entries")
    root_hint = data.get("path") if isinstance(data.get("path"), str) else None
    return DataYaml(path, names, splits, root_hint)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def resolve_split_dir(entry: str, root: str | Path, split: str,
                      root_hint: str | None = None) -> Path | None:
    """Find the images folder a data.yaml ``entry`` means, or ``None`` when it does not exist.

    Roboflow writes ``../train/images`` (relative to a folder one level up), others write
    ``train/images`` or an absolute path from the machine that made the export. Candidates,
    in order: the entry with leading ``./``/``../`` stripped under ``root``; under the yaml's
    ``path:``; an absolute entry as is; its last two parts under ``root``; the conventional
    ``<split-folder>/images`` (``valid`` for val). A relative entry is never followed out
    of ``root``.

    Example:
        >>> resolve_split_dir("../valid/images", "../shared/data/roboflow-facial-emotion-7",
        ...                   "val")  # doctest: +SKIP
        PosixPath('../shared/data/roboflow-facial-emotion-7/valid/images')
    """
    root = Path(root)
    p = Path(entry)
    candidates: list[Path] = []
    if p.is_absolute():
        candidates.append(p)
    else:
        parts = list(p.parts)
        while parts and parts[0] in (".", ".."):
            parts.pop(0)
        if parts:
            candidates.append(root.joinpath(*parts))
        if root_hint:
            hint = Path(root_hint)
            candidates.append((hint if hint.is_absolute() else root / hint) / p)
    if len(p.parts) >= 2:
        candidates.append(root.joinpath(*p.parts[-2:]))
    candidates += [root / folder / "images" for folder in SPLIT_FOLDERS.get(split, (split,))]
    for cand in candidates:
        if cand.is_dir() and (p.is_absolute() or _inside(cand, root)):
            return cand
    return None


def labels_dir_for(images_dir: str | Path) -> Path:
    """The YOLO labels folder for an images folder: last ``images`` part replaced by ``labels``.

    Example:
        >>> labels_dir_for("export/train/images").as_posix()
        'export/train/labels'
    """
    parts = list(Path(images_dir).parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts)
    return Path(images_dir)


def check_image_bytes(data: bytes) -> str | None:
    """Why image bytes are unusable, or ``None`` when they decode.

    Recent OpenCV (4.14) refuses a cut JPEG outright; older builds decode it with grey filler
    and only warn, so a JPEG without its end marker is reported as truncated either way.

    Example:
        >>> check_image_bytes(b"not an image")
        'cannot be decoded as an image'
    """
    if not data:
        return "empty file"
    # A reduced grey decode checks the whole entropy-coded stream at a fraction of the cost.
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8)
    if img is None or img.size == 0:
        return "cannot be decoded as an image"
    if data[:2] == b"\xff\xd8" and b"\xff\xd9" not in data[-4096:]:
        return "truncated JPEG (no end-of-image marker)"
    return None


@contextlib.contextmanager
def _opened_export(source: Path) -> Iterator[tuple[Path, str]]:
    """Yield ``(root, display_prefix)``; a zip is unpacked into a temporary folder first."""
    if source.is_file() and source.suffix.lower() == ".zip":
        with tempfile.TemporaryDirectory(prefix="roboflow-zip-") as tmp:
            try:
                with zipfile.ZipFile(source) as zf:
                    dest = Path(tmp).resolve()
                    for member in zf.namelist():
                        # A member like ../../x would escape the folder ("zip slip").
                        if not _inside(dest / member, dest):
                            raise DatasetError(source, f"unsafe path in zip: {member!r}")
                    zf.extractall(dest)
            except (zipfile.BadZipFile, EOFError) as exc:
                raise DatasetError(source, f"not a readable zip file ({exc})") from None
            yield Path(tmp), str(source)
    elif source.is_file():
        raise DatasetError(source, "is not a folder or a .zip file")
    else:
        yield source, str(source)


def _check_out(out: Path, source: Path) -> None:
    """Refuse outputs that would replace the source or an unrelated folder."""
    src, dst = source.resolve(), out.resolve()
    if dst == src or _inside(src, dst) or _inside(dst, src):
        raise DatasetError(out, f"output must be outside the export {source} (sources are "
                                "never changed) and must not contain it")
    if out.exists() and (not out.is_dir() or (any(out.iterdir())
                                               and not (out / "pool.yaml").exists())):
        raise DatasetError(out, "exists and is not a pool (no pool.yaml); refusing to replace it")


def _display(prefix: str, rel: str) -> str:
    return f"{prefix}/{rel}"


def import_roboflow(source: str | Path, out: str | Path | None = None, *,
                    class_map: Mapping[str, str | None] | None = None,
                    drop_others: bool = False, strict: bool = False,
                    source_text: str | None = None, progress: bool = False) -> ImportReport:
    """Import a Roboflow YOLO export (folder or .zip) into a pool folder, atomically.

    Args:
        source: The export folder (with data.yaml) or its .zip.
        out: Pool folder; default ``datasets/pools/<source name>``. Replaced only if it is
            already a pool (has pool.yaml) and only once the new pool is complete.
        class_map: Source class name -> pool class name (``None`` drops the class).
        drop_others: Drop rows of classes not in ``class_map`` (counted per class).
        strict: Raise DatasetError at the first invalid row or unreadable image.
        source_text: ``source:`` text for pool.yaml (default: the export path and the
            Roboflow project named in data.yaml, when present).
        progress: Show a tqdm progress bar on stderr.

    Returns:
        The :class:`ImportReport` also written to ``<pool>/import_report.json``.

    Raises:
        DatasetError: Missing/unreadable export or data.yaml, unknown class in ``class_map``,
            no split folder found, or (``strict``) an invalid row or unreadable image.

    Example:
        >>> report = import_roboflow("../shared/data/roboflow-facial-emotion-7", "/tmp/pool",
        ...                          class_map={"happy": "smile", "neutral": "neutral"},
        ...                          drop_others=True)  # doctest: +SKIP
        >>> report.names, report.splits["train"].imported  # doctest: +SKIP
        (['smile', 'neutral'], 263)
    """
    source = Path(source)
    if not source.exists():
        raise DatasetError(source, "does not exist")
    name = source.stem if source.suffix.lower() == ".zip" else source.resolve().name
    out = Path(out) if out is not None else DATASETS_DIR / "pools" / name
    _check_out(out, source)
    with _opened_export(source) as (root, shown):
        try:
            return _import_export(root, shown, source, out, class_map, drop_others, strict,
                                  source_text, progress)
        except DatasetError as exc:
            # Errors about files unpacked from a zip name them inside the zip, not in /tmp.
            if exc.path is not None and exc.path.is_absolute() and _inside(exc.path, root):
                rel = exc.path.resolve().relative_to(root.resolve()).as_posix()
                raise DatasetError(shown if rel == "." else _display(shown, rel),
                                   exc.problem) from None
            raise


def _import_export(root: Path, shown: str, source: Path, out: Path,
                   class_map: Mapping[str, str | None] | None, drop_others: bool, strict: bool,
                   source_text: str | None, progress: bool) -> ImportReport:
    """Body of :func:`import_roboflow` once the export is a folder at ``root``."""
    data_yaml = find_data_yaml(root)
    export_root = data_yaml.parent
    rel_root = export_root.relative_to(root).as_posix()
    prefix = shown if rel_root == "." else f"{shown}/{rel_root}"
    spec = read_data_yaml(data_yaml)
    try:
        names, id_map = plan_classes(spec.names, class_map, drop_others)
    except ValueError as exc:
        raise DatasetError(_display(prefix, "data.yaml"), f"--map: {exc}") from None
    report = ImportReport(
        source=str(source.resolve()), data_yaml=_display(prefix, "data.yaml"), pool=str(out),
        kind="roboflow", source_names=list(spec.names), names=names,
        class_map=dict(class_map or {}), drop_others=drop_others)
    split_dirs: dict[str, list[Path]] = {}
    seen_dirs: dict[Path, str] = {}
    for split, entries in spec.splits.items():
        for entry in entries:
            found = resolve_split_dir(entry, export_root, split, spec.root_hint)
            if found is None:
                report.warnings.append(f"{split}: folder {entry!r} not found; split skipped")
                continue
            key = found.resolve()
            if key in seen_dirs:
                # Some exports point test at the valid folder; import those images once.
                report.warnings.append(f"{split}: {entry!r} is the same folder as "
                                       f"{seen_dirs[key]}; imported once as {seen_dirs[key]}")
                continue
            seen_dirs[key] = split
            split_dirs.setdefault(split, []).append(found)
    if not split_dirs:
        raise DatasetError(_display(prefix, "data.yaml"),
                           "none of the train/val/test folders it names exist")
    with atomic_dir(out) as tmp:
        _import_into(tmp, export_root, prefix, split_dirs, spec, names, id_map, report,
                     strict, progress)
        rf = yaml.safe_load(data_yaml.read_text(encoding="utf-8")).get("roboflow")
        project = ""
        if isinstance(rf, dict) and rf.get("project"):
            project = (f" (Roboflow {rf.get('workspace', '?')}/{rf['project']} "
                       f"v{rf.get('version', '?')}, {rf.get('license', 'licence unknown')})")
        text = source_text or f"Roboflow YOLO export {source.resolve()}{project}"
        (tmp / "pool.yaml").write_text(yaml.safe_dump(
            {"names": names, "source": text, "kind": "roboflow"}, sort_keys=False,
            allow_unicode=True), encoding="utf-8")
        atomic_write_json(tmp / REPORT_NAME, report.to_dict())
    return report


def _import_into(tmp: Path, export_root: Path, prefix: str, split_dirs: dict[str, list[Path]],
                 spec: DataYaml, names: list[str], id_map: list[int | None],
                 report: ImportReport, strict: bool, progress: bool) -> None:
    """Copy images and write checked labels for every split into the pool folder ``tmp``."""
    (tmp / "images").mkdir()
    (tmp / "labels").mkdir()
    used_stems: set[str] = set()
    manifest_rows: list[tuple[str, str, str, str]] = []
    jobs = [(split, d, img) for split, dirs in split_dirs.items() for d in dirs
            for img in list_images(d)]
    for split in split_dirs:
        report.splits[split] = SplitStats()
    for images_dir in (d for dirs in split_dirs.values() for d in dirs):
        labels_dir = labels_dir_for(images_dir)
        if labels_dir.is_dir() and labels_dir != images_dir:
            stems = {p.stem for p in list_images(images_dir)}
            report.labels_without_image += sorted(
                p.relative_to(export_root).as_posix() for p in labels_dir.glob("*.txt")
                if p.stem not in stems)
    report.labels_without_image.sort()
    for split, images_dir, image in tqdm(jobs, desc="importing", unit="image",
                                         disable=not progress):
        stats = report.splits[split]
        stats.images += 1
        rel_image = image.relative_to(export_root).as_posix()
        data = image.read_bytes()
        problem = check_image_bytes(data)
        if problem is not None:
            if strict:
                raise DatasetError(_display(prefix, rel_image), problem)
            stats.unreadable_images += 1
            report.unreadable_images.append({"file": rel_image, "reason": problem})
            continue
        label_path = labels_dir_for(images_dir) / f"{image.stem}.txt"
        rows, invalid, polygons, dropped, has_label_file = _read_rows(
            label_path, len(spec.names), id_map, spec.names)
        rel_label = (label_path.relative_to(export_root).as_posix()
                     if _inside(label_path, export_root) else str(label_path))
        if invalid:
            if strict:
                line, reason = invalid[0]
                where = f"line {line}: " if line else ""
                raise DatasetError(_display(prefix, rel_label), f"{where}{reason}")
            stats.invalid_rows += len(invalid)
            stats.images_skipped_invalid += 1
            report.invalid_rows += [InvalidRow(rel_label, line, reason) for line, reason in invalid]
            continue
        for src_name, n in dropped.items():
            stats.rows_dropped[src_name] = stats.rows_dropped.get(src_name, 0) + n
        if not rows and dropped:
            # Every face in it is of a dropped class: as background it would teach the model
            # that those faces are not faces, so it is left out (and counted).
            stats.images_only_dropped_classes += 1
            continue
        stem = image.stem
        if stem in used_stems:
            stem = f"{split}-{stem}"
            n = 2
            while stem in used_stems:
                stem, n = f"{split}-{image.stem}-{n}", n + 1
            report.warnings.append(f"{rel_image}: name already used in the pool, "
                                   f"imported as {stem}{image.suffix}")
        used_stems.add(stem)
        out_name = f"{stem}{image.suffix}"
        (tmp / "images" / out_name).write_bytes(data)
        (tmp / "labels" / f"{stem}.txt").write_text(
            "".join(format_yolo_line(c, box) + "\n" for c, box in rows), encoding="utf-8")
        stats.imported += 1
        stats.polygons_converted += polygons
        present = sorted({c for c, _ in rows})
        if not rows:
            stats.background += 1
            stats.background_no_label_file += not has_label_file
            report.background_images.append(rel_image)
        for c, _ in rows:
            stats.boxes += 1
            stats.boxes_per_class[names[c]] = stats.boxes_per_class.get(names[c], 0) + 1
        for c in present:
            stats.images_per_class[names[c]] = stats.images_per_class.get(names[c], 0) + 1
        manifest_rows.append((out_name, roboflow_group(image.name), split,
                              ";".join(names[c] for c in present)))
    for split, stats in report.splits.items():
        stats.boxes_per_class = {n: stats.boxes_per_class.get(n, 0) for n in names}
        stats.images_per_class = {n: stats.images_per_class.get(n, 0) for n in names}
        missing = [n for n in names if stats.boxes_per_class[n] == 0]
        if missing and stats.imported:
            report.missing_classes[split] = missing
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(POOL_COLUMNS)
    writer.writerows(manifest_rows)
    (tmp / "manifest.csv").write_text(buf.getvalue(), encoding="utf-8")


def _read_rows(label_path: Path, num_classes: int, id_map: list[int | None],
               source_names: list[str]
               ) -> tuple[list[tuple[int, tuple[float, float, float, float]]],
                          list[tuple[int, str]], int, dict[str, int], bool]:
    """One label file: ``(kept rows, invalid (line, reason), polygons, dropped, file exists)``."""
    if not label_path.is_file():
        return [], [], 0, {}, False
    try:
        text = label_path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return [], [(0, "not a UTF-8 text file")], 0, {}, True
    rows: list[tuple[int, tuple[float, float, float, float]]] = []
    invalid: list[tuple[int, str]] = []
    dropped: Counter[str] = Counter()
    polygons = 0
    for lineno, line in enumerate(text.splitlines(), start=1):
        try:
            row = parse_yolo_line(line, num_classes)
        except LabelRowError as exc:
            invalid.append((lineno, str(exc)))
            continue
        if row is None:
            continue
        polygons += row.polygon
        target = id_map[row.class_id]
        if target is None:
            dropped[source_names[row.class_id]] += 1
        else:
            rows.append((target, row.xywhn))
    return rows, invalid, polygons, dict(dropped), True


def require_api_key(api_key: str | None = None) -> str:
    """``api_key`` or ``$ROBOFLOW_API_KEY``; SourceError with what to do when neither is set.

    Example:
        >>> require_api_key("abc")
        'abc'
    """
    key = (api_key or os.environ.get("ROBOFLOW_API_KEY", "")).strip()
    if not key:
        raise SourceError(None, "ROBOFLOW_API_KEY is not set: export your Roboflow API key "
                                "(app.roboflow.com > Settings > API Keys) or download the "
                                "export yourself and pass its folder or .zip")
    return key


def download_roboflow(spec: str, dest: str | Path, *, api_key: str | None = None,
                      timeout_s: float = 20.0) -> Path:
    """Download ``WORKSPACE/PROJECT/VERSION`` in YOLO txt format into ``dest`` (a folder).

    The key comes from ``api_key`` or ``$ROBOFLOW_API_KEY``. A missing key, no network or a
    refused request raise SourceError with a plain message; sockets time out after
    ``timeout_s`` so an offline machine fails in seconds instead of hanging.

    Example:
        >>> download_roboflow("my-ws/faces/3", "datasets/roboflow/faces-3")  # doctest: +SKIP
        PosixPath('datasets/roboflow/faces-3')
    """
    try:
        workspace, project, version = parse_download_spec(spec)
    except ValueError as exc:
        raise SourceError(None, str(exc)) from None
    key = require_api_key(api_key)
    dest = Path(dest)
    # The download replaces dest atomically; only ever replace an earlier download.
    if dest.exists() and (not dest.is_dir() or (any(dest.iterdir())
                                                 and not (dest / "data.yaml").exists())):
        raise SourceError(dest, "exists and is not a Roboflow export; refusing to replace it")
    try:
        socket.create_connection((ROBOFLOW_HOST, 443), timeout=min(timeout_s, 5.0)).close()
    except OSError as exc:
        raise SourceError(None, f"cannot reach {ROBOFLOW_HOST} ({exc}); are you offline? Download "
                                "the export elsewhere and pass its folder or .zip") from None
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout_s)
    try:
        from roboflow import Roboflow

        with atomic_dir(dest) as tmp:
            target = tmp / "export"
            (Roboflow(api_key=key).workspace(workspace).project(project).version(version)
             .download(DOWNLOAD_FORMAT, location=str(target), overwrite=True))
            for item in target.iterdir():
                shutil.move(str(item), tmp / item.name)
            target.rmdir()
    # The roboflow package raises RuntimeError, requests errors and others for a bad key,
    # project or network; all of them are the user's to fix, so they become one message.
    except Exception as exc:
        raise SourceError(None, f"Roboflow download of {spec} failed: {exc}") from None
    finally:
        socket.setdefaulttimeout(previous)
    if not any(p.suffix.lower() in IMAGE_SUFFIXES for p in dest.rglob("*")):
        raise SourceError(dest, f"Roboflow download of {spec} contains no images")
    return dest
