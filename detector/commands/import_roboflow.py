"""`exprdet import-roboflow`: a Roboflow YOLO export (folder, .zip or download) to a pool."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from detector.errors import SourceError
from detector.paths import DATASETS_DIR
from detector.roboflow import (
    REPORT_NAME,
    download_roboflow,
    import_roboflow,
    parse_class_map,
    parse_download_spec,
    require_api_key,
)

HELP = ("import a Roboflow YOLO export (folder or .zip, or --download) into a pool folder with "
        "checked labels, leakage groups and an import report")
# How many problems to echo on the terminal; the report has all of them.
SHOWN_PROBLEMS = 10


def _mapping(text: str) -> str:
    try:
        parse_class_map([text])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _spec(text: str) -> str:
    try:
        parse_download_spec(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``exprdet import-roboflow``."""
    parser.add_argument("path", nargs="?", type=Path, metavar="PATH",
                        help="export folder (with data.yaml) or .zip; with --download, the "
                             "folder to download into (default: datasets/roboflow/<project>-<v>)")
    parser.add_argument("--out", "-o", type=Path,
                        help="pool folder (default: datasets/pools/<export name>)")
    parser.add_argument("--map", dest="maps", action="append", default=[], type=_mapping,
                        metavar="SRC=DST",
                        help="rename class SRC to DST (repeatable; several SRC may share a DST; "
                             "SRC= drops SRC)")
    parser.add_argument("--drop-others", action="store_true",
                        help="drop rows of classes not named in --map (counted in the report)")
    parser.add_argument("--strict", action="store_true",
                        help="stop at the first invalid label row or unreadable image and "
                             "write nothing (default: leave those images out, report them, "
                             "exit 1)")
    parser.add_argument("--download", type=_spec, metavar="WORKSPACE/PROJECT/VERSION",
                        help="download the export first with the roboflow package "
                             "(needs ROBOFLOW_API_KEY and network)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Import, print per-split counts and problems; 1 when invalid rows or unreadable images."""
    path: Path | None = args.path
    if args.download:
        _, project, version = parse_download_spec(args.download)
        path = path or DATASETS_DIR / "roboflow" / f"{project}-{version}"
        require_api_key()  # before announcing a download that cannot start
        print(f"downloading {args.download} to {path} ...")
        download_roboflow(args.download, path)
    if path is None:
        raise SourceError(None, "give the export folder or .zip (or --download W/P/V)")
    report = import_roboflow(path, args.out, class_map=parse_class_map(args.maps),
                             drop_others=args.drop_others, strict=args.strict,
                             progress=not args.no_progress)
    print(f"pool {report.pool}: classes {report.names}")
    for split, s in report.splits.items():
        boxes = ", ".join(f"{n} {c}" for n, c in s.boxes_per_class.items())
        extra = []
        if s.polygons_converted:
            extra.append(f"{s.polygons_converted} polygons converted")
        if s.rows_dropped:
            extra.append(f"{sum(s.rows_dropped.values())} rows of dropped classes")
        if s.images_only_dropped_classes:
            extra.append(f"{s.images_only_dropped_classes} images with only dropped classes "
                         "left out")
        print(f"  {split}: {s.images} images, {s.imported} imported ({s.background} background),"
              f" {s.boxes} boxes: {boxes}" + (f"; {'; '.join(extra)}" if extra else ""))
    for split, missing in report.missing_classes.items():
        print(f"  note: {split} has no box of {', '.join(missing)}")
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    report_path = Path(report.pool) / REPORT_NAME
    if report.problems:
        shown = [f"{r.file}: line {r.line}: {r.reason}" for r in report.invalid_rows]
        shown += [f"{u['file']}: {u['reason']}" for u in report.unreadable_images]
        for line in shown[:SHOWN_PROBLEMS]:
            print(f"invalid: {line}", file=sys.stderr)
        if len(shown) > SHOWN_PROBLEMS:
            print(f"... and {len(shown) - SHOWN_PROBLEMS} more", file=sys.stderr)
        print(f"warning: {len(report.invalid_rows)} invalid label rows and "
              f"{len(report.unreadable_images)} unreadable images; those images were left out "
              f"(all listed in {report_path}; --strict stops at the first)", file=sys.stderr)
        return 1
    print(f"report: {report_path}")
    return 0
