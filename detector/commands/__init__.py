"""Sub-commands of `exprdet`; see detector/cli.py."""

from __future__ import annotations

import argparse


def fraction(text: str) -> float:
    """Argparse type for thresholds that must lie in [0, 1] (confidence, IoU).

    Args:
        text: The command-line value.

    Returns:
        The value as a float.

    Raises:
        argparse.ArgumentTypeError: not a number or outside [0, 1]; argparse turns it into a
            usage error naming the option, instead of a traceback later in the library.

    Example:
        >>> fraction("0.5")
        0.5
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {value:g}")
    return value


def _number(text: str, kind: type, what: str) -> int | float:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def positive_int(text: str) -> int:
    """Argparse type for counts and sizes that must be at least 1 (threads, batch, imgsz, frames).

    Example:
        >>> positive_int("16")
        16
    """
    value = _number(text, int, "a whole number")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return int(value)


def non_negative_int(text: str) -> int:
    """Argparse type for counts where 0 means "off" (smoothing window, warm-up batches).

    Example:
        >>> non_negative_int("0")
        0
    """
    value = _number(text, int, "a whole number")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {value}")
    return int(value)


def positive_float(text: str) -> float:
    """Argparse type for durations and rates that must be above 0 (seconds, fps, minutes).

    Example:
        >>> positive_float("2.5")
        2.5
    """
    value = _number(text, float, "a number")
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return float(value)


def non_negative_float(text: str) -> float:
    """Argparse type for offsets and thresholds where 0 is allowed (start time, dedupe level).

    Example:
        >>> non_negative_float("0")
        0.0
    """
    value = _number(text, float, "a number")
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {text!r}")
    return float(value)
