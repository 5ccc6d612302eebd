"""`exprdet frames`: extract JPEG frames from recorded videos, with a manifest."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from detector.commands import non_negative_float, positive_float, positive_int
from detector.frames import DEFAULT_DEDUPE_THRESHOLD, MANIFEST_NAME, extract_frames
from detector.paths import DATASETS_DIR

HELP = ("extract JPEG frames from videos (every N-th frame or at a target fps) into a folder "
        f"with a {MANIFEST_NAME}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``exprdet frames``."""
    parser.add_argument("inputs", nargs="+", metavar="VIDEO",
                        help="video files or folders of videos (mp4, avi, mov, mkv, webm, m4v)")
    parser.add_argument("--out", "-o", type=Path, default=DATASETS_DIR / "frames",
                        help="output folder for the JPEGs and manifest.csv "
                             "(default: %(default)s)")
    rate = parser.add_mutually_exclusive_group()
    rate.add_argument("--every", type=positive_int, metavar="N",
                      help="keep every N-th frame (default: every frame)")
    rate.add_argument("--fps", type=positive_float, metavar="F",
                      help="keep about F frames per second of video")
    parser.add_argument("--start", type=non_negative_float, metavar="SECONDS",
                        help="skip frames before this time")
    parser.add_argument("--end", type=positive_float, metavar="SECONDS",
                        help="stop at this time (exclusive)")
    parser.add_argument("--dedupe-threshold", type=non_negative_float,
                        default=DEFAULT_DEDUPE_THRESHOLD, metavar="T",
                        help="skip a frame whose 32x32 grey thumbnail differs from the last kept "
                             "one by less than T grey levels on average; 0 keeps all "
                             "(default: %(default)s)")
    parser.add_argument("--label", help="expression label written in the manifest for every "
                                        "frame of this run, e.g. smile")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    """Extract, print one line per video, list failures on stderr; 1 when any video failed."""
    if args.start is not None and args.end is not None and args.end <= args.start:
        print(f"error: --end ({args.end}) must be after --start ({args.start})", file=sys.stderr)
        return 2
    summary = extract_frames(args.inputs, args.out, every=args.every, fps=args.fps,
                             start_s=args.start, end_s=args.end,
                             dedupe_threshold=args.dedupe_threshold, label=args.label,
                             progress=not args.no_progress)
    for r in summary.results:
        if r.ok:
            dup = (f", {r.duplicates_skipped} near-duplicates skipped"
                   if r.duplicates_skipped else "")
            print(f"{r.video}: {r.frames_read} frames decoded, {r.frames_written} written "
                  f"as {r.prefix}_NNNNNN.jpg{dup}")
    for r in summary.failures:
        print(f"error: {r.error}", file=sys.stderr)
    done = len(summary.results) - len(summary.failures)
    print(f"{done} of {len(summary.results)} input(s) done, {summary.frames_written} frames "
          f"written to {summary.out_dir}; {summary.manifest} has {summary.manifest_rows} rows")
    if summary.failures:
        print(f"{len(summary.failures)} input(s) failed: "
              + ", ".join(str(r.video) for r in summary.failures), file=sys.stderr)
        return 1
    return 0
