"""Frame-extraction benchmark: ``python tools/bench_frames.py [VIDEO ...]``.

Prints a Markdown table (frames decoded/s and frames written/s per video) headed by the
machine it ran on. Without arguments it uses the clips in ``../shared/data/videos``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2

from detector.frames import bench_frames
from detector.paths import shared_dir


def markdown_table(rows: list[dict]) -> str:
    """Render :func:`detector.frames.bench_frames` rows as a Markdown table.

    Example:
        >>> print(markdown_table([{"video": "a.mp4", "resolution": "96x64", "frames": 6,
        ...     "decoded_per_s": 900.0, "written": 6, "written_per_s": 300.0}]))
        | video | resolution | frames | decoded/s | written | written/s |
        |---|---|---:|---:|---:|---:|
        | a.mp4 | 96x64 | 6 | 900.0 | 6 | 300.0 |
    """
    lines = ["| video | resolution | frames | decoded/s | written | written/s |",
             "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['video']} | {r['resolution']} | {r['frames']} | "
                     f"{r['decoded_per_s']:.1f} | {r['written']} | {r['written_per_s']:.1f} |")
    return "\n".join(lines)


def machine_line() -> str:
    """One line describing the machine, OpenCV and the load while the benchmark ran.

    Example:
        >>> "CPUs" in machine_line()
        True
    """
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return (f"{platform.platform()}, {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"OpenCV {cv2.__version__}, load average {load}")


def main(argv: Sequence[str] | None = None) -> int:
    """Benchmark frame extraction on ``argv`` videos (default: the shared clips).

    Example:
        >>> main([])  # doctest: +SKIP
        0
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="*", type=Path)
    args = parser.parse_args(argv)
    videos = args.videos or sorted((shared_dir() / "data" / "videos").glob("*.mp4"))
    if not videos:
        print(f"no videos given and none in {shared_dir() / 'data' / 'videos'}", file=sys.stderr)
        return 2
    rows = bench_frames(videos)
    print(f"Machine: {machine_line()}\n")
    print(markdown_table(rows))
    print("\ndecoded/s: OpenCV read() of every frame; written/s: `extract_frames(every=1, "
          "dedupe_threshold=0)` end to end (decode + JPEG q95 encode + write + manifest).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
