"""`exprdet` command line: one place that turns library errors into messages and exit codes.

Each sub-command lives in ``detector/commands/<name>.py`` and exposes ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported only when their
command runs, so ``exprdet --help`` does not pay for importing torch.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import signal
import sys
import threading
from collections.abc import Iterator, Sequence

from detector.errors import DetectorError

# name -> (module, one-line help). Help is duplicated here so --help needs no imports.
COMMANDS: dict[str, tuple[str, str]] = {
    "frames": ("detector.commands.frames", "extract JPEG frames from videos"),
    "import-roboflow": ("detector.commands.import_roboflow", "import a Roboflow YOLO export"),
    "import-fer": ("detector.fer", "import FER2013 class folders as a pool of whole-face crops"),
    "autolabel": ("detector.commands.autolabel", "box faces in photos/frames of known expression"),
    "autolabel-agreement": ("detector.commands.autolabel_agreement",
                            "agreement of a crop classifier's auto-labels with human labels"),
    "build": ("detector.commands.build", "build a leakage-free YOLO dataset"),
    "crops": ("detector.crops", "cut a dataset's labelled faces into class folders for a crop classifier"),
    "train": ("detector.commands.train", "train a YOLO detector (no downloads)"),
    "eval": ("detector.commands.eval", "evaluate weights on a dataset split"),
    "detect": ("detector.commands.detect", "detect expressions on webcam, video, images"),
    "demo": ("detector.commands.demo", "run the shipped model on a built-in default"),
    "bench": ("detector.commands.bench", "end-to-end speed benchmark"),
    "bench-train": ("detector.commands.bench_train", "training throughput at each torch thread count"),
    "ablate": ("detector.commands.ablate", "dataset-size ablation"),
    "ship": ("detector.commands.ship", "rebuild the shipped smile/neutral detector end to end"),
    "twostage": ("detector.commands.fer", "two-stage baseline CNN: train / eval (FER2013, neutral/smile)"),
}


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread: it stops a session as Ctrl-C does (outputs finished)."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    # `kill`, a scheduler or a container stop sends SIGTERM, whose default action ends the process
    # without unwinding: half-written temporary folders and open video writers would be left behind.
    # A KeyboardInterrupt, so every place that ends a session cleanly on Ctrl-C does so on SIGTERM
    # too, and no library `except Exception` can swallow it.
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="exprdet", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version="%(prog)s 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``exprdet``; returns the process exit code.

    Example:
        >>> main(["--help"])  # doctest: +SKIP
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        build_parser().parse_args(argv or ["--help"])
        return 2
    name, rest = argv[0], argv[1:]
    module_name, help_text = COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            print(f"exprdet {name}: not available in this version", file=sys.stderr)
            return 2
        raise
    parser = argparse.ArgumentParser(prog=f"exprdet {name}", description=module.HELP)
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    try:
        with _sigterm_raises():
            return int(module.run(args) or 0)
    except DetectorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Terminated:
        print("terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def tool_main(command: str, argv: Sequence[str] | None = None) -> int:
    """Entry point for ``tools/*.py`` wrappers: ``exprdet <command> argv``.

    Example:
        >>> # tools/video_to_frames.py: sys.exit(tool_main("frames"))
    """
    return main([command, *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
