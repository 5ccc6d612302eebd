"""Exceptions raised by the library; the CLI turns them into a message and an exit code."""

from __future__ import annotations

from pathlib import Path


class DetectorError(Exception):
    """Base class: a problem the user can fix, described with the path it concerns.

    Args:
        path: The file or folder the problem is about (``None`` when there is none).
        problem: What is wrong and, where useful, what was expected.

    Example:
        >>> str(DatasetError("data/x.txt", "line 3: expected 5 numbers, got 6"))
        'data/x.txt: line 3: expected 5 numbers, got 6'
    """

    exit_code = 2

    def __init__(self, path: str | Path | None, problem: str) -> None:
        self.path = Path(path) if path is not None else None
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path is not None else problem)


class DatasetError(DetectorError):
    """A dataset, label file, manifest or data.yaml is missing or malformed."""


class SourceError(DetectorError):
    """A video, image, camera or stream cannot be opened or read."""


class ModelError(DetectorError):
    """Weights are missing, unloadable, or would need a download."""
